package tcpwave

import (
	"errors"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/link/pipe"
	"github.com/tcpwave/tcpwave/stack"
	"github.com/tcpwave/tcpwave/tcp"
)

func TestNewErrors(t *testing.T) {
	ep, _ := pipe.New(1500, 0)
	tests := []struct {
		name string
		fn   func() (*Stack, error)
	}{
		{"nil endpoint", func() (*Stack, error) { return New(nil, []netip.Addr{addrA}) }},
		{"no address", func() (*Stack, error) { return New(ep, nil) }},
		{"unspecified address", func() (*Stack, error) { return New(ep, []netip.Addr{netip.IPv4Unspecified()}) }},
		{"bad TCP option", func() (*Stack, error) {
			return New(ep, []netip.Addr{addrA}, WithTCP(func(c *tcp.Config) { c.RTOMin = 0 }))
		}},
		{"bad stack option", func() (*Stack, error) {
			return New(ep, []netip.Addr{addrA}, WithStackOptions(func(o *stack.Options) { o.EphemeralLow = 0 }))
		}},
		{"MTU too small", func() (*Stack, error) {
			small, _ := pipe.New(68, 0)
			return New(small, []netip.Addr{addrA})
		}},
	}
	for _, tt := range tests {
		s, err := tt.fn()
		if err == nil {
			s.Close()
			t.Errorf("%s: New succeeded", tt.name)
		}
	}
}

// TestZeroValues checks that nil and zero-value handles fail with EINVAL,
// as package net's do, instead of panicking or blocking.
func TestZeroValues(t *testing.T) {
	var nilConn *Conn
	var zc Conn
	for _, c := range []*Conn{nilConn, &zc} {
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("Read = %v", err)
		}
		if _, err := c.Write([]byte{1}); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("Write = %v", err)
		}
		if err := c.Close(); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("Close = %v", err)
		}
		if err := c.CloseWrite(); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("CloseWrite = %v", err)
		}
		if err := c.SetDeadline(time.Now()); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("SetDeadline = %v", err)
		}
		if _, err := c.Dup(); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("Dup = %v", err)
		}
		if _, err := c.Info(); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("Info = %v", err)
		}
		if c.LocalAddr() != nil || c.RemoteAddr() != nil {
			t.Errorf("addresses of a zero Conn are not nil")
		}
	}
	var zl Listener
	if _, err := zl.Accept(); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("Accept = %v", err)
	}
	if err := zl.Close(); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("Listener.Close = %v", err)
	}
	var zs Stack
	if _, err := zs.Dial("tcp", "10.0.0.1:80"); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("Dial = %v", err)
	}
	if _, err := zs.Listen("tcp", ":80"); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("Listen = %v", err)
	}
	if err := zs.Close(); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("Stack.Close = %v", err)
	}
	if zs.Connections() != nil {
		t.Errorf("Connections of a zero Stack")
	}
}

// TestIPv6 runs a connection over IPv6 with the MTU's worth of segments.
func TestIPv6(t *testing.T) {
	ea, eb := pipe.New(1500, 0)
	a6, b6 := netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2")
	var tooBig mtuCheck
	a, err := New(ea, []netip.Addr{a6}, WithObserver(&tooBig))
	if err != nil {
		t.Fatal(err)
	}
	defer closeQuick(a)
	b, err := New(eb, []netip.Addr{b6}, WithObserver(&tooBig))
	if err != nil {
		t.Fatal(err)
	}
	defer closeQuick(b)
	ln, err := a.Listen("tcp", ":443") // the family of A's address: IPv6
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if got := ln.Addr().String(); got != "[::]:443" {
		t.Errorf("listener address %s, want [::]:443", got)
	}
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write(make([]byte, 1<<20))
	}()
	c, err := b.Dial("tcp6", "[fd00::1]:443")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	n := 0
	buf := make([]byte, 64<<10)
	for {
		k, err := c.Read(buf)
		n += k
		if err != nil {
			break
		}
	}
	if n != 1<<20 {
		t.Errorf("read %d bytes, want 1 MiB", n)
	}
	if tooBig.n.Load() > 0 {
		t.Errorf("%d packets larger than the MTU", tooBig.n.Load())
	}
	if got := c.LocalAddr().String(); got[:9] != "[fd00::2]" {
		t.Errorf("LocalAddr = %s", got)
	}
}

// TestSockWaiters checks a socket record's waiters: registering one twice
// keeps one, the third and later ones spill past the inline two, and
// wake queues each once and forgets them all.
func TestSockWaiters(t *testing.T) {
	tests := []struct {
		name string
		regs []int // channel indexes registered, in order
		want []int // channel indexes woken, in order
	}{
		{"none", nil, nil},
		{"one", []int{0}, []int{0}},
		{"one twice", []int{0, 0}, []int{0}},
		{"two", []int{0, 1, 1, 0}, []int{0, 1}},
		{"spill", []int{0, 1, 2, 3, 2, 0}, []int{0, 1, 2, 3}},
	}
	chans := make([]chan struct{}, 4)
	for i := range chans {
		chans[i] = make(chan struct{}, 1)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Stack
			var k sock
			for round := range 2 { // a woken record starts empty
				for _, i := range tt.regs {
					k.wait(chans[i])
				}
				k.wake(&s)
				if len(s.wakes) != len(tt.want) {
					t.Fatalf("round %d: woke %d channels, want %d", round, len(s.wakes), len(tt.want))
				}
				for j, i := range tt.want {
					if s.wakes[j] != chans[i] {
						t.Errorf("round %d: wake %d is not channel %d", round, j, i)
					}
				}
				s.wakes = s.wakes[:0]
			}
		})
	}
}

// TestTrackRing checks the host's ring of socket records: forget unlinks
// a record once (a second forget is harmless), and the socket no longer
// leads back to it.
func TestTrackRing(t *testing.T) {
	a, b := hosts(t)
	client, server := connPair(t, a, b)
	defer client.Close()
	defer server.Close()
	count := func() (n int) {
		a.run(func() { a.eachSock(func(*sock) { n++ }) })
		return n
	}
	before := count()
	var k sock
	a.run(func() { a.track(a.st.NewSocket(), &k) })
	if got := count(); got != before+1 {
		t.Fatalf("after track: %d records, want %d", got, before+1)
	}
	a.run(func() {
		if k.so.Owner() != &k {
			t.Error("the socket does not lead back to its record")
		}
		a.forget(&k)
		a.forget(&k)
		if k.so.Owner() != nil {
			t.Error("a forgotten socket still leads to its record")
		}
	})
	if got := count(); got != before {
		t.Fatalf("after forget: %d records, want %d", got, before)
	}
}
