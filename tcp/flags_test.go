package tcp

import (
	"math/bits"
	"testing"
)

// TestConnFlags: set, clear and put touch only the bits they are given,
// and has reports any of them.
func TestConnFlags(t *testing.T) {
	tests := []struct {
		name string
		op   func(*connFlags)
		want connFlags
	}{
		{"set one", func(f *connFlags) { f.set(ackNow) }, ackNow},
		{"set two", func(f *connFlags) { f.set(ackNow | tlpOn) }, ackNow | tlpOn},
		{"clear one of two", func(f *connFlags) { f.set(ackNow | tlpOn); f.clear(tlpOn) }, ackNow},
		{"clear an unset bit", func(f *connFlags) { f.set(orphan); f.clear(rdShut) }, orphan},
		{"put true", func(f *connFlags) { f.put(sackOK, true) }, sackOK},
		{"put false", func(f *connFlags) { f.set(sackOK | tsOK); f.put(sackOK, false) }, tsOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f connFlags
			tt.op(&f)
			if f != tt.want {
				t.Fatalf("flags %#x, want %#x", f, tt.want)
			}
			if tt.want != 0 && !f.has(tt.want) {
				t.Fatalf("has(%#x) false for %#x", tt.want, f)
			}
			if f.has(^tt.want) {
				t.Fatalf("has(%#x) true for %#x", ^tt.want, f)
			}
		})
	}
}

// TestConnFlagBits: every named flag is one bit of its own.
func TestConnFlagBits(t *testing.T) {
	all := []connFlags{passive, wsOK, tsOK, sackOK, finQ, rdShut, wrShut, orphan, noDelay, sndLimited,
		finRcvd, oooFin, ackNow, ackDueOn, pingpong, dsackOn, chalSent, oowSent, rstPending, rstActive,
		rttTiming, inRecovery, sackRec, rtoHold, fastRexmit, tlpNow, tlpOn, tlpRexmit, probeNow, swsOverride}
	var seen connFlags
	for i, b := range all {
		if bits.OnesCount32(uint32(b)) != 1 || seen.has(b) {
			t.Fatalf("flag %d (%#x) is not a bit of its own", i, b)
		}
		seen.set(b)
	}
}
