// Package sim is a deterministic simulated network with virtual time. Hosts
// (each a sans-IO stack.Stack) are joined by links with latency, bandwidth,
// loss, duplication, reordering and corruption drawn from one seeded PRNG,
// plus targeted faults ("drop the first FIN from A"). The same seed replays
// the same run byte for byte; a 60 s TIME_WAIT takes microseconds.
package sim

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/stack"
	"github.com/tcpwave/tcpwave/trace"
	"github.com/tcpwave/tcpwave/wire"
)

// LinkConfig describes one direction of a link. Probabilities are in [0, 1].
type LinkConfig struct {
	Delay     time.Duration // one-way latency
	Jitter    time.Duration // extra delay drawn uniformly from [0, Jitter)
	Bandwidth int64         // bits per second; 0 means unlimited
	Loss      float64       // probability a packet is lost
	Dup       float64       // probability a packet is delivered twice
	Reorder   float64       // probability a packet is held back by an extra Delay+Jitter
	Corrupt   float64       // probability one bit of a packet is flipped
}

// Validate reports a configuration that makes no sense.
func (c LinkConfig) Validate() error {
	for _, p := range []float64{c.Loss, c.Dup, c.Reorder, c.Corrupt} {
		if p < 0 || p > 1 || p != p {
			return fmt.Errorf("sim: probability %v out of [0, 1]", p)
		}
	}
	if c.Delay < 0 || c.Jitter < 0 || c.Bandwidth < 0 {
		return fmt.Errorf("sim: negative delay, jitter or bandwidth")
	}
	return nil
}

// Rule is a targeted fault: the Nth packet (1-based) from host From that
// matches Match is dropped (or, with Delay > 0, held back by Delay); Count
// > 1 acts on that many matches in a row from the Nth on, Count < 0 on
// every match from the Nth on.
type Rule struct {
	From  string
	Match func(p *wire.Packet) bool
	Nth   int
	Count int
	Delay time.Duration
	seen  int
}

// MatchFlags matches packets whose flags include all of f (and, when
// exact, no others).
func MatchFlags(f wire.Flags, exact bool) func(*wire.Packet) bool {
	return func(p *wire.Packet) bool {
		if exact {
			return p.TCP.Flags == f
		}
		return p.TCP.Flags&f == f
	}
}

// Host is one simulated machine.
type Host struct {
	Name  string
	Addr  netip.Addr
	Stack *stack.Stack
	// OnReady, if set, is called for each socket whose readiness may have
	// changed (data to read, room to write, a connection to accept, a
	// handshake or close finished): the application's event loop.
	OnReady func(so *stack.Socket)
	net     *Network
	pump    stack.Pump // the host's side of the stack's driver loop (flush)
}

// ready hands the sockets whose readiness may have changed to OnReady and
// reports whether it called it.
func (h *Host) ready(touched []*stack.Socket) bool {
	if h.OnReady == nil {
		return false
	}
	for _, so := range touched {
		h.OnReady(so)
	}
	return len(touched) > 0
}

// Now returns the network's virtual time (the hosts share one clock).
func (h *Host) Now() clock.Instant { return h.net.now }

// Network is the simulated network.
type Network struct {
	now     clock.Instant
	rng     *rand.Rand
	seed    uint64
	hosts   []*Host
	byAddr  map[netip.Addr]*Host
	links   map[[2]string]*linkState
	def     LinkConfig
	rules   []*Rule
	queue   eventQueue
	nextID  uint64
	rec     *trace.Recorder
	rel     trace.Relativizer
	buf     []byte
	tap     func(now clock.Instant, pkt []byte)
	Steps   int // events processed (deliveries, actions, timer runs), for tests and limits
	stepCap int
	checks  bool // CheckInvariants after every step (SetChecks)
}

// ErrInvariant marks the error RunUntil returns when a host's stack fails
// its invariant checks (SetChecks).
var ErrInvariant = errors.New("sim: stack invariant violated")

// SetChecks makes the network check every host's stack
// (stack.Stack.CheckInvariants) after every step, once the step's packets
// are sent: a failure stops RunUntil with an error that wraps
// ErrInvariant and the check's. The checks walk every socket, so they cost
// time in proportion to the connections at every step; tests and the soak
// turn them on.
func (n *Network) SetChecks(on bool) { n.checks = on }

// check runs the invariant checks of every host's stack, if on.
func (n *Network) check() error {
	if !n.checks {
		return nil
	}
	for _, h := range n.hosts {
		if err := h.Stack.CheckInvariants(); err != nil {
			return fmt.Errorf("host %s at %v: %w: %w", h.Name, n.now, ErrInvariant, err)
		}
	}
	return nil
}

type linkState struct {
	cfg      LinkConfig
	busyTill clock.Instant
}

