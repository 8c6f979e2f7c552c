package tcpwave

import (
	"net/netip"
	"testing"
)

// mtuLink is a scriptLink that reports an MTU of the test's choosing.
type mtuLink struct {
	*scriptLink
	mtu int
}

func (l mtuLink) MTU() int { return l.mtu }

// TestNewMTUOutOfRange: New refuses an endpoint whose MTU is out of the
// stack's range with an error, before allocating a buffer of that size
// (a negative MTU panicked in make).
func TestNewMTUOutOfRange(t *testing.T) {
	addrs := []netip.Addr{netip.MustParseAddr("10.0.0.1")}
	for _, mtu := range []int{-1, 0, 1, 67, 1 << 40} {
		st, err := New(mtuLink{newScriptLink(), mtu}, addrs)
		if err == nil {
			st.Close()
			t.Errorf("MTU %d: New succeeded, want an error", mtu)
		}
	}
	l := mtuLink{newScriptLink(), 1500}
	st, err := New(l, addrs)
	if err != nil {
		t.Fatalf("MTU 1500: %v", err)
	}
	st.Close()
}
