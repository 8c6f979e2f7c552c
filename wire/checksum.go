package wire

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// protoTCP is the IP protocol number of TCP.
const protoTCP = 6

// sum adds b to acc as a ones' complement sum (RFC 1071). It reads eight
// bytes at a time into 64-bit words and keeps the end-around carry; because
// 2^16 ≡ 1 modulo 2^16-1, folding the 64-bit result gives the same value as
// summing 16-bit words. b must start at an even offset of the checksummed
// data; an odd final byte is padded with a zero byte on its right.
func sum(acc uint64, b []byte) uint64 {
	if len(b) >= 128 {
		n := len(b) &^ 63
		acc = addBlocks(acc, b[:n])
		b = b[n:]
	}
	var c uint64
	for len(b) >= 32 {
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[0:8]), c)
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[8:16]), c)
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[16:24]), c)
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[24:32]), c)
		b = b[32:]
	}
	for len(b) >= 8 {
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b), c)
		b = b[8:]
	}
	if len(b) > 0 {
		var tail [8]byte
		copy(tail[:], b)
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(tail[:]), c)
	}
	// End-around carry: acc+c cannot overflow twice.
	acc, c = bits.Add64(acc, c, 0)
	return acc + c
}

// addBlocks adds b, a whole number of 64-byte blocks, to acc as sum does,
// faster on long data: two chains of additions with carry run side by
// side, so that each waits for its own carry only, and the words are read
// in the machine's little-endian order, which sums to the byte-swapped
// big-endian sum (RFC 1071 §2(B): the sum does not depend on byte order up
// to a swap); the folded 16-bit result is swapped back before it joins acc.
func addBlocks(acc uint64, b []byte) uint64 {
	var s0, c0, s1, c1 uint64
	for len(b) >= 64 {
		s0, c0 = bits.Add64(s0, binary.LittleEndian.Uint64(b[0:8]), c0)
		s1, c1 = bits.Add64(s1, binary.LittleEndian.Uint64(b[8:16]), c1)
		s0, c0 = bits.Add64(s0, binary.LittleEndian.Uint64(b[16:24]), c0)
		s1, c1 = bits.Add64(s1, binary.LittleEndian.Uint64(b[24:32]), c1)
		s0, c0 = bits.Add64(s0, binary.LittleEndian.Uint64(b[32:40]), c0)
		s1, c1 = bits.Add64(s1, binary.LittleEndian.Uint64(b[40:48]), c1)
		s0, c0 = bits.Add64(s0, binary.LittleEndian.Uint64(b[48:56]), c0)
		s1, c1 = bits.Add64(s1, binary.LittleEndian.Uint64(b[56:64]), c1)
		b = b[64:]
	}
	s0, c0 = bits.Add64(s0, s1, c0)
	s0, c0 = bits.Add64(s0, c1, c0)
	s0, c0 = bits.Add64(s0, c0, 0)
	s0 += c0
	acc, c := bits.Add64(acc, uint64(bits.ReverseBytes16(fold(s0))), 0)
	return acc + c
}

// fold reduces a 64-bit ones' complement accumulator to 16 bits.
func fold(acc uint64) uint16 {
	acc = (acc >> 32) + (acc & 0xffffffff)
	acc = (acc >> 32) + (acc & 0xffffffff)
	acc = (acc >> 16) + (acc & 0xffff)
	acc = (acc >> 16) + (acc & 0xffff)
	return uint16(acc)
}

// Checksum returns the Internet checksum (RFC 1071) of b: the ones'
// complement of the ones' complement sum of its 16-bit big-endian words.
// Data holding a correct checksum field checksums to 0.
func Checksum(b []byte) uint16 { return ^fold(sum(0, b)) }

// pseudoSum returns the ones' complement sum of the TCP pseudo-header for a
// segment of length n: RFC 9293 §3.1 (IPv4) when v4 is set, RFC 8200 §8.1
// (IPv6) otherwise.
func pseudoSum(src, dst netip.Addr, v4 bool, n int) uint64 {
	if v4 {
		s, d := src.As4(), dst.As4()
		return uint64(binary.BigEndian.Uint32(s[:])) +
			uint64(binary.BigEndian.Uint32(d[:])) +
			protoTCP + uint64(uint16(n))
	}
	s, d := src.As16(), dst.As16()
	var acc uint64
	for i := 0; i < 16; i += 4 {
		acc += uint64(binary.BigEndian.Uint32(s[i:]))
		acc += uint64(binary.BigEndian.Uint32(d[i:]))
	}
	return acc + protoTCP + uint64(uint32(n))
}

// PseudoHeaderSum returns the ones' complement sum, folded to 16 bits and
// not complemented, of the TCP pseudo-header of a segment of n bytes from
// src to dst (addresses as for TCPChecksum): what a TCP checksum field
// holds when a link with checksum offload is to complete it, which it does
// by storing the Checksum of the segment from its TCP header on.
func PseudoHeaderSum(src, dst netip.Addr, n int) uint16 {
	src, dst = src.Unmap(), dst.Unmap()
	return fold(pseudoSum(src, dst, src.Is4() && dst.Is4(), n))
}

// TCPChecksum returns the TCP checksum of tcpSegment (header and payload)
// sent from src to dst, computed over the segment's checksum field as it
// is. To fill in a checksum, zero the field, call TCPChecksum and store the
// result; a segment whose checksum is correct yields 0.
//
// IPv4-mapped IPv6 addresses are unmapped first. When both addresses are
// then IPv4 the IPv4 pseudo-header is used, otherwise the IPv6 one (an IPv4
// address mixed with an IPv6 one is taken in its mapped form).
func TCPChecksum(src, dst netip.Addr, tcpSegment []byte) uint16 {
	src, dst = src.Unmap(), dst.Unmap()
	v4 := src.Is4() && dst.Is4()
	return ^fold(sum(pseudoSum(src, dst, v4, len(tcpSegment)), tcpSegment))
}

// VerifyTCPChecksum reports whether the checksum field of seg is correct
// for a segment sent from src to dst.
func VerifyTCPChecksum(src, dst netip.Addr, seg []byte) bool {
	return TCPChecksum(src, dst, seg) == 0
}
