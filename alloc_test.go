package tcpwave

import (
	"fmt"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/stack"
	"github.com/tcpwave/tcpwave/tcp"
)

// TestBulkAllocs: once a bulk transfer through net.Conn is under way, the
// whole data path (Write, the stack on both hosts, the link, Read) makes
// no heap allocation per segment: 32 MiB more, about 23,000 segments, cost
// no allocation at all in the process beyond a handful of runtime ones
// (goroutine parking), whatever the segment count.
func TestBulkAllocs(t *testing.T) {
	const chunk = 64 << 10
	sa, sb := hosts(t)
	client, server := connPair(t, sa, sb)
	done := discard(server, chunk)
	buf := make([]byte, chunk)
	send := func(n int) {
		t.Helper()
		for range n / chunk {
			if _, err := client.Write(buf); err != nil {
				t.Fatalf("write: %v", err)
			}
		}
	}
	send(16 << 20) // warm up: buffers, queues and windows reach their size
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	segsBefore := sb.Counters().OutSegs
	send(32 << 20)
	runtime.ReadMemStats(&after)
	segs := sb.Counters().OutSegs - segsBefore
	allocs := after.Mallocs - before.Mallocs
	t.Logf("%d segments, %d allocations (%.6f per segment)", segs, allocs, float64(allocs)/float64(segs))
	if segs < 20_000 {
		t.Fatalf("only %d segments for 32 MiB", segs)
	}
	if allocs*100 > segs {
		t.Errorf("%d allocations for %d segments, want none per segment on the steady-state path", allocs, segs)
	}
	client.CloseWrite()
	if r := <-done; r.err != nil {
		t.Fatalf("reader: %v", r.err)
	}
}

// TestChurnAllocs pins the heap allocations of one whole connection
// through the net.Conn API, as the churn rows of interop/cmd/bench make
// them: Dial, one byte each way, the client closes first (TIME_WAIT, 1 s
// here), then the server; one server goroutine accepts and serves the
// connections in turn. Each side's loss state (RACK's send log, taken at
// its first byte of data) comes from its stack's cache of finished
// connections' (tcp.LossCache): a lifecycle made 2 more allocations
// when each connection allocated its own.
func TestChurnAllocs(t *testing.T) {
	// Per side: its Conn, socket, tcp.Conn, two ring buffers and the
	// wake channel of a call that blocked (the client's Dial, the
	// server's first Read); then the client's port in the bind table and
	// the listener's accept queue (emptied by each Accept).
	const want = 14
	a, b := hosts(t, WithTCP(func(c *tcp.Config) { c.TimeWait = time.Second }),
		WithStackOptions(func(o *stack.Options) { o.EphemeralLow, o.EphemeralHigh = 1024, 65535 }))
	ln, err := a.Listen("tcp", "10.0.0.1:80")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	served := make(chan error, 1)
	go func() {
		buf := make([]byte, 1)
		for {
			c, err := ln.AcceptConn()
			if err != nil {
				served <- nil
				return
			}
			if _, err := io.ReadFull(c, buf); err != nil {
				served <- fmt.Errorf("server read: %w", err)
				return
			}
			if _, err := c.Write(buf); err != nil {
				served <- fmt.Errorf("server write: %w", err)
				return
			}
			c.Read(buf) // the client's FIN
			c.Close()
		}
	}()
	buf := []byte{'x'}
	lifecycle := func() {
		c, err := b.Dial("tcp", "10.0.0.1:80")
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		if _, err := c.Write(buf); err != nil {
			t.Fatalf("write: %v", err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatalf("read: %v", err)
		}
		c.Close()
	}
	for range 20 { // warm up: tables, queues and caches reach their size
		lifecycle()
	}
	allocs := testing.AllocsPerRun(200, lifecycle)
	ln.Close()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	t.Logf("%v allocations per lifecycle", allocs)
	if allocs > want {
		t.Errorf("a connection's lifecycle made %v allocations, want at most %d (loss states are reused)", allocs, want)
	}
}
