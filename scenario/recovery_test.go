package scenario

import (
	"net/netip"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/sim"
	"github.com/tcpwave/tcpwave/stack"
	"github.com/tcpwave/tcpwave/tcp"
	"github.com/tcpwave/tcpwave/wire"
)

// oneWay is a one-way bulk transfer from A to B on the simulator, with a
// record of when each data segment from A was sent.
type oneWay struct {
	n      *sim.Network
	a, b   *sim.Host
	client *stack.Socket
	pa, pb *pump
	sends  map[uint32][]clock.Instant // data segment sequence number -> send times
	done   bool
	onSend func(p *wire.Packet, again bool) // each data segment from A, and whether it was sent before
}

// newOneWay starts a transfer of size bytes from A to B over link, with
// tcp options adjusted by cfg.
func newOneWay(t *testing.T, link sim.LinkConfig, size int, cfg func(*tcp.Config)) *oneWay {
	t.Helper()
	n, err := sim.New(7, link, nil)
	if err != nil {
		t.Fatal(err)
	}
	opts := stack.DefaultOptions()
	if cfg != nil {
		cfg(&opts.TCP)
	}
	w := &oneWay{n: n, sends: map[uint32][]clock.Instant{}}
	w.a, _ = n.AddHost("A", AddrA, opts)
	w.b, _ = n.AddHost("B", AddrB, opts)
	n.SetTap(func(now clock.Instant, pkt []byte) {
		var p wire.Packet
		if wire.ParsePacket(pkt, &p) == nil && p.Src == AddrA && len(p.Payload) > 0 {
			w.sends[p.TCP.Seq] = append(w.sends[p.TCP.Seq], now)
			if w.onSend != nil {
				w.onSend(&p, len(w.sends[p.TCP.Seq]) > 1)
			}
		}
	})
	l := w.b.Stack.NewSocket()
	if err := l.Bind(netip.AddrPortFrom(AddrB, Port)); err != nil {
		t.Fatal(err)
	}
	if err := l.Listen(w.n.Now(), 8); err != nil {
		t.Fatal(err)
	}
	w.client = w.a.Stack.NewSocket()
	if err := w.client.Connect(0, netip.AddrPortFrom(AddrB, Port)); err != nil {
		t.Fatal(err)
	}
	w.pa = newPump(t, w.client, 1, size)
	w.a.OnReady = func(so *stack.Socket) {
		if so == w.client && w.client.Connected() {
			w.pa.step(w.a)
		}
	}
	w.b.OnReady = func(so *stack.Socket) {
		switch {
		case so == l && l.Acceptable() && w.pb == nil:
			s, err := l.Accept()
			if err != nil {
				t.Fatal(err)
			}
			w.pb = newPump(t, s, 2, 0)
			w.pb.finished = func() { w.done = true }
			w.pb.step(w.b)
		case w.pb != nil && so == w.pb.so:
			w.pb.step(w.b)
		}
	}
	return w
}

// retransmissions lists, for each data segment sent more than once, the
// delay between its first and second sending.
func (w *oneWay) retransmissions() map[uint32]time.Duration {
	r := map[uint32]time.Duration{}
	for sq, at := range w.sends {
		if len(at) > 1 {
			r[sq] = at[1].Sub(at[0])
		}
	}
	return r
}

// dataMatch matches the Nth data segment from A (1-based).
func dataMatch() func(*wire.Packet) bool {
	return func(p *wire.Packet) bool { return p.Src == AddrA && len(p.Payload) > 0 }
}

