package tcp

import (
	"math"
	"testing"
)

// TestCubicCurve: the window CUBIC aims at is W_max at K, concave before
// and convex after (RFC 9438 eq. 1 and 2).
func TestCubicCurve(t *testing.T) {
	const mss, wMax = 1000.0, 100000.0
	w0 := wMax * cubicBeta
	k := math.Cbrt(wMax / mss * (1 - cubicBeta) / cubicC)
	tests := []struct {
		t    float64
		want float64
	}{
		{0, w0},
		{k, wMax},
		{2 * k, wMax + (wMax - w0)},
	}
	for _, tt := range tests {
		k, origin := cubicEpoch(mss, w0, wMax)
		if got := cubicAt(mss, k, origin, tt.t); math.Abs(got-tt.want) > 1 {
			t.Errorf("W(%.2f s) = %.0f, want %.0f", tt.t, got, tt.want)
		}
	}
	// At or above W_max the curve starts at once (K = 0) from the current
	// window, not from W_max.
	for _, cur := range []float64{wMax, 1.2 * wMax} {
		if k, origin := cubicEpoch(mss, cur, wMax); k != 0 || cubicAt(mss, k, origin, 0) != cur {
			t.Errorf("window %.0f, W_max %.0f: K %v, W(0) %.0f; want 0, %.0f", cur, wMax, k, cubicAt(mss, k, origin, 0), cur)
		}
	}
}

// TestSlowStartCountsDelivered: in slow start an ACK opens the window by
// what it reports newly delivered, as Linux's tcp_slow_start counts
// acked_sacked (conformance/slow-start-ack-counts.pkt shows the kernel
// doing it): an ACK of two segments lets four go, not three; data an
// earlier SACK reported counts once; an ACK that only SACKs opens nothing.
func TestSlowStartCountsDelivered(t *testing.T) {
	runScriptTests(t, []scriptTest{
		{name: "an ACK of two segments opens the window by two: the two it freed and two more go",
			script: sackOpen + `
+0    write 14600 = 14600
+0.01 < . 1:1(0) ack 2921 win 510
+0    > . 14601:16061(1460) ack 1
+0    > P. 16061:17521(1460) ack 1
+0    > . 17521:18981(1460) ack 1
+0    > P. 18981:20441(1460) ack 1`},
		{name: "an ACK of four segments of which two were SACKed before counts two; the SACK itself, which moved no SND.UNA, opened nothing (its two went out as the SACKed left the pipe)",
			script: sackOpen + `
+0    write 14600 = 14600
+0.01 < . 1:1(0) ack 1 win 510 <sack 2921:5841>
+0    > . 14601:16061(1460) ack 1
+0    > P. 16061:17521(1460) ack 1
+0    < . 1:1(0) ack 5841 win 510
+0    > . 17521:18981(1460) ack 1
+0    > P. 18981:20441(1460) ack 1
+0    > . 20441:21901(1460) ack 1
+0    > P. 21901:23361(1460) ack 1`},
	})
}
