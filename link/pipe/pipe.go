// Package pipe is an in-memory link: two endpoints joined back to back,
// like a cable between two hosts in one process.
//
// Each packet travels in a buffer of its own, as on a real link, and
// waits in a bounded queue per direction; a packet that finds its queue
// full, or its destination closed, is dropped and counted, as a NIC's
// ring drops it. The link adds no delay. Both ends are safe for
// concurrent use.
//
// WritePacket copies a packet into one of the link's buffers and
// ReadPacket copies it out into the reader's. A host that builds its
// packets in buffers it can give away and handles a packet in place may
// skip both copies, which at a 64 KiB MTU are most of the link's cost:
// SwapPacket (and SwapGSO) hands the packet's buffer itself to the link
// and takes a free one back for the next packet, as a driver posts a
// buffer to a NIC's ring, and NextPacket (and PollNext) lends the reader
// the buffer the packet came in until its next read. A host (package
// tcpwave) uses these when its endpoint has them, so a wrapper that
// embeds an *End to see or change its packets must override them as well
// as WritePacket and ReadPacket, or packets pass it by.
package pipe

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"github.com/tcpwave/tcpwave/link"
)

// DefaultQueue is a queue length that holds, in 1500-byte packets, a
// full 4 MiB send buffer (the most tcp.Config.SndBufMax lets auto-tuning
// grow one to by default) with room to spare, so that a bulk transfer
// is not cut by drops at the sender's own link.
const DefaultQueue = 4096

var (
	errClosed      = fmt.Errorf("link/pipe: endpoint closed: %w", net.ErrClosed)
	errTooLong     = errors.New("link/pipe: packet larger than the MTU")
	errShortBuffer = errors.New("link/pipe: buffer shorter than the packet; packet truncated")
)

// Stats counts one endpoint's packets.
type Stats struct {
	Sent     uint64 // packets this end queued for its peer
	Received uint64 // packets this end read
	Dropped  uint64 // packets this end sent that were lost: queue full or peer closed
}

// End is one end of a pipe. It implements link.Endpoint.
type End struct {
	mtu    int
	gso    int    // the largest super-packet (NewOffload), or 0
	rx     *queue // packets for this end
	tx     *queue // packets for the peer
	peer   *End
	closed chan struct{}
	isDown atomic.Bool // closed, for the checks on every packet
	once   sync.Once
	// last is the buffer of the packet read last, recycled at the next
	// read (under the queue's lock, which the read takes anyway).
	last []byte

	sent, received, dropped atomic.Uint64
}

var (
	_ link.Offloader    = (*End)(nil)
	_ link.Poller       = (*End)(nil)
	_ link.RxOverheader = (*End)(nil)
)

// queue is one direction: a ring of packets in flight and a free list of
// their buffers, so that a steady stream allocates nothing. A writer
// wakes the reader only when it sleeps for want of a packet: a batch of
// packets costs one wake-up, not one each.
type queue struct {
	mu       sync.Mutex
	ring     [][]byte // packets in flight: n of them from head
	head, n  int
	free     [][]byte
	sleeping bool          // the reader waits on ready
	ready    chan struct{} // a token when a packet arrives for a sleeping reader
}

func newQueue(n int) *queue {
	return &queue{ring: make([][]byte, n), ready: make(chan struct{}, 1)}
}

// push queues buf, or reports false when the queue is full. It reports
// whether the reader sleeps and must be woken.
func (q *queue) push(buf []byte) (ok, wake bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == len(q.ring) {
		return false, false
	}
	q.ring[(q.head+q.n)%len(q.ring)] = buf
	q.n++
	wake, q.sleeping = q.sleeping, false
	return true, wake
}

// pop takes the next packet and recycles done (the buffer of the packet
// taken before, or nil). With none queued, it returns nil and, if sleep,
// marks the reader as sleeping.
func (q *queue) pop(done []byte, sleep bool) []byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	if done != nil {
		q.keep(done)
	}
	if q.n == 0 {
		q.sleeping = sleep
		return nil
	}
	p := q.ring[q.head]
	q.ring[q.head] = nil
	q.head = (q.head + 1) % len(q.ring)
	q.n--
	return p
}

// slabBytes is about how much buffer memory the queue allocates at once
// when its free list is empty: a slab of packet buffers, so that a queue
// filling up for the first time (a window opening to megabytes) costs one
// allocation per slab, not one per packet.
const slabBytes = 256 << 10

// pushSwap queues buf, as push does, and returns in exchange a free
// buffer of len size (from the free list or a new slab, as buffer). When
// the queue is full it queues nothing and returns nil.
func (q *queue) pushSwap(buf []byte, size int) (next []byte, wake bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == len(q.ring) {
		return nil, false
	}
	q.ring[(q.head+q.n)%len(q.ring)] = buf
	q.n++
	wake, q.sleeping = q.sleeping, false
	return q.take(size)[:size], wake
}

// buffer returns an empty buffer of capacity size, from the free list if
// it has one, else from a new slab whose other buffers join the list.
func (q *queue) buffer(size int) []byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.take(size)
}