// TestSACKRecovery: losses in the middle of a window are repaired by
// fast retransmission from the SACK scoreboard (RFC 6675), without
// waiting for the retransmission timer, and several holes are repaired
// within one round trip. Without SACK, NewReno repairs one hole per round
// trip (RFC 6582).
func TestSACKRecovery(t *testing.T) {
	const rtt = 20 * time.Millisecond
	link := sim.LinkConfig{Delay: rtt / 2, Bandwidth: 100e6}
	noSACK := func(c *tcp.Config) { c.SACK = false }
	tests := []struct {
		name     string
		cfg      func(*tcp.Config)
		drop     []int // data segments from A to drop, 1-based
		recovery func(stack.Counters) uint64
		// the time from the first to the last retransmission must be
		// under maxSpread (several holes in one round trip) or at least
		// minSpread (one hole per round trip).
		minSpread, maxSpread time.Duration
	}{
		{name: "one loss: fast retransmit from SACK, no RTO", drop: []int{30},
			recovery: func(c stack.Counters) uint64 { return c.TCPSackRecovery }, maxSpread: time.Nanosecond},
		{name: "three holes in one window: all repaired within one round trip", drop: []int{30, 33, 36},
			recovery: func(c stack.Counters) uint64 { return c.TCPSackRecovery }, maxSpread: rtt},
		{name: "without SACK, NewReno repairs the same three holes one per round trip", cfg: noSACK, drop: []int{30, 33, 36},
			recovery: func(c stack.Counters) uint64 { return c.TCPRenoRecovery }, minSpread: 2 * rtt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newOneWay(t, link, 1<<20, tt.cfg)
			for _, nth := range tt.drop {
				w.n.AddRule(&sim.Rule{From: "A", Match: dataMatch(), Nth: nth})
			}
			if err := w.n.RunUntil(clock.Instant(30 * time.Second)); err != nil {
				t.Fatal(err)
			}
			if !w.done || w.pb.got != 1<<20 {
				t.Fatalf("transfer incomplete: B got %d bytes", pbGot(w.pb))
			}
			ca := w.a.Stack.Counters()
			if ca.TCPTimeouts != 0 {
				t.Errorf("%d RTOs, want none", ca.TCPTimeouts)
			}
			if got := tt.recovery(ca); got != 1 {
				t.Errorf("%d fast recoveries, want 1 (counters %+v)", got, ca)
			}
			re := w.retransmissions()
			if len(re) != len(tt.drop) || ca.RetransSegs != uint64(len(tt.drop)) {
				t.Fatalf("retransmitted %d segments (%d sends), want exactly the %d lost", len(re), ca.RetransSegs, len(tt.drop))
			}
			var first, last clock.Instant = clock.Never, 0
			for sq, d := range re {
				if d >= 200*time.Millisecond {
					t.Errorf("segment %d retransmitted %v after it was sent: the RTO, not fast retransmit", sq, d)
				}
				at := w.sends[sq][1]
				first, last = clock.Min(first, at), max(last, at)
			}
			spread := last.Sub(first)
			if tt.maxSpread > 0 && spread >= tt.maxSpread {
				t.Errorf("retransmissions spread over %v, want under %v", spread, tt.maxSpread)
			}
			if spread < tt.minSpread {
				t.Errorf("retransmissions spread over %v, want at least %v", spread, tt.minSpread)
			}
			t.Logf("retransmissions %v spread %v", re, spread)
		})
	}
}

// TestLossyGoodput: 1% random loss each way must not turn every loss into
// an RTO. Recoveries outnumber timeouts many times over, and goodput stays
// a sizeable fraction of the link.
func TestLossyGoodput(t *testing.T) {
	const size = 32 << 20
	for _, cc := range []string{tcp.CUBIC, tcp.Reno} {
		t.Run(cc, func(t *testing.T) {
			w := newOneWay(t, sim.LinkConfig{Delay: 500 * time.Microsecond, Bandwidth: 1e9, Loss: 0.01}, size,
				func(c *tcp.Config) { c.CongestionControl = cc; c.RcvBuf, c.SndBuf = 4<<20, 4<<20 })
			var end clock.Instant
			w.pa.finished = func() { end = w.a.Now() }
			if err := w.n.RunUntil(clock.Instant(600 * time.Second)); err != nil {
				t.Fatal(err)
			}
			if w.pb == nil || w.pb.got != size {
				t.Fatalf("B got %d bytes, want %d", pbGot(w.pb), size)
			}
			ca := w.a.Stack.Counters()
			gbps := float64(size) * 8 / end.Sub(0).Seconds() / 1e9
			t.Logf("%s: %.3f Gbit/s virtual, %d recoveries, %d timeouts, %d retransmitted", cc, gbps, ca.TCPSackRecovery, ca.TCPTimeouts, ca.RetransSegs)
			if ca.TCPSackRecovery < 10*ca.TCPTimeouts {
				t.Errorf("%d SACK recoveries vs %d RTOs: losses are not recovered fast", ca.TCPSackRecovery, ca.TCPTimeouts)
			}
			if gbps < 0.05 {
				t.Errorf("goodput %.3f Gbit/s on a 1 Gbit/s link with 1%% loss", gbps)
			}
		})
	}
}

