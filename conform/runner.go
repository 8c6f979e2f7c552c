package conform

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/tcpwave/tcpwave/wire"
)

// Result is the outcome of one script on one backend.
type Result struct {
	Script  string `json:"script"`
	Backend string `json:"backend"`
	// IPVersion is "ipv6" or "ipv4-mapped-ipv6" for a run in that
	// family (empty in IPv4).
	IPVersion string `json:"ip_version,omitempty"`
	Pass      bool   `json:"pass"`
	// Skipped is set when the script's --backends header leaves this
	// backend out.
	Skipped bool `json:"skipped,omitempty"`
	// On failure: the script line, what it expects and what happened.
	Line     int    `json:"line,omitempty"`
	Event    string `json:"event,omitempty"`
	Expected string `json:"expected,omitempty"`
	Actual   string `json:"actual,omitempty"`
	Error    string `json:"error,omitempty"`
	// ElapsedMS is the wall time the run took.
	ElapsedMS float64 `json:"elapsed_ms"`
}

// String is the one-line report: "PASS name (kernel)" or the failure.
func (r *Result) String() string {
	where := r.Backend
	if r.IPVersion != "" {
		where += ", " + r.IPVersion
	}
	switch {
	case r.Skipped:
		return fmt.Sprintf("SKIP %s (%s): not for this backend", r.Script, where)
	case r.Pass:
		return fmt.Sprintf("PASS %s (%s) %.0fms", r.Script, where, r.ElapsedMS)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "FAIL %s (%s)", r.Script, where)
	if r.Line > 0 {
		fmt.Fprintf(&b, " line %d: %s", r.Line, r.Event)
	}
	if r.Error != "" {
		fmt.Fprintf(&b, "\n    %s", r.Error)
	}
	if r.Expected != "" || r.Actual != "" {
		fmt.Fprintf(&b, "\n    expected: %s\n    actual:   %s", r.Expected, r.Actual)
	}
	return b.String()
}

// failure is a script that does not hold on a backend.
type failure struct {
	ev               *Event
	msg              string
	expected, actual string
}

func (f *failure) Error() string {
	s := f.msg
	if f.ev != nil {
		s = fmt.Sprintf("line %d: %s", f.ev.Line, s)
	}
	return s
}

// maxAnyWait bounds the wait for an event whose time is "*".
const maxAnyWait = 120 * time.Second

// Run runs a script on a backend that open makes, and closes it. If trace
// is not nil, every packet and call result is written to it as it happens.
func Run(s *Script, backend string, open Opener, trace io.Writer) Result {
	return RunContext(context.Background(), s, backend, open, trace)
}

// waitSlice bounds one wait on the backend, so that a run notices the end
// of its context this often while the script's time passes.
const waitSlice = 100 * time.Millisecond

// RunContext is Run that stops when ctx ends: between two lines of the
// script, and within waitSlice of a wait. The script then fails with the
// context's error.
func RunContext(ctx context.Context, s *Script, backend string, open Opener, trace io.Writer) (res Result) {
	res = Result{Script: s.Name, Backend: backend}
	res.IPVersion = s.Options.runName()
	if len(s.Options.Backends) > 0 && !s.Options.Backends[backend] {
		res.Skipped, res.Pass = true, true
		return res
	}
	start := time.Now()
	defer func() { res.ElapsedMS = float64(time.Since(start).Microseconds()) / 1000 }()
	b, err := open(s)
	if err != nil {
		res.Error = fmt.Sprintf("start the %s backend: %v", backend, err)
		return res
	}
	r := &runner{ctx: ctx, s: s, b: b, tol: s.Options.Tolerance, results: map[int]*Happening{}, fds: map[int64]int{}, trace: trace}
	r.pr = peer{local: s.Options.LocalIP, remote: s.Options.RemoteIP, localPort: s.Options.LocalPort, remotePort: s.Options.PeerPort}
	r.pr.ts.tick, r.pr.ts.tol, r.pr.ts.scaled = s.Options.TSTick, s.Options.Tolerance, s.Options.TSEcrScaled
	err = r.run()
	if cerr := b.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close the %s backend: %w", backend, cerr)
	}
	if err == nil {
		res.Pass = true
		return res
	}
	var f *failure
	if errors.As(err, &f) {
		if f.ev != nil {
			res.Line, res.Event = f.ev.Line, f.ev.Text
		}
		res.Error, res.Expected, res.Actual = f.msg, f.expected, f.actual
	} else {
		res.Error = err.Error()
	}
	return res
}

