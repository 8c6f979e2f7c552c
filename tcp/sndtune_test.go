package tcp

import (
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/seq"
	"github.com/tcpwave/tcpwave/wire"
)

// peerOpts are the options of a Linux peer's SYN or SYN-ACK with the
// given MSS.
func peerOpts(mss uint16, sack bool) wire.Options {
	return wire.Options{MSS: mss, HasWScale: true, WScale: 7, SACKPermitted: sack, HasTimestamp: true, TSVal: 1}
}

// ackTo returns the peer's ACK of everything up to ack, with window wnd
// (scaled by 7).
func ackTo(next, ack seq.Value, wnd uint16) Segment {
	return Segment{Seq: next, Ack: ack, Flags: wire.ACK, Wnd: wnd, Opts: wire.Options{HasTimestamp: true, TSVal: 2, TSEcr: 1}}
}

// segEnd returns the sequence number after s.
func segEnd(s Segment) seq.Value { return s.Seq.Add(seq.Size(len(s.Payload))) }

// TestSndBufAutoTuning: the send buffer grows as Linux's
// tcp_sndbuf_expand grows it: once established, to ten segments of
// Linux's per-segment reckoning (87040 bytes for a 1460-byte MSS, as
// ss -m shows a new Linux connection), then to at least twice the
// congestion window whenever the buffer, kept full by the application,
// would limit the sender below it, up to SndBufMax; with SndBufMax 0 or not above SndBuf it
// stays at SndBuf (SO_SNDBUF set). What Write accepts shows it.
func TestSndBufAutoTuning(t *testing.T) {
	tests := []struct {
		name              string
		mss               uint16 // ours and the peer's (less 12 with timestamps)
		sndBuf, sndBufMax int
		wantEst           int // the buffer once established: what the first Write takes
		wantLast          int // after the window has grown for a while
	}{
		{name: "Linux's tcp_wmem: 16 KiB at the start, 87040 once established, up to 4 MiB", mss: 1460, sndBuf: 16 << 10, sndBufMax: 4 << 20,
			wantEst: 87040, wantLast: 4 << 20},
		{name: "no auto-tuning: stays at SndBuf", mss: 1460, sndBuf: 16 << 10, sndBufMax: 0,
			wantEst: 16 << 10, wantLast: 16 << 10},
		{name: "a bound not above SndBuf keeps SndBuf", mss: 1460, sndBuf: 64 << 10, sndBufMax: 32 << 10,
			wantEst: 64 << 10, wantLast: 64 << 10},
		{name: "the defaults: 256 KiB until twice the window passes it, then up to 4 MiB", mss: 1460, sndBuf: 256 << 10, sndBufMax: 4 << 20,
			wantEst: 256 << 10, wantLast: 4 << 20},
		// The peer's first window (65535) bounds the MSS to 32767
		// (tcp_bound_to_half_wnd), and Linux reckons the buffer from the
		// bounded MSS (mss_cache): ten segments of 65792 bytes.
		{name: "a 64 KiB MTU: the MSS bounded by half the first window, ten segments of 65792 bytes", mss: 65495, sndBuf: 256 << 10, sndBufMax: 4 << 20,
			wantEst: 2 * 10 * 65792, wantLast: 4 << 20},
		{name: "a 64 KiB MTU with a 1 MiB bound", mss: 65495, sndBuf: 256 << 10, sndBufMax: 1 << 20,
			wantEst: 1 << 20, wantLast: 1 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.MSS, cfg.SndBuf, cfg.SndBufMax = tt.mss, tt.sndBuf, tt.sndBufMax
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			c, next, drain := passiveConn(t, &cfg, peerOpts(tt.mss, true))
			data := make([]byte, 8<<20)
			now := clock.Instant(time.Millisecond)
			if n, err := c.Write(now, data); err != nil || n != tt.wantEst {
				t.Fatalf("first Write took %d bytes (%v), want %d", n, err, tt.wantEst)
			}
			last, bound := c.sndBuf.max, max(tt.sndBuf, tt.sndBufMax)
			for round := 0; round < 40 && (round < 3 || c.sndBuf.max < tt.wantLast); round++ {
				segs := drain(now)
				if len(segs) == 0 {
					t.Fatalf("round %d: nothing sent (cwnd %d, SendQ %d)", round, c.cc.cwnd, c.SendQ())
				}
				now = now.Add(time.Millisecond)
				for i := 1; i < len(segs)+1; i += 2 { // an ACK for every second segment, and the last
					ack := ackTo(next, segEnd(segs[min(i, len(segs)-1)]), 65535)
					c.HandleSegment(now, &ack)
					switch {
					case c.sndBuf.max < last:
						t.Fatalf("round %d: the buffer shrank from %d to %d", round, last, c.sndBuf.max)
					case c.sndBuf.max > bound:
						t.Fatalf("round %d: the buffer grew to %d, past its bound %d", round, c.sndBuf.max, bound)
					case tt.sndBufMax > tt.sndBuf && c.sndBuf.max < min(int(c.cc.cwnd), bound):
						t.Fatalf("round %d: a buffer of %d bytes holds the sender below its cwnd, %d", round, c.sndBuf.max, c.cc.cwnd)
					}
					last = c.sndBuf.max
					// The writer, woken, fills the buffer again.
					if _, err := c.Write(now, data); err != nil {
						t.Fatal(err)
					}
					if c.SendQ() != c.sndBuf.max {
						t.Fatalf("round %d: SendQ %d after a Write of more than fits, want the buffer, %d", round, c.SendQ(), c.sndBuf.max)
					}
				}
			}
			if c.sndBuf.max != tt.wantLast {
				t.Fatalf("the buffer ended at %d bytes (cwnd %d segments), want %d", c.sndBuf.max, int(c.cc.cwnd)/c.mss, tt.wantLast)
			}
		})
	}
}

