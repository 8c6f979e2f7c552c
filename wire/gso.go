package wire

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// SplitTCP does in software what a NIC's TCP segmentation offload does: it
// cuts a TCP super-packet, an IPv4 or IPv6 packet whose payload stands for
// several segments of segSize bytes (the last may be shorter), into those
// segments. Each piece gets the super-packet's IP and TCP headers, options
// included, with the sequence number advanced by the payload before it, the
// IPv4 ID advanced by one a piece, the lengths set, and the IPv4 header and
// TCP checksums computed; FIN and PSH stay on the last piece only, CWR on
// the first only (RFC 3168 §6.1.2). emit is called with each piece in order;
// the piece is built in scratch, which must hold the headers and segSize
// bytes, and is valid only until emit returns. An error from emit stops the
// split and is returned.
//
// The super-packet's own checksums are not verified: it came from this
// host. A packet whose payload fits in one piece is emitted as it is.
func SplitTCP(pkt []byte, segSize int, scratch []byte, emit func(piece []byte) error) error {
	if segSize <= 0 {
		return fmt.Errorf("wire: SplitTCP: segment size %d", segSize)
	}
	ipLen, hdrLen, err := TCPHeaders(pkt)
	if err != nil {
		return fmt.Errorf("wire: SplitTCP: %w", err)
	}
	v4 := pkt[0]>>4 == 4
	var src, dst netip.Addr
	if v4 {
		src, dst = netip.AddrFrom4([4]byte(pkt[12:16])), netip.AddrFrom4([4]byte(pkt[16:20]))
	} else {
		src, dst = netip.AddrFrom16([16]byte(pkt[8:24])), netip.AddrFrom16([16]byte(pkt[24:40]))
	}
	payload := pkt[hdrLen:]
	if len(payload) <= segSize {
		return emit(pkt)
	}
	if len(scratch) < hdrLen+segSize {
		return fmt.Errorf("wire: SplitTCP: %w", ErrBufferTooSmall)
	}
	seq0 := binary.BigEndian.Uint32(pkt[ipLen+4:])
	flags := pkt[ipLen+13]
	var id0 uint16
	if v4 {
		id0 = binary.BigEndian.Uint16(pkt[4:6])
	}
	for off := 0; off < len(payload); off += segSize {
		chunk := payload[off:min(off+segSize, len(payload))]
		last := off+len(chunk) == len(payload)
		n := hdrLen + len(chunk)
		b := scratch[:n]
		copy(b, pkt[:hdrLen])
		copy(b[hdrLen:], chunk)
		if v4 {
			binary.BigEndian.PutUint16(b[2:4], uint16(n))
			binary.BigEndian.PutUint16(b[4:6], id0+uint16(off/segSize))
			b[10], b[11] = 0, 0
			binary.BigEndian.PutUint16(b[10:12], Checksum(b[:ipLen]))
		} else {
			binary.BigEndian.PutUint16(b[4:6], uint16(n-IPv6HeaderLen))
		}
		t := b[ipLen:]
		binary.BigEndian.PutUint32(t[4:8], seq0+uint32(off))
		f := flags
		if !last {
			f &^= byte(FIN | PSH)
		}
		if off > 0 {
			f &^= byte(CWR)
		}
		t[13] = f
		t[16], t[17] = 0, 0
		binary.BigEndian.PutUint16(t[16:18], TCPChecksum(src, dst, t))
		if err := emit(b); err != nil {
			return err
		}
	}
	return nil
}

// TCPHeaders returns where the TCP header of the IPv4 or IPv6 (no
// extension headers) packet pkt begins, ipLen, and where its payload
// begins, hdrLen, checking the version, the protocol and that the length
// fields agree with len(pkt); checksums are not verified. Errors are
// ErrBadVersion, ErrNotTCP, ErrTruncated and ErrBadLength.
func TCPHeaders(pkt []byte) (ipLen, hdrLen int, err error) {
	switch {
	case len(pkt) >= IPv4HeaderLen && pkt[0]>>4 == 4:
		ipLen = int(pkt[0]&0x0f) * 4
		if ipLen < IPv4HeaderLen || int(binary.BigEndian.Uint16(pkt[2:4])) != len(pkt) {
			return 0, 0, ErrBadLength
		}
		if pkt[9] != protoTCP {
			return 0, 0, ErrNotTCP
		}
	case len(pkt) >= IPv6HeaderLen && pkt[0]>>4 == 6:
		ipLen = IPv6HeaderLen
		if pkt[6] != protoTCP {
			return 0, 0, ErrNotTCP
		}
		if int(binary.BigEndian.Uint16(pkt[4:6]))+IPv6HeaderLen != len(pkt) {
			return 0, 0, ErrBadLength
		}
	default:
		return 0, 0, ErrBadVersion
	}
	if len(pkt) < ipLen+TCPHeaderMinLen {
		return 0, 0, ErrTruncated
	}
	hdrLen = ipLen + int(pkt[ipLen+12]>>4)*4
	if hdrLen < ipLen+TCPHeaderMinLen || hdrLen > len(pkt) {
		return 0, 0, ErrBadLength
	}
	return ipLen, hdrLen, nil
}
