package soak

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime/debug"
	"strings"
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/sim"
	"github.com/tcpwave/tcpwave/stack"
	"github.com/tcpwave/tcpwave/trace"
)

// Port is the servers' port on every host.
const Port = 80

// world is one run: the network, its hosts and the connections.
type world struct {
	ctx   context.Context // the run stops when it ends
	seed  uint64
	cfg   *Config
	rng   *rand.Rand
	n     *sim.Network
	rec   *trace.Recorder
	hosts []*host
	pairs []*pair
	gens  []*stackGen // every stack that ever ran, crashed ones included

	byKey   map[connKey]*pair
	bySock  map[*stack.Socket]*side
	lastUse map[[2]netip.AddrPort]clock.Instant // when a client last used a 4-tuple
	ghosts  map[[2]netip.AddrPort]bool          // 4-tuples a SYN cookie made a ghost connection on

	heal       clock.Instant // end of the fault phase
	unresolved int           // clients whose server has neither accepted nor failed them yet
	active     int           // sides whose application is still running
	started    int           // clients started
	stopped    bool          // servers have closed their listeners
	onWire     uint64        // packets put on the wire

	wbuf, rbuf, scratch []byte
	viol                *Violation
	res                 Result
}

// host is one simulated machine and its server application.
type host struct {
	w        *world
	name     string
	addr     netip.Addr
	sh       *sim.Host
	gen      *stackGen // the stack running now
	listener *stack.Socket
	down     []span // periods without a listener
	crashes  []clock.Instant

	backlog       int           // the listener's
	acceptDelay   time.Duration // the server accepts this long after a connection is ready
	acceptPending bool
}

// span is a period of virtual time; end is clock.Never while it lasts.
type span struct{ start, end clock.Instant }

// stackGen is one stack a host ran, from boot to crash (or the end), with
// what its applications saw, to check its counters against.
type stackGen struct {
	h                           *host
	st                          *stack.Stack
	born                        clock.Instant
	dead                        bool   // crashed: replaced by another stack
	connects                    uint64 // connect() calls that sent a SYN
	established, accepted       uint64
	abortOnLinger, abortOnClose uint64
	connectFails                uint64
	sides                       []*side
}

// connKey identifies a connection across its two hosts: the client's
// address, the server's, and the client's ISN (a later connection on the
// same 4-tuple, after a crash for instance, has another).
type connKey struct {
	client, server netip.AddrPort
	iss            uint32
}

// Run runs the simulation for seed and reports the first broken
// invariant, if any, with statistics.
func Run(seed uint64, cfg Config) Result { return run(context.Background(), seed, cfg, nil) }

// RunContext is Run that stops soon after ctx ends (it looks at ctx after
// each second of virtual time): the result's Err is then the context's
// error, wrapped, and not a *Violation.
func RunContext(ctx context.Context, seed uint64, cfg Config) Result {
	return run(ctx, seed, cfg, nil)
}

// run is RunContext with a hook that sees the world once it is set up,
// before it runs: tests use it to break things on purpose.
func run(ctx context.Context, seed uint64, cfg Config, hook func(w *world)) (res Result) {
	if err := cfg.Validate(); err != nil {
		return Result{Seed: seed, Err: err}
	}
	w := &world{ctx: ctx, seed: seed, cfg: &cfg, rec: cfg.Trace,
		rng:   rand.New(rand.NewPCG(seed, seed^0x50a4_50a4_50a4_50a4)),
		byKey: make(map[connKey]*pair), bySock: make(map[*stack.Socket]*side), lastUse: make(map[[2]netip.AddrPort]clock.Instant),
		ghosts: make(map[[2]netip.AddrPort]bool),
		wbuf:   make([]byte, 64<<10), rbuf: make([]byte, 64<<10), scratch: make([]byte, 64<<10),
	}
	w.res.Seed = seed
	defer func() {
		if x := recover(); x != nil {
			w.viol = &Violation{Seed: seed, At: w.now(), Invariant: "panic", Detail: fmt.Sprint(x) + " " + panicSite(debug.Stack())}
			res = w.result()
		}
	}()
	if err := w.setup(); err != nil {
		return Result{Seed: seed, Err: err}
	}
	if hook != nil {
		hook(w)
	}
	w.run()
	if err := ctx.Err(); err != nil {
		res = w.result()
		res.Err = fmt.Errorf("seed %d: stopped at %v: %w", seed, w.now(), err)
		return res
	}
	if w.viol == nil {
		w.check()
	}
	return w.result()
}

// panicSite returns the function and file:line where a panic happened,
// from a stack dump: the first frame after the runtime's panic machinery.
func panicSite(stk []byte) string {
	lines := strings.Split(string(stk), "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, "panic(") {
			continue
		}
		for k := i + 2; k+1 < len(lines); k += 2 {
			if fn := lines[k]; !strings.HasPrefix(fn, "runtime.") {
				if f := strings.Fields(lines[k+1]); len(f) > 0 {
					return "in " + fn + " at " + f[0]
				}
			}
		}
	}
	return ""
}

