package simnet

import (
	"math"
	"testing"
	"time"
)

// TestLinkClamped: values out of range come back in range, and values in
// range are kept.
func TestLinkClamped(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name    string
		in, out Link
	}{
		{"zero", Link{}, Link{}},
		{"in range", Link{Delay: time.Millisecond, Jitter: 2, Rate: 3, Queue: 4, Loss: 0.5, Dup: 1, Reorder: 0.1, Corrupt: 0},
			Link{Delay: time.Millisecond, Jitter: 2, Rate: 3, Queue: 4, Loss: 0.5, Dup: 1, Reorder: 0.1, Corrupt: 0}},
		{"negative", Link{Delay: -1, Jitter: -1, Rate: -1, Queue: -1, Loss: -1, Dup: -0.5, Reorder: -1, Corrupt: -1}, Link{}},
		{"above 1", Link{Loss: 2, Dup: math.Inf(1), Reorder: 1.5, Corrupt: 100}, Link{Loss: 1, Dup: 1, Reorder: 1, Corrupt: 1}},
		{"NaN", Link{Loss: nan, Dup: nan, Reorder: nan, Corrupt: nan}, Link{}},
		{"max", Link{Delay: math.MaxInt64, Rate: math.MaxInt64, Queue: math.MaxInt}, Link{Delay: math.MaxInt64, Rate: math.MaxInt64, Queue: math.MaxInt}},
	}
	for _, tt := range tests {
		if got := tt.in.clamped(); got != tt.out {
			t.Errorf("%s: %+v.clamped() = %+v, want %+v", tt.name, tt.in, got, tt.out)
		}
	}
}

// TestLinkSendEdges: what a link does to one packet at the edges of its
// values, once clamped as New and SetLink clamp them.
func TestLinkSendEdges(t *testing.T) {
	pkt := make([]byte, 1000)
	now := time.Unix(1e6, 0)
	tests := []struct {
		name   string
		link   Link
		drop   bool
		arrive time.Duration // of the first arrival, when not dropped
	}{
		{"zero", Link{}, false, 0},
		{"negative queue with a rate", Link{Rate: 8_000_000, Queue: -1}, false, time.Millisecond},
		{"negative delay", Link{Delay: -time.Second}, false, 0},
		{"negative jitter", Link{Delay: time.Millisecond, Jitter: -time.Second}, false, time.Millisecond},
		{"NaN loss", Link{Loss: math.NaN()}, false, 0},
		{"loss above 1", Link{Loss: 2}, true, 0},
		{"negative rate", Link{Rate: -1}, false, 0},
		{"slowest rate", Link{Rate: 1}, false, 8000 * time.Second},
	}
	for _, tt := range tests {
		ls := &linkState{cfg: tt.link.clamped(), seed: 1}
		f := ls.send(now, pkt)
		if got := f.drop != ""; got != tt.drop {
			t.Errorf("%s: dropped %v (%q), want %v", tt.name, got, f.drop, tt.drop)
			continue
		}
		if !tt.drop && (len(f.arrive) != 1 || f.arrive[0] != tt.arrive) {
			t.Errorf("%s: arrivals %v, want [%v]", tt.name, f.arrive, tt.arrive)
		}
	}
}

// TestLinkSendAllocs: a link without random knobs neither hashes the
// packet nor makes a generator for it; only its arrival is allocated.
func TestLinkSendAllocs(t *testing.T) {
	pkt := make([]byte, 1000)
	now := time.Unix(1e6, 0)
	for _, l := range []Link{{}, {Delay: time.Millisecond, Rate: 1e9}} {
		ls := &linkState{cfg: l.clamped(), seed: 1}
		if a := testing.AllocsPerRun(100, func() { ls.send(now, pkt) }); a > 1 {
			t.Errorf("%+v: %v allocations a packet, want at most 1", l, a)
		}
	}
}

// TestOptionsMTU: AddHost refuses an MTU out of the stack's range with an
// error; 0 means 1500.
func TestOptionsMTU(t *testing.T) {
	tests := []struct {
		mtu int
		ok  bool
	}{{-1, false}, {0, true}, {1, false}, {147, false}, {148, true}, {65535, true}, {65536, false}}
	for _, tt := range tests {
		n := New(Options{MTU: tt.mtu})
		_, err := n.AddHost("10.0.0.1")
		if (err == nil) != tt.ok {
			t.Errorf("MTU %d: AddHost error %v, want ok %v", tt.mtu, err, tt.ok)
		}
		if err := n.Close(); err != nil {
			t.Errorf("MTU %d: Close: %v", tt.mtu, err)
		}
	}
}

// TestAddHostAddresses: which addresses AddHost takes, and as what.
func TestAddHostAddresses(t *testing.T) {
	tests := []struct {
		addr, want string // want "": refused
	}{
		{"10.0.0.1", "10.0.0.1"},
		{"fd00::1", "fd00::1"},
		{"::ffff:10.0.0.1", "10.0.0.1"},
		{"", ""},
		{"garbage", ""},
		{"10.0.0.1:80", ""},
		{"0.0.0.0", ""},
		{"::", ""},
		{"fe80::1%eth0", ""},
		{"224.0.0.1", ""},
		{"255.255.255.255", ""},
		{"127.0.0.1", ""},
	}
	n := New(Options{})
	defer n.Close()
	for _, tt := range tests {
		h, err := n.AddHost(tt.addr)
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("AddHost(%q) = %v, want an error", tt.addr, h)
		case tt.want != "" && err != nil:
			t.Errorf("AddHost(%q): %v", tt.addr, err)
		case tt.want != "" && h.Addr().String() != tt.want:
			t.Errorf("AddHost(%q) = %v, want %v", tt.addr, h, tt.want)
		}
	}
}
