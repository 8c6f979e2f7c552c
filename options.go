package tcpwave

import (
	"time"

	"github.com/tcpwave/tcpwave/stack"
	"github.com/tcpwave/tcpwave/tcp"
)

// DefaultCloseTimeout is how long Stack.Close lets connections finish
// their close before it stops the host.
const DefaultCloseTimeout = 5 * time.Second

// An Option configures a Stack; pass options to New. Options apply in
// order, so a later one overrides an earlier one.
type Option func(*config)

// config is what the options build.
type config struct {
	opts         stack.Options
	obs          stack.Observer
	closeTimeout time.Duration
}

// WithTCP lets fn change the configuration every connection of the stack
// uses: timers (TimeWait, FinTimeout, RTO bounds, delayed ACK), buffers
// (RcvBuf, SndBuf), retry counts, window scaling, timestamps, SACK and
// NoDelay. fn starts from tcp.DefaultConfig, Linux's defaults. New clamps
// MSS to what the link's MTU allows.
func WithTCP(fn func(c *tcp.Config)) Option {
	return func(cf *config) {
		if fn != nil {
			fn(&cf.opts.TCP)
		}
	}
}

// WithStackOptions lets fn change the host's options (ephemeral port
// range, SomaxConn, MaxSynBacklog, TTL, ISNKey, TCP, ...). fn starts from
// stack.DefaultOptions with a random ISNKey; New then sets Addrs from its
// argument and MTU from the endpoint, whatever fn did to them.
func WithStackOptions(fn func(o *stack.Options)) Option {
	return func(cf *config) {
		if fn != nil {
			fn(&cf.opts)
		}
	}
}

// WithObserver makes obs hear every packet the stack sends, receives and
// drops, and every state change of its connections. obs runs with the
// stack's lock held, on whichever goroutine is driving the stack at the
// time: it must be quick, must copy any packet it keeps, and must not call
// the Stack or its connections (that would deadlock). The packets it
// hears have complete TCP checksums: a host with an Observer does not use
// a link's checksum offload (link.ChecksumOffloader).
func WithObserver(obs stack.Observer) Option {
	return func(cf *config) { cf.obs = obs }
}

// WithCloseTimeout sets how long Stack.Close waits for connections to
// finish their close (DefaultCloseTimeout if d <= 0).
func WithCloseTimeout(d time.Duration) Option {
	return func(cf *config) {
		if d <= 0 {
			d = DefaultCloseTimeout
		}
		cf.closeTimeout = d
	}
}

// ListenConfig holds the socket options of a listener, for
// Stack.ListenWith. The zero value is a plain Linux socket: no
// SO_REUSEADDR, no SO_REUSEPORT, a backlog of SomaxConn.
type ListenConfig struct {
	// ReuseAddr sets SO_REUSEADDR: the listener may bind a port that
	// connections (TIME_WAIT included) of sockets that also set it still
	// hold. Stack.Listen sets it, as package net does.
	ReuseAddr bool
	// ReusePort sets SO_REUSEPORT: listeners that all set it share the
	// port, and each new connection goes to one of them by a hash of its
	// addresses.
	ReusePort bool
	// Backlog is listen(2)'s backlog: the most connections waiting in
	// the accept queue. Zero or less means the stack's SomaxConn (4096
	// by default), as in package net; larger values are cut to it.
	Backlog int
	// ReadBuffer and WriteBuffer, if positive, set SO_RCVBUF and
	// SO_SNDBUF on the listener before listen(), so that its connections
	// start with them: as Linux, the stack doubles the value (at most
	// twice Options.RmemMax or WmemMax), turns that direction's
	// auto-tuning off, offers half the doubled receive buffer as the
	// SYN-ACK's window and chooses its window scale from it (SO_RCVBUF
	// 20000 offers 18824 bytes and scale 0). Conn.SetReadBuffer on a
	// connection already open cannot change its scale.
	ReadBuffer, WriteBuffer int
}
