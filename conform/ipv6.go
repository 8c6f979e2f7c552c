package conform

import (
	"fmt"
	"net/netip"

	"github.com/tcpwave/tcpwave/wire"
)

// IPVersion is the address family a script runs in: the family of its
// addresses, of the packets on the wire and of the sockets it makes.
type IPVersion uint8

// The families. IPAny is a script that names none: it is family-agnostic.
// IPv4MappedIPv6 is packetdrill's third mode: IPv4 on the wire, and
// AF_INET6 sockets that bind and connect to IPv4-mapped addresses
// (::ffff:192.168.0.1); a script runs in it only when asked.
const (
	IPAny          IPVersion = 0
	IPv4           IPVersion = 4
	IPv6           IPVersion = 6
	IPv4MappedIPv6 IPVersion = 46
)

// String is packetdrill's name for the family: "ipv4", "ipv6",
// "ipv4-mapped-ipv6" (or "any").
func (v IPVersion) String() string {
	switch v {
	case IPv4:
		return "ipv4"
	case IPv6:
		return "ipv6"
	case IPv4MappedIPv6:
		return "ipv4-mapped-ipv6"
	}
	return "any"
}

// ParseIPVersion reads packetdrill's --ip_version value: "ipv4", "ipv6"
// or "ipv4-mapped-ipv6".
func ParseIPVersion(s string) (IPVersion, error) {
	for _, v := range []IPVersion{IPv4, IPv6, IPv4MappedIPv6} {
		if s == v.String() {
			return v, nil
		}
	}
	return IPAny, fmt.Errorf("--ip_version=%s: want ipv4, ipv6 or ipv4-mapped-ipv6", s)
}

// packetdrill's default addresses for --ip_version=ipv6 (its config.c):
// the host in the ULA prefix fd3d:fa7b:d17d::/48 (packetdrill picks a
// random host part; the runner takes ::1, as it takes 192.168.0.1 in
// IPv4), the remote peer 2001:db8::1 in the documentation prefix.
var (
	defaultLocal6  = netip.MustParseAddr("fd3d:fa7b:d17d::1")
	defaultRemote6 = netip.MustParseAddr("2001:db8::1")
)

// local6Bits is the prefix length of the host's IPv6 address on the
// kernel's device (packetdrill's DEFAULT_V6_LIVE_PREFIX_LEN).
const local6Bits = 48

// Link MTUs: 1500 in IPv4 as packetdrill's device has, and 1520 in IPv6
// as packetdrill's run_all.py gives it (--mtu=1520), so that a
// family-agnostic script sees the same MSS, 1460, in both families (the
// MSS is the MTU less 40 bytes of headers in IPv4 and 60 in IPv6).
const (
	mtu4 = 1500
	mtu6 = 1520
)

// Mapped says whether the script's sockets are AF_INET6 over IPv4-mapped
// addresses (--ip_version=ipv4-mapped-ipv6).
func (o *Options) Mapped() bool { return o.IPVersion == IPv4MappedIPv6 }

// sockAddr is ap as the script's sockets name it: IPv4-mapped in
// ipv4-mapped-ipv6 mode, else as it is.
func (o *Options) sockAddr(ap netip.AddrPort) netip.AddrPort {
	if o.Mapped() {
		return netip.AddrPortFrom(netip.AddrFrom16(ap.Addr().As16()), ap.Port())
	}
	return ap
}

// runName is the family a run reports (Result.IPVersion): empty in IPv4.
func (o *Options) runName() string {
	switch {
	case o.Mapped():
		return IPv4MappedIPv6.String()
	case o.Family() == IPv6:
		return IPv6.String()
	}
	return ""
}

// Family is the family the script's addresses are in, as on the wire
// (IPv4 in ipv4-mapped-ipv6 mode).
func (o *Options) Family() IPVersion {
	if o.LocalIP.Is6() {
		return IPv6
	}
	return IPv4
}

// linkMTU is the MTU of the link between the host and the script.
func (o *Options) linkMTU() int {
	if o.MTU != 0 {
		return o.MTU
	}
	if o.Family() == IPv6 {
		return mtu6
	}
	return mtu4
}

// setFamily gives the addresses no --local_ip or --remote_ip set the
// defaults of family v.
func (o *Options) setFamily(v IPVersion) {
	def := DefaultOptions()
	local, remote := def.LocalIP, def.RemoteIP
	if v == IPv6 {
		local, remote = defaultLocal6, defaultRemote6
	}
	if !o.localSet {
		o.LocalIP = local
	}
	if !o.remoteSet {
		o.RemoteIP = remote
	}
}

// minMTU is the least --mtu: IPv6's minimum link MTU (RFC 8200 §5), which
// also leaves an IPv4 link room for every TCP option.
const minMTU = 1280

