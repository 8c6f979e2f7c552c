package tcpwave

import (
	"net"
	"net/netip"
	"strconv"
)

// parseAddr parses a "host:port" address for network ("tcp", "tcp4" or
// "tcp6"). The host must be an IP literal: tcpwave has no resolver. An
// empty host is allowed when listening (the unspecified address of the
// network's family; for "tcp", the family of the host's first address).
func parseAddr(network, address string, listen bool, hostAddrs []netip.Addr) (netip.AddrPort, error) {
	var want4, want6 bool
	switch network {
	case "tcp":
	case "tcp4":
		want4 = true
	case "tcp6":
		want6 = true
	default:
		return netip.AddrPort{}, net.UnknownNetworkError(network)
	}
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return netip.AddrPort{}, err
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return netip.AddrPort{}, &net.AddrError{Err: "invalid port", Addr: address}
	}
	var ip netip.Addr
	switch {
	case host != "":
		ip, err = netip.ParseAddr(host)
		if err != nil {
			return netip.AddrPort{}, &net.AddrError{Err: "host is not an IP address (tcpwave has no resolver)", Addr: host}
		}
		ip = ip.WithZone("").Unmap()
	case !listen:
		return netip.AddrPort{}, &net.AddrError{Err: "missing host in address", Addr: address}
	case want4:
		ip = netip.IPv4Unspecified()
	case want6:
		ip = netip.IPv6Unspecified()
	case len(hostAddrs) > 0 && hostAddrs[0].Is6():
		ip = netip.IPv6Unspecified()
	default:
		ip = netip.IPv4Unspecified()
	}
	if want4 && !ip.Is4() || want6 && !ip.Is6() {
		return netip.AddrPort{}, &net.AddrError{Err: "address is not of the network's family (" + network + ")", Addr: host}
	}
	return netip.AddrPortFrom(ip, uint16(port)), nil
}

// tcpAddr converts an address for net.Conn and net.Listener.
func tcpAddr(ap netip.AddrPort) *net.TCPAddr {
	return net.TCPAddrFromAddrPort(ap)
}

// tcpAddrPair converts a connection's two addresses, as tcpAddr does, in
// one allocation (for an error: two TCPAddrs and their IPs).
func tcpAddrPair(l, r netip.AddrPort) (*net.TCPAddr, *net.TCPAddr) {
	p := new(struct {
		l, r   net.TCPAddr
		li, ri [16]byte
	})
	p.l = net.TCPAddr{IP: ipInto(&p.li, l.Addr()), Port: int(l.Port()), Zone: l.Addr().Zone()}
	p.r = net.TCPAddr{IP: ipInto(&p.ri, r.Addr()), Port: int(r.Port()), Zone: r.Addr().Zone()}
	return &p.l, &p.r
}

// ipInto returns a as a net.IP held in buf: 4 bytes for IPv4, 16 for
// IPv6, as netip.Addr.AsSlice gives it; nil for the zero Addr.
func ipInto(buf *[16]byte, a netip.Addr) net.IP {
	switch {
	case a.Is4():
		b := a.As4()
		return net.IP(append(buf[:0:4], b[:]...))
	case a.Is6():
		b := a.As16()
		return net.IP(append(buf[:0:16], b[:]...))
	}
	return nil
}
