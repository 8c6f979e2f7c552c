//go:build linux

package kernel_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave"
	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/internal/netns"
	"github.com/tcpwave/tcpwave/link"
	"github.com/tcpwave/tcpwave/link/faulty"
	"github.com/tcpwave/tcpwave/link/tun"
	"github.com/tcpwave/tcpwave/stack"
	"github.com/tcpwave/tcpwave/tcp"
	"github.com/tcpwave/tcpwave/wire"
)

// Bounds of every wait on a state: poll every pollEvery, for at most
// pollFor.
const (
	pollEvery = 5 * time.Millisecond
	pollFor   = 2 * time.Second
)

// opTimeout bounds a dial, an accept or a short exchange.
const opTimeout = 10 * time.Second

// family is one IP version of the test network.
type family struct {
	name    string // subtest name
	network string // "tcp4" or "tcp6"
	kernel  netip.Addr
	stack   netip.Addr
}

var (
	ipv4 = family{"ipv4", "tcp4", netns.KernelPrefix4.Addr(), netns.StackAddr4}
	ipv6 = family{"ipv6", "tcp6", netns.KernelPrefix6.Addr(), netns.StackAddr6}
)

// rig is one test network: a namespace whose kernel owns 10.9.0.1/24 and
// fd00:9::1/64 on a TUN device, and a tcpwave Stack (10.9.0.2, fd00:9::2)
// that reads and writes the device, through a fault-injecting link when
// the test asks for one.
type rig struct {
	ns   *netns.NS
	dev  *tun.Device
	link *faulty.Link // between the device and the stack; nil if none
	st   *tcpwave.Stack
	rec  *recorder
	drop atomic.Pointer[dropFunc] // the link's Config.Drop, set by the test
	// mechanism is what applies rigConfig.netem's faults: "netem" or
	// "link/faulty"; empty without faults.
	mechanism string
	// pollFor bounds each wait for a state (default pollFor).
	pollFor time.Duration
}

// dropFunc picks packets for the link to drop.
type dropFunc = func(dir faulty.Direction, pkt []byte) bool

// rigConfig is what a test may change in its rig.
type rigConfig struct {
	// tcp changes tcpwave's TCP options, which start as Linux's
	// defaults.
	tcp func(*tcp.Config)
	// direct runs the stack on the device itself; otherwise a
	// link/faulty sits in between, applying faults (the zero value:
	// none, but rig.filterConn works).
	direct bool
	faults faulty.Config
	// mtu is the TUN device's MTU; 0 means link/tun's default.
	mtu int
	// netem asks for faults (loss, delay, reorder) from a netem qdisc on
	// the device, as "tc qdisc add dev tw0 root netem ..." sets it up;
	// when the kernel has no netem, the faulty link applies them instead.
	netem *faulty.Config
}

// newRig builds a rig; everything in it goes away when the test ends.
func newRig(t *testing.T, rc rigConfig) *rig {
	t.Helper()
	ns := netns.NewT(t)
	dev, err := tun.Setup(ns, tun.Config{
		Name:   "tw0",
		MTU:    rc.mtu,
		Kernel: []netip.Prefix{netns.KernelPrefix4, netns.KernelPrefix6},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{ns: ns, dev: dev, rec: newRecorder(), pollFor: pollFor}
	if rc.netem != nil {
		if err := addNetem(t, ns, dev.Name(), *rc.netem); err == nil {
			t.Logf("faults: netem on %s (kernel to tcpwave only: a qdisc shapes what the device sends)", dev.Name())
			rc.direct = true
		} else {
			t.Logf("faults: netem refused (%v); using link/faulty between the device and the stack, both ways", err)
			rc.direct, rc.faults = false, *rc.netem
		}
		r.mechanism = "link/faulty"
		if rc.direct {
			r.mechanism = "netem"
		}
	}
	var ep link.Endpoint = dev
	if !rc.direct {
		fc := rc.faults
		fc.Drop = func(dir faulty.Direction, pkt []byte) bool {
			if f := r.drop.Load(); f != nil {
				return (*f)(dir, pkt)
			}
			return false
		}
		if r.link, err = faulty.New(dev, fc); err != nil {
			dev.Close()
			t.Fatal(err)
		}
		ep = r.link
	}
	st, err := tcpwave.New(ep, []netip.Addr{netns.StackAddr4, netns.StackAddr6},
		tcpwave.WithTCP(rc.tcp), tcpwave.WithObserver(r.rec))
	if err != nil {
		ep.Close()
		t.Fatal(err)
	}
	r.st = st
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		st.CloseContext(ctx) // closes ep, and with it the device
		if t.Failed() {
			t.Logf("tcpwave counters: %+v", st.Counters())
			t.Logf("control segments and state changes seen by tcpwave:\n%s", r.rec.ladder())
		}
	})
	return r
}

