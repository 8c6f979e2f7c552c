package netns

import "net/netip"

// The addresses tests use on the two sides of a TUN device: the kernel
// holds the prefix's address on the device, so it routes the whole
// prefix, tcpwave's address included, into the TUN, where tcpwave reads
// it. Every test makes a namespace of its own, so all tests may use these
// same addresses. Treat them as constants.
var (
	// KernelPrefix4 is the kernel's IPv4 address on the TUN device,
	// with the prefix it routes into the device.
	KernelPrefix4 = netip.MustParsePrefix("10.9.0.1/24")
	// StackAddr4 is tcpwave's IPv4 address, inside KernelPrefix4.
	StackAddr4 = netip.MustParseAddr("10.9.0.2")
	// KernelPrefix6 is the kernel's IPv6 address on the TUN device,
	// with the prefix it routes into the device (a ULA, RFC 4193).
	KernelPrefix6 = netip.MustParsePrefix("fd00:9::1/64")
	// StackAddr6 is tcpwave's IPv6 address, inside KernelPrefix6.
	StackAddr6 = netip.MustParseAddr("fd00:9::2")
)
