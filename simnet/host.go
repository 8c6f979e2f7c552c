package simnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tcpwave/tcpwave"
	"github.com/tcpwave/tcpwave/stack"
	"github.com/tcpwave/tcpwave/tcp"
)

// ErrHostDown is returned by a crashed host's Dial and Listen.
var ErrHostDown = errors.New("simnet: host is down")

// Host is one machine of the network: a tcpwave stack with one address.
// Its methods may be called from any goroutine.
type Host struct {
	n    *Network
	addr netip.Addr

	mu    sync.Mutex
	st    *tcpwave.Stack
	ep    *endpoint
	boots uint64 // how many times the host has started
	down  bool   // crashed and not restarted
	reads *gate  // shut while the application does not read (PauseReads)
}

// Addr returns the host's address.
func (h *Host) Addr() netip.Addr { return h.addr }

// String returns the host's address.
func (h *Host) String() string { return h.addr.String() }

// start boots the host: a new stack on a new endpoint.
func (h *Host) start() error {
	ep := &endpoint{h: h, mtu: h.n.opts.MTU, in: make(chan []byte, inQueue), closed: make(chan struct{})}
	h.mu.Lock()
	h.boots++
	boots := h.boots
	h.mu.Unlock()
	key := h.n.isnKey(h.addr)
	key[0] ^= byte(boots) // a new boot, a new secret
	opts := []tcpwave.Option{
		tcpwave.WithStackOptions(func(o *stack.Options) { o.ISNKey = key }),
	}
	if h.n.tr != nil {
		opts = append(opts, tcpwave.WithObserver(newHostObserver(h.n.tr, h.addr.String(), time.Since(h.n.started))))
	}
	if h.n.opts.TCP != nil {
		opts = append(opts, tcpwave.WithTCP(func(c *tcp.Config) { h.n.opts.TCP(c) }))
	}
	st, err := tcpwave.New(ep, []netip.Addr{h.addr}, opts...)
	if err != nil {
		return fmt.Errorf("simnet: host %v: %w", h.addr, err)
	}
	h.mu.Lock()
	h.st, h.ep, h.down = st, ep, false
	h.mu.Unlock()
	return nil
}

// stack returns the running stack, or ErrHostDown.
func (h *Host) stack() (*tcpwave.Stack, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.down || h.st == nil {
		return nil, ErrHostDown
	}
	return h.st, nil
}

// Stack returns the host's tcpwave stack (nil while it is down), for
// what Host does not offer: Counters, ListenWith, ...
func (h *Host) Stack() *tcpwave.Stack {
	st, _ := h.stack()
	return st
}

// Dial connects to address ("10.0.0.2:80") from this host. The
// connection is a *Conn.
func (h *Host) Dial(network, address string) (net.Conn, error) {
	return h.DialContext(context.Background(), network, address)
}

// DialContext is Dial with a context; it fits http.Transport.DialContext
// and grpc.WithContextDialer.
func (h *Host) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	st, err := h.stack()
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	c, err := st.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return &Conn{Conn: c, h: h}, nil
}

// Listen listens on address (":80", "10.0.0.2:80") on this host; Accept
// returns *Conn values.
func (h *Host) Listen(network, address string) (net.Listener, error) {
	st, err := h.stack()
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	l, err := st.Listen(network, address)
	if err != nil {
		return nil, err
	}
	return &listener{Listener: l, h: h}, nil
}

// Connections returns the host's connections as ss lists them, TIME_WAIT
// records and listeners included; none while it is down.
func (h *Host) Connections() []stack.ConnInfo {
	st, err := h.stack()
	if err != nil {
		return nil
	}
	return st.Connections()
}

// Crash makes the host vanish at once: no FIN, no RST, nothing it sends
// or would receive reaches anyone, and everything it knew is gone. Calls
// blocked on its connections return errors. Restart brings it back with
// no state, so a peer's next segment on an old connection draws a RST
// (the half-open connection).
func (h *Host) Crash() {
	h.stop(true)
}

// Restart boots a crashed host again, with no connections.
func (h *Host) Restart() error {
	h.mu.Lock()
	down := h.down
	h.mu.Unlock()
	if !down {
		return fmt.Errorf("simnet: host %v is not down", h.addr)
	}
	return h.start()
}

// stop stops the host: at once and silently when crash, else as a
// process exit closes its sockets.
func (h *Host) stop(crash bool) {
	h.mu.Lock()
	st, ep := h.st, h.ep
	if h.down || st == nil {
		h.mu.Unlock()
		return
	}
	h.down = true
	h.mu.Unlock()
	if crash {
		ep.dead.Store(true)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		st.CloseContext(ctx) // stops at once; what it sends is lost
		return
	}
	st.Close()
}

