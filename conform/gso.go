package conform

import "github.com/tcpwave/tcpwave/notation"

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
