package interop

import (
	"fmt"
	"net/netip"
	"strings"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// segment is a TCP segment as gVisor's header package decodes it: an
// independent reading of what tcpwave puts on the wire.
type segment struct {
	src, dst netip.AddrPort
	flags    header.TCPFlags
	seq, ack uint32
	win      uint16
	payload  int
	syn      header.TCPSynOptions // SYN segments only
	csumOK   bool                 // the IPv4 header checksum and the TCP checksum verify
}

// decode parses an IPv4 or IPv6 packet carrying TCP; ok is false for
// anything else.
func decode(pkt []byte) (s segment, ok bool) {
	var src, dst tcpip.Address
	var body []byte
	ipOK := true
	switch {
	case len(pkt) >= header.IPv4MinimumSize && pkt[0]>>4 == 4:
		ip := header.IPv4(pkt)
		if !ip.IsValid(len(pkt)) || ip.Protocol() != uint8(header.TCPProtocolNumber) {
			return s, false
		}
		src, dst, body, ipOK = ip.SourceAddress(), ip.DestinationAddress(), ip.Payload(), ip.IsChecksumValid()
	case len(pkt) >= header.IPv6MinimumSize && pkt[0]>>4 == 6:
		ip := header.IPv6(pkt)
		if !ip.IsValid(len(pkt)) || ip.NextHeader() != uint8(header.TCPProtocolNumber) {
			return s, false
		}
		src, dst, body = ip.SourceAddress(), ip.DestinationAddress(), ip.Payload()
	default:
		return s, false
	}
	if len(body) < header.TCPMinimumSize {
		return s, false
	}
	t := header.TCP(body)
	if off := int(t.DataOffset()); off < header.TCPMinimumSize || off > len(body) {
		return s, false
	}
	payload := t.Payload()
	s = segment{
		src:     netip.AddrPortFrom(toAddr(src), t.SourcePort()),
		dst:     netip.AddrPortFrom(toAddr(dst), t.DestinationPort()),
		flags:   t.Flags(),
		seq:     t.SequenceNumber(),
		ack:     t.AckNumber(),
		win:     t.WindowSize(),
		payload: len(payload),
		csumOK:  ipOK && t.IsChecksumValid(src, dst, checksum.Checksum(payload, 0), uint16(len(payload))),
	}
	if s.flags&header.TCPFlagSyn != 0 {
		s.syn = header.ParseSynOptions(t.Options(), s.flags&header.TCPFlagAck != 0)
	}
	return s, true
}

func toAddr(a tcpip.Address) netip.Addr {
	ip, _ := netip.AddrFromSlice(a.AsSlice())
	return ip
}

// flagString spells flags as packetdrill does: "S", "S.", "F.", "FP.",
// "R", "R.", ".".
func flagString(f header.TCPFlags) string {
	var b strings.Builder
	for _, x := range []struct {
		f header.TCPFlags
		c byte
	}{{header.TCPFlagFin, 'F'}, {header.TCPFlagSyn, 'S'}, {header.TCPFlagRst, 'R'}, {header.TCPFlagPsh, 'P'}, {header.TCPFlagAck, '.'}} {
		if f&x.f != 0 {
			b.WriteByte(x.c)
		}
	}
	return b.String()
}

// trace renders segments in packetdrill-like notation with sequence
// numbers relative to each side's ISN, naming the two sides a and b.
type trace struct {
	names map[netip.AddrPort]string
	isn   map[netip.AddrPort]uint32
}

func newTrace(a, b netip.AddrPort, aName, bName string) *trace {
	return &trace{
		names: map[netip.AddrPort]string{a: aName, b: bName},
		isn:   map[netip.AddrPort]uint32{},
	}
}

// learn takes each side's ISN from its SYN among segs.
func (tr *trace) learn(segs ...segment) {
	for _, s := range segs {
		if s.flags&header.TCPFlagSyn != 0 {
			tr.isn[s.src] = s.seq
		}
	}
}

// line renders one segment; the ISNs of its sides must be learnt first.
func (tr *trace) line(s segment) string {
	seq := s.seq - tr.isn[s.src]
	out := fmt.Sprintf("%s>%s %s %d:%d(%d)", tr.names[s.src], tr.names[s.dst], flagString(s.flags), seq, seq+uint32(s.payload), s.payload)
	if s.flags&header.TCPFlagAck != 0 {
		out += fmt.Sprintf(" ack %d", s.ack-tr.isn[s.dst])
	}
	out += fmt.Sprintf(" win %d", s.win)
	if s.flags&header.TCPFlagSyn != 0 {
		o := s.syn
		out += fmt.Sprintf(" <mss %d, wscale %d, sackOK %v, TS %v>", o.MSS, o.WS, o.SACKPermitted, o.TS)
	}
	if !s.csumOK {
		out += " BAD-CHECKSUM"
	}
	return out
}
