package tcp

import "testing"

// TestTransmissionUnits: a burst leaves in Linux's transmission units
// (push.go), each unit of more than one segment ending with PSH. The
// unit sizes at each round trip are what Linux 6.18 with cubic sent for
// the same burst in a passive open (measured at 1, 3, 5, 6, 7, 8 and 10
// ms; conformance/push-units-1ms.pkt, push-units-5ms.pkt and
// push-every-skb.pkt keep three of them): the pacing rate's millisecond
// of data, at least two segments, at most half the congestion window.
// The second burst and the window-limited case follow from the same
// rules (tcp_mss_split_point) and were not run on the kernel.
func TestTransmissionUnits(t *testing.T) {
	runScriptTests(t, []scriptTest{
		{name: "1 ms: half the window, five segments", script: sackOpenRTT("0.001", 5)},
		{name: "3 ms: half the window still", script: sackOpenRTT("0.003", 5)},
		{name: "5 ms: the pacing rate's three segments", script: sackOpenRTT("0.005", 3)},
		{name: "6 ms: three", script: sackOpenRTT("0.006", 3)},
		{name: "7 ms: two", script: sackOpenRTT("0.007", 2)},
		{name: "10 ms: two, tcp_min_tso_segs", script: sackOpenRTT("0.01", 2)},
		{name: "a second burst after an ACK of all ten: the window is 20, the rate twice, so units of three at 10 ms",
			script: sackOpen + `
+0.01 < . 1:1(0) ack 14601 win 510
+0    write 29200 = 29200
` + flight(14601, 20, 1460, 3, true, "")},
		{name: "the peer's window cuts the unit: three segments of window at 1 ms leave as one unit of three, with PSH, and so do the next three the ACK lets go (tcp_mss_split_point)",
			script: sackConnect("0.001", "win 4380 <mss 1460,sackOK,nop,wscale 0>") + `+0    write 14600 = 14600
` + flight(1, 3, 1460, 3, false, "") + `+0.001 < . 1:1(0) ack 4381 win 4380
` + flight(4381, 3, 1460, 3, false, "")},
	})
}

// TestStartUnitEdges: the unit count at the edges of what a peer and an
// application control: no window, no data, a tiny MSS with a huge window
// (the count is a byte: 255 segments at most), and a window below one
// segment.
func TestStartUnitEdges(t *testing.T) {
	cfg := DefaultConfig()
	tests := []struct {
		name                string
		mss, cwnd, wnd, avl int
		want                uint8
	}{
		{"no peer window", 1460, 10 * 1460, 0, 14600, 0},
		{"no data", 1460, 10 * 1460, 65535, 0, 0},
		{"one segment of data: no unit of its own", 1460, 10 * 1460, 65535, 1460, 0},
		{"a window below one segment", 1460, 10 * 1460, 1000, 14600, 0},
		{"two segments of data", 1460, 10 * 1460, 65535, 2920, 2},
		{"an 8-byte MSS and a huge window: capped at 255", 8, 10000 * 8, 1 << 30, 1 << 20, 255},
		{"a congestion window of two segments: half of it is one, so no unit", 8, 2 * 8, 1 << 30, 1 << 20, 0},
	}
	for _, tt := range tests {
		c := newConn(&cfg, nil, 0, 0)
		c.mss = tt.mss
		c.cc.cwnd, c.cc.ssthresh = uint32(tt.cwnd), 1<<30
		c.startUnit(tt.wnd, tt.avl, tt.mss)
		if c.unit != tt.want {
			t.Errorf("%s: unit %d, want %d", tt.name, c.unit, tt.want)
		}
	}
}
