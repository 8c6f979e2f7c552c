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