// cwndSample is the congestion window at one instant.
type cwndSample struct {
	at   clock.Instant
	cwnd int
}

// TestCUBICGrowth: after a loss, CUBIC (RFC 9438) cuts the window to 70%
// and grows it back along a cubic curve: fast at first, flattening as it
// nears the window it lost at (concave), then accelerating beyond it
// (convex), regaining that window about K = cbrt(W_max*(1-β)/C) seconds
// after the loss. Reno, from the same loss, grows one segment per round
// trip and is well behind at that time.
func TestCUBICGrowth(t *testing.T) {
	const rtt = 100 * time.Millisecond
	run := func(t *testing.T, cc string) (samples []cwndSample, wMax, ssthresh int, lossAt clock.Instant, mss int) {
		t.Helper()
		w := newOneWay(t, sim.LinkConfig{Delay: rtt / 2}, 1<<30, func(c *tcp.Config) {
			c.CongestionControl = cc
			// Buffers and auto-tuning room well above the window: the
			// window grows only while it limits the sender (Linux
			// tcp_is_cwnd_limited), so the peer's window must never.
			c.RcvBuf, c.SndBuf = 64<<20, 64<<20
			c.RcvBufMax, c.SndBufMax, c.RmemDefault = 64<<20, 64<<20, 64<<20
		})
		conn := func() *tcp.Conn { return w.client.Conn() }
		dropped := false
		w.n.AddRule(&sim.Rule{From: "A", Match: func(p *wire.Packet) bool {
			if dropped || len(p.Payload) == 0 || conn() == nil || conn().Info().Cwnd < 100*conn().MSS() {
				return false
			}
			dropped, lossAt = true, w.n.Now()
			return true
		}})
		// Slow start goes on for the round trip it takes to notice the
		// loss: the window CUBIC reduces is the data outstanding when the
		// first retransmission leaves.
		w.onSend = func(p *wire.Packet, again bool) {
			if again && wMax == 0 {
				in := conn().Info()
				wMax, ssthresh = in.Outstanding, in.Ssthresh
			}
		}
		var tick func()
		tick = func() {
			if c := conn(); c != nil && ssthresh != 0 {
				if in := c.Info(); !in.InRecovery {
					samples = append(samples, cwndSample{w.n.Now(), in.Cwnd})
				}
			}
			if w.n.Now() < clock.Instant(20*time.Second) {
				w.n.After(time.Millisecond, tick)
			}
		}
		w.n.After(0, tick)
		if err := w.n.RunUntil(clock.Instant(20 * time.Second)); err != nil {
			t.Fatal(err)
		}
		if !dropped || len(samples) == 0 {
			t.Fatalf("no loss happened (dropped %v, %d samples)", dropped, len(samples))
		}
		if n := w.a.Stack.Counters().TCPTimeouts; n != 0 {
			t.Fatalf("%d RTOs: the single loss should be repaired by fast recovery", n)
		}
		return samples, wMax, ssthresh, lossAt, conn().MSS()
	}
	at := func(s []cwndSample, t clock.Instant) int {
		for _, x := range s {
			if x.at >= t {
				return x.cwnd
			}
		}
		return s[len(s)-1].cwnd
	}

	cubic, wMax, ssthresh, lossAt, mss := run(t, tcp.CUBIC)
	if r := float64(ssthresh) / float64(wMax); r < 0.65 || r > 0.75 {
		t.Errorf("ssthresh %d after losing at %d bytes in flight: ratio %.2f, want β = 0.7", ssthresh, wMax, r)
	}
	k := time.Duration(cubeRoot(float64(wMax)/float64(mss)*(1-0.7)/0.4) * float64(time.Second))
	start := cubic[0].at // recovery over: the epoch begins
	if k < time.Second {
		t.Fatalf("K = %v: the loss came at too small a window for the test", k)
	}
	ck := func(f float64) clock.Instant { return start.Add(time.Duration(f * float64(k))) }
	early := at(cubic, ck(0.4)) - at(cubic, ck(0))
	plateau := at(cubic, ck(1.2)) - at(cubic, ck(0.8))
	late := at(cubic, ck(1.8)) - at(cubic, ck(1.4))
	t.Logf("W_max %d B (%d segments), ssthresh %d, K %v; growth over 0.4K: early %d, plateau %d, late %d",
		wMax, wMax/mss, ssthresh, k, early, plateau, late)
	if !(early > plateau && late > plateau) {
		t.Errorf("growth early %d, around K %d, late %d: want concave then convex", early, plateau, late)
	}
	if got := at(cubic, ck(1)); got < wMax*9/10 || got > wMax*11/10 {
		t.Errorf("cwnd %d at K after the epoch began, want W_max %d ± 10%%", got, wMax)
	}

	reno, _, _, renoLoss, _ := run(t, tcp.Reno)
	renoAtK := at(reno, renoLoss.Add(k))
	cubicAtK := at(cubic, lossAt.Add(k))
	t.Logf("cwnd K after the loss: CUBIC %d, Reno %d", cubicAtK, renoAtK)
	if renoAtK >= cubicAtK {
		t.Errorf("Reno at %d is not behind CUBIC at %d, K after the loss", renoAtK, cubicAtK)
	}
}

