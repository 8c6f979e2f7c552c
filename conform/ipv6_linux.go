//go:build linux

package conform

import (
	"net/netip"

	"golang.org/x/sys/unix"
)

// familySysctls is the sysctl command that readies the kernel's namespace
// for the script's family. In IPv4 the namespace has no IPv6 at all (no
// chatter on the device). In IPv6, IPv6 is on without duplicate address
// detection, so that the address is usable at once; the kernel still
// sends router solicitations and MLD reports into the device, which the
// runner ignores (peer.isTCP).
func familySysctls(o *Options) []string {
	if o.Family() == IPv6 || o.Mapped() {
		return []string{"sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=0", "net.ipv6.conf.default.disable_ipv6=0",
			"net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"}
	}
	return []string{"sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"}
}

// localPrefix is the host's address on the device with its prefix: /24
// (or --netmask_ip's) in IPv4, packetdrill's /48 in IPv6.
func localPrefix(o *Options) netip.Prefix {
	if o.Family() == IPv6 {
		return netip.PrefixFrom(o.LocalIP, local6Bits)
	}
	if o.PrefixLen > 0 {
		return netip.PrefixFrom(o.LocalIP, o.PrefixLen)
	}
	return netip.PrefixFrom(o.LocalIP, 24)
}

// socketDomain is the family of the sockets the script makes.
func socketDomain(o *Options) int {
	if o.Family() == IPv6 || o.Mapped() {
		return unix.AF_INET6
	}
	return unix.AF_INET
}

// sockaddr is ap as the kernel's socket address of its family (an
// IPv4-mapped address is an AF_INET6 one).
func sockaddr(ap netip.AddrPort) unix.Sockaddr {
	if ap.Addr().Is6() {
		return &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	}
	return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
}
