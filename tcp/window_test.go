package tcp

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/seq"
	"github.com/tcpwave/tcpwave/wire"
)

// With window scaling the advertised right edge never moves left by a
// whole scale unit or more (RFC 7323 §2.4 allows less; RFC 9293
// §3.8.6.2.2) and never creeps right past what the buffer can hold,
// whatever odd amounts arrive and are read, even from a sender that fills
// every window to the byte; every segment that fits the offered window is
// taken whole; and the bytes read are the peer's, in order. With
// auto-tuning on, the same holds of the buffer as it grows.
func TestWindowEdgeNeverShrinks(t *testing.T) {
	type run struct {
		scale  uint8
		rcvMax int // RcvBufMax: 0 for a fixed buffer
	}
	var runs []run
	for _, scale := range []uint8{0, 3, 7, 14} {
		runs = append(runs, run{scale, 0}, run{scale, 1_000_003})
	}
	for _, r := range runs {
		scale := r.scale
		cfg := DefaultConfig()
		cfg.RcvBuf = 100_003 // not a multiple of any scale unit
		if scale == 0 && r.rcvMax == 0 {
			cfg.RcvBuf = 60_007 // unscaled: a buffer a 16-bit window can offer
		}
		cfg.RcvBufMax = r.rcvMax
		cfg.WScale = int(scale)
		var now clock.Instant
		irs := seq.Value(0xffff0000)
		syn := Segment{Seq: irs, Flags: wire.SYN, Wnd: 65535, Opts: wire.Options{MSS: 1460, HasWScale: true, WScale: 7}}
		c := NewPassive(&cfg, nil, now, 7, 0, &syn)
		buf := make([]byte, 65536)
		drain := func() {
			for {
				var s Segment
				if !c.Poll(now, &s, buf) {
					return
				}
			}
		}
		drain()
		ack := Segment{Seq: irs + 1, Ack: 8, Flags: wire.ACK, Wnd: 1000}
		c.HandleSegment(now, &ack)
		drain()
		rng := rand.New(rand.NewPCG(uint64(scale), 1))
		next := irs + 1
		readNext := irs + 1
		payload := make([]byte, 1460)
		rd := make([]byte, 50_000)
		lastEdge := c.rcvAdv
		if int(c.rcvWScale) < int(scale) || (r.rcvMax == 0 && c.rcvWScale != scale) {
			t.Fatalf("scale %d (RcvBufMax %d) offered as %d", scale, r.rcvMax, c.rcvWScale)
		}
		scale = c.rcvWScale // RcvBufMax may ask for more
		for i := range 5000 {
			wnd := int(c.rcvAdv.Sub(c.rcvNxt))
			n := min(1+rng.IntN(1460), wnd)
			if rng.IntN(4) == 0 {
				n = min(wnd, 1460) // fill the window to the byte
			}
			if n > 0 {
				for k := range n {
					payload[k] = peerStream(next + seq.Value(k))
				}
				s := Segment{Seq: next, Ack: 8, Flags: wire.ACK, Wnd: 1000, Payload: payload[:n]}
				c.HandleSegment(now, &s)
				if c.rcvNxt != next+seq.Value(n) {
					t.Fatalf("scale %d step %d: a %d-byte segment inside a %d-byte window was not taken whole", scale, i, n, wnd)
				}
				next += seq.Value(n)
			}
			if rng.IntN(3) == 0 || n == 0 {
				k, _ := c.Read(now, rd[:rng.IntN(len(rd))+1])
				for j := range k {
					if rd[j] != peerStream(readNext) {
						t.Fatalf("scale %d: byte at %d corrupted", scale, readNext)
					}
					readNext++
				}
			}
			now = now.Add(50_000_000)
			c.HandleTimeout(now)
			drain()
			if c.rcvAdv.LessThan(lastEdge) && lastEdge.Sub(c.rcvAdv) >= 1<<scale {
				t.Fatalf("scale %d step %d: right edge moved left by %d bytes", scale, i, lastEdge.Sub(c.rcvAdv))
			}
			if c.RcvBuf() < cfg.RcvBuf || c.RcvBuf() > max(cfg.RcvBuf, r.rcvMax) {
				t.Fatalf("scale %d step %d: buffer %d outside [%d, %d]", scale, i, c.RcvBuf(), cfg.RcvBuf, max(cfg.RcvBuf, r.rcvMax))
			}
			if held := int(c.rcvAdv.Sub(c.rcvNxt)) + c.rcvBuf.len(); held > c.RcvBuf()+1<<scale {
				t.Fatalf("scale %d step %d: the window offers room for %d bytes, the ring holds %d", scale, i, held, c.RcvBuf()+1<<scale)
			}
			if c.rcvBuf.len() > c.RcvBuf()+1<<scale {
				t.Fatalf("scale %d: %d bytes held, more than RcvBuf plus one scale unit", scale, c.rcvBuf.len())
			}
			lastEdge = c.rcvAdv
		}
	}
}