// take is buffer with q.mu held.
func (q *queue) take(size int) []byte {
	if k := len(q.free); k > 0 {
		buf := q.free[k-1]
		q.free[k-1] = nil
		q.free = q.free[:k-1]
		return buf[:0]
	}
	n := min(max(slabBytes/size, 1), len(q.ring)-len(q.free))
	slab := make([]byte, n*size)
	for i := 1; i < n; i++ {
		q.free = append(q.free, slab[i*size:i*size:(i+1)*size])
	}
	return slab[:0:size]
}

// recycle puts back a buffer that was not queued.
func (q *queue) recycle(buf []byte) {
	q.mu.Lock()
	q.keep(buf)
	q.mu.Unlock()
}

// keep adds buf to the free list, which holds at most a ring's worth;
// q.mu is held.
func (q *queue) keep(buf []byte) {
	if len(q.free) < len(q.ring) {
		q.free = append(q.free, buf)
	}
}

// New returns the two ends of a link that carries packets of up to mtu
// bytes, with room for queue packets in each direction (DefaultQueue if
// queue <= 0). An mtu below 68 (the IPv4 minimum) is raised to 68. The
// results are *End values.
func New(mtu int, queue int) (a, b link.Endpoint) {
	x, y := NewEnds(mtu, queue)
	return x, y
}

// NewEnds is New returning the concrete type, for access to Stats.
func NewEnds(mtu int, queue int) (a, b *End) {
	mtu = max(mtu, 68)
	if queue <= 0 {
		queue = DefaultQueue
	}
	ab, ba := newQueue(queue), newQueue(queue)
	a = &End{mtu: mtu, rx: ba, tx: ab, closed: make(chan struct{})}
	b = &End{mtu: mtu, rx: ab, tx: ba, closed: make(chan struct{})}
	a.peer, b.peer = b, a
	return a, b
}

// MTU returns the largest packet the link carries.
func (e *End) MTU() int { return e.mtu }

// RxOverhead is link.RxOverheader's: a pipe carries the buffer its sender
// built a packet in to the receiver, as Linux's loopback carries the
// sender's skb, so a received segment costs what it costs on loopback
// (rxOverhead), not a TUN device's skb.
func (e *End) RxOverhead() int { return rxOverhead }

// rxOverhead is what Linux's loopback charges a received TCP segment
// beyond its payload: the small skb head (MAX_TCP_HEADER and
// skb_shared_info, 320 bytes each) and the sk_buff (256 bytes). It is
// tcp.LoopbackRxOverhead, written out here because a link knows no
// connection and does not import tcp; a test in the root package holds
// the two equal.
const rxOverhead = 896

// NewOffload is NewEnds for a link with segmentation offload, like a veth
// pair or loopback with TSO and GRO on: besides packets of up to mtu
// bytes it carries TCP super-packets of up to gsoMax bytes (WriteGSO)
// whole, and the far end reads them as they are (link.Offloader).
// gsoMax is raised to mtu and capped at 65535.
func NewOffload(mtu, gsoMax, queue int) (a, b *End) {
	a, b = NewEnds(mtu, queue)
	g := min(max(gsoMax, a.mtu), 65535)
	a.gso, b.gso = g, g
	return a, b
}

// GSOMaxSize returns the largest super-packet the link carries: 0 unless
// made by NewOffload.
func (e *End) GSOMaxSize() int { return e.gso }

// WriteGSO queues a TCP super-packet for the peer, which reads it whole
// (link.Offloader); segSize is not needed to carry it. Without offload it
// is WritePacket.
func (e *End) WriteGSO(pkt []byte, segSize int) error {
	if segSize <= 0 {
		return fmt.Errorf("link/pipe: segment size %d", segSize)
	}
	return e.write(pkt, max(e.gso, e.mtu))
}

// WritePacket copies pkt into the queue towards the peer. A full queue or
// a closed peer drops the packet (counted in Stats.Dropped) without error.
func (e *End) WritePacket(pkt []byte) error { return e.write(pkt, e.mtu) }

func (e *End) write(pkt []byte, limit int) error {
	if ok, err := e.admit(pkt, limit); !ok {
		return err
	}
	buf := append(e.tx.buffer(e.BufferSize()), pkt...)
	ok, wake := e.tx.push(buf)
	if !ok {
		e.dropped.Add(1)
		e.tx.recycle(buf)
		return nil
	}
	e.queued(wake)
	return nil
}

// admit reports whether a packet of up to limit bytes may be queued for
// the peer: not when this end is closed or pkt too long (an error), nor
// when the peer is closed (a drop, counted, without error).
func (e *End) admit(pkt []byte, limit int) (bool, error) {
	switch {
	case e.isDown.Load():
		return false, errClosed
	case len(pkt) > limit:
		return false, errTooLong
	case e.peer.isDown.Load():
		e.dropped.Add(1)
		return false, nil
	}
	return true, nil
}

