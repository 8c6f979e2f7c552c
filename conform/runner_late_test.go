package conform

import (
	"strings"
	"testing"
	"time"
)

// lateStart is tcpwave's backend whose calls begin late: Start lets
// virtual time run on by late before the call runs, as a loaded machine
// starts the kernel backend's call goroutine late. What the host does
// meanwhile is held back until the runner's wait reaches its time.
type lateStart struct {
	Backend
	late  time.Duration
	held  []*Happening
	began map[int]time.Duration
}

func (b *lateStart) Start(c *Call) error {
	until := b.Backend.Now() + b.late
	for {
		h, err := b.Backend.Wait(until)
		if err != nil {
			return err
		}
		if h == nil {
			break
		}
		b.held = append(b.held, h)
	}
	b.began[c.ID] = b.Backend.Now()
	return b.Backend.Start(c)
}

func (b *lateStart) Wait(until time.Duration) (*Happening, error) {
	if len(b.held) > 0 {
		if h := b.held[0]; h.At <= until {
			b.held = b.held[1:]
			return h, nil
		}
		return nil, nil
	}
	h, err := b.Backend.Wait(until)
	if h != nil && h.Return != nil {
		h.Began = b.began[h.CallID]
	}
	return h, err
}

// TestLateCallMovesTime checks that relative times after a call count
// from when the host ran it: close() began 50 ms late, so its FIN comes
// "+0" after the close line, not 40 ms after it (with the time counted
// from when the runner started the call, the FIN would look 50 ms late,
// and on the kernel the runner gave up waiting for it).
func TestLateCallMovesTime(t *testing.T) {
	const head = `--tolerance_usecs=20000
0    socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0   bind(3, ..., ...) = 0
+0   listen(3, 1) = 0
+0   < S 0:0(0) win 65535 <mss 1460,sackOK,nop,nop,nop,wscale 7>
+0   > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK,nop,wscale 7>
+.01 < . 1:1(0) ack 1 win 502
+0   accept(3, ..., ...) = 4
+0   close(4) = 0
`
	for _, tc := range []struct {
		fin     string
		pass    bool
		errText string
	}{
		{"+0   > F. 1:1(0) ack 1\n", true, ""},
		{"+.04 > F. 1:1(0) ack 1\n", false, "too early"},
	} {
		t.Run(strings.Fields(tc.fin)[0], func(t *testing.T) {
			s, err := Parse("late.pkt", head+tc.fin)
			if err != nil {
				t.Fatal(err)
			}
			open := func(s *Script) (Backend, error) {
				b, err := TCPWave(s)
				if err != nil {
					return nil, err
				}
				return &lateStart{Backend: b, late: 50 * time.Millisecond, began: map[int]time.Duration{}}, nil
			}
			res := Run(s, "late", open, nil)
			if res.Pass != tc.pass || !strings.Contains(res.Error, tc.errText) {
				t.Errorf("pass %v (%s), want pass %v with %q", res.Pass, res.String(), tc.pass, tc.errText)
			}
		})
	}
}