type timedPacket struct {
	at  time.Duration
	obs *observed
}

type pendingCall struct {
	ev  *Event
	id  int
	end time.Duration // when it must return
}

type runner struct {
	ctx     context.Context
	s       *Script
	b       Backend
	pr      peer
	tol     time.Duration
	outq    []timedPacket
	results map[int]*Happening
	pending []pendingCall
	nextID  int
	fds     map[int64]int // the script's descriptors to the backend's
	prev    time.Duration // the time relative times count from
	nom     time.Duration // the current line's time as the script writes it, however late the runner is
	last    time.Duration // the latest time the script reached
	trace   io.Writer
}

func (r *runner) tracef(format string, args ...any) {
	if r.trace != nil {
		fmt.Fprintf(r.trace, format+"\n", args...)
	}
}

func (r *runner) run() error {
	for _, ev := range r.s.Events {
		if err := r.ctx.Err(); err != nil {
			return &failure{ev: ev, msg: fmt.Sprintf("stopped: %v", err)}
		}
		if err := r.event(ev); err != nil {
			var f *failure
			if errors.As(err, &f) {
				if f.ev == nil {
					f.ev = ev
				}
				return f
			}
			return &failure{ev: ev, msg: err.Error()}
		}
	}
	// The end: every blocking call must have returned, and nothing may
	// remain unexplained.
	if err := r.settlePending(1<<62, nil); err != nil {
		return err
	}
	if err := r.pump(r.last + r.tol); err != nil {
		return err
	}
	return r.unexpected(r.last+2*r.tol+1, nil)
}

// when turns an event's time into script time.
func (r *runner) when(ev *Event) time.Duration {
	switch ev.Time.Kind {
	case TimeRelative:
		return r.prev + ev.Time.At
	case TimeAny:
		return r.prev
	}
	return ev.Time.At
}

func (r *runner) event(ev *Event) error {
	t := r.when(ev)
	switch ev.Time.Kind {
	case TimeAbsolute:
		r.nom = ev.Time.At
	case TimeRelative:
		r.nom += ev.Time.At
	}
	r.last = max(r.last, t)
	if ev.Kind == EventPacket && !ev.Packet.Inbound {
		return r.outbound(ev, t)
	}
	if err := r.settlePending(t, ev); err != nil {
		return err
	}
	if err := r.pump(t); err != nil {
		return err
	}
	if err := r.unexpected(t, ev); err != nil {
		return err
	}
	// When the runner is late (a loaded machine, a slow command), later
	// relative times count from when the line actually ran.
	r.prev = max(t, r.b.Now())
	switch ev.Kind {
	case EventShell:
		cmd := ev.Shell
		if isDefaultsScript(cmd) {
			cmd = profileCommand(r.b.Name()) // packetdrill's defaults.sh
		}
		if err := r.b.Shell(cmd); err != nil {
			return &failure{ev: ev, msg: err.Error()}
		}
		// A command takes wall time on the kernel: later lines count
		// from its end.
		r.prev = max(t, r.b.Now())
	case EventPacket:
		if f := ev.Packet.Flags; f.Has(wire.SYN) && !f.Has(wire.ACK) {
			r.pr.ts.reset() // the script opens a new connection: a new TS baseline
		}
		pkt, err := r.pr.build(ev.Packet)
		if err != nil {
			return err
		}
		r.tracef("%10.6f < %s", r.b.Now().Seconds(), ev.Text)
		if err := r.b.Inject(pkt); err != nil {
			return fmt.Errorf("inject: %w", err)
		}
	case EventSyscall:
		return r.syscall(ev, t)
	}
	return nil
}