// inQueue is the packets a host's endpoint holds for its reader; more
// are dropped, as a NIC's ring overflows.
const inQueue = 4096

// deliver hands an arrival to the host, unless it is down or its queue
// is full.
func (h *Host) deliver(a *arrival) {
	h.mu.Lock()
	ep, down := h.ep, h.down
	h.mu.Unlock()
	if down || ep == nil {
		h.n.record(a.from, h.addr, a.pkt, "lost: host is down")
		return
	}
	select {
	case ep.in <- a.pkt:
		h.n.record(a.from, h.addr, a.pkt, "")
	default:
		h.n.record(a.from, h.addr, a.pkt, "lost: receive queue full")
	}
}

// endpoint is a host's link.Endpoint.
type endpoint struct {
	h      *Host
	mtu    int
	in     chan []byte
	closed chan struct{}
	once   sync.Once
	dead   atomic.Bool // the host crashed: nothing goes out
}

var errClosed = fmt.Errorf("simnet: endpoint closed: %w", net.ErrClosed)

// WritePacket puts a packet on the wire. It never blocks.
func (e *endpoint) WritePacket(pkt []byte) error {
	select {
	case <-e.closed:
		return errClosed
	default:
	}
	if len(pkt) > e.mtu {
		return fmt.Errorf("simnet: packet of %d bytes, MTU %d", len(pkt), e.mtu)
	}
	if e.dead.Load() {
		return nil
	}
	e.h.n.send(e.h.addr, pkt)
	return nil
}

// ReadPacket waits for a packet.
func (e *endpoint) ReadPacket(buf []byte) (int, error) {
	select {
	case p := <-e.in:
		return take(buf, p)
	case <-e.closed:
		return 0, errClosed
	}
}

// PollPacket takes a waiting packet without blocking (link.Poller).
func (e *endpoint) PollPacket(buf []byte) (int, error) {
	select {
	case p := <-e.in:
		return take(buf, p)
	case <-e.closed:
		return 0, errClosed
	default:
		return 0, nil
	}
}

// take copies packet p into buf.
func take(buf, p []byte) (int, error) {
	n := copy(buf, p)
	if n < len(p) {
		return n, errors.New("simnet: packet truncated")
	}
	return n, nil
}

// MTU returns the host's MTU.
func (e *endpoint) MTU() int { return e.mtu }

// Close closes the endpoint.
func (e *endpoint) Close() error {
	err := errClosed
	e.once.Do(func() {
		close(e.closed)
		err = nil
	})
	return err
}

// send routes a packet from a host: the faults, then the link, decide
// its fate.
func (n *Network) send(from netip.Addr, pkt []byte) { n.route(from, pkt, true) }

// inject routes a packet the network makes itself (ResetConn): it takes
// the link's delay, and no loss or fault.
func (n *Network) inject(from netip.Addr, pkt []byte) { n.route(from, pkt, false) }

// route routes a packet, applying faults and the link's impairments when
// impair.
func (n *Network) route(from netip.Addr, pkt []byte, impair bool) {
	seg, hdr, err := segmentOf(pkt)
	if err != nil {
		n.record(from, netip.Addr{}, pkt, "lost: not a TCP packet ("+err.Error()+")")
		return
	}
	to := seg.To.Addr().Unmap()
	now := time.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	dst := n.hosts[to]
	if dst == nil {
		n.recordLocked(from, to, pkt, seg, hdr, "lost: no host "+to.String())
		return
	}
	n.observe(seg)
	if !impair {
		d := n.link(dir{from, to}).cfg.Delay
		n.schedule(&arrival{at: now.Add(d), to: dst, pkt: append([]byte(nil), pkt...), from: from})
		return
	}
	if rule := n.faultDrop(now, from, to, seg); rule != "" {
		n.recordLocked(from, to, pkt, seg, hdr, "dropped by fault: "+rule)
		return
	}
	f := n.link(dir{from, to}).send(now, pkt)
	if f.drop != "" {
		n.recordLocked(from, to, pkt, seg, hdr, f.drop)
		return
	}
	for _, d := range f.arrive {
		cp := append([]byte(nil), pkt...)
		if f.corrupt >= 0 {
			cp[f.corrupt/8] ^= 1 << (f.corrupt % 8)
		}
		n.schedule(&arrival{at: now.Add(d), to: dst, pkt: cp, from: from})
	}
}
