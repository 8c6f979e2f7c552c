package wire

import (
	"encoding/binary"
	"net/netip"
)

// Header lengths of the IP headers this package writes.
const (
	IPv4HeaderLen = 20 // without options
	IPv6HeaderLen = 40 // fixed header, no extension headers
)

// maxIPLen is the largest value a 16-bit IP length field holds.
const maxIPLen = 0xffff

// IPv4 flags and fragment offset (RFC 791).
const (
	ipv4DF         = 0x4000
	ipv4MF         = 0x2000
	ipv4FragOffset = 0x1fff
)

// ParseIPv4 parses the IPv4 header at the start of b and returns the
// addresses, the protocol number and the payload, which aliases b and ends
// where the total length says (bytes beyond it, such as link padding, are
// ignored). IP options are skipped. It checks the version, an IHL of at
// least 5 (ErrBadLength), a total length covering the header
// (ErrBadLength) and within b (ErrTruncated), and the header checksum
// (ErrBadChecksum); fragments are rejected with ErrFragment. Errors are
// *ParseError values. It does not allocate unless it fails.
func ParseIPv4(b []byte) (src, dst netip.Addr, proto uint8, payload []byte, err error) {
	if len(b) < IPv4HeaderLen {
		return src, dst, 0, nil, parseErr("ipv4", ErrTruncated, len(b))
	}
	if b[0]>>4 != 4 {
		return src, dst, 0, nil, parseErr("ipv4", ErrBadVersion, 0)
	}
	hl := int(b[0]&0x0f) * 4
	if hl < IPv4HeaderLen {
		return src, dst, 0, nil, parseErr("ipv4", ErrBadLength, 0)
	}
	total := int(binary.BigEndian.Uint16(b[2:4]))
	if total < hl {
		return src, dst, 0, nil, parseErr("ipv4", ErrBadLength, 2)
	}
	if total > len(b) {
		return src, dst, 0, nil, parseErr("ipv4", ErrTruncated, 2)
	}
	if fold(sum(0, b[:hl])) != 0xffff {
		return src, dst, 0, nil, parseErr("ipv4", ErrBadChecksum, 10)
	}
	if binary.BigEndian.Uint16(b[6:8])&(ipv4MF|ipv4FragOffset) != 0 {
		return src, dst, 0, nil, parseErr("ipv4", ErrFragment, 6)
	}
	src = netip.AddrFrom4([4]byte(b[12:16]))
	dst = netip.AddrFrom4([4]byte(b[16:20]))
	return src, dst, b[9], b[hl:total], nil
}

// ParseIPv6 parses the fixed IPv6 header at the start of b and returns the
// addresses, the next-header value and the payload, which aliases b and
// ends where the payload length says (later bytes are ignored). Extension
// headers are not followed: a next header other than TCP (6) gives
// ErrNotTCP, returned together with the addresses, next header and
// payload. A payload length beyond b is ErrTruncated. Errors are
// *ParseError values. It does not allocate unless it fails.
func ParseIPv6(b []byte) (src, dst netip.Addr, proto uint8, payload []byte, err error) {
	if len(b) < IPv6HeaderLen {
		return src, dst, 0, nil, parseErr("ipv6", ErrTruncated, len(b))
	}
	if b[0]>>4 != 6 {
		return src, dst, 0, nil, parseErr("ipv6", ErrBadVersion, 0)
	}
	end := IPv6HeaderLen + int(binary.BigEndian.Uint16(b[4:6]))
	if end > len(b) {
		return src, dst, 0, nil, parseErr("ipv6", ErrTruncated, 4)
	}
	src = netip.AddrFrom16([16]byte(b[8:24]))
	dst = netip.AddrFrom16([16]byte(b[24:40]))
	proto = b[6]
	payload = b[IPv6HeaderLen:end]
	if proto != protoTCP {
		return src, dst, proto, payload, parseErr("ipv6", ErrNotTCP, 6)
	}
	return src, dst, proto, payload, nil
}

// EncodeIPv4Header writes a 20-byte IPv4 header (no options, DF set, TOS
// 0) for a payload of payloadLen bytes, fills in its checksum and returns
// 20. src and dst must be IPv4 or IPv4-mapped addresses (ErrBadAddress).
// A total length above 65535 is ErrPacketTooLong; a buffer shorter than 20
// bytes is ErrBufferTooSmall.
func EncodeIPv4Header(buf []byte, src, dst netip.Addr, proto uint8, ttl uint8, id uint16, payloadLen int) (int, error) {
	src, dst = src.Unmap(), dst.Unmap()
	if !src.Is4() || !dst.Is4() {
		return 0, ErrBadAddress
	}
	if payloadLen < 0 || payloadLen > maxIPLen-IPv4HeaderLen {
		return 0, ErrPacketTooLong
	}
	if len(buf) < IPv4HeaderLen {
		return 0, ErrBufferTooSmall
	}
	b := buf[:IPv4HeaderLen]
	b[0] = 4<<4 | IPv4HeaderLen/4
	b[1] = 0
	binary.BigEndian.PutUint16(b[2:4], uint16(IPv4HeaderLen+payloadLen))
	binary.BigEndian.PutUint16(b[4:6], id)
	binary.BigEndian.PutUint16(b[6:8], ipv4DF)
	b[8] = ttl
	b[9] = proto
	b[10], b[11] = 0, 0
	s, d := src.As4(), dst.As4()
	copy(b[12:16], s[:])
	copy(b[16:20], d[:])
	binary.BigEndian.PutUint16(b[10:12], Checksum(b))
	return IPv4HeaderLen, nil
}