// queued counts a packet queued for the peer and wakes its reader if
// wake says it sleeps.
func (e *End) queued(wake bool) {
	e.sent.Add(1)
	if wake {
		select {
		case e.tx.ready <- struct{}{}:
		default:
		}
	}
}

// BufferSize is the length of the link's packet buffers: the MTU, or the
// largest super-packet with offload (NewOffload). SwapPacket keeps only
// buffers of at least this capacity, and returns buffers of this length.
func (e *End) BufferSize() int { return max(e.mtu, e.gso) }

// SwapPacket is WritePacket without the copy: the link queues pkt in its
// own buffer, which the caller gives up, and returns a buffer for the
// caller's next packet, BufferSize bytes long. The caller must not touch
// pkt's buffer again. When the link does not keep the buffer (the packet
// is dropped, or refused with WritePacket's errors) it returns pkt's own,
// at its full capacity; a buffer whose capacity is under BufferSize is
// not kept either: its packet is copied as WritePacket does.
func (e *End) SwapPacket(pkt []byte) ([]byte, error) { return e.swap(pkt, e.mtu) }

// SwapGSO is WriteGSO without the copy, as SwapPacket is WritePacket.
func (e *End) SwapGSO(pkt []byte, segSize int) ([]byte, error) {
	if segSize <= 0 {
		return pkt[:cap(pkt)], fmt.Errorf("link/pipe: segment size %d", segSize)
	}
	return e.swap(pkt, e.BufferSize())
}

func (e *End) swap(pkt []byte, limit int) ([]byte, error) {
	size := e.BufferSize()
	own := pkt[:cap(pkt)]
	if cap(pkt) < size {
		return own, e.write(pkt, limit)
	}
	if ok, err := e.admit(pkt, limit); !ok {
		return own, err
	}
	next, wake := e.tx.pushSwap(pkt, size)
	if next == nil {
		e.dropped.Add(1)
		return own, nil
	}
	e.queued(wake)
	return next, nil
}

// ReadPacket waits for a packet and copies it into buf. After Close it
// returns an error that wraps net.ErrClosed.
func (e *End) ReadPacket(buf []byte) (int, error) {
	for {
		if e.isDown.Load() {
			return 0, errClosed
		}
		if p := e.rx.pop(e.takeLast(), true); p != nil {
			return e.take(buf, p)
		}
		select {
		case <-e.rx.ready:
		case <-e.closed:
			return 0, errClosed
		}
	}
}

// PollPacket is ReadPacket without the wait (link.Poller): with no packet
// queued for this end it returns 0 and a nil error.
func (e *End) PollPacket(buf []byte) (int, error) {
	if e.isDown.Load() {
		return 0, errClosed
	}
	if p := e.rx.pop(e.takeLast(), false); p != nil {
		return e.take(buf, p)
	}
	return 0, nil
}

// NextPacket is ReadPacket without the copy: it waits for a packet and
// returns it in the buffer it came in, which the caller may read and
// change until its next read on this end (NextPacket, PollNext,
// ReadPacket or PollPacket) takes it back. Only one goroutine may read an
// end this way at a time.
func (e *End) NextPacket() ([]byte, error) {
	for {
		if e.isDown.Load() {
			return nil, errClosed
		}
		if p := e.rx.pop(e.takeLast(), true); p != nil {
			return e.lend(p), nil
		}
		select {
		case <-e.rx.ready:
		case <-e.closed:
			return nil, errClosed
		}
	}
}

// PollNext is NextPacket without the wait, as PollPacket is ReadPacket's:
// with no packet queued for this end it returns nil and a nil error.
func (e *End) PollNext() ([]byte, error) {
	if e.isDown.Load() {
		return nil, errClosed
	}
	if p := e.rx.pop(e.takeLast(), false); p != nil {
		return e.lend(p), nil
	}
	return nil, nil
}

// lend counts the packet p and keeps its buffer to recycle at the next
// read.
func (e *End) lend(p []byte) []byte {
	e.last = p[:0]
	e.received.Add(1)
	return p
}

// takeLast returns, and forgets, the buffer of the packet read last.
func (e *End) takeLast() []byte {
	b := e.last
	e.last = nil
	return b
}

// take copies the packet p into buf; p's buffer is recycled at the next
// read.
func (e *End) take(buf, p []byte) (int, error) {
	n := copy(buf, p)
	e.last = p[:0]
	e.received.Add(1)
	if n < len(p) {
		return n, errShortBuffer
	}
	return n, nil
}

// Close closes this end: ReadPacket and WritePacket fail from now on, and
// packets the peer sends here are dropped. The peer stays open, as the far
// end of an unplugged cable does.
func (e *End) Close() error {
	err := errClosed
	e.once.Do(func() {
		e.isDown.Store(true)
		close(e.closed)
		err = nil
	})
	return err
}

// Stats returns this end's packet counts.
func (e *End) Stats() Stats {
	return Stats{Sent: e.sent.Load(), Received: e.received.Load(), Dropped: e.dropped.Load()}
}