// New makes an empty network whose randomness comes from seed. Events are
// recorded in rec when it is not nil.
func New(seed uint64, def LinkConfig, rec *trace.Recorder) (*Network, error) {
	if err := def.Validate(); err != nil {
		return nil, err
	}
	return &Network{
		rng:     rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		seed:    seed,
		byAddr:  make(map[netip.Addr]*Host),
		links:   make(map[[2]string]*linkState),
		def:     def,
		rec:     rec,
		buf:     make([]byte, 65536),
		stepCap: 50_000_000,
	}, nil
}

// Now returns the virtual time.
func (n *Network) Now() clock.Instant { return n.now }

// Seed returns the seed the network was made with.
func (n *Network) Seed() uint64 { return n.seed }

// AddHost adds a host named name with address addr; opts.Addrs is set to
// addr, and the ISN key is drawn from the network's PRNG.
func (n *Network) AddHost(name string, addr netip.Addr, opts stack.Options) (*Host, error) {
	if n.byAddr[addr] != nil {
		return nil, fmt.Errorf("sim: address %v already taken", addr)
	}
	h := &Host{Name: name, Addr: addr, net: n}
	opts.Addrs = []netip.Addr{addr}
	for i := range opts.ISNKey {
		opts.ISNKey[i] = byte(n.rng.Uint32())
	}
	obs := &trace.Observer{Host: name, Rel: &n.rel}
	if n.rec != nil {
		obs.Add = n.rec.Add
	}
	st, err := stack.New(opts, obs)
	if err != nil {
		return nil, fmt.Errorf("sim: host %s: %w", name, err)
	}
	h.Stack = st
	h.pump = stack.Pump{Buf: n.buf, Send: func(pkt []byte, _ int) { n.transmit(h, pkt) }, Ready: h.ready}
	n.hosts = append(n.hosts, h)
	n.byAddr[addr] = h
	return h, nil
}

// SetLink sets the configuration of the direction from -> to.
func (n *Network) SetLink(from, to string, cfg LinkConfig) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	n.link(from, to).cfg = cfg
	return nil
}

func (n *Network) link(from, to string) *linkState {
	k := [2]string{from, to}
	l := n.links[k]
	if l == nil {
		l = &linkState{cfg: n.def}
		n.links[k] = l
	}
	return l
}

// AddRule installs a targeted fault.
func (n *Network) AddRule(r *Rule) { n.rules = append(n.rules, r) }

// At schedules fn to run at virtual time t (an application action).
func (n *Network) At(t clock.Instant, fn func()) {
	n.push(&event{at: max(t, n.now), fn: fn})
}

// After schedules fn to run d after the current virtual time.
func (n *Network) After(d time.Duration, fn func()) { n.At(n.now.Add(d), fn) }

// Record adds an application event to the trace.
func (n *Network) Record(host, call, result string) {
	if n.rec != nil {
		n.rec.Add(trace.Event{T: n.now, Host: host, Kind: trace.KindApp, Call: call, Result: result})
	}
}

// RunUntil processes events until virtual time reaches end, or nothing is
// left to do. It returns an error if the step limit is hit (a livelock).
func (n *Network) RunUntil(end clock.Instant) error {
	return n.RunUntilContext(context.Background(), end)
}

// RunUntilContext is RunUntil that also stops, returning ctx's error, once
// ctx is done: it looks every ctxEvery instants, so that a run with very
// many events between two instants a caller would check still stops
// promptly.
func (n *Network) RunUntilContext(ctx context.Context, end clock.Instant) error {
	for i := 0; ; i++ {
		if i%ctxEvery == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		n.flush()
		if err := n.check(); err != nil {
			return err
		}
		next := n.nextTime()
		if next == clock.Never || next > end {
			if end != clock.Never {
				n.now = max(n.now, end)
			}
			return nil
		}
		n.now = next
		n.runDue()
		if n.Steps > n.stepCap {
			return fmt.Errorf("sim: more than %d steps by %v (seed %d): livelock?", n.stepCap, n.now, n.seed)
		}
	}
}

// ctxEvery is how many instants RunUntilContext runs between looks at its
// context.
const ctxEvery = 256

// Run processes events until nothing is left to do.
func (n *Network) Run() error { return n.RunUntil(clock.Never) }

func (n *Network) nextTime() clock.Instant {
	t := clock.Never
	if len(n.queue) > 0 {
		t = n.queue[0].at
	}
	for _, h := range n.hosts {
		t = clock.Min(t, h.Stack.Deadline())
	}
	return t
}

// runDue runs everything due at n.now: deliveries and actions in the order
// they were scheduled, then the hosts' timers. Each is a step; it stops
// once the step cap is passed, so that a livelock that never lets time
// advance ends in RunUntil's error rather than a hang.
func (n *Network) runDue() {
	for len(n.queue) > 0 && n.queue[0].at <= n.now && n.Steps <= n.stepCap {
		n.Steps++
		e := heap.Pop(&n.queue).(*event)
		if e.fn != nil {
			e.fn()
		} else {
			e.to.Stack.HandlePacket(n.now, e.pkt)
		}
		n.flush()
	}
	for _, h := range n.hosts {
		if h.Stack.Deadline() <= n.now {
			n.Steps++
			h.Stack.HandleTimeout(n.now)
		}
	}
}