// checkFamily settles the script's family once its header is read: a
// pinned script gets its family's default addresses, and both addresses
// must be of one family, the pinned one if any.
func (s *Script) checkFamily() error {
	o := &s.Options
	wire := o.IPVersion
	if o.Mapped() {
		wire = IPv4
	}
	if o.IPVersion != IPAny {
		o.setFamily(wire)
	}
	switch {
	case o.LocalIP.Is6() != o.RemoteIP.Is6():
		return &ParseError{s.Name, 1, fmt.Sprintf("--local_ip %v and --remote_ip %v are not of one family", o.LocalIP, o.RemoteIP)}
	case o.IPVersion != IPAny && o.Family() != wire:
		return &ParseError{s.Name, 1, fmt.Sprintf("--ip_version=%v with %v addresses", o.IPVersion, o.Family())}
	}
	return nil
}

// Families lists the families a script runs in when the runner is asked
// for want (IPAny: IPv4 and IPv6; ipv4-mapped-ipv6 only when asked): a
// script pinned by --ip_version, or with an explicit address, runs in its
// own family only, whatever is asked (the script's header wins).
func (s *Script) Families(want IPVersion) []IPVersion {
	o := &s.Options
	own := o.IPVersion
	if own == IPAny && (o.localSet || o.remoteSet) {
		own = o.Family()
	}
	if own != IPAny {
		return []IPVersion{own}
	}
	if want == IPv4MappedIPv6 {
		if own == IPAny || own == IPv4 {
			return []IPVersion{IPv4MappedIPv6}
		}
		return []IPVersion{own}
	}
	var out []IPVersion
	for _, v := range []IPVersion{IPv4, IPv6} {
		if (want == IPAny || want == v) && (own == IPAny || own == v) {
			out = append(out, v)
		}
	}
	return out
}

// InFamily returns the script as it runs in family v: a copy with v's
// default addresses, as packetdrill's --ip_version on its command line
// gives a script that names no family. ok is false when the script
// cannot run in v (Families).
func (s *Script) InFamily(v IPVersion) (out *Script, ok bool) {
	for _, f := range s.Families(v) {
		if f == v {
			c := *s
			c.Options.IPVersion = v
			if v == IPv4MappedIPv6 {
				c.Options.setFamily(IPv4)
			} else {
				c.Options.setFamily(v)
			}
			return &c, true
		}
	}
	return nil, false
}

// ipPacket puts the TCP segment seg, from the script to the host, under an
// IP header of the connection's family.
func (pr *peer) ipPacket(seg []byte) ([]byte, error) {
	if pr.local.Is6() {
		pkt := make([]byte, wire.IPv6HeaderLen+len(seg))
		if _, err := wire.EncodeIPv6Header(pkt, pr.remote, pr.local, 6, 64, len(seg)); err != nil {
			return nil, fmt.Errorf("build IPv6 header: %w", err)
		}
		copy(pkt[wire.IPv6HeaderLen:], seg)
		return pkt, nil
	}
	pkt := make([]byte, wire.IPv4HeaderLen+len(seg))
	pr.ipID++
	if _, err := wire.EncodeIPv4Header(pkt, pr.remote, pr.local, 6, 64, pr.ipID, len(seg)); err != nil {
		return nil, fmt.Errorf("build IPv4 header: %w", err)
	}
	copy(pkt[wire.IPv4HeaderLen:], seg)
	return pkt, nil
}

// isTCP says whether pkt is a TCP packet in the connection's family (by
// its version and protocol or next-header fields; whether it is
// well-formed is ParsePacket's to say). Anything else the host sends, such
// as ICMPv6 or an IPv6 packet with a hop-by-hop header (MLD), is not.
func (pr *peer) isTCP(pkt []byte) bool {
	if len(pkt) == 0 {
		return false
	}
	if pr.local.Is6() {
		return pkt[0]>>4 == 6 && len(pkt) >= wire.IPv6HeaderLen && pkt[6] == 6
	}
	return pkt[0]>>4 == 4 && len(pkt) >= wire.IPv4HeaderLen && pkt[9] == 6
}

// ipHeaderLen is the length of the IP header of a packet isTCP accepted.
func ipHeaderLen(pkt []byte) int {
	if pkt[0]>>4 == 6 {
		return wire.IPv6HeaderLen
	}
	return int(pkt[0]&0x0f) * 4
}

// ssListenerPeer is the peer column ss prints for a listener bound to a
// local address: "0.0.0.0:*" in IPv4, "[::]:*" in IPv6, "*:*" for an
// IPv4-mapped one (as iproute2's ss 6.x prints them).
func ssListenerPeer(local netip.Addr) string {
	switch {
	case local.Is4In6():
		return "*:*"
	case local.Is6():
		return "[::]:*"
	}
	return "0.0.0.0:*"
}