// dispatch files what the host did.
func (r *runner) dispatch(h *Happening) error {
	if h.Return != nil {
		r.tracef("%10.6f   call %d returns %s", h.At.Seconds(), h.CallID, fmtReturn(h.Return))
		r.results[h.CallID] = h
		return nil
	}
	o, ok, err := r.pr.parseOut(h.Packet)
	if err != nil || !ok {
		return err
	}
	r.tracef("%10.6f > %s", h.At.Seconds(), r.pr.format(o))
	r.pr.learnTS(o)
	r.outq = append(r.outq, timedPacket{h.At, o})
	return nil
}

// pump lets time pass until t, collecting what the host does.
func (r *runner) pump(t time.Duration) error {
	for range 100000 {
		h, err := r.wait(t)
		if err != nil {
			return err
		}
		if h == nil {
			return nil
		}
		if err := r.dispatch(h); err != nil {
			return err
		}
	}
	return errors.New("the host did more than 100000 things without time passing")
}

// wait is the backend's Wait in slices of at most waitSlice, checking the
// context between them.
func (r *runner) wait(until time.Duration) (*Happening, error) {
	for {
		if err := r.ctx.Err(); err != nil {
			return nil, fmt.Errorf("stopped: %w", err)
		}
		now := r.b.Now()
		slice := min(until, now+waitSlice)
		h, err := r.b.Wait(slice)
		if h != nil || err != nil || slice >= until {
			return h, err
		}
		if r.b.Now() < slice {
			// The backend came back early with nothing: its time did not
			// reach the slice's end (it should not happen); give it the
			// whole wait rather than spin.
			return r.b.Wait(until)
		}
	}
}

// waitFor lets time pass until cond holds or the time until comes.
func (r *runner) waitFor(until time.Duration, cond func() bool) (bool, error) {
	for range 100000 {
		if cond() {
			return true, nil
		}
		h, err := r.wait(until)
		if err != nil {
			return false, err
		}
		if h == nil {
			return cond(), nil
		}
		if err := r.dispatch(h); err != nil {
			return false, err
		}
	}
	return false, errors.New("the host did more than 100000 things without time passing")
}

// unexpected fails if the host sent a packet the script does not explain
// before t.
func (r *runner) unexpected(t time.Duration, ev *Event) error {
	for _, p := range r.outq {
		if p.at < t-r.tol {
			msg := "the host sent a packet the script does not expect"
			if ev == nil {
				msg += " (after the last line)"
			}
			return &failure{ev: ev, msg: msg, expected: "no packet before " + fmtSecs(t) + "s",
				actual: fmt.Sprintf("%s at %ss", r.pr.format(p.obs), fmtSecs(p.at))}
		}
	}
	return nil
}

// outbound checks the next packet the host sent against a "> ..." line.
func (r *runner) outbound(ev *Event, t time.Duration) error {
	lo, hi := t-r.tol, t+ev.Time.Span+r.tol
	if ev.Time.Kind == TimeAny {
		lo, hi = r.prev-r.tol, r.b.Now()+maxAnyWait
	}
	if err := r.settlePending(lo, ev); err != nil {
		return err
	}
	got, err := r.waitFor(hi, func() bool { return len(r.outq) > 0 })
	if err != nil {
		return err
	}
	want := strings.TrimSpace(strings.TrimPrefix(ev.Text, strings.Fields(ev.Text)[0]))
	if !got {
		return &failure{ev: ev, msg: "the host sent nothing", expected: fmt.Sprintf("%s at %ss", want, fmtSecs(t)),
			actual: fmt.Sprintf("no packet by %ss", fmtSecs(hi))}
	}
	p := r.outq[0]
	r.outq = r.outq[1:]
	actual := fmt.Sprintf("> %s at %ss", r.pr.format(p.obs), fmtSecs(p.at))
	if p.at < lo {
		return &failure{ev: ev, msg: "the packet came too early", expected: fmt.Sprintf("%s at %ss", want, fmtSecs(t)), actual: actual}
	}
	r.pr.ts.at, r.pr.ts.nom = p.at, r.nom
	if err := r.pr.match(ev.Packet, p.obs); err != nil {
		return &failure{ev: ev, msg: err.Error(), expected: want, actual: actual}
	}
	r.pr.learn(p.obs)
	// Later relative times count from when the packet came, as
	// packetdrill's do.
	r.prev = p.at
	return nil
}

