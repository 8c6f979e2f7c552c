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
