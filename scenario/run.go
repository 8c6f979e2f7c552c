// Package scenario holds the catalog of SCENARIOS.md as data: each
// scenario sets up two hosts on the simulated network, plays the
// applications' part, and checks the segments, the states and what the
// applications saw.
package scenario

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/sim"
	"github.com/tcpwave/tcpwave/stack"
	"github.com/tcpwave/tcpwave/tcp"
	"github.com/tcpwave/tcpwave/trace"
	"github.com/tcpwave/tcpwave/wire"
)

// Scenario is one case from the catalog.
type Scenario struct {
	Name    string
	Summary string // one line for `scenario list`
	Seeds   string // the source documents it comes from
	// Tune adjusts the parameters before the run (e.g. TIME_WAIT 0).
	Tune func(p *Params)
	// Play sets up listeners and schedules the applications' actions.
	Play func(r *Run)
	// Check asserts the outcome; it reports the first mismatch.
	Check func(r *Run) error
}

// Params are the knobs of a run; the CLI's flags set them.
type Params struct {
	Seed  uint64
	Link  sim.LinkConfig
	A, B  stack.Options
	Until time.Duration // virtual time limit
	// Probe, if set, is called at virtual time ProbeAt (to print the
	// connection tables mid-run, for example).
	Probe   func(r *Run)
	ProbeAt clock.Instant
	// Tap, if set, sees every packet as it leaves its sender (for pcap).
	Tap func(now clock.Instant, pkt []byte)
	// MaxPackets bounds the packets the hosts may put on the wire in one
	// run (0: DefaultMaxPackets). Past it the network drops everything and
	// the run fails: a storm of segments (a duplicating network feeding an
	// ACK loop grows without bound) must not eat the machine's memory.
	MaxPackets int
}

// DefaultMaxPackets is Params.MaxPackets' default: about a hundred times
// what the busiest scenario sends on a hostile network.
const DefaultMaxPackets = 100_000

// DefaultParams returns the catalog's network: 0.5 ms one way, no loss,
// Linux defaults on both hosts.
func DefaultParams() Params {
	return Params{
		Seed:  1,
		Link:  sim.LinkConfig{Delay: 500 * time.Microsecond},
		A:     stack.DefaultOptions(),
		B:     stack.DefaultOptions(),
		Until: 30 * time.Minute,
	}
}

// Addresses of the two hosts and the server's port.
var (
	AddrA = netip.MustParseAddr("10.0.0.1")
	AddrB = netip.MustParseAddr("10.0.0.2")
)

// Port is the server's port in every scenario.
const Port = 80

// Run is one execution of a scenario.
type Run struct {
	S    *Scenario
	P    Params
	Net  *sim.Network
	A, B *sim.Host
	Rec  *trace.Recorder

	waiters map[*stack.Socket][]waiter
	errs    []error
	// Notes collects values the applications saw, for Check.
	Notes map[string]string
}

type waiter struct {
	cond func() bool
	fn   func()
}

// Execute runs the scenario with p and checks it. The Run is returned
// even when the check fails, so that its trace can be shown. Every error
// starts with the scenario's name and says on its first line what went
// wrong; details (expected and actual lists) follow on indented lines.
func (s *Scenario) Execute(p Params) (*Run, error) {
	return s.ExecuteContext(context.Background(), p)
}

// slice is how much virtual time ExecuteContext runs between two looks at
// its context.
const slice = time.Second

