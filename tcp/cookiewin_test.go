package tcp

import (
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/seq"
	"github.com/tcpwave/tcpwave/wire"
)

// TestCookieWindow: a connection rebuilt from a SYN cookie offers the
// default buffer's window (half of tcp_rmem[1]) rounded down to segments
// of the cookie's MSS, then at most 65535, as Linux's cookie check
// chooses it again with tcp_select_initial_window
// (conformance/syncookie-no-mss.pkt, syncookie-ts.pkt,
// ipv6-syncookie-no-mss.pkt), whatever the SYN-ACK offered.
func TestCookieWindow(t *testing.T) {
	tests := []struct {
		mss    uint16
		wscale int
		rmem   int    // Config.RmemDefault (tcp_rmem[1]), 0 for Linux's
		want   uint16 // the window field of the first ACK
	}{
		{536, -1, 0, 65392},
		{1220, -1, 0, 64660},
		{1460, -1, 0, 64240},
		{536, 7, 0, 511},         // 65392 / 128, rounded up
		{536, -1, 540000, 65535}, // 269912 segments' worth, then the 16-bit cap
		{536, -1, 16384, 8040},   // 8192 rounded down to 536-byte segments
	}
	for _, tc := range tests {
		cfg := DefaultConfig()
		if tc.rmem > 0 {
			cfg.RmemDefault, cfg.RcvBuf = tc.rmem, max(cfg.RcvBuf, tc.rmem/2)
		}
		now := clock.Instant(time.Second)
		ck := SynCookie{ISS: 5000, IRS: 9000, MSS: tc.mss}
		ck.WScale = tc.wscale
		ack := Segment{Seq: 9001, Ack: 5001, Flags: wire.ACK, Wnd: 1000}
		c := NewFromCookie(&cfg, nopObserver{}, now, &ck, &ack)
		if c.State() != Established {
			t.Fatalf("mss %d: state %v", tc.mss, c.State())
		}
		if _, err := c.Write(now, make([]byte, 10)); err != nil {
			t.Fatal(err)
		}
		var s Segment
		if !c.Poll(now, &s, make([]byte, 2048)) {
			t.Fatalf("mss %d: nothing sent", tc.mss)
		}
		if s.Wnd != tc.want || s.Seq != seq.Value(5001) {
			t.Errorf("mss %d wscale %d tcp_rmem[1] %d: window %d, want %d", tc.mss, tc.wscale, tc.rmem, s.Wnd, tc.want)
		}
	}
}
