// Package link defines Endpoint, the interface between a host (package
// tcpwave) and whatever carries its IP packets: an in-memory pipe (package
// link/pipe), a Linux TUN device, or a capture tap wrapped around either.
package link

// Endpoint is one end of a link that carries whole IP packets.
//
// WritePacket and ReadPacket may be called concurrently with each other
// and with Close; a host calls WritePacket from one goroutine and
// ReadPacket from another.
//
// A host calls WritePacket (and an Offloader's WriteGSO) with its lock
// held, on whichever goroutine holds it: the reader, a timer, a user's
// Read or Write. A write must therefore never block, nor call back into
// the host: an endpoint whose queue or device is full drops the packet,
// as a NIC's full ring does (TCP retransmits it), and may count the drop;
// one that must wait for its device hands the packet to a goroutine of
// its own with a bounded queue.
type Endpoint interface {
	// WritePacket sends one IP packet, without blocking (see above). The
	// endpoint copies pkt before it returns, so the caller may reuse it
	// at once. A link may drop a packet, as a real one does, without
	// reporting an error; an error means the packet could not be sent at
	// all (a packet larger than MTU, or an endpoint that is closed).
	WritePacket(pkt []byte) error

	// ReadPacket blocks until a packet arrives, copies it into buf and
	// returns its length. After Close it returns an error that wraps
	// net.ErrClosed. buf should hold MTU bytes: a longer packet is
	// truncated and reported with an error.
	ReadPacket(buf []byte) (int, error)

	// MTU returns the largest packet, IP header included, that the link
	// carries.
	MTU() int

	// Close closes the endpoint and unblocks ReadPacket. Calling it
	// more than once returns an error that wraps net.ErrClosed.
	Close() error
}

// Offloader is an Endpoint with TCP segmentation offload: besides packets
// of up to MTU bytes it takes TCP super-packets, each one IP packet whose
// payload stands for several segments of one connection, as a Linux device
// with TSO/GSO does, and it may deliver such packets to ReadPacket too, as
// receive coalescing (GRO) does. A host whose link is an Offloader with a
// GSOMaxSize above its MTU hands it bursts of data as super-packets
// (stack.Stack.PollPacketGSO) and reads with buffers of GSOMaxSize bytes.
type Offloader interface {
	Endpoint

	// GSOMaxSize returns the largest super-packet, IP header included,
	// that WriteGSO takes and ReadPacket may return; a value no larger
	// than MTU means the endpoint has no offload.
	GSOMaxSize() int

	// WriteGSO sends a TCP super-packet whose payload is segments of
	// segSize bytes, the last possibly shorter. Split at segSize
	// (wire.SplitTCP) it is the packets the segments would have been; the
	// link carries it whole where the far end takes super-packets and
	// splits it where packets must fit the MTU. Like WritePacket, it copies
	// pkt before it returns and never blocks.
	WriteGSO(pkt []byte, segSize int) error
}

// RxOverheader is an Endpoint that hands the receiver the buffer its
// sender filled, as Linux's loopback and veth pass the sender's skb,
// rather than building each packet anew as a TUN device does. RxOverhead
// is the memory Linux's accounting would charge a received TCP segment
// beyond its payload there (tcp.Config.RxOverhead, tcp.LoopbackRxOverhead
// for loopback's): a host uses it to size the receive window a buffer
// offers, which a TUN device's power-of-two skb heads halve at a 64 KiB
// MTU. Implementing it is optional.
type RxOverheader interface {
	Endpoint
	RxOverhead() int
}

// Poller is an Endpoint that can also take a packet that is waiting
// without blocking. A host that has just read a packet uses it to handle
// the packets queued behind it as one batch, and to send its answers
// once for the whole batch. Implementing it is optional.
type Poller interface {
	Endpoint

	// PollPacket copies the next packet that has arrived into buf and
	// returns its length, as ReadPacket does, but never blocks: when no
	// packet is waiting it returns 0 and a nil error. Errors are
	// ReadPacket's.
	PollPacket(buf []byte) (int, error)
}

// ChecksumOffloader is an Endpoint with TCP checksum offload both ways, as
// a NIC with receive checksum offload and NETIF_F_HW_CSUM has, or a Linux
// TUN device with a virtio-net header: it reports, per packet read, that
// the packet's TCP checksum needs no verification, and it takes packets
// whose TCP checksum is still to be completed. A host uses it only when
// ChecksumOffload reports true, and then reads with ReadPacketChecked and
// writes with WritePartial alone; with false, or on an endpoint without
// the interface, it reads and writes as it always does, with complete
// checksums both ways. Implementing it is optional.
//
// A wrapper around an endpoint (a fault injector, a capture tap) that does
// not implement it hides the capability, so the host then computes and
// verifies every checksum, and a tap sees complete ones. A tap that does
// implement it sees partial checksums in the packets it is given, as
// tcpdump does on a Linux device with checksum offload, and should say
// what it records. A host with an Observer (tcpwave.WithObserver) does not
// use checksum offload, so that the Observer sees complete checksums.
type ChecksumOffloader interface {
	Endpoint

	// ChecksumOffload reports whether the endpoint has checksum offload.
	// It does not change while the endpoint is open.
	ChecksumOffload() bool

	// ReadPacketChecked is ReadPacket (wait true) or, for an endpoint that
	// is also a Poller, PollPacket (wait false), that also reports whether
	// the packet's TCP checksum needs no verification: the link, or what
	// is behind it, verified it (virtio-net's DATA_VALID, Linux's
	// CHECKSUM_UNNECESSARY), or the packet comes from a local sender that
	// left the checksum partial, which the receiver trusts as Linux does
	// (NEEDS_CSUM, CHECKSUM_PARTIAL; the field may then hold only the
	// pseudo-header's sum). With checked false the receiver verifies the
	// checksum as usual; a packet that is not TCP is never vouched for in
	// a way that matters.
	ReadPacketChecked(buf []byte, wait bool) (n int, checked bool, err error)

	// WritePartial is WritePacket (segSize 0) or, on an Offloader,
	// WriteGSO (segSize > 0) for a packet whose TCP checksum field holds
	// only the pseudo-header's sum for the TCP length of the whole packet
	// (wire.EncodePacketPartial, Linux's CHECKSUM_PARTIAL): the endpoint
	// completes the checksum, or has its device do so (virtio-net's
	// NEEDS_CSUM with csum_start and csum_offset), for the packet and for
	// every segment a super-packet is cut into. It copies pkt and never
	// blocks, as WritePacket; it may complete the checksum in pkt itself.
	WritePartial(pkt []byte, segSize int) error
}