// settlePending checks the blocking calls that must have returned before t
// (beyond the tolerance: relative times follow the packets' actual times).
func (r *runner) settlePending(t time.Duration, ev *Event) error {
	sort.SliceStable(r.pending, func(i, j int) bool { return r.pending[i].end < r.pending[j].end })
	for len(r.pending) > 0 && r.pending[0].end < t-r.tol {
		pc := r.pending[0]
		r.pending = r.pending[1:]
		if err := r.finish(pc.ev, pc.id, pc.end); err != nil {
			return err
		}
	}
	return nil
}

// callSlack is how much later than the tolerance a call may return: a
// thread blocked in the kernel needs the Go scheduler to come back, which
// on a loaded machine takes a while. Packets get no such slack.
const callSlack = 100 * time.Millisecond

// finish waits for a call to return at about end and checks its result.
func (r *runner) finish(ev *Event, id int, end time.Duration) error {
	ok, err := r.waitFor(end+r.tol+callSlack, func() bool { return r.results[id] != nil })
	if err != nil {
		return err
	}
	if !ok {
		return &failure{ev: ev, msg: "the call did not return in time (it blocks)",
			expected: fmt.Sprintf("return at %ss", fmtSecs(end)), actual: fmt.Sprintf("still blocked at %ss", fmtSecs(r.b.Now()))}
	}
	h := r.results[id]
	delete(r.results, id)
	if h.At < end-r.tol {
		return &failure{ev: ev, msg: "the call returned too early",
			expected: fmt.Sprintf("return at %ss", fmtSecs(end)), actual: fmt.Sprintf("%s at %ss", fmtReturn(h.Return), fmtSecs(h.At))}
	}
	if !ev.Blocking && h.Began > r.prev {
		// The call ran later than the runner started it: later relative
		// times count from when it ran, as after a late packet (the
		// packets it makes the host send, a FIN after close(), come
		// then).
		r.prev = h.Began
	}
	return r.check(ev, h.Return)
}

// syscall starts a call line and, unless it is a blocking one, checks its
// result.
func (r *runner) syscall(ev *Event, t time.Duration) error {
	c, err := r.decode(ev.Call)
	if err != nil {
		return err
	}
	r.nextID++
	c.ID = r.nextID
	started := r.b.Now()
	r.tracef("%10.6f   call %d: %s", started.Seconds(), c.ID, ev.Text)
	if err := r.b.Start(c); err != nil {
		return fmt.Errorf("%s: %w", c.Name, err)
	}
	if ev.Blocking {
		end := ev.End
		if ev.EndRelative {
			end += t
		}
		r.pending = append(r.pending, pendingCall{ev, c.ID, end})
		return nil
	}
	return r.finish(ev, c.ID, max(t, started))
}

// fd maps a script descriptor to the backend's (-1 if unknown).
func (r *runner) fd(e Expr) (int, error) {
	if e.Kind != ExprInt {
		return 0, errors.New("the descriptor must be a number")
	}
	if fd, ok := r.fds[e.Int]; ok {
		return fd, nil
	}
	return -1, nil
}

