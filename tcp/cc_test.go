package tcp

import (
	"fmt"
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
` + flight(14601, 4, 1460, 2, false, "")},
		{name: "an ACK of four segments of which two were SACKed before counts two; the SACK itself, which moved no SND.UNA, opened nothing (its two went out as the SACKed left the pipe)",
			script: sackOpen + `
+0    write 14600 = 14600
+0.01 < . 1:1(0) ack 1 win 510 <sack 2921:5841>
` + flight(14601, 2, 1460, 2, false, "") + `+0    < . 1:1(0) ack 5841 win 510
` + flight(17521, 4, 1460, 2, false, "")},
	})
}

// TestCwndValidation: the window grows only while it limits the sender,
// or in slow start while it is under twice the most the sender had out
// (Linux tcp_is_cwnd_limited, tcp_cwnd_validate; on the kernel with
// cubic: conformance/cwnd-app-limited.pkt).
func TestCwndValidation(t *testing.T) {
	var oneAtATime, fourAtATime string
	sq := 1
	for range 8 {
		oneAtATime += fmt.Sprintf("+0    write 1460 = 1460\n+0    > P. %d:%d(1460) ack 1\n+0.01 < . 1:1(0) ack %d win 510\n", sq, sq+1460, sq+1460)
		sq += 1460
	}
	sq4 := 1
	for range 2 {
		fourAtATime += fmt.Sprintf("+0    write 5840 = 5840\n%s+0.01 < . 1:1(0) ack %d win 510\n", flight(sq4, 4, 1460, 2, true, ""), sq4+5840)
		sq4 += 5840
	}
	// The record lives with RACK's send log, so the peer does SACK.
	open := sackConnect("0.01", sackSynAck)
	runScriptTests(t, []scriptTest{
		{name: "an application that sends one segment a round trip leaves the window at ten: eight ACKed segments open nothing, and a large write then sends ten",
			script: open + oneAtATime + `+0    write 40000 = 40000
` + flight(sq, 10, 1460, 2, false, "")},
		{name: "four segments a round trip: slow start grows the window only up to twice the most out (eight), so it stays ten, and a large write sends ten",
			script: open + fourAtATime + `+0    write 40000 = 40000
` + flight(sq4, 10, 1460, 2, false, "")},
		{name: "the whole window used: every segment an ACK delivers opens it (slow start), twenty go after an ACK of ten",
			script: sackOpen + `
+0    write 29200 = 29200
+0.01 < . 1:1(0) ack 14601 win 510
` + flight(14601, 20, 1460, 3, true, "")},
	})
}