// TestReceiveWindow: our advertised window follows the free space in the
// receive buffer; a full buffer shuts it, a read opens it again (RFC 9293
// §3.8.6.2.2 receiver SWS avoidance, Linux tcp_cleanup_rbuf).
func TestReceiveWindow(t *testing.T) {
	small := func(c *Config) { c.RcvBuf, c.WScale = 4380, -1 }
	// twoIn leaves room for one more segment; filled fills the buffer.
	const twoIn = `
+0    connect
+0    > S 0:0(0) win 4380 <mss 1460,sackOK,TS val 0 ecr 0>
+0.01 < S. 0:0(0) ack 1 win 65535 <mss 1460>
+0    > . 1:1(0) ack 1 win 4380
+0.01 < . 1:1461(1460) ack 1 win 65535
+0    > . 1:1(0) ack 1461 win 2920
+0    < . 1461:2921(1460) ack 1 win 65535
+0    > . 1:1(0) ack 2921 win 1460
`
	const filled = twoIn + `+0    < P. 2921:4381(1460) ack 1 win 65535
+0    > . 1:1(0) ack 4381 win 0
`
	runScriptTests(t, []scriptTest{
		{name: "the buffer fills: the window shrinks segment by segment to zero; the peer's probe (SND.UNA-1) is answered with the zero window",
			cfg: small,
			script: filled + `
+0.2  < . 4380:4380(0) ack 1 win 65535
+0    > . 1:1(0) ack 4381 win 0`},
		{name: "a one-byte probe into the zero window is not taken but is answered with an ACK of the zero window (RFC 9293 §3.8.6.1)",
			cfg: small,
			script: filled + `
+0.2  < P. 4381:4382(1) ack 1 win 65535
+0    > . 1:1(0) ack 4381 win 0
+0    recvq 4380`},
		{name: "reading opens the window: a small read does not announce it (SWS avoidance), a read that frees an MSS does",
			cfg: small,
			script: filled + `
+0.1  read 100 = data 1:101
+0.1  read 1360 = data 101:1461
+0    > . 1:1(0) ack 4381 win 1460
+0.01 < P. 4381:5841(1460) ack 1 win 65535
+0    > . 1:1(0) ack 5841 win 0
+0    read 10000 = data 1461:5841
+0    > . 1:1(0) ack 5841 win 4380`},
		{name: "no window update after the peer's FIN: it will send no more (Linux tcp_cleanup_rbuf)",
			cfg: small,
			script: twoIn + `+0    < FP. 2921:4381(1460) ack 1 win 65535
+0    > . 1:1(0) ack 4382 win 0
+0    state CLOSE_WAIT
+0.1  read 10000 = data 1:4381
+0    read 10 = EOF
+1    state CLOSE_WAIT`},
		{name: "data beyond a shut window is dropped and answered with the zero window",
			cfg: small,
			script: filled + `
+0.01 < P. 4381:5841(1460) ack 1 win 65535
+0    > . 1:1(0) ack 4381 win 0
+0    recvq 4380`},
	})
}

// TestReceiveWindowGrowth: the window starts at the SYN's (64240 bytes)
// and opens by two segments for each data segment received, up to the
// receive buffer (Linux rcv_ssthresh and tcp_grow_window).
func TestReceiveWindowGrowth(t *testing.T) {
	var b strings.Builder
	b.WriteString(passiveOpen + "+0    read 100000 = EAGAIN\n")
	// Each full segment read at once: the window is limited by
	// rcv_ssthresh alone, 65160 (the SYN-ACK's window: 45 segments of 1448 bytes, as timestamps are on) + 2*1448 per segment, aligned up to 128.
	for i := range 5 {
		start := 1 + i*1448
		w := (65160 + 2*1448*(i+1) + 127) / 128
		// quick-ACK mode: every segment is ACKed at once
		fmt.Fprintf(&b, "+0.001 < . %d:%d(1448) ack 1 win 502\n+0    > . 1:1(0) ack %d win %d\n+0    read 100000 = 1448\n",
			start, start+1448, start+1448, w)
	}
	runScriptTests(t, []scriptTest{{name: "two segments more per segment received", script: b.String()}})
}

// TestWindowUpdateJumbo: with a 64 KiB MSS one segment fills the window;
// the read that empties the buffer must announce the reopened window at
// once (tcp_cleanup_rbuf: the new window is at least twice the old, and
// __tcp_select_window offers the free space, at least half the buffer,
// though it is less than a segment). Without the update the peer waits
// for its zero-window probe, 200 ms.
func TestWindowUpdateJumbo(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MSS = 65495
	c, next, drain := passiveConn(t, &cfg, peerOpts(65495, true))
	now := clock.Instant(time.Millisecond)
	wnd := int(c.rcvAdv.Sub(c.rcvNxt))
	seg := Segment{Seq: next, Ack: 5001, Flags: wire.ACK | wire.PSH, Wnd: 512,
		Opts: wire.Options{HasTimestamp: true, TSVal: 2, TSEcr: 1}, Payload: make([]byte, min(wnd, 65483))}
	c.HandleSegment(now, &seg)
	out := drain(now)
	if len(out) == 0 {
		t.Fatal("no ACK for the segment")
	}
	before := int(out[len(out)-1].Wnd) << c.rcvWScale
	buf := make([]byte, 1<<20)
	n, err := c.Read(now, buf)
	if err != nil || n != len(seg.Payload) {
		t.Fatalf("read %d, %v; want %d bytes", n, err, len(seg.Payload))
	}
	out = drain(now)
	if len(out) != 1 {
		t.Fatalf("after the read: %d segments, want one window update (the window was %d of a %d-byte segment)", len(out), before, len(seg.Payload))
	}
	if got := int(out[0].Wnd) << c.rcvWScale; got < 2*before || got < 32768 {
		t.Errorf("window update offers %d bytes (before the read %d), want the free space", got, before)
	}
}
