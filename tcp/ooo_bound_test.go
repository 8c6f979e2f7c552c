package tcp

import (
	"math/rand/v2"
	"testing"

	"github.com/tcpwave/tcpwave/seq"
	"github.com/tcpwave/tcpwave/wire"
)

// oooPiece is one hostile segment: length bytes at offset rel of the
// peer's stream (relative to its ISN; 1 is the first data byte).
type oooPiece struct{ rel, length uint32 }

// TestOutOfOrderBounded: a peer that sends 100,000 tiny, overlapping or
// hole-leaving segments into one connection's window cannot make it hold
// more than maxOOOSpans out-of-order runs or more bytes than its receive
// buffer; the runs stay sorted and disjoint; and once the peer sends the
// whole stream in order, the reader gets every byte intact (the segments
// the full queue dropped are simply sent again, as after Linux prunes its
// out-of-order queue).
func TestOutOfOrderBounded(t *testing.T) {
	const n = 100_000
	tests := []struct {
		name   string
		pieces func(rng *rand.Rand) []oooPiece
		// wantFull says the queue must reach its limit: the case is
		// hostile enough to need the bound.
		wantFull bool
	}{
		{"1-byte segments at every other offset, holes never filled", func(*rand.Rand) []oooPiece {
			p := make([]oooPiece, n)
			for i := range p {
				p[i] = oooPiece{rel: 2 + 2*uint32(i), length: 1}
			}
			return p
		}, true},
		{"1-byte segments at every other offset, top down", func(*rand.Rand) []oooPiece {
			p := make([]oooPiece, n)
			for i := range p {
				p[i] = oooPiece{rel: 2 + 2*uint32(n-1-i), length: 1}
			}
			return p
		}, true},
		{"overlapping segments of 1 to 40 bytes at random offsets", func(rng *rand.Rand) []oooPiece {
			p := make([]oooPiece, n)
			for i := range p {
				p[i] = oooPiece{rel: 2 + rng.Uint32N(200_000), length: 1 + rng.Uint32N(40)}
			}
			return p
		}, true},
		{"1-byte segments at random offsets, some beyond the window", func(rng *rand.Rand) []oooPiece {
			p := make([]oooPiece, n)
			for i := range p {
				p[i] = oooPiece{rel: 2 + rng.Uint32N(400_000), length: 1}
			}
			return p
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := runScript(t, DefaultConfig(), inEstablished)
			c := h.c
			rng := rand.New(rand.NewPCG(5, 11))
			buf := make([]byte, 65536)
			payload := make([]byte, 64)
			send := func(p oooPiece) {
				for i := range p.length {
					payload[i] = peerByte(p.rel + i)
				}
				s := Segment{Seq: seq.Value(peerISN + p.rel), Ack: h.iss + 1, Flags: wire.ACK | wire.PSH, Wnd: 510, Payload: payload[:p.length]}
				c.HandleSegment(h.now, &s)
				var out Segment
				for c.Poll(h.now, &out, buf) {
					if int(out.Opts.NumSACK) > wire.MaxSACKBlocks {
						t.Fatalf("%d SACK blocks", out.Opts.NumSACK)
					}
				}
			}
			peak := 0
			for k, p := range tt.pieces(rng) {
				send(p)
				peak = max(peak, len(c.oooSpans()))
				if len(c.oooSpans()) > maxOOOSpans || c.rcvBuf.capacity() > c.rcvBuf.max {
					t.Fatalf("after segment %d: %d out-of-order runs (limit %d), %d bytes of ring (limit %d)",
						k, len(c.oooSpans()), maxOOOSpans, c.rcvBuf.capacity(), c.rcvBuf.max)
				}
			}
			for i := 1; i < len(c.oooSpans()); i++ {
				if !c.oooSpans()[i-1].end.LessThan(c.oooSpans()[i].start) {
					t.Fatalf("runs %d and %d not sorted and disjoint: %v %v", i-1, i, c.oooSpans()[i-1], c.oooSpans()[i])
				}
			}
			if tt.wantFull && peak != maxOOOSpans {
				t.Errorf("the queue peaked at %d runs, want the limit %d: the case does not test the bound", peak, maxOOOSpans)
			}
			if c.RcvNxt() != seq.Value(peerISN+1) {
				t.Fatalf("RCV.NXT moved to %d with the first byte missing", c.RcvNxt()-peerISN)
			}
			// The peer now sends the stream in order, 1000 bytes a time,
			// while the reader keeps up.
			const total = 300_000
			got := make([]byte, 0, total)
			for rel := uint32(1); rel <= total; rel += 1000 {
				big := make([]byte, 1000)
				for i := range big {
					big[i] = peerByte(rel + uint32(i))
				}
				s := Segment{Seq: seq.Value(peerISN + rel), Ack: h.iss + 1, Flags: wire.ACK | wire.PSH, Wnd: 510, Payload: big}
				c.HandleSegment(h.now, &s)
				var out Segment
				for c.Poll(h.now, &out, buf) {
				}
				for {
					k, _ := c.Read(h.now, buf)
					if k == 0 {
						break
					}
					got = append(got, buf[:k]...)
				}
			}
			if len(got) != total {
				t.Fatalf("read %d bytes, want %d", len(got), total)
			}
			for i, b := range got {
				if b != peerByte(uint32(i)+1) {
					t.Fatalf("byte %d is %#x, want %#x", i+1, b, peerByte(uint32(i)+1))
				}
			}
			if len(c.oooSpans()) != 0 {
				t.Errorf("%d out-of-order runs left after the stream was complete", len(c.oooSpans()))
			}
		})
	}
}
