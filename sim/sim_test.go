package sim

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"net/netip"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/notation"
	"github.com/tcpwave/tcpwave/stack"
	"github.com/tcpwave/tcpwave/trace"
	"github.com/tcpwave/tcpwave/wire"
)

var (
	addrA = netip.MustParseAddr("10.0.0.1")
	addrB = netip.MustParseAddr("10.0.0.2")
)

// newNet makes a network with hosts A and B on Linux defaults.
func newNet(t *testing.T, seed uint64, cfg LinkConfig) (*Network, *Host, *Host, *trace.Recorder) {
	t.Helper()
	rec := &trace.Recorder{}
	n, err := New(seed, cfg, rec)
	if err != nil {
		t.Fatal(err)
	}
	n.SetChecks(true)
	a, err := n.AddHost("A", addrA, stack.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	b, err := n.AddHost("B", addrB, stack.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	return n, a, b, rec
}

// apps dispatches readiness to per-socket handlers, as an event loop does.
type apps map[*stack.Socket]func()

func (ap apps) ready(so *stack.Socket) {
	if fn := ap[so]; fn != nil {
		fn()
	}
}

// result is what a transfer's applications saw.
type result struct {
	got        bytes.Buffer
	connectErr error
	readErr    error
	serverDone bool
}

// transfer has A connect to B, write data and close; B reads to EOF and
// closes. The network runs until nothing is left to do.
func transfer(t *testing.T, n *Network, a, b *Host, data []byte) *result {
	t.Helper()
	r := &result{}
	h := apps{}
	a.OnReady, b.OnReady = h.ready, h.ready
	l := b.Stack.NewSocket()
	if err := l.Bind(netip.AddrPortFrom(b.Addr, 80)); err != nil {
		t.Fatal(err)
	}
	if err := l.Listen(n.Now(), 8); err != nil {
		t.Fatal(err)
	}
	h[l] = func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			l.Close(n.Now()) // one connection only
			buf := make([]byte, 4096)
			h[c] = func() {
				for !r.serverDone {
					k, err := c.Read(n.Now(), buf)
					r.got.Write(buf[:k])
					if errors.Is(err, syscall.EAGAIN) {
						return
					}
					if err != nil {
						if err != io.EOF {
							r.readErr = err
						}
						r.serverDone = true
						c.Close(n.Now())
					}
				}
			}
			h[c]()
		}
	}
	so := a.Stack.NewSocket()
	if err := so.Connect(n.Now(), netip.AddrPortFrom(b.Addr, 80)); err != nil {
		t.Fatal(err)
	}
	wrote := false
	h[so] = func() {
		if wrote || !so.Connected() {
			return
		}
		wrote = true
		if err := so.ConnectError(); err != nil {
			r.connectErr = err
			return
		}
		if k, err := so.Write(n.Now(), data); k != len(data) || err != nil {
			t.Errorf("write: %d, %v", k, err)
		}
		so.Close(n.Now())
	}
	if err := n.Run(); err != nil {
		t.Fatal(err)
	}
	return r
}