// decode turns a call line into a backend Call.
func (r *runner) decode(sc *Syscall) (*Call, error) {
	switch sc.Name {
	case "socket":
		return decodeSocket(sc)
	case "poll":
		return r.decodePoll(sc)
	}
	c := &Call{Name: sc.Name, FD: -1}
	var err error
	if c.FD, err = r.fd(sc.Args[0]); err != nil {
		return nil, fmt.Errorf("%s: %w", sc.Name, err)
	}
	if err := decodeArgs(c, sc); err != nil {
		return nil, err
	}
	if err := checkLength(c); err != nil {
		return nil, err
	}
	return c, nil
}

// intArg returns argument i of sc, which must be a number.
func intArg(sc *Syscall, i int) (int64, error) {
	if sc.Args[i].Kind != ExprInt {
		return 0, fmt.Errorf("%s: argument %d must be a number", sc.Name, i+1)
	}
	return sc.Args[i].Int, nil
}

// decodeSocket accepts only socket(AF_INET, SOCK_STREAM, IPPROTO_TCP or 0).
func decodeSocket(sc *Syscall) (*Call, error) {
	a := sc.Args
	for i, want := range []int64{2, 1, 6} {
		if a[i].Kind == ExprInt && a[i].Int != want && !(i == 2 && a[i].Int == 0) {
			return nil, fmt.Errorf("socket: only AF_INET, SOCK_STREAM, IPPROTO_TCP sockets")
		}
	}
	return &Call{Name: sc.Name, FD: -1}, nil
}

// decodePoll reads poll([{fd=N, events=MASK}, ...], n, timeout).
func (r *runner) decodePoll(sc *Syscall) (*Call, error) {
	c := &Call{Name: sc.Name, FD: -1}
	a := sc.Args
	if a[0].Kind != ExprList {
		return nil, errors.New("poll: the first argument must be [{fd=N, events=...}, ...]")
	}
	for _, e := range a[0].Elems {
		fdE, ok1 := e.Field("fd")
		evE, ok2 := e.Field("events")
		if e.Kind != ExprStruct || !ok1 || !ok2 || evE.Kind != ExprInt {
			return nil, errors.New("poll: each entry must be {fd=N, events=MASK[, revents=MASK]}")
		}
		fd, err := r.fd(fdE)
		if err != nil {
			return nil, fmt.Errorf("poll: %w", err)
		}
		c.Poll = append(c.Poll, PollFD{FD: fd, Events: int16(evE.Int)})
	}
	var err error
	if c.Int, err = intArg(sc, 2); err != nil {
		return nil, err
	}
	return c, nil
}

// decodeArgs reads the arguments after the descriptor.
func decodeArgs(c *Call, sc *Syscall) error {
	var err error
	switch sc.Name {
	case "listen", "shutdown":
		c.Int, err = intArg(sc, 1)
	case "read", "write":
		c.Int, err = intArg(sc, 2)
	case "send", "recv":
		if c.Int, err = intArg(sc, 2); err == nil {
			c.Arg, err = intArg(sc, 3)
		}
	case "fcntl":
		if c.Int, err = intArg(sc, 1); err == nil && len(sc.Args) == 3 {
			c.Arg, err = intArg(sc, 2)
		}
	case "setsockopt", "getsockopt":
		if c.Level, err = intArg(sc, 1); err == nil {
			c.Opt, err = intArg(sc, 2)
		}
		c.Value = sc.Args[3]
	}
	return err
}

// checkLength bounds the length of a read, write, send or recv.
func checkLength(c *Call) error {
	switch c.Name {
	case "read", "write", "send", "recv":
		if c.Int < 0 || c.Int > 1<<20 {
			return fmt.Errorf("%s: length %d out of range [0, 1 MiB]", c.Name, c.Int)
		}
	}
	return nil
}

func fmtReturn(ret *Return) string {
	if ret.Ret == -1 {
		return "= -1 " + errnoName(ret.Errno)
	}
	s := fmt.Sprintf("= %d", ret.Ret)
	if ret.Value.Kind != ExprInt || ret.Value.Int != 0 || len(ret.Value.Fields) > 0 {
		s += " (value " + fmtExpr(ret.Value) + ")"
	}
	if len(ret.Revents) > 0 {
		s += fmt.Sprintf(" (revents %#x)", ret.Revents)
	}
	return s
}

