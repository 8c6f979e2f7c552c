// Package link defines Endpoint, the interface between a host (package
// tcpwave) and whatever carries its IP packets: an in-memory pipe (package
// link/pipe), a Linux TUN device, or a capture tap wrapped around either.
package link

// Endpoint is one end of a link that carries whole IP packets.
//
// WritePacket and ReadPacket may be called concurrently with each other
// and with Close; a host calls WritePacket from one goroutine and
// ReadPacket from another.
type Endpoint interface {
	// WritePacket sends one IP packet. The endpoint copies pkt before it
	// returns, so the caller may reuse it at once. A link may drop a
	// packet, as a real one does, without reporting an error; an error
	// means the packet could not be sent at all (a packet larger than
	// MTU, or an endpoint that is closed).
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