func payload(k int) []byte {
	b := make([]byte, k)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

func count(evs []trace.Event, fn func(e trace.Event) bool) int {
	k := 0
	for _, e := range evs {
		if fn(e) {
			k++
		}
	}
	return k
}

func isKind(host string, k trace.Kind) func(trace.Event) bool {
	return func(e trace.Event) bool { return e.Host == host && e.Kind == k }
}

func dropsWhy(why string) func(trace.Event) bool {
	return func(e trace.Event) bool { return e.Kind == trace.KindDrop && e.Host == "net" && e.Why == why }
}

var faulty = LinkConfig{
	Delay: time.Millisecond, Jitter: 500 * time.Microsecond,
	Loss: 0.1, Dup: 0.05, Reorder: 0.05, Corrupt: 0.02,
}

// TestDeterministic: the same seed replays the same run event for event;
// another seed, with loss, takes another course.
func TestDeterministic(t *testing.T) {
	data := payload(100_000)
	run := func(seed uint64) ([]trace.Event, *result, int) {
		n, a, b, rec := newNet(t, seed, faulty)
		r := transfer(t, n, a, b, data)
		if r.connectErr != nil || r.readErr != nil || !bytes.Equal(r.got.Bytes(), data) {
			t.Fatalf("seed %d: connect %v, read %v, %d of %d bytes", seed, r.connectErr, r.readErr, r.got.Len(), len(data))
		}
		return rec.Events(), r, n.Steps
	}
	ev1, _, steps1 := run(42)
	ev2, _, steps2 := run(42)
	if !reflect.DeepEqual(ev1, ev2) || steps1 != steps2 {
		t.Fatalf("seed 42 twice: %d and %d events, %d and %d steps", len(ev1), len(ev2), steps1, steps2)
	}
	if count(ev1, dropsWhy("loss")) == 0 {
		t.Fatal("no loss with seed 42: the comparison below proves nothing")
	}
	ev3, _, _ := run(43)
	drops := func(evs []trace.Event) []trace.Event {
		var out []trace.Event
		for _, e := range evs {
			if e.Kind == trace.KindDrop {
				out = append(out, e)
			}
		}
		return out
	}
	if reflect.DeepEqual(drops(ev1), drops(ev3)) {
		t.Error("seeds 42 and 43 lost the same packets")
	}
}

// TestLoss: Loss 1 loses every packet (the SYN is retried until
// tcp_syn_retries runs out); Loss 0 loses none.
func TestLoss(t *testing.T) {
	n, a, b, rec := newNet(t, 1, LinkConfig{Delay: time.Millisecond, Loss: 1})
	r := transfer(t, n, a, b, payload(10))
	if !errors.Is(r.connectErr, syscall.ETIMEDOUT) {
		t.Errorf("connect error %v, want ETIMEDOUT", r.connectErr)
	}
	ev := rec.Events()
	sent := count(ev, isKind("A", trace.KindSend))
	if want := 1 + stack.DefaultOptions().TCP.SynRetries; sent != want {
		t.Errorf("A sent %d SYNs, want %d", sent, want)
	}
	if lost := count(ev, dropsWhy("loss")); lost != sent {
		t.Errorf("%d of %d packets lost", lost, sent)
	}
	if got := count(ev, isKind("B", trace.KindRecv)); got != 0 {
		t.Errorf("B received %d packets", got)
	}

	n, a, b, rec = newNet(t, 1, LinkConfig{Delay: time.Millisecond, Jitter: time.Millisecond, Loss: 0})
	data := payload(200_000)
	r = transfer(t, n, a, b, data)
	ev = rec.Events()
	if !bytes.Equal(r.got.Bytes(), data) || count(ev, func(e trace.Event) bool { return e.Kind == trace.KindDrop }) != 0 {
		t.Errorf("lossless link: %d of %d bytes, drops in the trace", r.got.Len(), len(data))
	}
	if s, g := count(ev, isKind("A", trace.KindSend)), count(ev, isKind("B", trace.KindRecv)); s != g || s < 100 {
		t.Errorf("A sent %d packets, B received %d", s, g)
	}
}

// TestDup: Dup 1 delivers every packet twice; TCP copes.
func TestDup(t *testing.T) {
	n, a, b, rec := newNet(t, 1, LinkConfig{Delay: time.Millisecond})
	if err := n.SetLink("A", "B", LinkConfig{Delay: time.Millisecond, Dup: 1}); err != nil {
		t.Fatal(err)
	}
	data := payload(50_000)
	r := transfer(t, n, a, b, data)
	if !bytes.Equal(r.got.Bytes(), data) {
		t.Errorf("got %d of %d bytes", r.got.Len(), len(data))
	}
	ev := rec.Events()
	if s, g := count(ev, isKind("A", trace.KindSend)), count(ev, isKind("B", trace.KindRecv)); g != 2*s {
		t.Errorf("A sent %d, B received %d, want twice as many", s, g)
	}
	if s, g := count(ev, isKind("B", trace.KindSend)), count(ev, isKind("A", trace.KindRecv)); g != s {
		t.Errorf("B sent %d, A received %d (no duplication that way)", s, g)
	}
}

// TestCorrupt: a flipped bit fails the receiver's checksum (TCP's, counted
// in InErrs, or the IPv4 header's, in InHdrErrors; an observer drop); the
// sender's retransmission gets through.
func TestCorrupt(t *testing.T) {
	n, a, b, rec := newNet(t, 1, LinkConfig{Delay: time.Millisecond})
	if err := n.SetLink("A", "B", LinkConfig{Delay: time.Millisecond, Corrupt: 1}); err != nil {
		t.Fatal(err)
	}
	n.At(clock.Instant(1500*time.Millisecond), func() {
		if err := n.SetLink("A", "B", LinkConfig{Delay: time.Millisecond}); err != nil {
			t.Error(err)
		}
	})
	data := payload(1000)
	r := transfer(t, n, a, b, data)
	if r.connectErr != nil || !bytes.Equal(r.got.Bytes(), data) {
		t.Fatalf("connect %v, %d of %d bytes", r.connectErr, r.got.Len(), len(data))
	}
	// The SYN at 0 s and its retransmission at 1 s were corrupted.
	if k := b.Stack.Counters(); k.InErrs+k.InHdrErrors != 2 {
		t.Errorf("B InErrs %d InHdrErrors %d, want 2 in all", k.InErrs, k.InHdrErrors)
	}
	if d := count(rec.Events(), isKind("B", trace.KindDrop)); d != 2 {
		t.Errorf("B reported %d dropped packets, want 2", d)
	}
	if k := a.Stack.Counters(); k.InErrs+k.InHdrErrors != 0 {
		t.Errorf("A InErrs %d InHdrErrors %d, want 0", k.InErrs, k.InHdrErrors)
	}
	checksumDrops(t, rec)

	// Random corruption both ways: every corrupted packet is an InErr or
	// an InHdrError, and the data still arrives intact.
	n, a, b, rec = newNet(t, 5, LinkConfig{Delay: time.Millisecond, Corrupt: 0.2})
	data = payload(100_000)
	r = transfer(t, n, a, b, data)
	if !bytes.Equal(r.got.Bytes(), data) {
		t.Fatalf("got %d of %d bytes", r.got.Len(), len(data))
	}
	checksumDrops(t, rec)
	ka, kb := a.Stack.Counters(), b.Stack.Counters()
	errs := ka.InErrs + ka.InHdrErrors + kb.InErrs + kb.InHdrErrors
	drops := count(rec.Events(), func(e trace.Event) bool { return e.Kind == trace.KindDrop && e.Host != "net" })
	if errs == 0 || uint64(drops) != errs {
		t.Errorf("InErrs and InHdrErrors %d, host drops %d; want equal and above 0", errs, drops)
	}
}

// checksumDrops checks that every packet a host dropped failed a checksum
// (a single flipped bit always does, in the IPv4 header or in TCP).
func checksumDrops(t *testing.T, rec *trace.Recorder) {
	t.Helper()
	for _, e := range rec.Events() {
		if e.Kind == trace.KindDrop && e.Host != "net" && !strings.Contains(e.Why, "checksum") {
			t.Errorf("%s dropped a packet for %q, want a checksum error", e.Host, e.Why)
		}
	}
}

// inject sends a bare segment from A to B's port 9 (nothing there) with
// k bytes of payload.
func inject(t *testing.T, n *Network, from *Host, to netip.Addr, flags wire.Flags, sq uint32, k int) {
	t.Helper()
	p := &wire.Packet{Src: from.Addr, Dst: to, TCP: wire.TCPFields{
		SrcPort: 5000, DstPort: 9, Seq: sq, Ack: 1, Flags: flags, Window: 100,
	}, Payload: payload(k)}
	if err := n.Inject(from, p); err != nil {
		t.Fatal(err)
	}
}

// segLen is the payload length of a trace segment ("P. 1:4(3) ack 1").
func segLen(t *testing.T, seg *notation.Segment) int {
	t.Helper()
	if seg == nil {
		t.Fatal("event without a segment")
	}
	return seg.Len
}

// arrivals maps B's received payload lengths to arrival times.
func arrivals(t *testing.T, rec *trace.Recorder) map[int][]clock.Instant {
	t.Helper()
	m := map[int][]clock.Instant{}
	for _, e := range rec.Events() {
		if e.Host == "B" && e.Kind == trace.KindRecv {
			k := segLen(t, e.Seg)
			m[k] = append(m[k], e.T)
		}
	}
	return m
}

// TestBandwidth: a link sends one packet at a time, each taking
// size*8/bandwidth, then Delay.
func TestBandwidth(t *testing.T) {
	const bw = 1_000_000 // 8 µs a byte
	const delay = 2 * time.Millisecond
	n, a, _, rec := newNet(t, 1, LinkConfig{Delay: delay, Bandwidth: bw})
	byteTime := 8 * time.Second / bw
	sizes := []int{100, 500, 1000}
	for _, k := range sizes {
		inject(t, n, a, addrB, wire.ACK|wire.PSH, 1, k)
	}
	n.At(clock.Instant(time.Second), func() { inject(t, n, a, addrB, wire.ACK|wire.PSH, 1, 7) })
	if err := n.Run(); err != nil {
		t.Fatal(err)
	}
	got := arrivals(t, rec)
	var done time.Duration
	for _, k := range sizes {
		done += time.Duration(40+k) * byteTime // 20 IP + 20 TCP header bytes
		want := clock.Instant(0).Add(done + delay)
		if len(got[k]) != 1 || got[k][0] != want {
			t.Errorf("%d-byte payload arrived at %v, want %v", k, got[k], want)
		}
	}
	if want := clock.Instant(time.Second).Add(47*byteTime + delay); len(got[7]) != 1 || got[7][0] != want {
		t.Errorf("packet on an idle link arrived at %v, want %v", got[7], want)
	}
}

// TestDelayJitter: arrivals fall in [Delay, Delay+Jitter), spread out;
// without jitter they take Delay exactly; Reorder holds a packet back by
// another Delay+Jitter+1ms.
func TestDelayJitter(t *testing.T) {
	tests := []struct {
		name     string
		cfg      LinkConfig
		lo, hi   time.Duration // arrival in [lo, hi]
		distinct int           // at least this many different arrival times
	}{
		{"delay only", LinkConfig{Delay: 10 * time.Millisecond}, 10 * time.Millisecond, 10 * time.Millisecond, 1},
		{"delay and jitter", LinkConfig{Delay: 10 * time.Millisecond, Jitter: 5 * time.Millisecond}, 10 * time.Millisecond, 15*time.Millisecond - 1, 150},
		{"jitter only", LinkConfig{Jitter: time.Millisecond}, 0, time.Millisecond - 1, 150},
		{"reorder all", LinkConfig{Delay: 10 * time.Millisecond, Reorder: 1}, 21 * time.Millisecond, 21 * time.Millisecond, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, a, _, rec := newNet(t, 3, tt.cfg)
			for range 200 {
				inject(t, n, a, addrB, wire.ACK, 1, 1)
			}
			if err := n.Run(); err != nil {
				t.Fatal(err)
			}
			at := arrivals(t, rec)[1]
			if len(at) != 200 {
				t.Fatalf("%d arrivals, want 200", len(at))
			}
			seen := map[clock.Instant]bool{}
			for _, x := range at {
				seen[x] = true
				if d := x.Sub(0); d < tt.lo || d > tt.hi {
					t.Errorf("arrival after %v, want within [%v, %v]", d, tt.lo, tt.hi)
				}
			}
			if len(seen) < tt.distinct {
				t.Errorf("%d distinct arrival times, want at least %d", len(seen), tt.distinct)
			}
		})
	}
}