// runInvariant names the invariant an error of the network's run broke:
// a stack's own ("stack", sim.ErrInvariant) or the run's bound.
func runInvariant(err error) string {
	if errors.Is(err, sim.ErrInvariant) {
		return "stack"
	}
	return "bound"
}

func (w *world) result() Result {
	r := w.res
	if w.viol != nil {
		r.Err = w.viol
	}
	if w.n != nil {
		r.Steps = w.n.Steps
	}
	r.Hosts = len(w.hosts)
	return r
}

func (w *world) now() clock.Instant {
	if w.n == nil {
		return 0
	}
	return w.n.Now()
}

// violate records the first broken invariant.
func (w *world) violate(invariant, format string, args ...any) {
	if w.viol == nil {
		w.viol = &Violation{Seed: w.seed, At: w.now(), Invariant: invariant, Detail: fmt.Sprintf(format, args...)}
	}
}

// record adds an application event to the trace.
func (w *world) record(host, call, result string) {
	if w.rec != nil {
		w.n.Record(host, call, result)
	}
}

// setup builds the network and schedules everything the seed drew: the
// draws come in a fixed order, so the seed alone decides the run.
func (w *world) setup() error {
	cfg := w.cfg
	n, err := sim.New(w.seed, sim.LinkConfig{Delay: time.Millisecond}, w.rec)
	if err != nil {
		return err
	}
	w.n = n
	n.SetChecks(true) // every stack's tables, after every step (invariant "stack")
	n.SetTap(func(clock.Instant, []byte) { w.onWire++ })
	w.heal = clock.Instant(cfg.FaultPhase)
	hosts := cfg.Hosts
	if hosts == 0 {
		hosts = 2 + w.rng.IntN(3)
	}
	v6 := w.rng.IntN(4) == 0
	for i := range hosts {
		name := string(rune('A' + i))
		addr := netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)})
		if v6 {
			addr = netip.AddrFrom16([16]byte{0: 0xfd, 15: byte(i + 1)})
		}
		sh, err := n.AddHost(name, addr, hostOptions(w.rng))
		if err != nil {
			return err
		}
		h := &host{w: w, name: name, addr: addr, sh: sh}
		h.backlog = []int{0, 1, 8, 128, 128, 128}[w.rng.IntN(6)]
		if w.rng.IntN(4) == 0 {
			h.acceptDelay = drawPause(w.rng)
		}
		h.gen = &stackGen{h: h, st: sh.Stack}
		w.gens = append(w.gens, h.gen)
		sh.OnReady = h.ready
		w.hosts = append(w.hosts, h)
	}
	f := newFaults(w)
	f.schedule()
	for i := range cfg.Clients {
		p := &pair{id: i, plan: drawPair(w.rng, cfg, hosts)}
		w.pairs = append(w.pairs, p)
		n.At(clock.Instant(p.plan.start), func() { w.startClient(p) })
	}
	w.unresolved = cfg.Clients
	for _, h := range w.hosts {
		h.listen()
	}
	n.At(clock.Instant(cfg.StartWindow), w.maybeStopServers)
	return nil
}

// run runs the simulation until every application is done and no stack
// has a timer left, then lets the packets still in flight arrive and the
// applications' stale alarms ring.
func (w *world) run() {
	limit := clock.Instant(w.cfg.Limit)
	maxSteps := w.cfg.maxSteps()
	for !w.settled() {
		if w.ctx.Err() != nil {
			return
		}
		if w.now() >= limit {
			w.violate("bound", "not converged after %v: %s", w.cfg.Limit, w.pending())
			return
		}
		if err := w.n.RunUntilContext(w.ctx, min(w.now().Add(time.Second), limit)); err != nil {
			if w.ctx.Err() == nil {
				w.violate(runInvariant(err), "%v", err)
			}
			return
		}
		if w.viol != nil {
			return
		}
		if w.n.Steps > maxSteps {
			w.violate("bound", "more than %d steps: %s", maxSteps, w.pending())
			return
		}
	}
	w.res.End = w.now()
	drain := min(w.now().Add(w.cfg.Patience+time.Minute), limit) // past every stale watchdog
	for w.viol == nil && w.now() < drain && w.ctx.Err() == nil {
		if err := w.n.RunUntilContext(w.ctx, min(w.now().Add(time.Minute), drain)); err != nil && w.ctx.Err() == nil {
			w.violate(runInvariant(err), "%v", err)
		}
		if w.n.Steps > maxSteps {
			w.violate("bound", "more than %d steps: %s", maxSteps, w.pending())
		}
	}
}

// settled reports whether every application has finished and no stack
// has a timer.
func (w *world) settled() bool {
	if !w.stopped || w.active > 0 || w.started < len(w.pairs) {
		return false
	}
	for _, h := range w.hosts {
		if h.gen.st.Deadline() != clock.Never {
			return false
		}
	}
	return true
}

