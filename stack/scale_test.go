package stack

import (
	"container/heap"
	"fmt"
	"github.com/tcpwave/tcpwave/wire"
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
			r.st.tw.len(), r.st.tw.ports.len(), r.st.Deadline())
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

// busyTimers opens n connections, one every rigStep, each with one byte
// sent and never ACKed, so that each has a retransmission timer (the tail
// loss probe, then the RTO and its backoffs). It then steps the clock from
// Deadline to Deadline until every connection's timer has fired rounds
// times, checking each firing against the connections' own deadlines:
// every connection sends exactly at its deadline, never early or late, and
// Deadline is never later than the earliest one. It returns the wall time
// HandleTimeout spent per firing and the number of calls that fired
// nothing (Deadline may answer a coarse slot's start).
func busyTimers(t testing.TB, n, rounds int) (perFire time.Duration, idle int) {
	t.Helper()
	r := newPeerRig(t, n)
	byRemote := make(map[netip.AddrPort]*Socket, n)
	q := &deadlineQueue{}
	for i := range n {
		so := r.open(peerAddr(i))
		if _, err := so.Write(r.now, []byte{1}); err != nil {
			t.Fatalf("write: %v", err)
		}
		r.drain()
		byRemote[so.Remote()] = so
		heap.Push(q, so)
		r.now = r.now.Add(rigStep)
	}
	fired := make(map[*Socket]int, n)
	var spent time.Duration
	for done := 0; done < n; {
		d := r.st.Deadline()
		if d == clock.Never {
			t.Fatalf("no timer left with %d connections short of %d firings", n-done, rounds)
		}
		next := (*q)[0]
		want := next.conn.Deadline()
		if d > want {
			t.Fatalf("stack deadline %v after connection %v's %v", d, next.Remote(), want)
		}
		var due []*Socket
		for q.Len() > 0 && (*q)[0].conn.Deadline() == d {
			due = append(due, heap.Pop(q).(*Socket))
		}
		r.now = d
		start := time.Now()
		r.st.HandleTimeout(d)
		spent += time.Since(start)
		sent := map[*Socket]int{}
		for {
			k := r.st.PollPacket(r.now, r.out)
			if k == 0 {
				break
			}
			if err := wire.ParsePacket(r.out[:k], &r.last); err != nil {
				t.Fatalf("malformed packet: %v", err)
			}
			so := byRemote[netip.AddrPortFrom(r.last.Dst, r.last.TCP.DstPort)]
			if so == nil {
				t.Fatalf("packet to unknown %v:%d", r.last.Dst, r.last.TCP.DstPort)
			}
			sent[so]++
		}
		r.st.Touched()
		if len(due) == 0 {
			idle++
		}
		if len(sent) != len(due) {
			t.Fatalf("at %v: %d connections sent, %d were due", d, len(sent), len(due))
		}
		for _, so := range due {
			if sent[so] == 0 {
				t.Fatalf("at %v: connection %v was due and sent nothing", d, so.Remote())
			}
			if fired[so]++; fired[so] == rounds {
				done++
			}
			if so.conn.Deadline() <= d {
				t.Fatalf("connection %v re-armed to %v, not after %v", so.Remote(), so.conn.Deadline(), d)
			}
			heap.Push(q, so)
		}
	}
	fires := 0
	for _, k := range fired {
		fires += k
	}
	return spent / time.Duration(fires), idle
}

// deadlineQueue is the test's own order of the connections' deadlines.
type deadlineQueue []*Socket

func (q deadlineQueue) Len() int           { return len(q) }
func (q deadlineQueue) Less(i, j int) bool { return q[i].conn.Deadline() < q[j].conn.Deadline() }
func (q deadlineQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *deadlineQueue) Push(x any)        { *q = append(*q, x.(*Socket)) }
func (q *deadlineQueue) Pop() any {
	old := *q
	so := old[len(old)-1]
	*q = old[:len(old)-1]
	return so
}

// TestBusyTimers: with 20,000 connections each waiting on its
// retransmission timer, every timer fires at its exact deadline, three
// rounds (the loss probe and two RTOs).
func TestBusyTimers(t *testing.T) {
	per, idle := busyTimers(t, 20_000, 3)
	t.Logf("20,000 connections, 3 firings each: %v per firing, %d wake-ups with nothing due", per, idle)
}

// BenchmarkBusyTimers: the same with 100,000 connections in one stack. It
// reports the wall time HandleTimeout spends per firing (the timer work
// and the retransmission it triggers). Run it with -benchtime 1x.
func BenchmarkBusyTimers(b *testing.B) {
	for range b.N {
		per, idle := busyTimers(b, 100_000, 3)
		b.ReportMetric(float64(per.Nanoseconds()), "ns/fire")
		b.ReportMetric(float64(idle), "idle-wakeups")
	}
}