// TestRules: a Rule acts on the Nth matching packet from its host, and on
// Count-1 more after it (every later one when Count < 0); with Delay it
// holds them back instead of dropping them.
func TestRules(t *testing.T) {
	const delay = time.Millisecond
	psh := MatchFlags(wire.ACK|wire.PSH, false)
	tests := []struct {
		name    string
		rule    Rule
		dropped []int // payload lengths lost
		delayed []int // payload lengths late by rule.Delay
	}{
		{"Nth 0 means the first", Rule{From: "A", Match: psh}, []int{1}, nil},
		{"third", Rule{From: "A", Match: psh, Nth: 3}, []int{3}, nil},
		{"third, Count 1", Rule{From: "A", Match: psh, Nth: 3, Count: 1}, []int{3}, nil},
		{"second to fourth", Rule{From: "A", Match: psh, Nth: 2, Count: 3}, []int{2, 3, 4}, nil},
		{"fourth on", Rule{From: "A", Match: psh, Nth: 4, Count: -1}, []int{4, 5, 6, 7, 8, 9, 10}, nil},
		{"other host", Rule{From: "B", Match: psh, Count: -1}, nil, nil},
		{"any host", Rule{Match: psh, Nth: 10}, []int{10}, nil},
		{"no match function: every packet counts", Rule{From: "A", Nth: 2, Count: 2}, []int{101, 2}, nil},
		{"exact flags", Rule{From: "A", Match: MatchFlags(wire.ACK, true), Count: -1}, []int{101, 102, 103, 104, 105, 106, 107, 108, 109, 110}, nil},
		{"inexact flags", Rule{From: "A", Match: MatchFlags(wire.ACK, false), Nth: 1, Count: 3}, []int{1, 101, 2}, nil},
		{"delay", Rule{From: "A", Match: psh, Nth: 2, Count: 2, Delay: 50 * time.Millisecond}, nil, []int{2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, a, _, rec := newNet(t, 1, LinkConfig{Delay: delay})
			r := tt.rule
			n.AddRule(&r)
			// Packet i carries i bytes with PSH, then 100+i bytes without.
			for i := 1; i <= 10; i++ {
				inject(t, n, a, addrB, wire.ACK|wire.PSH, 1, i)
				inject(t, n, a, addrB, wire.ACK, 1, 100+i)
			}
			if err := n.Run(); err != nil {
				t.Fatal(err)
			}
			var dropped []int
			for _, e := range rec.Events() {
				if dropsWhy("rule")(e) {
					dropped = append(dropped, segLen(t, e.Seg))
				}
			}
			if !reflect.DeepEqual(dropped, tt.dropped) {
				t.Errorf("dropped %v, want %v", dropped, tt.dropped)
			}
			var delayed []int
			for k, at := range arrivals(t, rec) {
				switch {
				case len(at) != 1:
					t.Errorf("%d-byte packet arrived %d times", k, len(at))
				case at[0] == clock.Instant(0).Add(delay+r.Delay) && r.Delay > 0:
					delayed = append(delayed, k)
				case at[0] != clock.Instant(0).Add(delay):
					t.Errorf("%d-byte packet arrived at %v", k, at[0])
				}
			}
			if len(delayed) > 0 || len(tt.delayed) > 0 {
				slicesSort(delayed)
				if !reflect.DeepEqual(delayed, tt.delayed) {
					t.Errorf("delayed %v, want %v", delayed, tt.delayed)
				}
			}
		})
	}
}

