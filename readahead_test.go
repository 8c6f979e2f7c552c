package tcpwave

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/link"
	"github.com/tcpwave/tcpwave/wire"
)

// pollEnd is an endpoint that copies packets in and can tell whether one
// waits (link.Poller), as a TUN device does: the packets the test queues
// on in come out once gate is closed. Each PollPacket notes whether the
// host's lock (of the Stack in host) was held meanwhile; WritePacket
// counts the packets the host sends.
type pollEnd struct {
	in     chan []byte
	gate   chan struct{}
	closed chan struct{}
	once   sync.Once
	host   atomic.Pointer[Stack]

	polls, lockedPolls, written atomic.Int64
}

func newPollEnd(queue int) *pollEnd {
	return &pollEnd{in: make(chan []byte, queue), gate: make(chan struct{}), closed: make(chan struct{})}
}

func (e *pollEnd) MTU() int { return 1500 }

func (e *pollEnd) WritePacket(pkt []byte) error {
	e.written.Add(1)
	return nil
}

func (e *pollEnd) ReadPacket(buf []byte) (int, error) {
	select {
	case <-e.gate:
	case <-e.closed:
		return 0, net.ErrClosed
	}
	select {
	case p := <-e.in:
		return copy(buf, p), nil
	case <-e.closed:
		return 0, net.ErrClosed
	}
}

func (e *pollEnd) PollPacket(buf []byte) (int, error) {
	e.polls.Add(1)
	if s := e.host.Load(); s != nil {
		if s.mu.TryLock() {
			s.mu.Unlock()
		} else {
			e.lockedPolls.Add(1) // nothing but the reader takes the lock here
		}
	}
	select {
	case p := <-e.in:
		return copy(buf, p), nil
	default:
		return 0, nil
	}
}

func (e *pollEnd) Close() error {
	err := fmt.Errorf("pollEnd closed twice: %w", net.ErrClosed)
	e.once.Do(func() { close(e.closed); err = nil })
	return err
}

// TestReaderReadsBatchUnlocked: a host whose link copies packets in and
// can tell whether more wait (a TUN device) reads the packets queued
// behind the first before it takes its lock, so that the connections'
// users never wait for the lock across the link's reads, and still
// handles them as one batch: one hold of the lock, and one flush, for
// them all.
func TestReaderReadsBatchUnlocked(t *testing.T) {
	const n = 10
	e := newPollEnd(n)
	s, err := New(e, []netip.Addr{addrB})
	if err != nil {
		t.Fatal(err)
	}
	defer closeQuick(s)
	e.host.Store(s)
	queueSYNs(t, e, n) // SYNs to a closed port: each is answered by a RST
	before := holdsOf(s)
	close(e.gate)
	deadline := time.Now().Add(10 * time.Second)
	for e.written.Load() < n && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := e.written.Load(); got != n {
		t.Fatalf("%d RSTs sent for %d SYNs", got, n)
	}
	if holds := holdsOf(s) - before - 1; holds != 1 { // less the second look
		t.Errorf("the batch of %d packets took the lock %d times, want once", n, holds)
	}
	if p, l := e.polls.Load(), e.lockedPolls.Load(); p < n || l != 0 {
		t.Errorf("%d polls of the link, %d of them with the lock held; want at least %d, none held", p, l, n)
	}
}

// TestReaderStopsWithBatchRead: a host that stops (Close's timeout,
// stopAndRelease) while its reader holds a batch it read ahead and waits
// for the lock drops the batch, as a closed socket's queue is dropped:
// the reader takes the lock, finds the host stopped and returns without
// handing a packet to the stack or writing to the closed link.
func TestReaderStopsWithBatchRead(t *testing.T) {
	const n = 10
	e := newPollEnd(n)
	s, err := New(e, []netip.Addr{addrB})
	if err != nil {
		t.Fatal(err)
	}
	defer closeQuick(s)
	queueSYNs(t, e, n) // SYNs to a closed port: each would be answered by a RST
	if !s.lock() {
		t.Fatal("the host stopped at once")
	}
	close(e.gate)
	deadline := time.Now().Add(10 * time.Second)
	for e.polls.Load() < n && time.Now().Before(deadline) { // the first read, then n-1 packets and an empty poll
		time.Sleep(time.Millisecond)
	}
	if p := e.polls.Load(); p < n {
		s.release()
		t.Fatalf("the reader polled %d times, want %d: it did not read the batch ahead", p, n)
	}
	s.stopAndRelease()
	select {
	case <-s.readerDone:
	case <-time.After(10 * time.Second):
		t.Fatal("the reader did not return after the host stopped")
	}
	if w := e.written.Load(); w != 0 {
		t.Errorf("the stopped host wrote %d packets for the batch its reader held", w)
	}
}

// queueSYNs queues n SYNs from addrA to port 9 of addrB, from n
// different ports, for e's reader.
func queueSYNs(t *testing.T, e *pollEnd, n int) {
	t.Helper()
	for i := range n {
		p := wire.Packet{Src: addrA, Dst: addrB, TCP: wire.TCPFields{
			SrcPort: uint16(40000 + i), DstPort: 9, Seq: 1000, Flags: wire.SYN, Window: 65535}}
		buf := make([]byte, 60)
		k, err := wire.EncodePacket(buf, &p, 64, 0)
		if err != nil {
			t.Fatal(err)
		}
		e.in <- buf[:k]
	}
}

// queueEnd is an endpoint for packetSource alone: it returns the packets
// of q in turn, each of len bytes that hold its index in q, or
// err (a read that fails, after writing len bytes, as a truncated packet
// does); with csum it has checksum offload and vouches for the packets
// whose checked is set. An empty queue makes ReadPacket fail with
// net.ErrClosed and PollPacket return 0.
type queueEnd struct {
	q    []queued
	i    int
	csum bool
}

