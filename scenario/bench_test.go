package scenario

import (
	"net/netip"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/sim"
	"github.com/tcpwave/tcpwave/stack"
)

// benchNet joins two stacks on a lossless simulated link with a listener
// on B.
func benchNet(b *testing.B) (*sim.Network, *sim.Host, *sim.Host, *stack.Socket) {
	b.Helper()
	n, err := sim.New(1, sim.LinkConfig{Delay: 50 * time.Microsecond}, nil)
	if err != nil {
		b.Fatal(err)
	}
	a, _ := n.AddHost("A", AddrA, stack.DefaultOptions())
	h, _ := n.AddHost("B", AddrB, stack.DefaultOptions())
	l := h.Stack.NewSocket()
	if err := l.Bind(netip.AddrPortFrom(AddrB, Port)); err != nil {
		b.Fatal(err)
	}
	if err := l.Listen(n.Now(), 128); err != nil {
		b.Fatal(err)
	}
	return n, a, h, l
}

// BenchmarkSimBulk moves data one way between two sans-IO stacks on the
// simulator (no goroutines, no real time): the cost of the core and the
// stack per byte.
func BenchmarkSimBulk(b *testing.B) {
	n, a, h, l := benchNet(b)
	c := a.Stack.NewSocket()
	if err := c.Connect(0, netip.AddrPortFrom(AddrB, Port)); err != nil {
		b.Fatal(err)
	}
	var srv *stack.Socket
	buf := make([]byte, 64<<10)
	h.OnReady = func(so *stack.Socket) {
		if so == l && srv == nil {
			srv, _ = l.Accept()
		}
		if srv != nil {
			for {
				k, _ := srv.Read(h.Now(), buf)
				if k == 0 {
					break
				}
			}
		}
	}
	const chunk = 64 << 10
	src := make([]byte, chunk)
	if err := n.RunUntil(n.Now().Add(time.Second)); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(chunk)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		left := src
		for len(left) > 0 {
			k, _ := c.Write(a.Now(), left)
			left = left[k:]
			if err := n.RunUntil(n.Now().Add(time.Millisecond)); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkSimChurn runs whole lifecycles: connect, one byte each way,
// client closes first, server closes, TIME_WAIT expires.
func BenchmarkSimChurn(b *testing.B) {
	n, a, h, l := benchNet(b)
	buf := make([]byte, 16)
	h.OnReady = func(so *stack.Socket) {
		if so == l {
			for {
				c, err := l.Accept()
				if err != nil {
					break
				}
				c.Write(h.Now(), []byte("y"))
				_ = c
			}
			return
		}
		if so.Readable() {
			if k, err := so.Read(h.Now(), buf); k == 0 && err != nil {
				so.Close(h.Now())
			}
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		c := a.Stack.NewSocket()
		if err := c.Connect(a.Now(), netip.AddrPortFrom(AddrB, Port)); err != nil {
			b.Fatal(err)
		}
		a.OnReady = func(so *stack.Socket) {
			if so != c || !c.Connected() {
				return
			}
			if c.Writable() && c.Conn().SendQ() == 0 && c.Conn().State().String() == "ESTABLISHED" {
				c.Write(a.Now(), []byte("x"))
			}
			if k, _ := c.Read(a.Now(), buf); k > 0 {
				c.Close(a.Now())
			}
		}
		if err := n.RunUntil(n.Now().Add(61 * time.Second)); err != nil {
			b.Fatal(err)
		}
		if !a.Stack.Idle() {
			b.Fatalf("lifecycle %d did not finish: %v", b.N, a.Stack.Connections(n.Now()))
		}
	}
}
