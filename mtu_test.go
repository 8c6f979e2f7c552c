package tcpwave

import (
	"math"
	"net/netip"
	"testing"

	"github.com/tcpwave/tcpwave/link"
	"github.com/tcpwave/tcpwave/link/pipe"
	"github.com/tcpwave/tcpwave/tcp"
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
	for _, mtu := range []int{-1, 0, 1, 67, math.MaxInt} {
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

// overheadLink is a scriptLink that reports a receive overhead of the
// test's choosing (link.RxOverheader).
type overheadLink struct {
	*scriptLink
	overhead int
}

func (l overheadLink) RxOverhead() int { return l.overhead }

// TestRxOverheadFromLink: a host takes the memory a received segment
// costs from its link when the link says (link/pipe: loopback's), keeps
// the TUN model on a link that does not say, and keeps a value set with
// WithTCP; a link's value out of range fails New.
func TestRxOverheadFromLink(t *testing.T) {
	addrs := []netip.Addr{netip.MustParseAddr("10.0.0.1")}
	pa, pb := pipe.New(1500, 0)
	defer pb.Close()
	tests := []struct {
		name string
		ep   link.Endpoint
		opts []Option
		want int // 0: New fails
	}{
		{"pipe", pa, nil, tcp.LoopbackRxOverhead},
		{"no hint", newScriptLink(), nil, 0},
		{"hint 100", overheadLink{newScriptLink(), 100}, nil, 100},
		{"set by the user", overheadLink{newScriptLink(), 100}, []Option{WithTCP(func(c *tcp.Config) { c.RxOverhead = 5 })}, 5},
		{"negative hint", overheadLink{newScriptLink(), -1}, nil, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := New(tt.ep, addrs, tt.opts...)
			if tt.want < 0 {
				if err == nil {
					st.Close()
					t.Fatal("New succeeded, want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if got := st.st.Options().TCP.RxOverhead; got != tt.want {
				t.Errorf("RxOverhead = %d, want %d", got, tt.want)
			}
		})
	}
}