// addNetem adds a netem qdisc with c's faults to the device dev.
func addNetem(t *testing.T, ns *netns.NS, dev string, c faulty.Config) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), opTimeout)
	defer cancel()
	args := []string{"tc", "qdisc", "add", "dev", dev, "root", "netem",
		"limit", "1000", "delay", c.Delay.String(),
		"loss", fmt.Sprintf("%g%%", c.Loss*100),
		"reorder", fmt.Sprintf("%g%%", c.Reorder*100)}
	out, err := ns.Exec(ctx, args...)
	if err != nil {
		return err
	}
	t.Logf("%s: %s", strings.Join(args, " "), out)
	return nil
}

// kernelListen listens on the kernel's address, port chosen by the
// kernel; the listener is closed when the test ends.
func (r *rig) kernelListen(t *testing.T, fam family) *net.TCPListener {
	t.Helper()
	var ln net.Listener
	err := r.ns.Run(func() error {
		var err error
		ln, err = net.Listen(fam.network, netip.AddrPortFrom(fam.kernel, 0).String())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.(*net.TCPListener)
}

// kernelDial connects a kernel socket to to; it is closed when the test
// ends.
func (r *rig) kernelDial(t *testing.T, fam family, to netip.AddrPort) *net.TCPConn {
	t.Helper()
	var c net.Conn
	err := r.ns.Run(func() error {
		d := net.Dialer{Timeout: opTimeout}
		var err error
		c, err = d.DialContext(t.Context(), fam.network, to.String())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// stackListen listens on tcpwave's address, port chosen by the stack.
func (r *rig) stackListen(t *testing.T, fam family) *tcpwave.Listener {
	t.Helper()
	ln, err := r.st.Listen(fam.network, netip.AddrPortFrom(fam.stack, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// stackDial connects a tcpwave socket to to; it is closed when the test
// ends.
func (r *rig) stackDial(t *testing.T, fam family, to netip.AddrPort) *tcpwave.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), opTimeout)
	defer cancel()
	c, err := r.st.DialContext(ctx, fam.network, to.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// dialer says which side opens the connection.
type dialer int

const (
	stackDials  dialer = iota // tcpwave is the client, the kernel the server
	kernelDials               // the kernel is the client, tcpwave the server
)

func (d dialer) String() string {
	if d == stackDials {
		return "tcpwave-client"
	}
	return "kernel-client"
}

// conns is one connection seen from both ends, with its 4-tuple as each
// side names it.
type conns struct {
	fam    family
	stack  *tcpwave.Conn
	kernel *net.TCPConn
	// stackEnd and kernelEnd are the two ends' addresses.
	stackEnd, kernelEnd netip.AddrPort
}

// pair opens a connection between tcpwave and the kernel; d says who
// dials. Both ends are closed when the test ends.
func (r *rig) pair(t *testing.T, fam family, d dialer) *conns {
	t.Helper()
	p := &conns{fam: fam}
	switch d {
	case stackDials:
		ln := r.kernelListen(t, fam)
		type res struct {
			c   net.Conn
			err error
		}
		ch := make(chan res, 1)
		ln.SetDeadline(time.Now().Add(opTimeout))
		go func() {
			c, err := ln.Accept()
			ch <- res{c, err}
		}()
		p.stack = r.stackDial(t, fam, ln.Addr().(*net.TCPAddr).AddrPort())
		a := <-ch
		if a.err != nil {
			t.Fatal(a.err)
		}
		t.Cleanup(func() { a.c.Close() })
		p.kernel = a.c.(*net.TCPConn)
		ln.Close()
	case kernelDials:
		ln := r.stackListen(t, fam)
		type res struct {
			c   *tcpwave.Conn
			err error
		}
		ch := make(chan res, 1)
		ln.SetDeadline(time.Now().Add(opTimeout))
		go func() {
			c, err := ln.AcceptConn()
			ch <- res{c, err}
		}()
		p.kernel = r.kernelDial(t, fam, ln.Addr().(*net.TCPAddr).AddrPort())
		a := <-ch
		if a.err != nil {
			t.Fatal(a.err)
		}
		t.Cleanup(func() { a.c.Close() })
		p.stack = a.c
		ln.Close()
	}
	p.stackEnd = p.stack.LocalAddr().(*net.TCPAddr).AddrPort()
	p.kernelEnd = p.kernel.LocalAddr().(*net.TCPAddr).AddrPort()
	if got := p.stack.RemoteAddr().(*net.TCPAddr).AddrPort(); got != p.kernelEnd {
		t.Fatalf("tcpwave's peer is %v, the kernel's socket is %v", got, p.kernelEnd)
	}
	if got := p.kernel.RemoteAddr().(*net.TCPAddr).AddrPort(); got != p.stackEnd {
		t.Fatalf("the kernel's peer is %v, tcpwave's socket is %v", got, p.stackEnd)
	}
	return p
}

// tuple is the connection as tcpwave's tables name it.
func (p *conns) tuple() stack.Tuple { return stack.Tuple{Local: p.stackEnd, Remote: p.kernelEnd} }

// kernelRow returns the kernel's socket of the connection as ss lists
// it, and whether it is listed.
func (r *rig) kernelRow(t *testing.T, p *conns) (netns.SSRow, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), opTimeout)
	defer cancel()
	rows, err := r.ns.SS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range rows {
		if row.Local == p.kernelEnd && row.Peer == p.stackEnd {
			return row, true
		}
	}
	return netns.SSRow{}, false
}

// stackRow returns tcpwave's row of the connection, and whether it is
// listed.
func (r *rig) stackRow(p *conns) (stack.ConnInfo, bool) {
	for _, row := range r.st.Connections() {
		if row.Local == p.stackEnd && row.Peer == p.kernelEnd {
			return row, true
		}
	}
	return stack.ConnInfo{}, false
}

// waitKernel polls ss until the kernel's socket of the connection is in
// state ("" means: no longer listed), and returns its row. It fails the
// test after pollFor.
func (r *rig) waitKernel(t *testing.T, p *conns, state string) netns.SSRow {
	t.Helper()
	var last netns.SSRow
	var listed bool
	if poll(r.pollFor, func() bool {
		last, listed = r.kernelRow(t, p)
		return state == "" && !listed || listed && last.State == state
	}) {
		return last
	}
	want := state
	if want == "" {
		want = "gone"
	}
	if listed {
		t.Fatalf("kernel socket %v -> %v: %v after %v, want %s", p.kernelEnd, p.stackEnd, last, r.pollFor, want)
	}
	t.Fatalf("kernel socket %v -> %v: not listed after %v, want %s", p.kernelEnd, p.stackEnd, r.pollFor, want)
	return last
}

// waitKernelTimeWait waits for the kernel's end of p to hold TIME-WAIT
// after tcpwave's FIN (tcpwave closed second) and checks its 60 s timer.
// One race ends that TIME-WAIT early, and correctly: tcpwave in LAST_ACK
// sends its FIN again (a loss probe or a retransmission, when the
// kernel's ACK is slow on a busy machine), takes the first ACK and
// closes, and answers the kernel's TIME-WAIT re-ACK with a RST, which
// ends TIME-WAIT (tcp_rfc1337=0). The kernel socket may be gone then,
// if the recorder saw tcpwave send its FIN twice and a RST after it.
func (r *rig) waitKernelTimeWait(t *testing.T, p *conns) {
	t.Helper()
	var row netns.SSRow
	var listed bool
	switch {
	case !poll(r.pollFor, func() bool {
		row, listed = r.kernelRow(t, p)
		return listed && row.State == "TIME-WAIT" || !listed && r.resetAfterFINAgain(p)
	}):
		r.waitKernel(t, p, "TIME-WAIT") // fails, with the row it sees
	case listed:
		checkKernel60s(t, row)
	default:
		t.Logf("kernel TIME-WAIT ended by tcpwave's RST for its re-ACK of a FIN tcpwave sent again")
	}
}

// resetAfterFINAgain reports whether tcpwave sent its FIN more than once
// on p and then a RST.
func (r *rig) resetAfterFINAgain(p *conns) bool {
	fins := r.rec.segments(p.tuple(), true, wire.FIN, 0)
	if len(fins) < 2 {
		return false
	}
	for _, s := range r.rec.segments(p.tuple(), true, wire.RST, 0) {
		if s.at > fins[1].at {
			return true
		}
	}
	return false
}

// waitStack polls Stack.Connections until tcpwave's connection is in
// state (tcp.Closed means: no longer listed), and returns its row.
func (r *rig) waitStack(t *testing.T, p *conns, state tcp.State) stack.ConnInfo {
	t.Helper()
	var last stack.ConnInfo
	var listed bool
	if poll(r.pollFor, func() bool {
		last, listed = r.stackRow(p)
		return state == tcp.Closed && !listed || listed && last.State == state
	}) {
		return last
	}
	if listed {
		t.Fatalf("tcpwave connection %v -> %v: %v after %v, want %v", p.stackEnd, p.kernelEnd, last.State, r.pollFor, state)
	}
	t.Fatalf("tcpwave connection %v -> %v: not listed after %v, want %v", p.stackEnd, p.kernelEnd, r.pollFor, state)
	return last
}

// checkStackPath checks the states tcpwave's connection went through,
// from ESTABLISHED on, against want (which starts with ESTABLISHED).
func (r *rig) checkStackPath(t *testing.T, p *conns, want ...tcp.State) {
	t.Helper()
	got := r.rec.path(p.tuple())
	if i := slices.Index(got, tcp.Established); i >= 0 {
		got = got[i:]
	}
	if !slices.Equal(got, want) {
		t.Errorf("tcpwave's states %v, want %v", got, want)
	}
}

// poll calls done every pollEvery until it reports true or d has passed,
// and reports its last answer. It asks at least once, and once more after
// the deadline, however late the calling goroutine runs on a loaded
// machine.
func poll(d time.Duration, done func() bool) bool {
	for end := time.Now().Add(d); ; time.Sleep(pollEvery) {
		if done() {
			return true
		}
		if time.Now().After(end) {
			return done()
		}
	}
}

// waitStackPath waits until tcpwave's connection has gone through want
// (from ESTABLISHED on), then checks it with checkStackPath.
func (r *rig) waitStackPath(t *testing.T, p *conns, want ...tcp.State) {
	t.Helper()
	poll(r.pollFor, func() bool {
		got := r.rec.path(p.tuple())
		return len(got) > 0 && got[len(got)-1] == want[len(want)-1]
	})
	r.checkStackPath(t, p, want...)
}

// timeWaitLeft reads the time left in ss's "timewait,59sec,0" timer.
func timeWaitLeft(row netns.SSRow) (time.Duration, error) {
	f := strings.Split(row.Timer, ",")
	if len(f) != 3 || f[0] != "timewait" {
		return 0, fmt.Errorf("timer %q is not a timewait timer", row.Timer)
	}
	s := f[1]
	for _, u := range []struct {
		suffix string
		unit   time.Duration
	}{{"ms", time.Millisecond}, {"sec", time.Second}, {"min", time.Minute}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			var n float64
			if _, err := fmt.Sscanf(v, "%g", &n); err != nil {
				return 0, fmt.Errorf("timer %q: %w", row.Timer, err)
			}
			return time.Duration(n * float64(u.unit)), nil
		}
	}
	return 0, fmt.Errorf("timer %q: unknown unit", row.Timer)
}

// checkKernel60s checks that the kernel's socket runs the 60 s timer ss
// calls "timewait", of which little has passed: Linux's TIME-WAIT
// (TCP_TIMEWAIT_LEN), or an orphaned FIN-WAIT-2 (tcp_fin_timeout).
func checkKernel60s(t *testing.T, row netns.SSRow) {
	t.Helper()
	left, err := timeWaitLeft(row)
	if err != nil {
		t.Error(err)
		return
	}
	if left < 50*time.Second || left > 60*time.Second {
		t.Errorf("kernel %s timer %q: %v left, want about 60 s", row.State, row.Timer, left)
	}
}

// isReset reports whether err is the error a read or write gets after
// the peer's RST.
func isReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }

// seg is a control segment (SYN, FIN or RST) that tcpwave sent or
// received.
type seg struct {
	at       time.Duration // since the recorder started
	sent     bool          // by tcpwave; otherwise received from the kernel
	tu       stack.Tuple   // tcpwave's view: Local is tcpwave's end
	flags    wire.Flags
	seq, ack uint32
	len      int
}

func (s seg) String() string {
	dir := "kernel > tcpwave"
	if s.sent {
		dir = "tcpwave > kernel"
	}
	return fmt.Sprintf("%9.3fms %s %v %v seq %d ack %d len %d", float64(s.at.Microseconds())/1000,
		dir, s.tu.Local, s.flags, s.seq, s.ack, s.len)
}

// recorder is an observer of the stack: it keeps each connection's state
// changes and the control segments that pass, for assertions and for the
// log of a failed test.
type recorder struct {
	mu     sync.Mutex
	start  time.Time
	states map[stack.Tuple][]tcp.State
	segs   []seg
	log    []string
	// pkts are the first maxLog packets of every kind, data and pure
	// ACKs included, for tests that look at segment sizes and windows.
	pkts []pkt
}

// pkt is one packet tcpwave sent or received, as the recorder keeps it.
type pkt struct {
	sent   bool
	flags  wire.Flags
	len    int
	window int // the field's value, unscaled
	wscale int // the window scale option, -1 if absent
}

func newRecorder() *recorder {
	return &recorder{start: time.Now(), states: make(map[stack.Tuple][]tcp.State)}
}

var _ stack.Observer = (*recorder)(nil)

// maxLog bounds the segments and lines a recorder keeps.
const maxLog = 2000

func (r *recorder) PacketSent(now clock.Instant, pkt []byte)     { r.packet(true, pkt) }
func (r *recorder) PacketReceived(now clock.Instant, pkt []byte) { r.packet(false, pkt) }
func (r *recorder) PacketDropped(clock.Instant, []byte, error)   {}

func (r *recorder) packet(sent bool, pkt []byte) {
	var p wire.Packet
	if wire.ParsePacket(pkt, &p) != nil {
		return
	}
	r.keep(sent, &p)
	if p.TCP.Flags&(wire.SYN|wire.FIN|wire.RST) == 0 {
		return
	}
	s := seg{at: time.Since(r.start), sent: sent, flags: p.TCP.Flags, seq: p.TCP.Seq, ack: p.TCP.Ack, len: len(p.Payload)}
	s.tu = stack.Tuple{Local: netip.AddrPortFrom(p.Src, p.TCP.SrcPort), Remote: netip.AddrPortFrom(p.Dst, p.TCP.DstPort)}
	if !sent {
		s.tu = stack.Tuple{Local: s.tu.Remote, Remote: s.tu.Local}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.segs) < maxLog {
		r.segs = append(r.segs, s)
		r.log = append(r.log, s.String())
	}
}

// keep records p in pkts.
func (r *recorder) keep(sent bool, p *wire.Packet) {
	k := pkt{sent: sent, flags: p.TCP.Flags, len: len(p.Payload), window: int(p.TCP.Window), wscale: -1}
	if p.TCP.Options.HasWScale {
		k.wscale = int(p.TCP.Options.WScale)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.pkts) < maxLog {
		r.pkts = append(r.pkts, k)
	}
}

// packets returns the packets kept so far.
func (r *recorder) packets() []pkt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.pkts)
}

func (r *recorder) StateChanged(now clock.Instant, tu stack.Tuple, from, to tcp.State, why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.states[tu]) == 0 {
		r.states[tu] = append(r.states[tu], from)
	}
	r.states[tu] = append(r.states[tu], to)
	if len(r.log) < maxLog {
		r.log = append(r.log, fmt.Sprintf("%9.3fms tcpwave %v %v -> %v (%s)",
			float64(time.Since(r.start).Microseconds())/1000, tu.Local, from, to, why))
	}
}

// path returns the states the connection has been in, in order.
func (r *recorder) path(tu stack.Tuple) []tcp.State {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.states[tu])
}

// segments returns the control segments of the connection that match
// the flags (all of want set, none of not).
func (r *recorder) segments(tu stack.Tuple, sent bool, want, not wire.Flags) []seg {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []seg
	for _, s := range r.segs {
		if s.tu == tu && s.sent == sent && s.flags.Has(want) && s.flags&not == 0 {
			out = append(out, s)
		}
	}
	return out
}

// ladder returns the control segments and state changes, one a line.
func (r *recorder) ladder() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.log, "\n")
}

// faultyDelay is a link that delays every packet by d, both ways.
func faultyDelay(d time.Duration) faulty.Config { return faulty.Config{Delay: d} }
