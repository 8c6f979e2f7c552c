package conform

import "github.com/tcpwave/tcpwave/notation"

// defaultMTU is the link's MTU when --mtu does not set one.
const defaultMTU = 1500

// mtu is the script's link MTU.
func (o *Options) mtu() int {
	if o.MTU > 0 {
		return o.MTU
	}
	return defaultMTU
}

// inboundLen is the IPv4 length of the packet an inbound line builds.
func inboundLen(pk *PacketSpec) int {
	return 20 + 20 + (notation.OptionsLen(pk.Opts)+3)&^3 + pk.Len
}

// superPackets reports whether the script sends a packet larger than the
// MTU: a super-packet, which the kernel backend injects as a GSO packet
// (packetdrill's injection of a payload larger than --mss) and tcpwave
// receives whole, as the stack receives packets a NIC or TUN device
// coalesced (GRO).
func (s *Script) superPackets() bool {
	for _, ev := range s.Events {
		if ev.Kind == EventPacket && ev.Packet.Inbound && inboundLen(ev.Packet) > s.Options.mtu() {
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
	return o.mtu() - hdrLen
}
