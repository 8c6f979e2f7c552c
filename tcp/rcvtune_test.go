package tcp

import (
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/seq"
	"github.com/tcpwave/tcpwave/wire"
)

// passiveConn returns an ESTABLISHED passive connection made with cfg from
// a SYN with the given options, the peer's next sequence number, and the
// function that drains what the connection has to send.
func passiveConn(t *testing.T, cfg *Config, opts wire.Options) (*Conn, seq.Value, func(now clock.Instant) []Segment) {
	t.Helper()
	irs := seq.Value(1000)
	syn := Segment{Seq: irs, Flags: wire.SYN, Wnd: 65535, Opts: opts}
	c := NewPassive(cfg, nil, 0, 5000, 0, &syn)
	buf := make([]byte, 65536)
	drain := func(now clock.Instant) []Segment {
		var out []Segment
		for {
			var s Segment
			if !c.Poll(now, &s, buf) {
				return out
			}
			out = append(out, s)
		}
	}
	drain(0)
	ack := Segment{Seq: irs + 1, Ack: 5001, Flags: wire.ACK, Wnd: 1000}
	c.HandleSegment(0, &ack)
	drain(0)
	if c.State() != Established {
		t.Fatalf("state %v after the handshake", c.State())
	}
	return c, irs + 1, drain
}

// TestBatchedSegmentsAckEverySecond: a driver that hands several segments
// to the connection before it polls still gets what Linux, handling them
// one by one, sends: an ACK for every second full-sized segment (RFC 5681
// §4.2, Linux __tcp_ack_snd_check), the last four of them in a long
// batch, each for the data up to its segment, oldest first, with a right
// edge that never moves left; the last one
// acknowledges everything received. A lone segment waits for the
// delayed-ACK timer. In quick-ACK mode, at the start, every segment gets
// its ACK.
func TestBatchedSegmentsAckEverySecond(t *testing.T) {
	const mss = 1448
	tests := []struct {
		name     string
		warm     int   // segments handled one by one first (quick ACKs used up)
		batch    int   // full-sized segments handed over before Poll
		wantAcks []int // the ACKs' acknowledged segment counts, relative to the batch start
		delayed  bool  // an ACK is left to the delayed-ACK timer
	}{
		{name: "twelve segments: the last four of the six ACKs", warm: 40, batch: 12, wantAcks: []int{6, 8, 10, 12}},
		{name: "thirteen: the last for all thirteen", warm: 40, batch: 13, wantAcks: []int{6, 8, 10, 13}},
		{name: "six: three ACKs", warm: 40, batch: 6, wantAcks: []int{2, 4, 6}},
		{name: "one: left to the delayed-ACK timer", warm: 40, batch: 1, delayed: true},
		{name: "two: one ACK, as before", warm: 40, batch: 2, wantAcks: []int{2}},
		{name: "quick-ACK mode: one ACK a segment", warm: 0, batch: 4, wantAcks: []int{1, 2, 3, 4}},
		{name: "quick-ACK mode, long batch: the last four", warm: 0, batch: 7, wantAcks: []int{4, 5, 6, 7}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			c, next, drain := passiveConn(t, &cfg, wire.Options{MSS: 1460, HasWScale: true, WScale: 7, SACKPermitted: true, HasTimestamp: true, TSVal: 1})
			payload := make([]byte, mss)
			rd := make([]byte, 1<<20)
			now := clock.Instant(time.Millisecond)
			send := func() {
				s := Segment{Seq: next, Ack: 5001, Flags: wire.ACK, Wnd: 1000, Payload: payload,
					Opts: wire.Options{HasTimestamp: true, TSVal: 2, TSEcr: 1}}
				c.HandleSegment(now, &s)
				next = next.Add(mss)
			}
			for range tt.warm {
				send()
				drain(now)
				c.Read(now, rd)
			}
			start := next
			for range tt.batch {
				send()
			}
			out := drain(now)
			var got []int
			lastEdge := seq.Value(0)
			for i, s := range out {
				if len(s.Payload) != 0 || s.Flags != wire.ACK {
					t.Fatalf("segment %d: %v with %d bytes, want a pure ACK", i, s.Flags, len(s.Payload))
				}
				got = append(got, int(s.Ack.Sub(start))/mss)
				edge := s.Ack.Add(seq.Size(s.Wnd) << c.rcvWScale)
				if i > 0 && edge.LessThan(lastEdge) && lastEdge.Sub(edge) >= 1<<c.rcvWScale {
					t.Errorf("ACK %d: right edge moved left by %d", i, lastEdge.Sub(edge))
				}
				lastEdge = edge
			}
			if len(got) != len(tt.wantAcks) {
				t.Fatalf("ACKs for %v segments, want %v", got, tt.wantAcks)
			}
			for i := range got {
				if got[i] != tt.wantAcks[i] {
					t.Fatalf("ACKs for %v segments, want %v", got, tt.wantAcks)
				}
			}
			if delayed := c.ack.at != clock.Never; delayed != tt.delayed {
				t.Errorf("delayed ACK pending %v, want %v", delayed, tt.delayed)
			}
		})
	}
}