// TestSndBufActiveOpen: an active open sizes the buffer when the SYN-ACK
// makes it ESTABLISHED, as a passive one does.
func TestSndBufActiveOpen(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SndBuf = 16 << 10
	c := NewActive(&cfg, nil, 0, 5000, 0)
	buf := make([]byte, 65536)
	var syn Segment
	if !c.Poll(0, &syn, buf) || syn.Flags&wire.SYN == 0 {
		t.Fatal("no SYN")
	}
	synAck := Segment{Seq: 9000, Ack: 5001, Flags: wire.SYN | wire.ACK, Wnd: 65535, Opts: peerOpts(1460, true)}
	synAck.Opts.TSEcr = syn.Opts.TSVal
	c.HandleSegment(clock.Instant(time.Millisecond), &synAck)
	if c.State() != Established {
		t.Fatalf("state %v after the SYN-ACK", c.State())
	}
	if n, err := c.Write(clock.Instant(time.Millisecond), make([]byte, 1<<20)); err != nil || n != 87040 {
		t.Fatalf("first Write took %d bytes (%v), want 87040", n, err)
	}
}

// TestSndBufNotWhenCwndLimited: an ACK that frees data does not grow the
// buffer while the congestion window, not the buffer, limits the sender
// (tcp_should_expand_sndbuf: the flight would reach cwnd), nor in a
// NewReno recovery, whose duplicate ACKs inflate cwnd.
func TestSndBufNotWhenCwndLimited(t *testing.T) {
	t.Run("a full buffer, ACKed a segment at a time", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.SndBuf = 16 << 10
		c, next, drain := passiveConn(t, &cfg, peerOpts(1460, true))
		now := clock.Instant(time.Millisecond)
		data := make([]byte, 1<<20)
		c.Write(now, data)
		sent := drain(now)
		for round := range 20 {
			now = now.Add(time.Millisecond)
			ack := ackTo(next, segEnd(sent[round]), 65535)
			c.HandleSegment(now, &ack)
			c.Write(now, data)
			sent = append(sent, drain(now)...)
			if c.sndBuf.max != 87040 {
				t.Fatalf("round %d: the buffer grew to %d with %d bytes in flight, %d unsent and a cwnd of %d", round,
					c.sndBuf.max, c.inFlight(), c.SendQ()-c.inFlight(), c.cc.cwnd)
			}
		}
	})
	t.Run("an application that never fills the buffer", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.SndBuf = 16 << 10
		c, next, drain := passiveConn(t, &cfg, peerOpts(1460, true))
		now := clock.Instant(time.Millisecond)
		grew := false
		for round := range 20 {
			if n, err := c.Write(now, make([]byte, 30000)); n != 30000 || err != nil {
				t.Fatalf("round %d: Write took %d bytes (%v), want all 30000", round, n, err)
			}
			for _, s := range drain(now) {
				now = now.Add(100 * time.Microsecond)
				ack := ackTo(next, segEnd(s), 65535)
				c.HandleSegment(now, &ack)
				grew = grew || 2*int(c.cc.cwnd) > 87040
			}
			if c.sndBuf.max != 87040 {
				t.Fatalf("round %d: the buffer grew to %d though no Write found it full (cwnd %d)", round, c.sndBuf.max, c.cc.cwnd)
			}
		}
		if !grew {
			t.Fatal("cwnd never passed half the buffer: the test does not exercise the rule")
		}
	})
	t.Run("NewReno recovery", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.SndBuf = 16 << 10
		c, next, drain := passiveConn(t, &cfg, peerOpts(1460, false))
		now := clock.Instant(time.Millisecond)
		const wnd = 114 // <<7: ten segments and 112 bytes
		ack := ackTo(next, c.sndNxt, wnd)
		c.HandleSegment(now, &ack)
		c.Write(now, make([]byte, 1<<20))
		sent := drain(now)
		if len(sent) < 10 {
			t.Fatalf("%d segments sent, want ten", len(sent))
		}
		una := sent[0].Seq
		gated := false
		for i := range 8 { // the first segment is lost: duplicate ACKs
			now = now.Add(time.Millisecond)
			dup := ackTo(next, una, wnd)
			c.HandleSegment(now, &dup)
			drain(now)
			if i >= 3 && !c.flags.has(inRecovery) {
				t.Fatal("no recovery after three duplicate ACKs")
			}
		}
		for _, s := range sent[1:4] { // partial ACKs: the retransmission arrived, then the rest, in steps
			now = now.Add(time.Millisecond)
			ack := ackTo(next, segEnd(s), wnd)
			c.HandleSegment(now, &ack)
			if c.flags.has(inRecovery) {
				unsent := c.SendQ() - c.inFlight()
				room := int(c.sndUna.Add(seq.Size(c.sndWnd)).Sub(c.sndMax))
				gated = gated || c.inFlight()+min(unsent, max(room, 0)) < int(c.cc.cwnd)
			}
			drain(now)
			if c.sndBuf.max != 87040 {
				t.Fatalf("the buffer grew to %d in recovery (cwnd %d, in flight %d)", c.sndBuf.max, c.cc.cwnd, c.inFlight())
			}
		}
		if !gated {
			t.Fatal("the recovery never had the flight below cwnd: the test does not exercise the recovery rule")
		}
	})
}

// TestSndBufMaxValidated: SndBufMax out of range is refused.
func TestSndBufMaxValidated(t *testing.T) {
	for _, v := range []int{-1, 1<<30 + 1} {
		cfg := DefaultConfig()
		cfg.SndBufMax = v
		if err := cfg.Validate(); err == nil {
			t.Errorf("SndBufMax %d accepted", v)
		}
	}
	cfg := DefaultConfig()
	cfg.SndBufMax = 0
	if err := cfg.Validate(); err != nil {
		t.Errorf("SndBufMax 0 refused: %v", err)
	}
}
