package tcpwave

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
	for i := range n { // SYNs to a closed port: each is answered by a RST
		p := wire.Packet{Src: addrA, Dst: addrB, TCP: wire.TCPFields{
			SrcPort: uint16(40000 + i), DstPort: 9, Seq: 1000, Flags: wire.SYN, Window: 65535}}
		buf := make([]byte, 60)
		k, err := wire.EncodePacket(buf, &p, 64, 0)
		if err != nil {
			t.Fatal(err)
		}
		e.in <- buf[:k]
	}
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