// pending describes what keeps a run from converging.
func (w *world) pending() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d applications running, %d clients not started, servers stopped %v", w.active, len(w.pairs)-w.started, w.stopped)
	for _, h := range w.hosts {
		rows := h.gen.st.Connections(w.now())
		fmt.Fprintf(&b, "; %s: %d sockets, deadline %v", h.name, len(rows), h.gen.st.Deadline())
		for i, r := range rows {
			if i == 3 {
				b.WriteString(" ...")
				break
			}
			fmt.Fprintf(&b, " [%v %v>%v timer %s]", r.State, r.Local, r.Peer, r.Timer)
		}
	}
	return b.String()
}

// listen starts the host's server: a listener on Port.
func (h *host) listen() {
	so := h.gen.st.NewSocket()
	err := so.Bind(netip.AddrPortFrom(h.addr, Port))
	if err == nil {
		err = so.Listen(h.w.now(), h.backlog)
	}
	h.w.record(h.name, fmt.Sprintf("bind+listen(:%d)", Port), errName(err))
	if err != nil {
		h.w.violate("errors", "host %s: listen: %v", h.name, err)
		return
	}
	h.listener, h.acceptPending = so, false
	if k := len(h.down); k > 0 && h.down[k-1].end == clock.Never {
		h.down[k-1].end = h.w.now()
	}
}

// stopListening closes the host's listener, after accepting what is
// queued.
func (h *host) stopListening() {
	if h.listener == nil {
		return
	}
	h.acceptAll()
	h.listener.Close(h.w.now())
	h.w.record(h.name, "close(listener)", "0")
	h.listener = nil
	h.down = append(h.down, span{h.w.now(), clock.Never})
}

// listenerDown reports whether the host had no listener at some time in
// [from, to].
func (h *host) listenerDown(from, to clock.Instant) bool {
	for _, s := range h.down {
		if s.start <= to && s.end >= from {
			return true
		}
	}
	return false
}

// crashedDuring reports whether the host crashed in [from, to].
func (h *host) crashedDuring(from, to clock.Instant) bool {
	for _, t := range h.crashes {
		if t >= from && t <= to {
			return true
		}
	}
	return false
}

// ready is the host's event loop: the simulator calls it for each socket
// whose readiness may have changed.
func (h *host) ready(so *stack.Socket) {
	if so == h.listener {
		switch {
		case h.acceptDelay == 0:
			h.acceptAll()
		case !h.acceptPending:
			h.acceptPending = true
			h.w.n.After(h.acceptDelay, func() {
				h.acceptPending = false
				h.acceptAll()
			})
		}
		return
	}
	if sd := h.w.bySock[so]; sd != nil {
		sd.step()
	}
}

func (h *host) acceptAll() {
	for h.listener != nil {
		c, err := h.listener.Accept()
		if err != nil {
			return
		}
		h.gen.accepted++
		h.w.accepted(h, c)
	}
}

// maybeStopServers closes every listener once the start window is over
// and every client has been accepted or has failed.
func (w *world) maybeStopServers() {
	if w.stopped || w.unresolved > 0 || w.now() < clock.Instant(w.cfg.StartWindow) {
		return
	}
	w.stopped = true
	for _, h := range w.hosts {
		h.stopListening()
	}
}

// crash replaces h's stack by a fresh one with the same options (and a new
// ISN secret): every connection, listener and timer of the host is gone,
// as are its applications. The server restarts after restart.
func (w *world) crash(h *host, restart time.Duration) {
	now := w.now()
	old := h.gen
	w.checkCounters(old, "at its crash")
	old.dead = true
	opts := *old.st.Options()
	for i := range opts.ISNKey {
		opts.ISNKey[i] = byte(w.rng.Uint32())
	}
	// The new stack's segments are relative to the ISNs its observer sees
	// itself: a segment of a connection opened before the crash is written
	// with absolute sequence numbers.
	var obs stack.Observer
	if w.rec != nil {
		obs = &trace.Observer{Host: h.name, Add: w.rec.Add}
	}
	st, err := stack.New(opts, obs)
	if err != nil {
		w.violate("bound", "host %s: restart: %v", h.name, err)
		return
	}
	h.sh.Stack = st
	h.gen = &stackGen{h: h, st: st, born: now}
	w.gens = append(w.gens, h.gen)
	h.crashes = append(h.crashes, now)
	w.res.Crashes++
	w.record(h.name, "crash", "stack replaced")
	if h.listener != nil {
		h.listener = nil
		h.down = append(h.down, span{now, clock.Never})
	}
	for _, sd := range old.sides {
		switch {
		case !sd.finished:
			sd.die()
		case sd.client:
			w.resolve(sd.p) // its connection is gone with the stack
		}
	}
	gen := h.gen
	w.n.After(restart, func() {
		if h.gen == gen && !w.stopped {
			h.listen()
		}
	})
}