func slicesSort(s []int) {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
}

// TestInject: an injected packet is traced as sent by its host, crosses
// the link and is handled like any other (B answers the stray with a
// RST); an unknown destination is a "no route" drop; a bad packet is an
// error.
func TestInject(t *testing.T) {
	n, a, b, rec := newNet(t, 1, LinkConfig{Delay: time.Millisecond})
	n.At(clock.Instant(time.Second), func() { inject(t, n, a, addrB, wire.ACK, 1000, 3) })
	if err := n.Run(); err != nil {
		t.Fatal(err)
	}
	ev := rec.Events()
	want := []struct {
		host string
		kind trace.Kind
		at   time.Duration
		seg  string
	}{
		{"A", trace.KindSend, time.Second, "P"},
		{"B", trace.KindRecv, time.Second + time.Millisecond, ""},
		{"B", trace.KindSend, time.Second + time.Millisecond, "R "},
		{"A", trace.KindRecv, time.Second + 2*time.Millisecond, "R "},
	}
	if len(ev) != len(want) {
		t.Fatalf("events %+v", ev)
	}
	for i, w := range want {
		e := ev[i]
		if e.Host != w.host || e.Kind != w.kind || e.T != clock.Instant(w.at) || !strings.HasPrefix(e.SegText(), w.seg) && w.seg != "P" {
			t.Errorf("event %d: %+v, want %s %s at %v %q", i, e, w.host, w.kind, w.at, w.seg)
		}
	}
	if k := b.Stack.Counters(); k.InSegs != 1 || k.OutRsts != 1 {
		t.Errorf("B InSegs %d OutRsts %d, want 1 1", k.InSegs, k.OutRsts)
	}

	inject(t, n, a, netip.MustParseAddr("10.9.9.9"), wire.ACK, 1, 0)
	if d := count(rec.Events(), dropsWhy("no route")); d != 1 {
		t.Errorf("%d no-route drops, want 1", d)
	}
	bad := &wire.Packet{Src: addrA, Dst: netip.MustParseAddr("2001:db8::1")}
	if err := n.Inject(a, bad); err == nil {
		t.Error("Inject accepted a packet with mixed address families")
	}
}

