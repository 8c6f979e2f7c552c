package interop

import (
	"context"
	"net/netip"
	"time"

	"github.com/tcpwave/tcpwave"
	"github.com/tcpwave/tcpwave/stack"
	"github.com/tcpwave/tcpwave/tcp"
)

// closeTimeout bounds how long TCPWaveHost.Close lets connections finish.
const closeTimeout = 2 * time.Second

// TCPWaveHost is a tcpwave Stack as a Host.
type TCPWaveHost struct {
	Stack *tcpwave.Stack
}

// NewTCPWave starts a tcpwave Stack on port with addrs; it owns port
// from now on.
func NewTCPWave(port *Port, addrs []netip.Addr, cfg Config) (*TCPWaveHost, error) {
	var opts []tcpwave.Option
	if cfg.TimeWait != 0 {
		opts = append(opts, tcpwave.WithTCP(func(c *tcp.Config) { c.TimeWait = cfg.TimeWait }))
	}
	opts = append(opts, tcpwave.WithCloseTimeout(closeTimeout))
	opts = append(opts, cfg.TCPWave...)
	s, err := tcpwave.New(port, addrs, opts...)
	if err != nil {
		return nil, err
	}
	return &TCPWaveHost{Stack: s}, nil
}

// Kind returns TCPWave.
func (h *TCPWaveHost) Kind() Kind { return TCPWave }

// Addrs returns the host's addresses.
func (h *TCPWaveHost) Addrs() []netip.Addr { return h.Stack.Addrs() }

// Dial connects to address.
func (h *TCPWaveHost) Dial(ctx context.Context, network, address string) (Conn, error) {
	c, err := h.Stack.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return newTWConn(h.Stack, c), nil
}

// Listen listens on address.
func (h *TCPWaveHost) Listen(network, address string) (Listener, error) {
	l, err := h.Stack.Listen(network, address)
	if err != nil {
		return nil, err
	}
	return &twListener{Listener: l, s: h.Stack}, nil
}

// Close closes the stack (every connection sends its FIN) and waits at
// most two seconds for the connections to finish.
func (h *TCPWaveHost) Close() error { return h.Stack.Close() }

// Counters returns the stack's MIB counters.
func (h *TCPWaveHost) Counters() stack.Counters { return h.Stack.Counters() }

type twListener struct {
	*tcpwave.Listener
	s *tcpwave.Stack
}

func (l *twListener) AcceptConn() (Conn, error) {
	c, err := l.Listener.AcceptConn()
	if err != nil {
		return nil, err
	}
	return newTWConn(l.s, c), nil
}

// twConn is a tcpwave Conn with its 4-tuple, to find it in
// Stack.Connections.
type twConn struct {
	*tcpwave.Conn
	s             *tcpwave.Stack
	local, remote netip.AddrPort
}

func newTWConn(s *tcpwave.Stack, c *tcpwave.Conn) *twConn {
	return &twConn{Conn: c, s: s, local: c.LocalAddrPort(), remote: c.RemoteAddrPort()}
}

// info returns the connection's row in Stack.Connections: a live
// connection or its TIME_WAIT record.
func (c *twConn) info() (stack.ConnInfo, bool) {
	for _, r := range c.s.Connections() {
		if r.Local == c.local && r.Peer == c.remote && r.State != tcp.Listen {
			return r, true
		}
	}
	return stack.ConnInfo{}, false
}

func (c *twConn) State() tcp.State {
	r, _ := c.info() // the zero ConnInfo is CLOSED
	return r.State
}

func (c *twConn) RawState() string { return c.State().String() }

func (c *twConn) Unread() int {
	r, _ := c.info()
	return r.RecvQ
}