// flush collects every packet the hosts have to send and puts it on the
// wire, and runs the applications of sockets whose readiness changed, one
// round of each host in turn (stack.Drain) until a round moves nothing.
func (n *Network) flush() {
	for progress := true; progress; {
		progress = false
		for _, h := range n.hosts {
			if sent, ready := h.Stack.Drain(n.now, &h.pump); sent > 0 || ready {
				progress = true
			}
		}
	}
}

// SetTap installs fn to see every packet as it leaves its sender, before
// the network's faults act on it (a capture point on the wire; for pcap).
func (n *Network) SetTap(fn func(now clock.Instant, pkt []byte)) { n.tap = fn }

// transmit applies the link's faults to one packet and schedules its
// delivery.
func (n *Network) transmit(from *Host, pkt []byte) {
	if n.tap != nil {
		n.tap(n.now, pkt)
	}
	var p wire.Packet
	if err := wire.ParsePacket(pkt, &p); err != nil {
		return // our own stacks never send malformed packets
	}
	to := n.byAddr[p.Dst]
	if to == nil {
		n.drop(from, nil, &p, "no route")
		return
	}
	l := n.link(from.Name, to.Name)
	c := l.cfg
	var hold time.Duration
	if r := n.ruleFor(from, &p); r != nil {
		if r.Delay <= 0 {
			n.drop(from, to, &p, "rule")
			return
		}
		hold = r.Delay
	}
	if c.Loss > 0 && n.rng.Float64() < c.Loss {
		n.drop(from, to, &p, "loss")
		return
	}
	at := n.now
	if c.Bandwidth > 0 {
		start := max(at, l.busyTill)
		l.busyTill = start.Add(time.Duration(int64(len(pkt)) * 8 * int64(time.Second) / c.Bandwidth))
		at = l.busyTill
	}
	at = at.Add(c.Delay + hold)
	if c.Jitter > 0 {
		at = at.Add(time.Duration(n.rng.Int64N(int64(c.Jitter))))
	}
	if c.Reorder > 0 && n.rng.Float64() < c.Reorder {
		at = at.Add(c.Delay + c.Jitter + time.Millisecond)
	}
	data := append([]byte(nil), pkt...)
	if c.Corrupt > 0 && n.rng.Float64() < c.Corrupt {
		bit := n.rng.IntN(len(data) * 8)
		data[bit/8] ^= 1 << (bit % 8)
	}
	n.push(&event{at: at, to: to, pkt: data})
	if c.Dup > 0 && n.rng.Float64() < c.Dup {
		n.push(&event{at: at.Add(time.Microsecond), to: to, pkt: append([]byte(nil), data...)})
	}
}

// ruleFor returns the rule that acts on this packet, if any.
func (n *Network) ruleFor(from *Host, p *wire.Packet) *Rule {
	for _, r := range n.rules {
		if r.From != "" && r.From != from.Name {
			continue
		}
		if r.Match != nil && !r.Match(p) {
			continue
		}
		r.seen++
		nth := max(r.Nth, 1)
		switch {
		case r.seen == nth:
			return r
		case r.seen > nth && (r.Count < 0 || r.seen < nth+r.Count):
			return r
		}
	}
	return nil
}

// Inject puts a hand-made packet on the wire as if from sent it (for
// strays and old duplicates). It is traced like any packet.
func (n *Network) Inject(from *Host, p *wire.Packet) error {
	k, err := wire.EncodePacket(n.buf, p, 64, 0)
	if err != nil {
		return fmt.Errorf("sim: inject: %w", err)
	}
	if n.rec != nil {
		n.rec.Add(trace.Event{T: n.now, Host: from.Name, Kind: trace.KindSend, Seg: n.rel.Segment(p)})
	}
	n.transmit(from, n.buf[:k])
	return nil
}

func (n *Network) drop(from, to *Host, p *wire.Packet, why string) {
	if n.rec == nil {
		return
	}
	e := trace.Event{T: n.now, Host: "net", Kind: trace.KindDrop, Src: from.Name, Seg: n.rel.Segment(p), Why: why}
	if to != nil {
		e.Dst = to.Name
	}
	n.rec.Add(e)
}

func (n *Network) push(e *event) {
	n.nextID++
	e.id = n.nextID
	heap.Push(&n.queue, e)
}

// event is a delivery (to, pkt) or an action (fn) at a virtual instant.
type event struct {
	at  clock.Instant
	id  uint64
	to  *Host
	pkt []byte
	fn  func()
}

type eventQueue []*event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].id < q[j].id
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(*event)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return e
}
