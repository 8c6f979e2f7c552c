package conform

import (
	"fmt"

	"github.com/tcpwave/tcpwave/notation"
)

// inboundLen is the IP length of the packet an inbound line builds in
// the script's family.
func (o *Options) inboundLen(pk *PacketSpec) int {
	ipHdr := 20
	if o.Family() == IPv6 {
		ipHdr = 40
	}
	return ipHdr + 20 + (notation.OptionsLen(pk.Opts)+3)&^3 + pk.Len
}

// superPackets reports whether the script sends a packet larger than the
// MTU: a super-packet, which the kernel backend injects as a GSO packet
// (packetdrill's injection of a payload larger than --mss) and tcpwave
// receives whole, as the stack receives packets a NIC or TUN device
// coalesced (GRO).
func (s *Script) superPackets() bool {
	for _, ev := range s.Events {
		if ev.Kind == EventPacket && ev.Packet.Inbound && s.Options.inboundLen(ev.Packet) > s.Options.linkMTU() {
			return true
		}
	}
	return false
}

// gsoSize is the segment size a super-packet is cut into: --mss, or what
// fits the MTU after the packet's headers.
func (o *Options) gsoSize(hdrLen int) int {
	if o.MSS > 0 {
		return o.MSS
	}
	return o.linkMTU() - hdrLen
}

// checkMSS refuses a --mss whose segments, after a super-packet's
// headers, would not fit the link MTU in a family the script runs in:
// the kernel could not take them (an oversized GSO segment is refused at
// injection), while tcpwave, which receives a super-packet whole, would
// pass, so the script would test nothing it means to.
func (s *Script) checkMSS() error {
	if s.Options.MSS == 0 {
		return nil
	}
	for _, v := range s.Families(IPAny) {
		c, _ := s.InFamily(v)
		o := &c.Options
		for _, ev := range c.Events {
			if ev.Kind != EventPacket || !ev.Packet.Inbound {
				continue
			}
			n := o.inboundLen(ev.Packet)
			if hdr := n - ev.Packet.Len; n > o.linkMTU() && hdr+o.MSS > o.linkMTU() {
				return &ParseError{s.Name, ev.Line, fmt.Sprintf("--mss=%d: segments of %d bytes after %d of headers do not fit the %v link's MTU of %d", o.MSS, o.MSS, hdr, o.Family(), o.linkMTU())}
			}
		}
	}
	return nil
}
