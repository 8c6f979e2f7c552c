package wire

import "net/netip"

// ParsePacket parses an IPv4 or IPv6 packet carrying TCP into *p. The IP
// version comes from the first nibble of b; the IP header is checked as
// ParseIPv4 or ParseIPv6 do, the protocol must be TCP (ErrNotTCP), the TCP
// header is parsed as ParseTCP does, and the TCP checksum must verify
// (ErrBadChecksum). p.Payload aliases b. It does not allocate unless it
// fails.
//
// p.Src and p.Dst are never IPv4-mapped: IPv4 packets give IPv4 addresses,
// and an IPv6 packet whose source or destination is an IPv4-mapped address
// (which RFC 4291 §2.5.5.2 keeps off the wire, and which could otherwise
// pose as an IPv4 peer) is rejected with ErrBadAddress.
//
// Errors are *ParseError values whose Offset counts from the start of b.
// On error *p is unspecified.
func ParsePacket(b []byte, p *Packet) error {
	if len(b) == 0 {
		return parseErr("ip", ErrTruncated, 0)
	}
	var (
		src, dst netip.Addr
		proto    uint8
		seg      []byte
		err      error
		hl       int
		layer    string
	)
	switch b[0] >> 4 {
	case 4:
		layer = "ipv4"
		src, dst, proto, seg, err = ParseIPv4(b)
		if err != nil {
			return err
		}
		hl = int(b[0]&0x0f) * 4
		if proto != protoTCP {
			return parseErr(layer, ErrNotTCP, 9)
		}
	case 6:
		layer = "ipv6"
		src, dst, proto, seg, err = ParseIPv6(b)
		if err != nil {
			return err
		}
		hl = IPv6HeaderLen
		if src.Is4In6() {
			return parseErr(layer, ErrBadAddress, 8)
		}
		if dst.Is4In6() {
			return parseErr(layer, ErrBadAddress, 24)
		}
	default:
		return parseErr("ip", ErrBadVersion, 0)
	}
	payload, err := ParseTCP(seg, &p.TCP)
	if err != nil {
		if pe, ok := err.(*ParseError); ok {
			pe.Offset += hl
		}
		return err
	}
	if !VerifyTCPChecksum(src, dst, seg) {
		return parseErr("tcp", ErrBadChecksum, hl+16)
	}
	p.Src, p.Dst, p.Payload = src, dst, payload
	return nil
}

// PacketLen returns the length of the packet EncodePacket builds for p:
// the IP header (20 bytes for IPv4, 40 for IPv6, chosen as EncodePacket
// does), the TCP header with its options, and the payload.
func PacketLen(p *Packet) int {
	hl := IPv6HeaderLen
	if p.Src.Unmap().Is4() {
		hl = IPv4HeaderLen
	}
	return hl + p.TCP.HeaderLen() + len(p.Payload)
}

// EncodePacket writes into buf the IP header, TCP header, options and
// payload of p, with both checksums, and returns the number of bytes
// written (PacketLen(p)). It does not allocate.
//
// IPv4-mapped IPv6 addresses in p.Src and p.Dst are unmapped first; the
// packet is then IPv4 (EncodeIPv4Header: DF set, identification id, TTL
// ttl) when p.Src is IPv4, and IPv6 (EncodeIPv6Header: hop limit ttl, id
// unused) otherwise. p.Dst must be of the same family and both must be
// valid, or the error is ErrBadAddress. TCP options follow the Linux
// layout described at EncodeTCP. Other errors: ErrOptionsTooLong,
// ErrPacketTooLong, ErrBufferTooSmall.
func EncodePacket(buf []byte, p *Packet, ttl uint8, id uint16) (int, error) {
	return encodeIPPacket(buf, p, ttl, id, false)
}

// EncodePacketPartial is EncodePacket with the TCP checksum left partial,
// for a link with checksum offload to complete (Linux's CHECKSUM_PARTIAL,
// virtio-net's NEEDS_CSUM): the checksum field holds the pseudo-header's
// sum (PseudoHeaderSum), so the Internet checksum (Checksum) of the TCP
// segment as written is its TCP checksum. The payload is only copied,
// never summed. The IPv4 header checksum is complete.
func EncodePacketPartial(buf []byte, p *Packet, ttl uint8, id uint16) (int, error) {
	return encodeIPPacket(buf, p, ttl, id, true)
}

// encodeIPPacket is EncodePacket, with a partial TCP checksum if partial.
func encodeIPPacket(buf []byte, p *Packet, ttl uint8, id uint16, partial bool) (int, error) {
	if !sameFamily(p.Src, p.Dst) {
		return 0, ErrBadAddress
	}
	src, dst := p.Src.Unmap(), p.Dst.Unmap()
	ol := p.TCP.Options.encodedLen()
	if ol > MaxOptionsLen {
		return 0, ErrOptionsTooLong
	}
	segLen := TCPHeaderMinLen + ol + len(p.Payload)
	hl := IPv6HeaderLen
	if src.Is4() {
		hl = IPv4HeaderLen
	}
	if hl == IPv4HeaderLen && segLen > maxIPLen-IPv4HeaderLen || segLen > maxIPLen {
		return 0, ErrPacketTooLong
	}
	if len(buf) < hl+segLen {
		return 0, ErrBufferTooSmall
	}
	var err error
	if hl == IPv4HeaderLen {
		_, err = EncodeIPv4Header(buf, src, dst, protoTCP, ttl, id, segLen)
	} else {
		_, err = EncodeIPv6Header(buf, src, dst, protoTCP, ttl, segLen)
	}
	if err != nil {
		return 0, err
	}
	n, err := encodeTCP(buf[hl:], &p.TCP, p.Payload, src, dst, partial)
	return hl + n, err
}