// EncodeIPv6Header writes a 40-byte IPv6 header (traffic class and flow
// label 0, hop limit ttl, next header proto) for a payload of payloadLen
// bytes and returns 40. src and dst must be IPv6 addresses that are not
// IPv4-mapped (ErrBadAddress); their zones are ignored. A payload above
// 65535 bytes is ErrPacketTooLong; a buffer shorter than 40 bytes is
// ErrBufferTooSmall.
func EncodeIPv6Header(buf []byte, src, dst netip.Addr, proto uint8, ttl uint8, payloadLen int) (int, error) {
	if !src.Is6() || !dst.Is6() || src.Is4In6() || dst.Is4In6() {
		return 0, ErrBadAddress
	}
	if payloadLen < 0 || payloadLen > maxIPLen {
		return 0, ErrPacketTooLong
	}
	if len(buf) < IPv6HeaderLen {
		return 0, ErrBufferTooSmall
	}
	b := buf[:IPv6HeaderLen]
	b[0], b[1], b[2], b[3] = 6<<4, 0, 0, 0
	binary.BigEndian.PutUint16(b[4:6], uint16(payloadLen))
	b[6] = proto
	b[7] = ttl
	s, d := src.As16(), dst.As16()
	copy(b[8:24], s[:])
	copy(b[24:40], d[:])
	return IPv6HeaderLen, nil
}

// IPv4 option kinds (RFC 791 and the IANA registry) that Linux's option
// check treats apart.
const (
	ipoptEnd   = 0
	ipoptNOP   = 1
	ipoptRR    = 7   // record route
	ipoptTS    = 68  // timestamp
	ipoptLSRR  = 131 // loose source route
	ipoptCIPSO = 134 // commercial IP security option
	ipoptSSRR  = 137 // strict source route
	ipoptRA    = 148 // router alert
)

// IPv4 timestamp option flags (RFC 791) that carry addresses.
const (
	ipoptTSAndAddr = 1
	ipoptTSPrespec = 3
)

// CheckIPv4Options checks the options of a received IPv4 header (the bytes
// between the fixed 20-byte header and the end of the IHL) as Linux's
// ip_options_compile does, and reports whether they carry a loose or strict
// source route. A malformed option is ErrBadIPOption, a *ParseError whose
// Offset counts from the start of the IP header (20 + the offset in opts),
// where Linux points its ICMP parameter problem: a length byte missing,
// below 2 or past the end; a second source route, record route or
// timestamp; a source or record route shorter than 3 bytes or with a
// pointer below 4; a record route with a pointer inside it but no room for
// an address; a timestamp shorter than 4 bytes, with a pointer below 5, no
// room for the entry its flag asks for, or a full option whose overflow
// count is 15; a router alert shorter than 4 bytes; any CIPSO option (a
// host with no CIPSO domain configured, Linux's default, rejects them).
// Options after an end-of-list are ignored; unknown kinds are skipped by
// their length.
func CheckIPv4Options(opts []byte) (sourceRoute bool, err error) {
	bad := func(off int) (bool, error) {
		return false, parseErr("ipv4 option", ErrBadIPOption, IPv4HeaderLen+off)
	}
	var rr, ts bool
	for i := 0; i < len(opts); {
		kind := opts[i]
		switch kind {
		case ipoptEnd:
			return sourceRoute, nil
		case ipoptNOP:
			i++
			continue
		}
		if len(opts)-i < 2 {
			return bad(i)
		}
		n := int(opts[i+1])
		if n < 2 || n > len(opts)-i {
			return bad(i)
		}
		o := opts[i : i+n]
		switch kind {
		case ipoptLSRR, ipoptSSRR:
			switch {
			case n < 3:
				return bad(i + 1)
			case o[2] < 4:
				return bad(i + 2)
			case sourceRoute:
				return bad(i)
			}
			sourceRoute = true
		case ipoptRR:
			switch {
			case rr:
				return bad(i)
			case n < 3:
				return bad(i + 1)
			case o[2] < 4:
				return bad(i + 2)
			case int(o[2]) <= n && int(o[2])+3 > n:
				return bad(i + 2)
			}
			rr = true
		case ipoptTS:
			if off, ok := checkIPv4Timestamp(o, ts); !ok {
				return bad(i + off)
			}
			ts = true
		case ipoptRA:
			if n < 4 {
				return bad(i + 1)
			}
		case ipoptCIPSO:
			return bad(i)
		}
		i += n
	}
	return sourceRoute, nil
}

// checkIPv4Timestamp checks one timestamp option o (its kind and length
// bytes included) as ip_options_compile does; seen says whether the header
// had one already. When it fails, off is the offset in o to blame.
func checkIPv4Timestamp(o []byte, seen bool) (off int, ok bool) {
	n := len(o)
	switch {
	case seen:
		return 0, false
	case n < 4:
		return 1, false
	case o[2] < 5:
		return 2, false
	}
	ptr, flag := int(o[2]), o[3]&0x0f
	if ptr > n { // full: only the overflow count is left to check
		if flag != ipoptTSPrespec && o[3]>>4 == 15 {
			return 3, false
		}
		return 0, true
	}
	room := 4 // a timestamp
	if flag == ipoptTSAndAddr || flag == ipoptTSPrespec {
		room = 8 // an address and a timestamp
	}
	if ptr+room-1 > n {
		return 2, false
	}
	return 0, true
}
