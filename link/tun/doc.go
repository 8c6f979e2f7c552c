// Package tun is a link.Endpoint on a Linux TUN device: the packets that
// the kernel routes into the device are what ReadPacket returns, and the
// packets given to WritePacket arrive at the kernel as if received from a
// network. It is how tcpwave talks to real programs, and how its tests
// use the kernel's TCP as a reference peer.
//
// The device carries bare IPv4 and IPv6 packets (IFF_TUN with
// IFF_NO_PI: no packet-information header). Open makes it in the network
// namespace of the calling thread, sets its MTU and brings it up through
// ioctls on a routing-netlink socket; AddAddress gives the kernel side an
// address over that socket (RTM_NEWADDR). The socket stays with the
// device, so AddAddress works from any goroutine, in the device's
// namespace. No ip command runs. Setup does all of it inside a namespace,
// and gives the device a transmit queue of DefaultQueueLen packets (the
// kernel's 500 overflows under a thousand connections' bursts; see
// SetQueueLen).
//
// OpenOffload (or Setup with Config.Offload) opens the device with
// offload instead: every packet carries a virtio-net header
// (IFF_VNET_HDR), and the kernel and tcpwave exchange TCP super-packets
// of up to 64 KiB with partial checksums (TUNSETOFFLOAD with TSO for IPv4
// and IPv6), as a NIC with TSO and checksum offload and its driver do.
// The device is then a link.Offloader: a tcpwave host on it writes bursts
// of segments as one super-packet and reads the kernel's whole, one
// system call each, where a device without offload takes one per
// segment. It is a link.ChecksumOffloader too, with checksum offload
// both ways: the kernel's packets come to the host with the checksums the
// kernel vouches for (its own partial ones, NEEDS_CSUM, or DATA_VALID)
// left unverified, and the host's go to the kernel with partial checksums
// that the kernel, like a NIC, completes only if it forwards them. A
// kernel that refuses offload makes OpenOffload fail with an
// error wrapping ErrNoOffload, and Open still works.
//
// Besides TCP, the kernel writes into the device whatever else it sends
// on a link: with IPv6 up, router solicitations and MLD reports. A
// reader must expect packets it does not care about.
//
// The package is Linux-only; it needs CAP_NET_ADMIN.
package tun