// ExecuteContext is Execute that stops early, with an error wrapping
// ctx.Err(), once ctx is done. The simulation runs in slices of virtual
// time; that changes nothing in the run, only how often ctx is checked.
func (s *Scenario) ExecuteContext(ctx context.Context, p Params) (*Run, error) {
	if s.Tune != nil {
		s.Tune(&p)
	}
	rec := &trace.Recorder{}
	n, err := sim.New(p.Seed, p.Link, rec)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Name, err)
	}
	if p.Tap != nil {
		n.SetTap(p.Tap)
	}
	r := &Run{S: s, P: p, Net: n, Rec: rec, waiters: make(map[*stack.Socket][]waiter), Notes: make(map[string]string)}
	if r.A, err = n.AddHost("A", AddrA, p.A); err != nil {
		return nil, fmt.Errorf("%s: host A: %w", s.Name, err)
	}
	if r.B, err = n.AddHost("B", AddrB, p.B); err != nil {
		return nil, fmt.Errorf("%s: host B: %w", s.Name, err)
	}
	r.A.OnReady = r.ready
	r.B.OnReady = r.ready
	limit := r.limitPackets() // first, so that its rule sees every packet
	s.Play(r)
	if p.Probe != nil {
		n.At(p.ProbeAt, func() { p.Probe(r) })
	}
	if err := r.simulate(ctx, limit); err != nil {
		return r, fmt.Errorf("%s: %w", s.Name, err)
	}
	if len(r.errs) > 0 {
		return r, r.appFailure()
	}
	if s.Check != nil {
		if err := s.Check(r); err != nil {
			return r, fmt.Errorf("%s: %w", s.Name, err)
		}
	}
	return r, r.leftovers()
}

// leftovers checks that once the last timer has fired no connection,
// timer or TIME_WAIT record is left on either host.
func (r *Run) leftovers() error {
	for _, h := range []*sim.Host{r.A, r.B} {
		for _, row := range h.Stack.Connections(r.Net.Now()) {
			if row.State != tcp.Listen {
				return fmt.Errorf("%s: host %s still holds %v %v>%v at the end", r.S.Name, h.Name, row.State, row.Local, row.Peer)
			}
		}
		if d := h.Stack.Deadline(); d != clock.Never {
			return fmt.Errorf("%s: host %s still has a timer at %v", r.S.Name, h.Name, d)
		}
	}
	return nil
}

// packetLimit is the state of a run's Params.MaxPackets.
type packetLimit struct {
	max, sent int
	passed    clock.Instant // when sent passed max; clock.Never before
}

// limitPackets adds a rule to the network that counts every packet put on
// the wire and, once Params.MaxPackets have been, drops them all so that a
// storm dies out.
func (r *Run) limitPackets() *packetLimit {
	l := &packetLimit{max: r.P.MaxPackets, passed: clock.Never}
	if l.max <= 0 {
		l.max = DefaultMaxPackets
	}
	r.Net.AddRule(&sim.Rule{Count: -1, Match: func(*wire.Packet) bool {
		if l.sent++; l.sent > l.max && l.passed == clock.Never {
			l.passed = r.Net.Now()
		}
		return l.passed != clock.Never
	}})
	return l
}

// simulate runs the network to Params.Until in slices of virtual time,
// and stops early when ctx is done or the packet limit was passed.
func (r *Run) simulate(ctx context.Context, l *packetLimit) error {
	end := clock.Instant(r.P.Until)
	for r.Net.Now() < end {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("stopped at %v: %w", r.Net.Now(), err)
		}
		if err := r.Net.RunUntil(min(r.Net.Now().Add(slice), end)); err != nil {
			return err
		}
		if l.passed != clock.Never {
			return fmt.Errorf("cut short at %v: the hosts sent more than %d packets (a storm of segments), after which the network dropped everything", l.passed, l.max)
		}
	}
	return nil
}

// appFailure is the run's verdict when the applications met surprises:
// the first one on one line (later ones are usually its consequences; the
// trace shows them all).
func (r *Run) appFailure() error {
	if len(r.errs) == 1 {
		return r.errs[0]
	}
	if len(r.errs) == 2 {
		return fmt.Errorf("%w (and 1 later failure)", r.errs[0])
	}
	return fmt.Errorf("%w (and %d later failures)", r.errs[0], len(r.errs)-1)
}

// fail records an application-level surprise.
func (r *Run) fail(format string, args ...any) {
	r.errs = append(r.errs, fmt.Errorf("%s at %v: %s", r.S.Name, r.Net.Now(), fmt.Sprintf(format, args...)))
}