func cubeRoot(x float64) float64 {
	r := x
	for range 100 {
		r -= (r*r*r - x) / (3 * r * r)
	}
	return r
}

// TestPAWS: a segment that lands in the receive window with a timestamp older
// than the connection's is an old duplicate from an earlier trip around
// the sequence space: PAWS (RFC 7323 §5) drops it, counts PAWSEstab, and
// the stream is delivered intact. The same segment with a current
// timestamp is taken as data, and the stream is corrupted: PAWS is what
// stops it.
func TestPAWS(t *testing.T) {
	tests := []struct {
		name      string
		tsAge     uint32 // how much older than A's latest TSval
		wantPAWS  uint64
		wantClean bool
	}{
		{name: "old timestamp: dropped by PAWS", tsAge: 1000, wantPAWS: 1, wantClean: true},
		{name: "current timestamp: accepted, and the forged bytes corrupt the stream", tsAge: 0, wantPAWS: 0, wantClean: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newOneWay(t, sim.LinkConfig{Delay: 5 * time.Millisecond, Bandwidth: 100e6}, 1<<20, nil)
			var last wire.Packet
			w.onSend = func(p *wire.Packet, _ bool) { last = *p }
			injected := false
			w.n.At(clock.Instant(60*time.Millisecond), func() {
				// Aimed at bytes A has not sent yet: in B's window, and B
				// will hold it when A's real bytes arrive.
				p := wire.Packet{Src: AddrA, Dst: AddrB, TCP: last.TCP, Payload: []byte("EVIL")}
				p.TCP.Seq = uint32(w.client.Conn().SndNxt())
				p.TCP.Flags = wire.ACK | wire.PSH
				p.TCP.Options = wire.Options{HasTimestamp: true, TSVal: last.TCP.Options.TSVal - tt.tsAge, TSEcr: last.TCP.Options.TSEcr}
				if err := w.n.Inject(w.a, &p); err != nil {
					t.Fatal(err)
				}
				injected = true
			})
			if err := w.n.RunUntil(clock.Instant(30 * time.Second)); err != nil {
				t.Fatal(err)
			}
			if !injected || w.pb == nil || w.pb.got != 1<<20 {
				t.Fatalf("injected %v, B got %d bytes", injected, pbGot(w.pb))
			}
			cb := w.b.Stack.Counters()
			if cb.PAWSEstab != tt.wantPAWS {
				t.Errorf("PAWSEstab %d, want %d", cb.PAWSEstab, tt.wantPAWS)
			}
			clean := string(w.pa.sent.Sum(nil)) == string(w.pb.recv.Sum(nil))
			if clean != tt.wantClean {
				t.Errorf("stream intact: %v, want %v", clean, tt.wantClean)
			}
		})
	}
}
