package tcpwave

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"testing"
	"testing/synctest"
	"time"
)

// maxIdleEndpointHeap is the most heap an idle ESTABLISHED endpoint (its
// Conn, socket, connection and the host's records of it) may hold: 1.5
// KiB, which leaves a wrapper such as interop's room under the 2 KiB of
// issue #5 (it was 1.8 KiB with eager channels and addresses).
const maxIdleEndpointHeap = 1536

// heapAfterGC is the live heap after two collections.
func heapAfterGC() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func TestIdleConnHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the heap of 300 connections")
	}
	synctest.Test(t, func(t *testing.T) {
		const n = 300
		a, b := hosts(t)
		ln, err := a.Listen("tcp", "10.0.0.1:80")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		conns := make([]*Conn, 0, 2*n+2)
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		// A first connection makes what each host makes once (its packet
		// buffers), which is not per endpoint.
		warm, warmS := connPair(t, a, b)
		conns = append(conns, warm, warmS)
		base := heapAfterGC()
		for range n {
			c, err := b.Dial("tcp", "10.0.0.1:80")
			if err != nil {
				t.Fatal(err)
			}
			s, err := ln.AcceptConn()
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c, s)
		}
		synctest.Wait() // the last ACKs
		per := (float64(heapAfterGC()) - float64(base)) / (2 * n)
		runtime.KeepAlive(conns)
		t.Logf("%.0f heap bytes per idle endpoint", per)
		if per > maxIdleEndpointHeap {
			t.Errorf("an idle endpoint holds %.0f heap bytes, want at most %d", per, maxIdleEndpointHeap)
		}
	})
}

var sinkConn *Conn // keeps newConn's result on the heap

func TestNewConnOneAllocation(t *testing.T) {
	a, b := hosts(t)
	client, server := connPair(t, a, b)
	defer client.Close()
	defer server.Close()
	allocs := testing.AllocsPerRun(100, func() {
		a.run(func() { sinkConn = newConn(a, server.k, "tcp") })
	})
	if allocs != 1 {
		t.Errorf("newConn made %v allocations, want 1 (the Conn: no channels, no timers, no addresses)", allocs)
	}
}

func TestRoundTripAllocs(t *testing.T) {
	a, b := hosts(t)
	client, server := connPair(t, a, b)
	defer client.Close()
	defer server.Close()
	buf := make([]byte, 1)
	trip := func() {
		if _, err := client.Write(buf); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(server, buf); err != nil {
			t.Fatal(err)
		}
	}
	trip() // the rings' first buffers, the wake channel
	if allocs := testing.AllocsPerRun(200, trip); allocs > 0 {
		t.Errorf("a one-byte Write and its Read made %v allocations, want 0", allocs)
	}
}

// A Read that blocked before any deadline was set still times out on a
// deadline set while it waits.
func TestDeadlineSetWhileBlocked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := hosts(t)
		client, server := connPair(t, a, b)
		defer client.Close()
		defer server.Close()
		done := make(chan error, 1)
		go func() {
			_, err := client.Read(make([]byte, 1))
			done <- err
		}()
		synctest.Wait() // the Read blocks
		client.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		if err := recvErr(t, done, "the Read blocked when its deadline was set"); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("Read = %v, want a deadline error", err)
		}
		// Closing the handle ends a blocked Write too, through its channel.
		go func() {
			_, err := client.Write(make([]byte, 64<<20))
			done <- err
		}()
		synctest.Wait() // the Write blocks
		client.Close()
		if err := recvErr(t, done, "the Write blocked at Close"); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Write blocked at Close = %v, want net.ErrClosed", err)
		}
	})
}

// Setting a deadline costs no timer and no channel until a call waits.
func TestSetDeadlineAllocatesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := hosts(t)
		client, server := connPair(t, a, b)
		defer client.Close()
		defer server.Close()
		at := time.Now().Add(time.Hour)
		if allocs := testing.AllocsPerRun(100, func() { client.SetDeadline(at) }); allocs != 0 {
			t.Errorf("SetDeadline made %v allocations, want 0", allocs)
		}
		if client.wdl.timer != nil || client.rdl.timer != nil {
			t.Error("SetDeadline armed a timer with no call waiting")
		}
		// Nor once a call has blocked with a deadline and returned: the
		// timer it made stays, unarmed, for the next call that blocks.
		client.SetReadDeadline(time.Now().Add(time.Hour))
		go func() {
			time.Sleep(20 * time.Millisecond) // the Read blocks first
			server.Write([]byte{1})
		}()
		if _, err := client.Read(make([]byte, 1)); err != nil {
			t.Fatalf("read: %v", err)
		}
		if client.rdl.timer == nil {
			t.Fatal("the Read did not block with its deadline armed")
		}
		client.SetReadDeadline(time.Now().Add(2 * time.Hour))
		client.rdl.mu.Lock()
		armed := client.rdl.armed
		client.rdl.mu.Unlock()
		if armed {
			t.Error("SetReadDeadline after a Read that blocked armed the timer with no call waiting")
		}
		// A deadline in the past fails the next call without waiting for it.
		client.SetReadDeadline(time.Now().Add(-time.Second))
		if _, err := client.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("Read after a past deadline = %v, want a deadline error", err)
		}
	})
}

// A Read, a Write and an Accept blocked when the host stops (its close
// timeout passes with a connection still open) return net.ErrClosed:
// stopping wakes every waiter.
func TestBlockedCallsEndWhenHostStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := hosts(t)
		client, server := connPair(t, a, b)
		defer server.Close()
		ln, err := b.Listen("tcp", "10.0.0.2:81")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 3)
		go func() {
			_, err := ln.Accept()
			done <- err
		}()
		go func() {
			_, err := client.Read(make([]byte, 1))
			done <- err
		}()
		go func() {
			_, err := client.Write(make([]byte, 64<<20)) // more than both buffers hold
			done <- err
		}()
		synctest.Wait() // the three calls block
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		b.CloseContext(ctx) // the server never reads: B cannot finish its close
		for range 3 {
			if err := recvErr(t, done, "a call blocked when the host stopped"); !errors.Is(err, net.ErrClosed) {
				t.Errorf("blocked call returned %v, want net.ErrClosed", err)
			}
		}
	})
}

func TestTCPAddrPair(t *testing.T) {
	for _, s := range []string{"10.0.0.1:80", "[fd00::1]:443", "[fe80::1%eth0]:22"} {
		ap := netip.MustParseAddrPort(s)
		l, r := tcpAddrPair(ap, ap)
		want := tcpAddr(ap)
		if l.String() != want.String() || r.String() != want.String() || len(l.IP) != len(want.IP) {
			t.Errorf("tcpAddrPair(%v) = %v (IP %d bytes), %v; want %v (IP %d bytes)", ap, l, len(l.IP), r, want, len(want.IP))
		}
	}
	var zero netip.AddrPort
	if l, _ := tcpAddrPair(zero, zero); l.IP != nil {
		t.Errorf("tcpAddrPair of the zero AddrPort has IP %v, want nil", l.IP)
	}
	ap := netip.MustParseAddrPort("10.0.0.1:80")
	if allocs := testing.AllocsPerRun(100, func() { sinkAddr, _ = tcpAddrPair(ap, ap) }); allocs != 1 {
		t.Errorf("tcpAddrPair made %v allocations, want 1", allocs)
	}
}

var sinkAddr *net.TCPAddr
