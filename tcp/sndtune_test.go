package tcp

import (
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/seq"
	"github.com/tcpwave/tcpwave/wire"
)

// TestSndBufAutoTuning: the send buffer grows as Linux's
// tcp_sndbuf_expand grows it, to twice the congestion window and at least
// ten segments, once established and as ACKs open the window, up to
// SndBufMax; with SndBufMax 0 it stays at SndBuf (SO_SNDBUF set). What a
// Write accepts shows it.
func TestSndBufAutoTuning(t *testing.T) {
	tests := []struct {
		name              string
		mss               uint16 // ours and the peer's (less 12 with timestamps)
		sndBuf, sndBufMax int
		wantEst           int // the buffer once established: what the first Write takes
		wantLast          int // after the window has grown for a while
	}{
		{name: "Linux's tcp_wmem: 16 KiB at the start, grows to the 64 KiB bound", mss: 1460, sndBuf: 16 << 10, sndBufMax: 64 << 10,
			wantEst: 2 * 10 * 1448, wantLast: 64 << 10},
		{name: "no auto-tuning: stays at SndBuf", mss: 1460, sndBuf: 16 << 10, sndBufMax: 0,
			wantEst: 16 << 10, wantLast: 16 << 10},
		{name: "a bound not above SndBuf keeps SndBuf", mss: 1460, sndBuf: 64 << 10, sndBufMax: 32 << 10,
			wantEst: 64 << 10, wantLast: 64 << 10},
		{name: "the defaults on a 1500-byte MTU: 256 KiB until the window passes 90 segments", mss: 1460, sndBuf: 256 << 10, sndBufMax: 4 << 20,
			wantEst: 256 << 10, wantLast: 4 << 20},
		{name: "a 64 KiB MTU: ten segments are 1.3 MB at once", mss: 65495, sndBuf: 256 << 10, sndBufMax: 4 << 20,
			wantEst: 2 * 10 * 65483, wantLast: 4 << 20},
		{name: "a 64 KiB MTU with a 1 MiB bound", mss: 65495, sndBuf: 256 << 10, sndBufMax: 1 << 20,
			wantEst: 1 << 20, wantLast: 1 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.MSS, cfg.SndBuf, cfg.SndBufMax = tt.mss, tt.sndBuf, tt.sndBufMax
			cfg.RcvBuf = max(cfg.RcvBuf, int(tt.mss))
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			c, next, drain := passiveConn(t, &cfg, wire.Options{MSS: tt.mss, HasWScale: true, WScale: 7, SACKPermitted: true, HasTimestamp: true, TSVal: 1})
			data := make([]byte, 8<<20)
			now := clock.Instant(time.Millisecond)
			if n, err := c.Write(now, data); err != nil || n != tt.wantEst {
				t.Fatalf("first Write took %d bytes (%v), want %d", n, err, tt.wantEst)
			}
			last := c.sndBuf.max
			for round := 0; round < 40 && c.sndBuf.max < tt.wantLast; round++ {
				segs := drain(now)
				if len(segs) == 0 {
					t.Fatalf("round %d: nothing sent (cwnd %d, SendQ %d)", round, c.cwnd, c.SendQ())
				}
				now = now.Add(time.Millisecond)
				for i := 1; i < len(segs); i += 2 { // an ACK for every second segment, and the last
					end := segs[min(i, len(segs)-1)]
					ack := Segment{Seq: next, Ack: end.Seq.Add(seq.Size(len(end.Payload))), Flags: wire.ACK, Wnd: 65535,
						Opts: wire.Options{HasTimestamp: true, TSVal: 2, TSEcr: 1}}
					c.HandleSegment(now, &ack)
				}
				if last := segs[len(segs)-1]; len(segs)%2 == 1 {
					ack := Segment{Seq: next, Ack: last.Seq.Add(seq.Size(len(last.Payload))), Flags: wire.ACK, Wnd: 65535,
						Opts: wire.Options{HasTimestamp: true, TSVal: 2, TSEcr: 1}}
					c.HandleSegment(now, &ack)
				}
				if c.sndBuf.max < last {
					t.Fatalf("round %d: the buffer shrank from %d to %d", round, last, c.sndBuf.max)
				}
				// Everything sent is ACKed: the window has room, so the
				// buffer is sized for the window the last ACK left.
				want := tt.sndBuf
				if w := max(int(c.cwnd)/c.mss, 10); tt.sndBufMax > tt.sndBuf {
					want = max(last, min(2*w*c.mss, tt.sndBufMax))
				}
				if c.sndBuf.max != want {
					t.Fatalf("round %d: buffer %d with a cwnd of %d bytes, want %d", round, c.sndBuf.max, c.cwnd, want)
				}
				last = c.sndBuf.max
				if _, err := c.Write(now, data); err != nil {
					t.Fatal(err)
				}
				if c.SendQ() != c.sndBuf.max {
					t.Fatalf("round %d: SendQ %d after a Write of more than fits, want the buffer, %d", round, c.SendQ(), c.sndBuf.max)
				}
			}
			if c.sndBuf.max != tt.wantLast {
				t.Fatalf("the buffer ended at %d bytes (cwnd %d segments), want %d", c.sndBuf.max, int(c.cwnd)/c.mss, tt.wantLast)
			}
		})
	}
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
