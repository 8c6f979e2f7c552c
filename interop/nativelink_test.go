package interop

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// TestNativePair: each kind's own link carries a verified transfer both
// ways and closes cleanly, at both MTUs the bench uses; a bad MTU is
// refused.
func TestNativePair(t *testing.T) {
	for _, k := range []Kind{TCPWave, GVisor} {
		for _, mtu := range []int{1500, 65535} {
			t.Run(fmt.Sprintf("%s/%d", k, mtu), func(t *testing.T) {
				p, err := NewNativePair(k, mtu, Config{})
				if err != nil {
					t.Fatal(err)
				}
				defer p.Close()
				ln, err := p.B.Listen("tcp4", netip.AddrPortFrom(AddrB4, 7000).String())
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
				ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
				defer cancel()
				c, s, err := Dial(ctx, p.A, ln)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				defer s.Close()
				const n = 4 << 20
				exchange2(t, c, s, n)
				st, err := SegmentsSent(p.A)
				if err != nil || st == 0 {
					t.Errorf("SegmentsSent: %d, %v", st, err)
				}
			})
		}
	}
	if _, err := NewNativePair(TCPWave, 100, Config{}); err == nil {
		t.Error("NewNativePair with MTU 100: no error")
	}
}

// exchange2 runs exchange at both ends of a connection at once, n bytes
// each way.
func exchange2(t *testing.T, c, s Conn, n int64) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		exchange(t, "server", s, n, 2, n, 1)
	}()
	exchange(t, "client", c, n, 1, n, 2)
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatal("server side did not finish")
	}
}

// A gVisor channel host that was never joined (NewNativePair's error
// path closes one so) closes at once, and twice; a joined one stops its
// forwarding goroutine on Close.
func TestGVisorChannelHostClose(t *testing.T) {
	for _, joined := range []bool{false, true} {
		t.Run(fmt.Sprintf("joined=%v", joined), func(t *testing.T) {
			a, err := newGVisorChannelHost(1500, []netip.Addr{AddrA4}, Config{})
			if err != nil {
				t.Fatal(err)
			}
			b, err := newGVisorChannelHost(1500, []netip.Addr{AddrB4}, Config{})
			if err != nil {
				a.Close()
				t.Fatal(err)
			}
			if joined {
				a.join(b)
				b.join(a)
			}
			closed := make(chan struct{})
			go func() {
				a.Close()
				a.Close()
				b.Close()
				close(closed)
			}()
			select {
			case <-closed:
			case <-time.After(10 * time.Second):
				t.Fatal("Close did not return in 10 s")
			}
			for _, h := range []*GVisorChannelHost{a, b} {
				if !joined {
					continue
				}
				if h.done == nil {
					t.Fatal("join started no forwarding goroutine")
				}
				select {
				case <-h.done:
				default:
					t.Error("the forwarding goroutine still runs after Close")
				}
			}
		})
	}
}
