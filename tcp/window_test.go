package tcp

import (
	"math/rand/v2"
	"testing"

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
