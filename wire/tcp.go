package wire

import (
	"encoding/binary"
	"net/netip"
)

// TCPHeaderMinLen is the length of a TCP header without options.
const TCPHeaderMinLen = 20

// ParseTCP parses the TCP header at the start of b, options included, into
// *f and returns the payload, which aliases b. It does not verify the
// checksum (see VerifyTCPChecksum) and does not allocate unless it fails.
//
// A data offset below 5 or beyond len(b) is ErrBadLength. The options are
// read as Linux's tcp_parse_options reads them, and never fail: EOL ends
// the list, NOP is skipped, unknown kinds are skipped by their length, an
// option of a known kind with the wrong length for it (MSS 4, window scale
// 3, SACK-permitted 2, SACK 2+8n with n in 1..4, timestamps 10) is skipped
// and ignored, and an option whose length is below 2 or runs past the
// header ends the list, the options before it kept. A window scale above
// 14 is recorded as 14 (RFC 7323 §2.3). When an option appears more than
// once, the last one wins. An MSS option of 0 reads as no MSS.
//
// On error *f is unspecified and the error is a *ParseError whose Offset
// counts from the start of b.
func ParseTCP(b []byte, f *TCPFields) (payload []byte, err error) {
	if len(b) < TCPHeaderMinLen {
		return nil, parseErr("tcp", ErrTruncated, len(b))
	}
	hl := int(b[12]>>4) * 4
	if hl < TCPHeaderMinLen || hl > len(b) {
		return nil, parseErr("tcp", ErrBadLength, 12)
	}
	f.SrcPort = binary.BigEndian.Uint16(b[0:2])
	f.DstPort = binary.BigEndian.Uint16(b[2:4])
	f.Seq = binary.BigEndian.Uint32(b[4:8])
	f.Ack = binary.BigEndian.Uint32(b[8:12])
	f.Flags = Flags(b[13])
	f.Window = binary.BigEndian.Uint16(b[14:16])
	f.Urgent = binary.BigEndian.Uint16(b[18:20])
	parseOptions(b[TCPHeaderMinLen:hl], &f.Options)
	return b[hl:], nil
}

// HeaderLen returns the length of the TCP header EncodeTCP writes for f:
// 20 bytes plus the options, padded to a multiple of 4. The result exceeds
// 60 when the options do not fit (EncodeTCP then fails).
func (f *TCPFields) HeaderLen() int {
	return TCPHeaderMinLen + (f.Options.encodedLen()+3)&^3
}

// EncodeTCP writes into buf a TCP header for f, its options, and payload,
// fills in the checksum for a segment from src to dst (see TCPChecksum),
// and returns the number of bytes written. payload may already sit at
// buf[f.HeaderLen():]. It does not allocate.
//
// Options are written in the order and with the NOP padding Linux uses:
//
//	MSS (if MSS != 0):        02 04 mss
//	timestamps with SACK-OK:  04 02 08 0a tsval tsecr
//	timestamps alone:         01 01 08 0a tsval tsecr
//	SACK-OK without TS:       01 01 04 02
//	window scale:             01 03 03 ws
//	SACK blocks (NumSACK>0):  01 01 05 len left right ...
//
// WScale is written as given, even above 14. Options longer than 40 bytes
// (including NumSACK above 4) give ErrOptionsTooLong; a short buffer gives
// ErrBufferTooSmall; src and dst must be valid addresses of one family
// (IPv4-mapped addresses count as IPv4) or the error is ErrBadAddress.
func EncodeTCP(buf []byte, f *TCPFields, payload []byte, src, dst netip.Addr) (int, error) {
	if !sameFamily(src, dst) {
		return 0, ErrBadAddress
	}
	return encodeTCP(buf, f, payload, src.Unmap(), dst.Unmap(), false)
}

// encodeTCP is EncodeTCP once the addresses have been checked and
// unmapped; with partial, the checksum field gets only the pseudo-header's
// sum (see EncodePacketPartial).
func encodeTCP(buf []byte, f *TCPFields, payload []byte, src, dst netip.Addr, partial bool) (int, error) {
	ol := f.Options.encodedLen()
	if ol > MaxOptionsLen {
		return 0, ErrOptionsTooLong
	}
	hl := TCPHeaderMinLen + ol
	n := hl + len(payload)
	if len(buf) < n {
		return 0, ErrBufferTooSmall
	}
	b := buf[:n]
	binary.BigEndian.PutUint16(b[0:2], f.SrcPort)
	binary.BigEndian.PutUint16(b[2:4], f.DstPort)
	binary.BigEndian.PutUint32(b[4:8], f.Seq)
	binary.BigEndian.PutUint32(b[8:12], f.Ack)
	b[12] = byte(hl/4) << 4
	b[13] = byte(f.Flags)
	binary.BigEndian.PutUint16(b[14:16], f.Window)
	b[16], b[17] = 0, 0
	binary.BigEndian.PutUint16(b[18:20], f.Urgent)
	f.Options.write(b[TCPHeaderMinLen:hl])
	copy(b[hl:], payload)
	if partial {
		binary.BigEndian.PutUint16(b[16:18], PseudoHeaderSum(src, dst, n))
	} else {
		binary.BigEndian.PutUint16(b[16:18], TCPChecksum(src, dst, b))
	}
	return n, nil
}

// sameFamily reports whether src and dst are valid and, once unmapped,
// both IPv4 or both IPv6.
func sameFamily(src, dst netip.Addr) bool {
	src, dst = src.Unmap(), dst.Unmap()
	return src.IsValid() && dst.IsValid() && src.Is4() == dst.Is4()
}
