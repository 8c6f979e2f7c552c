package stack

import (
	"slices"
	"testing"

	"github.com/tcpwave/tcpwave/clock"
)

// connectN starts n connections from st to a peer that never answers:
// n SYNs to send.
func connectN(t *testing.T, st *Stack, n int) []*Socket {
	t.Helper()
	var socks []*Socket
	for i := range n {
		so := st.NewSocket()
		if err := so.Connect(0, ap(addrX, uint16(1000+i))); err != nil {
			t.Fatal(err)
		}
		socks = append(socks, so)
	}
	return socks
}

// TestSettleBudget: Settle sends what the stack has, at most Budget
// packets a call, and the rest on the next calls.
func TestSettleBudget(t *testing.T) {
	tests := []struct {
		name   string
		budget int
		want   []int // packets sent by successive Settle calls
	}{
		{"no budget", 0, []int{5, 0}},
		{"budget 2", 2, []int{2, 2, 1, 0}},
		{"budget 5", 5, []int{5, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, _ := newStack(t)
			connectN(t, st, 5)
			var got []int
			p := &Pump{Buf: make([]byte, 1500), Budget: tt.budget, Send: func([]byte, int) {}}
			for range tt.want {
				got = append(got, st.Settle(0, p))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("sent %v, want %v", got, tt.want)
			}
		})
	}
}

// TestSettleRounds: Settle goes round while Ready reports progress, up to
// MaxRounds, and Ready hears of the sockets a round touched.
func TestSettleRounds(t *testing.T) {
	st, _ := newStack(t)
	so := connectN(t, st, 1)[0]
	rounds, sent := 0, 0
	p := &Pump{
		Buf:       make([]byte, 1500),
		MaxRounds: 7,
		Send:      func([]byte, int) { sent++ },
		Ready:     func([]*Socket) bool { rounds++; return true },
	}
	if n := st.Settle(0, p); n != 1 || sent != 1 || rounds != 7 {
		t.Fatalf("Settle sent %d (Send called %d times) in %d rounds; want 1, 1, 7", n, sent, rounds)
	}
	// A connection closed in SYN_SENT is released, which touches its
	// socket.
	var touched []*Socket
	p.MaxRounds = 0
	p.Ready = func(ts []*Socket) bool { touched = append(touched, ts...); return false }
	so.Close(0)
	st.Settle(0, p)
	if len(touched) != 1 || touched[0] != so {
		t.Fatalf("Ready heard of %d sockets, want the closed one", len(touched))
	}
}

// TestStepRunsTimers: Step runs the timers due (the SYN's retransmission
// timer sends it again) and only those.
func TestStepRunsTimers(t *testing.T) {
	st, _ := newStack(t)
	connectN(t, st, 1)
	sent := 0
	p := &Pump{Buf: make([]byte, 1500), Send: func([]byte, int) { sent++ }}
	if n := st.Step(0, p); n != 1 {
		t.Fatalf("first Step sent %d, want the SYN", n)
	}
	rto := st.Deadline()
	if rto == clock.Never {
		t.Fatal("no retransmission timer")
	}
	if n := st.Step(rto-1, p); n != 0 {
		t.Fatalf("Step before the timer sent %d, want 0", n)
	}
	if n := st.Step(rto, p); n != 1 || st.Counters().RetransSegs != 1 {
		t.Fatalf("Step at the timer sent %d, %d retransmissions; want 1, 1", n, st.Counters().RetransSegs)
	}
}
