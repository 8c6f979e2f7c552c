package stack

import (
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/clock"
)

// Memory bounds, per connection, on the heap a stack holds.
const (
	// twRecordBound is the most heap a TIME_WAIT record may cost: the
	// table's 56-byte record, its share of the hash index, and its share
	// of the per-port counts bind(2) reads (issue #5).
	twRecordBound = 128
	// idleConnBound is the most heap an idle ESTABLISHED connection may
	// cost one endpoint: socket, control block, demux and port entries.
	idleConnBound = 2048
)

// twScale is one way to fill a stack with TIME_WAIT records.
type twScale struct {
	name string
	n    int
	// remote is the i-th connection's peer; nil makes the stack the
	// client (one ephemeral port per record, to one server), otherwise
	// the stack is the server on port 80 and closes first.
	remote func(i int) netip.AddrPort
}

var twScales = []twScale{
	{"server closes first, one port", 100_000, peerAddr},
	{"client closes first, a port each", 20_000, nil},
}

// fillTimeWait runs n lifecycles that each leave a TIME_WAIT record, one
// every rigStep of virtual time from 0, and returns the heap they hold.
func fillTimeWait(t testing.TB, sc twScale) (*peerRig, float64) {
	t.Helper()
	r := newPeerRig(t, sc.n)
	base := heapAfterGC()
	for i := range sc.n {
		r.now = clock.Instant(0).Add(time.Duration(i) * rigStep)
		if sc.remote != nil {
			r.timeWait(sc.remote(i))
		} else {
			r.clientTimeWait(ap(addrX, 80))
		}
	}
	perRecord := (float64(heapAfterGC()) - float64(base)) / float64(sc.n)
	if got := r.st.tw.len(); got != sc.n {
		t.Fatalf("%d TIME_WAIT records after %d lifecycles", got, sc.n)
	}
	if len(r.st.conns) != 0 {
		t.Fatalf("%d connections left besides the records", len(r.st.conns))
	}
	return r, perRecord
}

// checkExpiry moves the clock over every record's expiry, record i
// having entered TIME_WAIT at i*rigStep: it must be there until a
// nanosecond before TimeWait has passed and gone at that instant. It
// returns the wall time spent per record in HandleTimeout.
func checkExpiry(t testing.TB, r *peerRig, n int) time.Duration {
	t.Helper()
	tw := r.st.opts.TCP.TimeWait
	var spent time.Duration
	for i := range n {
		due := clock.Instant(0).Add(time.Duration(i)*rigStep + tw)
		if d := r.st.Deadline(); d != due {
			t.Fatalf("record %d: stack deadline %v, want %v", i, d, due)
		}
		r.st.HandleTimeout(due - 1)
		if got := r.st.tw.len(); got != n-i {
			t.Fatalf("at %v, a nanosecond before record %d expires: %d records, want %d", due-1, i, got, n-i)
		}
		start := time.Now()
		r.st.HandleTimeout(due)
		spent += time.Since(start)
		if got := r.st.tw.len(); got != n-i-1 {
			t.Fatalf("at %v, when record %d expires: %d records, want %d", due, i, got, n-i-1)
		}
	}
	if !r.st.tw.empty() || r.st.Deadline() != clock.Never {
		t.Fatalf("table not empty after the last expiry: %d records, ports %d, deadline %v",
			r.st.tw.len(), len(r.st.tw.ports), r.st.Deadline())
	}
	return spent / time.Duration(n)
}

// TestTimeWaitBytesPerRecord: TIME_WAIT records made by whole lifecycles
// cost at most twRecordBound bytes of heap each, and every one expires
// exactly TimeWait after it was made, none early, leaving the table
// empty.
func TestTimeWaitBytesPerRecord(t *testing.T) {
	for _, sc := range twScales {
		t.Run(sc.name, func(t *testing.T) {
			r, per := fillTimeWait(t, sc)
			t.Logf("%d records: %.1f heap bytes per record", sc.n, per)
			if per > twRecordBound {
				t.Errorf("%.1f heap bytes per TIME_WAIT record, want at most %d", per, twRecordBound)
			}
			t.Logf("expiry: %v per record", checkExpiry(t, r, sc.n))
		})
	}
}

// BenchmarkTimeWaitMillion: 1,000,000 TIME_WAIT records in one stack
// (the server closed first; the peers are a million address:port pairs),
// under the same bounds as TestTimeWaitBytesPerRecord. It reports the
// heap per record and the wall time HandleTimeout spends per expiry.
// Run it with -benchtime 1x: one op is the whole million.
func BenchmarkTimeWaitMillion(b *testing.B) {
	sc := twScale{"million", 1_000_000, peerAddr}
	for range b.N {
		r, per := fillTimeWait(b, sc)
		if per > twRecordBound {
			b.Fatalf("%.1f heap bytes per TIME_WAIT record, want at most %d", per, twRecordBound)
		}
		exp := checkExpiry(b, r, sc.n)
		b.ReportMetric(per, "B/record")
		b.ReportMetric(float64(exp.Nanoseconds()), "ns/expiry")
	}
}

// idleScale is one way to fill a stack with idle ESTABLISHED connections.
type idleScale struct {
	name   string
	n      int
	active bool // the stack dialled (one ephemeral port each); else it accepted on port 80
}

// fillIdle opens n connections that then sit idle, and returns the heap
// each costs the stack.
func fillIdle(t testing.TB, sc idleScale) float64 {
	t.Helper()
	r := newPeerRig(t, sc.n)
	socks := make([]*Socket, sc.n)
	base := heapAfterGC()
	for i := range sc.n {
		if sc.active {
			socks[i] = r.dial(ap(addrX, 80))
		} else {
			socks[i] = r.open(peerAddr(i))
		}
		r.now = r.now.Add(rigStep)
	}
	per := (float64(heapAfterGC()) - float64(base)) / float64(sc.n)
	if got := len(r.st.conns); got != sc.n {
		t.Fatalf("%d connections, want %d", got, sc.n)
	}
	if r.st.Deadline() != clock.Never {
		t.Fatalf("idle connections with a timer: deadline %v", r.st.Deadline())
	}
	runtime.KeepAlive(socks)
	return per
}

// TestIdleConnBytes: an idle ESTABLISHED connection costs its endpoint at
// most idleConnBound bytes of heap, on a server and on a client.
func TestIdleConnBytes(t *testing.T) {
	for _, sc := range []idleScale{{"server", 20_000, false}, {"client", 20_000, true}} {
		t.Run(sc.name, func(t *testing.T) {
			per := fillIdle(t, sc)
			t.Logf("%d idle connections: %.0f heap bytes per endpoint", sc.n, per)
			if per > idleConnBound {
				t.Errorf("%.0f heap bytes per idle connection, want at most %d", per, idleConnBound)
			}
		})
	}
}

// BenchmarkIdleConns reports the heap per idle ESTABLISHED connection
// with 100,000 of them accepted by one stack, and with 60,000 dialled by
// one (the ephemeral ports run out at 64,512). Run it with -benchtime 1x.
func BenchmarkIdleConns(b *testing.B) {
	for _, sc := range []idleScale{{"server", 100_000, false}, {"client", 60_000, true}} {
		b.Run(fmt.Sprintf("%s/conns=%d", sc.name, sc.n), func(b *testing.B) {
			for range b.N {
				per := fillIdle(b, sc)
				if per > idleConnBound {
					b.Fatalf("%.0f heap bytes per idle connection, want at most %d", per, idleConnBound)
				}
				b.ReportMetric(per, "B/conn")
			}
		})
	}
}