// TestWScaleFromBufferBound: the window scale offered is WScale or, if
// the buffer may grow beyond what that can advertise, what its bound
// needs, as Linux derives it from tcp_rmem[2] (ilog2(space)-15, at most
// 14); the buffer never grows beyond what the agreed scale can
// advertise: 65535 bytes unscaled, 65535<<14 at most.
func TestWScaleFromBufferBound(t *testing.T) {
	tests := []struct {
		name      string
		rcvBuf    int
		rcvMax    int
		wscale    int
		peerScale bool
		wantScale int // offered in the SYN-ACK; -1 for none
		wantMax   int // the most the buffer may grow to
	}{
		{name: "Linux defaults: 6 MiB bound, scale 7", rcvBuf: 256 << 10, rcvMax: 6 << 20, wscale: 7, peerScale: true, wantScale: 7, wantMax: 6 << 20},
		{name: "16 MiB bound needs scale 9", rcvBuf: 256 << 10, rcvMax: 16 << 20, wscale: 7, peerScale: true, wantScale: 9, wantMax: 16 << 20},
		{name: "1 GiB bound: scale 14, window at most 65535<<14", rcvBuf: 256 << 10, rcvMax: 1 << 30, wscale: 7, peerScale: true, wantScale: 14, wantMax: 65535 << 14},
		{name: "a large fixed buffer picks the scale too", rcvBuf: 64 << 20, rcvMax: 0, wscale: 7, peerScale: true, wantScale: 11, wantMax: 64 << 20},
		{name: "WScale above what the bound needs is kept", rcvBuf: 256 << 10, rcvMax: 6 << 20, wscale: 12, peerScale: true, wantScale: 12, wantMax: 6 << 20},
		{name: "peer without window scaling: 65535 bytes at most", rcvBuf: 32 << 10, rcvMax: 6 << 20, wscale: 7, peerScale: false, wantScale: -1, wantMax: 65535},
		{name: "no window scaling offered: 65535 bytes at most", rcvBuf: 32 << 10, rcvMax: 6 << 20, wscale: -1, peerScale: true, wantScale: -1, wantMax: 65535},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.RcvBuf, cfg.RcvBufMax, cfg.WScale = tt.rcvBuf, tt.rcvMax, tt.wscale
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			syn := Segment{Seq: 1000, Flags: wire.SYN, Wnd: 65535, Opts: wire.Options{MSS: 1460, HasWScale: tt.peerScale, WScale: 7}}
			c := NewPassive(&cfg, nil, 0, 5000, 0, &syn)
			var s Segment
			if !c.Poll(0, &s, make([]byte, 2048)) || s.Flags != wire.SYN|wire.ACK {
				t.Fatalf("no SYN-ACK")
			}
			got := -1
			if s.Opts.HasWScale {
				got = int(s.Opts.WScale)
			}
			if got != tt.wantScale {
				t.Errorf("SYN-ACK offers scale %d, want %d", got, tt.wantScale)
			}
			if s.Wnd != 64240 && tt.rcvBuf >= 65535 {
				t.Errorf("SYN-ACK window %d, want 64240", s.Wnd)
			}
			if m := c.rcvBufMax(); m != tt.wantMax {
				t.Errorf("buffer may grow to %d, want %d", m, tt.wantMax)
			}
		})
	}
}