func (r *Run) ready(so *stack.Socket) {
	ws := r.waiters[so]
	if len(ws) == 0 {
		return
	}
	delete(r.waiters, so) // callbacks may add new waiters
	var keep []waiter
	for _, w := range ws {
		if w.cond() {
			w.fn()
		} else {
			keep = append(keep, w)
		}
	}
	if len(keep) > 0 {
		r.waiters[so] = append(keep, r.waiters[so]...)
	}
}

// when runs fn as soon as cond holds for so (at once if it already does).
func (r *Run) when(so *stack.Socket, cond func() bool, fn func()) {
	if cond() {
		fn()
		return
	}
	r.waiters[so] = append(r.waiters[so], waiter{cond, fn})
}

// At runs fn at virtual time t (seconds from the start).
func (r *Run) At(t float64, fn func()) {
	r.Net.At(clock.Instant(t*float64(time.Second)), fn)
}

// After runs fn d after now.
func (r *Run) After(d time.Duration, fn func()) { r.Net.After(d, fn) }

func (r *Run) app(h *sim.Host, call, result string) { r.Net.Record(h.Name, call, result) }

// ErrName names an error as the trace does: EOF, ECONNRESET, EPIPE, ...
func ErrName(err error) string {
	if err == nil {
		return "0"
	}
	if errors.Is(err, io.EOF) {
		return "EOF"
	}
	var en syscall.Errno
	if errors.As(err, &en) {
		if name := errnoName(en); name != "" {
			return name
		}
	}
	return err.Error()
}

func errnoName(e syscall.Errno) string {
	switch e {
	case syscall.ECONNRESET:
		return "ECONNRESET"
	case syscall.ECONNREFUSED:
		return "ECONNREFUSED"
	case syscall.EPIPE:
		return "EPIPE"
	case syscall.ETIMEDOUT:
		return "ETIMEDOUT"
	case syscall.EADDRINUSE:
		return "EADDRINUSE"
	case syscall.EADDRNOTAVAIL:
		return "EADDRNOTAVAIL"
	case syscall.EAGAIN:
		return "EAGAIN"
	case syscall.ENOTCONN:
		return "ENOTCONN"
	case syscall.EINVAL:
		return "EINVAL"
	case syscall.EISCONN:
		return "EISCONN"
	}
	return ""
}

// SockOpt configures a socket before bind or connect.
type SockOpt func(*stack.Socket)

// ReuseAddr sets SO_REUSEADDR.
func ReuseAddr(so *stack.Socket) { so.SetReuseAddr(true) }

// ReusePort sets SO_REUSEPORT.
func ReusePort(so *stack.Socket) { so.SetReusePort(true) }

// Listen opens a listener on h's port; failures are recorded and returned.
func (r *Run) Listen(h *sim.Host, port uint16, opts ...SockOpt) (*stack.Socket, error) {
	so := h.Stack.NewSocket()
	for _, o := range opts {
		o(so)
	}
	err := so.Bind(netip.AddrPortFrom(h.Addr, port))
	if err == nil {
		err = so.Listen(r.Net.Now(), 128)
	}
	r.app(h, fmt.Sprintf("bind+listen(:%d)", port), ErrName(err))
	if err != nil {
		return nil, err
	}
	return so, nil
}

// Dial connects h to the server on host to, and calls then once the
// handshake is over. A connection that cannot be made (refused, timed out,
// the port taken) fails the run with the reason and then is not called: the
// application has no connection to go on with. A scenario that expects the
// connect to fail uses TryDial.
func (r *Run) Dial(h, to *sim.Host, port uint16, then func(so *stack.Socket), opts ...SockOpt) {
	r.TryDial(h, to, port, func(so *stack.Socket, err error) {
		if err != nil {
			r.fail("%s could not connect to %v: %s", h.Name, netip.AddrPortFrom(to.Addr, port), ErrName(err))
			return
		}
		if then != nil {
			then(so)
		}
	}, opts...)
}

