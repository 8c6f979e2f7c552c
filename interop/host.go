package interop

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/tcpwave/tcpwave"
	"github.com/tcpwave/tcpwave/tcp"
)

// The addresses of a Pair: host A has the first of each family, host B
// the second.
var (
	AddrA4 = netip.MustParseAddr("10.8.0.1")
	AddrB4 = netip.MustParseAddr("10.8.0.2")
	AddrA6 = netip.MustParseAddr("fd00:8::1")
	AddrB6 = netip.MustParseAddr("fd00:8::2")
)

// Kind names a TCP implementation.
type Kind string

// The implementations a Host can run.
const (
	TCPWave Kind = "tcpwave"
	GVisor  Kind = "gvisor"
)

// Host is one stack on one Port of a Wire, whatever its implementation.
type Host interface {
	// Kind says which implementation the host runs.
	Kind() Kind
	// Addrs returns the host's addresses.
	Addrs() []netip.Addr
	// Dial connects to address ("ip:port") on network ("tcp", "tcp4"
	// or "tcp6") until ctx ends.
	Dial(ctx context.Context, network, address string) (Conn, error)
	// Listen listens on address ("ip:port"; port 0 picks one).
	Listen(network, address string) (Listener, error)
	// Close stops the host and closes its port.
	Close() error
}

// Conn is a TCP connection of either stack.
type Conn interface {
	net.Conn
	// CloseWrite shuts down the sending side: shutdown(SHUT_WR).
	CloseWrite() error
	// CloseRead shuts down the receiving side: shutdown(SHUT_RD).
	CloseRead() error
	// SetLinger sets SO_LINGER as net.TCPConn.SetLinger does; 0 makes
	// Close abort the connection with a RST.
	SetLinger(sec int) error
	// State returns the connection's state, as its own stack reports it,
	// in tcpwave's terms; tcp.Closed once the stack has forgotten the
	// connection.
	State() tcp.State
	// RawState is State as the stack itself spells it (gVisor's
	// EndpointState names, which tell ERROR from CLOSED).
	RawState() string
	// Unread returns the number of received bytes not yet read.
	Unread() int
}

// Listener is a listening socket of either stack.
type Listener interface {
	// AcceptConn waits for the next connection.
	AcceptConn() (Conn, error)
	// Addr returns the address the listener is bound to.
	Addr() net.Addr
	// Close stops listening; a blocked AcceptConn returns an error.
	Close() error
}

// Config sets what both kinds of host share. The zero value keeps each
// stack's defaults (Linux's for tcpwave, gVisor's own for gVisor).
type Config struct {
	// TimeWait, when not zero, is the TIME_WAIT duration on both
	// stacks (tcpwave's tcp.Config.TimeWait, gVisor's
	// tcpip.TCPTimeWaitTimeoutOption).
	TimeWait time.Duration
	// TCPWave holds extra options for tcpwave stacks (WithTCP,
	// WithObserver, ...), applied after TimeWait.
	TCPWave []tcpwave.Option
	// GVisor holds extra setup for gVisor stacks.
	GVisor []GVisorOption
}

// NewHost starts a host of kind k on port with addrs.
func NewHost(k Kind, port *Port, addrs []netip.Addr, cfg Config) (Host, error) {
	switch k {
	case TCPWave:
		return NewTCPWave(port, addrs, cfg)
	case GVisor:
		return NewGVisor(port, addrs, cfg)
	}
	return nil, fmt.Errorf("interop: unknown kind %q", k)
}

// Pair is two hosts joined by a Wire: A on Wire.A with AddrA4 and
// AddrA6, B on Wire.B with AddrB4 and AddrB6.
type Pair struct {
	A, B Host
	Wire *Wire
}

// NewPair starts hosts of kinds a and b on a new Wire.
func NewPair(a, b Kind, cfg Config) (*Pair, error) {
	w := NewWire()
	ha, err := NewHost(a, w.A, []netip.Addr{AddrA4, AddrA6}, cfg)
	if err != nil {
		w.A.Close()
		w.B.Close()
		return nil, err
	}
	hb, err := NewHost(b, w.B, []netip.Addr{AddrB4, AddrB6}, cfg)
	if err != nil {
		ha.Close()
		w.B.Close()
		return nil, err
	}
	return &Pair{A: ha, B: hb, Wire: w}, nil
}

// Close stops both hosts at once, each sending whatever its stack sends
// when it stops, and returns the first error.
func (p *Pair) Close() error {
	errs := make(chan error, 2)
	for _, h := range []Host{p.A, p.B} {
		go func() { errs <- h.Close() }()
	}
	return errors.Join(<-errs, <-errs)
}

// Dial connects from one host to a listener of another (their Wire is
// not checked), and returns both ends: the dialer's and the accepted one.
// If it fails after the dial, the connection it would have accepted is
// left for the next AcceptConn (or the listener's Close).
func Dial(ctx context.Context, from Host, l Listener) (client, server Conn, err error) {
	type result struct {
		c   Conn
		err error
	}
	acc := make(chan result, 1)
	go func() {
		c, err := l.AcceptConn()
		acc <- result{c, err}
	}()
	network := "tcp4"
	if ap := l.Addr().(*net.TCPAddr).AddrPort(); ap.Addr().Unmap().Is6() {
		network = "tcp6"
	}
	client, err = from.Dial(ctx, network, l.Addr().String())
	if err != nil {
		return nil, nil, err
	}
	select {
	case r := <-acc:
		if r.err != nil {
			client.Close()
			return nil, nil, r.err
		}
		return client, r.c, nil
	case <-ctx.Done():
		client.Close()
		return nil, nil, ctx.Err()
	}
}