// queued is one packet of a queueEnd, or a read that fails.
type queued struct {
	len     int
	checked bool
	err     error
}

func (e *queueEnd) MTU() int                       { return 1500 }
func (e *queueEnd) WritePacket([]byte) error       { return nil }
func (e *queueEnd) WritePartial([]byte, int) error { return nil }
func (e *queueEnd) Close() error                   { return nil }
func (e *queueEnd) ChecksumOffload() bool          { return e.csum }

func (e *queueEnd) ReadPacketChecked(buf []byte, wait bool) (int, bool, error) {
	if e.i == len(e.q) {
		if wait {
			return 0, false, net.ErrClosed
		}
		return 0, false, nil
	}
	p := e.q[e.i]
	e.i++
	n := min(p.len, len(buf))
	for i := range buf[:n] {
		buf[i] = byte(e.i - 1)
	}
	return n, p.checked, p.err
}

func (e *queueEnd) ReadPacket(buf []byte) (int, error) {
	n, _, err := e.ReadPacketChecked(buf, true)
	return n, err
}

func (e *queueEnd) PollPacket(buf []byte) (int, error) {
	n, _, err := e.ReadPacketChecked(buf, false)
	return n, err
}

// TestReadAhead: the packets the reader reads before it takes the lock
// each keep their own bytes (none overwritten by the next read), their
// order and the link's word on their checksum; a batch stops at a read
// that fails, dropping the packet it was about and nothing else; the
// buffer stays within readAheadBytes however large the packets yet holds
// a whole batch of small ones, and a host keeps it from one batch to the
// next. An endpoint that cannot
// tell whether a packet waits (no link.Poller) gets no read ahead.
func TestReadAhead(t *testing.T) {
	bad := fmt.Errorf("truncated packet")
	many := func(k, size int) []queued {
		q := make([]queued, k)
		for i := range q {
			q[i] = queued{len: size, checked: i%3 == 1}
		}
		return q
	}
	withErr := many(10, 100)
	withErr[4] = queued{len: 100, checked: true, err: bad}
	tests := []struct {
		name    string
		q       []queued
		size    int  // the reader's buffers
		csum    bool // the endpoint has checksum offload
		noPoll  bool // the endpoint is no link.Poller
		want    int  // packets read ahead (behind the first)
		nextIdx int  // the index of the packet the next read returns
	}{
		{name: "one alone", q: many(1, 100), size: 1500, want: 0, nextIdx: -1},
		{name: "a full batch at MTU 1500", q: many(100, 1500), size: 1500, want: inBatch - 1, nextIdx: inBatch},
		{name: "checksums vouched for one by one", q: many(100, 1500), size: 1500, csum: true, want: inBatch - 1, nextIdx: inBatch},
		{name: "64 KiB buffers, small packets: a full batch", q: many(100, 1500), size: 65535, want: inBatch - 1, nextIdx: inBatch},
		{name: "64 KiB packets: readAheadBytes", q: many(100, 65535), size: 65535, want: readAheadBytes / 65535, nextIdx: readAheadBytes/65535 + 1},
		{name: "a failed read ends the batch", q: withErr, size: 1500, csum: true, want: 3, nextIdx: 5},
		{name: "no poller", q: many(10, 100), size: 1500, noPoll: true, want: 0, nextIdx: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &queueEnd{q: tt.q, csum: tt.csum}
			var ep link.Endpoint = e
			if tt.noPoll {
				ep = struct{ link.Endpoint }{e}
			}
			var cs link.ChecksumOffloader
			if tt.csum {
				cs = e
			}
			in := newPacketSource(ep, tt.size, cs)
			pkt, _, err := in.next()
			if err != nil || len(pkt) == 0 || pkt[0] != 0 {
				t.Fatalf("next = %d bytes, %v; want packet 0", len(pkt), err)
			}
			more := in.readAhead()
			if len(more) != tt.want {
				t.Fatalf("read ahead %d packets, want %d", len(more), tt.want)
			}
			for i, p := range more { // all read: none overwritten by a later read
				if int(p.pkt[0]) != i+1 || int(p.pkt[len(p.pkt)-1]) != i+1 || len(p.pkt) != tt.q[i+1].len {
					t.Errorf("packet %d read ahead is packet %d of %d bytes, want %d bytes", i+1, p.pkt[0], len(p.pkt), tt.q[i+1].len)
				}
				if want := tt.csum && tt.q[i+1].checked; p.checked != want {
					t.Errorf("packet %d read ahead: checked %v, want %v", i+1, p.checked, want)
				}
			}
			if n := cap(in.arena); n > readAheadBytes {
				t.Errorf("a buffer of %d bytes for the batch, over readAheadBytes", n)
			}
			pkt, _, err = in.next()
			switch {
			case tt.nextIdx < 0 && err == nil:
				t.Errorf("next read returned a packet, want none left")
			case tt.nextIdx >= 0 && (err != nil || len(pkt) == 0 || int(pkt[0]) != tt.nextIdx):
				t.Errorf("next read = %d bytes, %v; want packet %d", len(pkt), err, tt.nextIdx)
			}
		})
	}
	t.Run("buffers kept", func(t *testing.T) {
		in := newPacketSource(&queueEnd{q: many(inBatch*101, 1500)}, 1500, nil)
		allocs := testing.AllocsPerRun(100, func() {
			in.next()
			if n := len(in.readAhead()); n != inBatch-1 {
				t.Fatalf("read ahead %d packets, want %d", n, inBatch-1)
			}
		})
		if allocs != 0 {
			t.Errorf("%v allocations per batch, want none (the buffers are kept)", allocs)
		}
	})
}
