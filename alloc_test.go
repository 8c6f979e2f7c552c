package tcpwave

import (
	"runtime"
	"testing"
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