// TryDial is Dial for a connect that may fail: then gets the error, and a
// nil socket when connect(2) failed at once.
func (r *Run) TryDial(h, to *sim.Host, port uint16, then func(so *stack.Socket, err error), opts ...SockOpt) {
	so := h.Stack.NewSocket()
	for _, o := range opts {
		o(so)
	}
	if err := so.Connect(r.Net.Now(), netip.AddrPortFrom(to.Addr, port)); err != nil {
		r.app(h, "connect", ErrName(err))
		so.Close(r.Net.Now())
		if then != nil {
			then(nil, err)
		}
		return
	}
	r.when(so, so.Connected, func() {
		err := so.ConnectError()
		r.app(h, "connect", ErrName(err))
		if then != nil {
			then(so, err)
		}
	})
}

// DialFrom is Dial from a given local port (bound first).
func (r *Run) DialFrom(h, to *sim.Host, lport, port uint16, then func(so *stack.Socket), opts ...SockOpt) {
	r.Dial(h, to, port, then, append(opts, func(so *stack.Socket) {
		if err := so.Bind(netip.AddrPortFrom(h.Addr, lport)); err != nil {
			r.fail("%s could not bind :%d: %s", h.Name, lport, ErrName(err))
		}
	})...)
}

// Accept calls then with the next connection of listener l.
func (r *Run) Accept(h *sim.Host, l *stack.Socket, then func(c *stack.Socket)) {
	r.when(l, l.Acceptable, func() {
		c, err := l.Accept()
		r.app(h, "accept", ErrName(err))
		if err == nil && then != nil {
			then(c)
		}
	})
}

// noConn fails the run when the application is about to act on a
// connection it never got (never accepted, never connected: the network
// kept it from opening in time) and reports whether that is so.
func (r *Run) noConn(h *sim.Host, so *stack.Socket, call string) bool {
	if so != nil {
		return false
	}
	r.fail("%s cannot %s: it has no connection (it never opened)", h.Name, call)
	return true
}

// Write writes data once and records the result.
func (r *Run) Write(h *sim.Host, so *stack.Socket, data string) error {
	if r.noConn(h, so, fmt.Sprintf("write(%d)", len(data))) {
		return syscall.ENOTCONN
	}
	n, err := so.Write(r.Net.Now(), []byte(data))
	res := fmt.Sprint(n)
	if err != nil {
		res = ErrName(err)
	}
	r.app(h, fmt.Sprintf("write(%d)", len(data)), res)
	return err
}

// Read waits until so is readable, reads once, records the result and
// calls then with what it got.
func (r *Run) Read(h *sim.Host, so *stack.Socket, then func(data string, err error)) {
	if r.noConn(h, so, "read") {
		return
	}
	r.when(so, so.Readable, func() {
		buf := make([]byte, 64<<10)
		n, err := so.Read(r.Net.Now(), buf)
		res := fmt.Sprint(n)
		if err != nil {
			res = ErrName(err)
		}
		r.app(h, "read", res)
		if then != nil {
			then(string(buf[:n]), err)
		}
	})
}

// ReadToEnd reads until EOF or an error and calls then with all the data
// and the error that ended it (io.EOF for a clean end).
func (r *Run) ReadToEnd(h *sim.Host, so *stack.Socket, then func(data string, err error)) {
	if r.noConn(h, so, "read") {
		return
	}
	var all strings.Builder
	var step func(string, error)
	step = func(d string, err error) {
		all.WriteString(d)
		if err != nil {
			if then != nil {
				then(all.String(), err)
			}
			return
		}
		r.Read(h, so, step)
	}
	r.Read(h, so, step)
}

// Close closes one handle of so and records it.
func (r *Run) Close(h *sim.Host, so *stack.Socket) {
	if r.noConn(h, so, "close") {
		return
	}
	so.Close(r.Net.Now())
	r.app(h, "close", "0")
}

// Shutdown shuts down a direction of so and records it.
func (r *Run) Shutdown(h *sim.Host, so *stack.Socket, how int) {
	if r.noConn(h, so, "shutdown") {
		return
	}
	err := so.Shutdown(r.Net.Now(), how)
	name := [...]string{"shutdown(SHUT_RD)", "shutdown(SHUT_WR)", "shutdown(SHUT_RDWR)"}[how]
	r.app(h, name, ErrName(err))
}