func fmtExpr(e Expr) string {
	switch e.Kind {
	case ExprInt:
		return fmt.Sprint(e.Int)
	case ExprList:
		var s []string
		for _, x := range e.Elems {
			s = append(s, fmtExpr(x))
		}
		return "[" + strings.Join(s, ", ") + "]"
	case ExprStruct:
		var s []string
		for _, f := range e.Fields {
			s = append(s, f.Name+"="+fmtExpr(f.Value))
		}
		return "{" + strings.Join(s, ", ") + "}"
	case ExprString:
		return fmt.Sprintf("%q", e.Str)
	}
	return "..."
}

// check compares a call's result with its line and keeps the descriptor
// table.
func (r *runner) check(ev *Event, ret *Return) error {
	sc := ev.Call
	want := fmt.Sprintf("= %d", sc.Ret)
	if sc.Errno != "" {
		want += " " + sc.Errno
	}
	bad := func(msg string) error {
		return &failure{ev: ev, msg: msg, expected: want, actual: fmtReturn(ret)}
	}
	isFD := sc.Name == "socket" || sc.Name == "accept" || sc.Name == "dup"
	switch {
	case sc.Errno != "":
		if ret.Ret != -1 || errnos[sc.Errno] != ret.Errno {
			return bad("wrong result")
		}
	case ret.Ret == -1:
		return bad("the call failed")
	case isFD:
		if _, taken := r.fds[sc.Ret]; taken {
			return bad(fmt.Sprintf("the script's descriptor %d is already open", sc.Ret))
		}
		r.fds[sc.Ret] = int(ret.Ret)
	case ret.Ret != sc.Ret:
		return bad("wrong result")
	}
	switch sc.Name {
	case "close":
		if ret.Ret == 0 {
			delete(r.fds, sc.Args[0].Int)
		}
	case "getsockopt":
		if sc.Errno == "" && sc.Args[3].Kind != ExprEllipsis && !sameValue(sc.Args[3], ret.Value) {
			want += " with value " + fmtExpr(sc.Args[3])
			return bad("wrong option value")
		}
	case "poll":
		for i, e := range sc.Args[0].Elems {
			if re, ok := e.Field("revents"); ok && i < len(ret.Revents) && re.Kind == ExprInt && int16(re.Int) != ret.Revents[i] {
				want += fmt.Sprintf(" with revents %#x for entry %d", re.Int, i)
				return bad("wrong revents")
			}
		}
	}
	return nil
}

// sameValue compares a getsockopt value the script expects with the one
// returned: [1] against [1], {l_onoff=1, l_linger=0} field by field.
func sameValue(want, got Expr) bool {
	switch want.Kind {
	case ExprList:
		if len(want.Elems) == 1 && got.Kind == ExprList && len(got.Elems) == 1 {
			return sameValue(want.Elems[0], got.Elems[0])
		}
		return false
	case ExprInt:
		if got.Kind == ExprList && len(got.Elems) == 1 {
			got = got.Elems[0]
		}
		return got.Kind == ExprInt && got.Int == want.Int
	case ExprStruct:
		if got.Kind != ExprStruct {
			return false
		}
		for _, f := range want.Fields {
			g, ok := got.Field(lingerAlias(f.Name)...)
			if !ok || !sameValue(f.Value, g) {
				return false
			}
		}
		return true
	}
	return true
}

// lingerAlias lets a script write packetdrill's {onoff, linger} or the C
// names {l_onoff, l_linger}.
func lingerAlias(name string) []string {
	switch name {
	case "onoff", "l_onoff":
		return []string{"onoff", "l_onoff"}
	case "linger", "l_linger":
		return []string{"linger", "l_linger"}
	}
	return []string{name}
}

// errnoOf turns a Go error from a socket call into an errno.
func errnoOf(err error) syscall.Errno {
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return syscall.EIO
}