// TestLinkConfigValidate: probabilities must be in [0, 1], durations and
// bandwidth not negative; New and SetLink refuse bad ones.
func TestLinkConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  LinkConfig
		ok   bool
	}{
		{"zero", LinkConfig{}, true},
		{"all faults at 1", LinkConfig{Delay: time.Second, Jitter: time.Second, Bandwidth: 1, Loss: 1, Dup: 1, Reorder: 1, Corrupt: 1}, true},
		{"negative loss", LinkConfig{Loss: -0.1}, false},
		{"loss above 1", LinkConfig{Loss: 1.1}, false},
		{"dup 2", LinkConfig{Dup: 2}, false},
		{"reorder NaN", LinkConfig{Reorder: math.NaN()}, false},
		{"corrupt -1", LinkConfig{Corrupt: -1}, false},
		{"loss +Inf", LinkConfig{Loss: math.Inf(1)}, false},
		{"negative delay", LinkConfig{Delay: -1}, false},
		{"negative jitter", LinkConfig{Jitter: -1}, false},
		{"negative bandwidth", LinkConfig{Bandwidth: -1}, false},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if (err == nil) != tt.ok {
			t.Errorf("%s: Validate %v, want ok %v", tt.name, err, tt.ok)
		}
		_, newErr := New(1, tt.cfg, nil)
		if (newErr == nil) != tt.ok {
			t.Errorf("%s: New %v, want ok %v", tt.name, newErr, tt.ok)
		}
		n, _ := New(1, LinkConfig{}, nil)
		if err := n.SetLink("A", "B", tt.cfg); (err == nil) != tt.ok {
			t.Errorf("%s: SetLink %v, want ok %v", tt.name, err, tt.ok)
		}
	}
	n, _ := New(1, LinkConfig{}, nil)
	if _, err := n.AddHost("A", addrA, stack.DefaultOptions()); err != nil {
		t.Fatal(err)
	}
	if _, err := n.AddHost("A2", addrA, stack.DefaultOptions()); err == nil {
		t.Error("AddHost took an address twice")
	}
	bad := stack.DefaultOptions()
	bad.SomaxConn = 0
	if _, err := n.AddHost("B", addrB, bad); err == nil {
		t.Error("AddHost accepted bad stack options")
	}
}

