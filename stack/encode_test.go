package stack

import (
	"testing"

	"github.com/tcpwave/tcpwave/wire"
)

// TestEncodeDropsCounted: a segment that does not fit the buffer given
// to PollPacket is dropped and counted in TCPWaveEncodeDrops, not in
// OutSegs or OutRsts; a connection's segment is retransmitted later.
func TestEncodeDropsCounted(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, st *Stack) // queues one segment to send
	}{
		{"a connection's SYN", func(t *testing.T, st *Stack) {
			if err := st.NewSocket().Connect(0, ap(addrX, 443)); err != nil {
				t.Fatal(err)
			}
		}},
		{"a RST for a stray ACK", func(t *testing.T, st *Stack) {
			st.HandlePacket(0, build(t, segment(ap(addrX, 5000), ap(addrB, 9), wire.ACK, 1, 1, "")))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, _ := newStack(t)
			tt.setup(t, st)
			if n := st.PollPacket(0, make([]byte, 30)); n != 0 {
				t.Fatalf("PollPacket into 30 bytes returned %d", n)
			}
			c := st.Counters()
			if c.TCPWaveEncodeDrops != 1 || c.OutSegs != 0 || c.OutRsts != 0 {
				t.Fatalf("TCPWaveEncodeDrops %d, OutSegs %d, OutRsts %d; want 1, 0, 0", c.TCPWaveEncodeDrops, c.OutSegs, c.OutRsts)
			}
			if n := st.PollPacket(0, make([]byte, 1500)); n != 0 {
				t.Fatalf("the dropped segment was sent after all (%d bytes)", n)
			}
		})
	}
	t.Run("the SYN goes again at its timer", func(t *testing.T) {
		st, _ := newStack(t)
		tests[0].setup(t, st)
		st.PollPacket(0, make([]byte, 30))
		at := st.Deadline()
		st.HandleTimeout(at)
		if out := drain(t, st, at); len(out) != 1 || out[0].TCP.Flags != wire.SYN {
			t.Fatalf("at the retransmission timer: %d packets, want the SYN", len(out))
		}
	})
}

// TestEncodeDropsCountGSOPieces: a super-packet that does not fit counts
// every segment it would have carried.
func TestEncodeDropsCountGSOPieces(t *testing.T) {
	f, a, b := pair(t, func(o *Options) { o.GSOMaxSize = 65535 })
	f.gso = true
	l := f.listen(b, port, 8)
	client, _ := f.connect(a, b, l)
	if _, err := client.Write(f.now, make([]byte, 8*1448)); err != nil {
		t.Fatal(err)
	}
	before := a.st.Counters()
	if n, _ := a.st.PollPacketGSO(f.now, make([]byte, 100)); n != 0 {
		t.Fatalf("PollPacketGSO into 100 bytes returned %d", n)
	}
	c := a.st.Counters()
	if c.TCPWaveEncodeDrops != 8 || c.OutSegs != before.OutSegs {
		t.Fatalf("TCPWaveEncodeDrops %d, %d segments sent; want 8, 0", c.TCPWaveEncodeDrops, c.OutSegs-before.OutSegs)
	}
}