// TestRunUntil: RunUntil stops at its time limit (leaving later events for
// later), never moves time back, and Run ends when nothing is left.
func TestRunUntil(t *testing.T) {
	n, _, _, _ := newNet(t, 1, LinkConfig{})
	var ranAt []clock.Instant
	n.At(clock.Instant(10*time.Second), func() { ranAt = append(ranAt, n.Now()) })
	if err := n.RunUntil(clock.Instant(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if len(ranAt) != 0 || n.Now() != clock.Instant(5*time.Second) {
		t.Fatalf("after RunUntil(5s): ran %v, now %v", ranAt, n.Now())
	}
	if err := n.RunUntil(clock.Instant(3 * time.Second)); err != nil || n.Now() != clock.Instant(5*time.Second) {
		t.Fatalf("RunUntil into the past: %v, now %v", err, n.Now())
	}
	n.After(time.Second, func() { ranAt = append(ranAt, n.Now()) })             // at 6 s
	n.At(clock.Instant(time.Second), func() { ranAt = append(ranAt, n.Now()) }) // in the past: now
	if err := n.RunUntil(clock.Instant(10 * time.Second)); err != nil {         // events at the limit run
		t.Fatal(err)
	}
	want := []clock.Instant{clock.Instant(5 * time.Second), clock.Instant(6 * time.Second), clock.Instant(10 * time.Second)}
	if !reflect.DeepEqual(ranAt, want) {
		t.Errorf("actions ran at %v, want %v", ranAt, want)
	}
	if err := n.Run(); err != nil || n.Now() != clock.Instant(10*time.Second) {
		t.Errorf("Run with nothing to do: %v, now %v", err, n.Now())
	}

	// A connection's timers keep a run going; RunUntil still stops on time.
	n, a, _, _ := newNet(t, 1, LinkConfig{Delay: time.Millisecond})
	so := a.Stack.NewSocket()
	if err := so.Connect(n.Now(), netip.MustParseAddrPort("10.9.9.9:80")); err != nil { // no route: the SYN is retried
		t.Fatal(err)
	}
	if err := n.RunUntil(clock.Instant(2500 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if n.Now() != clock.Instant(2500*time.Millisecond) || a.Stack.Deadline() == clock.Never {
		t.Errorf("now %v, A's deadline %v", n.Now(), a.Stack.Deadline())
	}
}

// TestStepLimit: a livelock ends in an error instead of a hang, whether
// it advances time in tiny steps or not at all.
func TestStepLimit(t *testing.T) {
	for _, step := range []time.Duration{time.Nanosecond, 0} {
		n, _, _, _ := newNet(t, 9, LinkConfig{})
		n.stepCap = 1000
		var fn func()
		fn = func() { n.After(step, fn) }
		n.After(0, fn)
		err := n.Run()
		if err == nil || !strings.Contains(err.Error(), "livelock") || !strings.Contains(err.Error(), "seed 9") {
			t.Errorf("step %v: Run returned %v, want a livelock error naming the seed", step, err)
		}
		if n.Steps <= 1000 || n.Steps > 1010 {
			t.Errorf("step %v: %d steps, want just over the cap", step, n.Steps)
		}
	}
}

// TestRunUntilContext: a run stops once its context ends, even with events
// left before its end instant, and says why; a live context changes
// nothing.
func TestRunUntilContext(t *testing.T) {
	n, _, _, _ := newNet(t, 1, LinkConfig{Delay: time.Millisecond})
	fired := 0
	for i := range 10 * ctxEvery {
		n.At(clock.Instant(i+1)*clock.Instant(time.Millisecond), func() { fired++ })
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.At(clock.Instant(5*time.Millisecond), cancel)
	err := n.RunUntilContext(ctx, clock.Instant(time.Hour))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("RunUntilContext = %v, want context.Canceled", err)
	}
	if fired == 0 || fired > ctxEvery+5 {
		t.Errorf("%d events ran before the run stopped, want between 1 and %d", fired, ctxEvery+5)
	}
	if err := n.RunUntilContext(context.Background(), clock.Instant(time.Hour)); err != nil || fired != 10*ctxEvery {
		t.Errorf("a live context: %v, %d of %d events", err, fired, 10*ctxEvery)
	}
}
