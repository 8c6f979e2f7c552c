// Package faulty is a link.Endpoint that wraps another one and does to
// the packets crossing it, in both directions, what a poor network does:
// it loses some, holds the others back for a while, and lets some of
// those overtake the rest. Every choice comes from a seed, so a run can
// be repeated packet for packet (given the same packets in the same
// order).
//
// It stands in for Linux's netem qdisc (tc-netem(8)) where the kernel
// has none, and its knobs read like netem's: Loss is "loss P", Delay is
// "delay D", Reorder is "reorder P" (with a delay, that share of packets
// goes at once and overtakes the delayed ones), Limit is "limit N". Unlike
// a qdisc on a device, which shapes only what the device sends, it acts on
// both directions, each with its own random stream.
//
//	host (tcpwave.Stack) <-> faulty.Link <-> inner endpoint (a TUN device, a pipe)
//	    WritePacket: Out ->                    -> inner.WritePacket
//	    ReadPacket:  <- In                     <- inner.ReadPacket
//
// A Link runs two goroutines: a reader that waits on the inner endpoint,
// and a scheduler that owns a queue of held packets and one timer, and
// sends each packet on when its delay is over. The delay is the same for
// every packet, so the queue is first in, first out. Held packets are
// bounded (Limit per direction); a packet that finds its direction's
// share full is dropped and counted, as netem drops beyond its limit.
package faulty

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tcpwave/tcpwave/link"
)

// DefaultLimit is the most packets a direction holds when Config.Limit is
// zero: netem's default limit.
const DefaultLimit = 1000

// Direction is the way a packet crosses the link.
type Direction int

const (
	// Out is from the host to the inner endpoint (WritePacket).
	Out Direction = iota
	// In is from the inner endpoint to the host (ReadPacket).
	In
)

func (d Direction) String() string {
	if d == Out {
		return "out"
	}
	return "in"
}

// Config says what the link does to packets. The zero value passes every
// packet at once.
type Config struct {
	// Seed seeds the random choices; each direction draws from a stream
	// of its own.
	Seed uint64
	// Loss is the probability, in [0, 1], that a packet is lost.
	Loss float64
	// Delay is how long a packet that is not lost is held before it goes
	// on.
	Delay time.Duration
	// Reorder is the probability, in [0, 1], that a packet skips the
	// Delay and goes at once, overtaking the packets held. It needs a
	// Delay.
	Reorder float64
	// Limit bounds how many packets each direction holds at once;
	// DefaultLimit if 0.
	Limit int
	// Drop, if not nil, is asked about every packet before the random
	// choices are made, and drops those it returns true for (a test uses
	// it to lose one chosen segment). It is called from WritePacket's
	// caller (Out) and from the link's reader (In), so it must be safe
	// for concurrent use; it must not keep pkt.
	Drop func(dir Direction, pkt []byte) bool
}

// Validate reports the first value out of range.
func (c *Config) Validate() error {
	switch {
	case !(c.Loss >= 0 && c.Loss <= 1):
		return fmt.Errorf("link/faulty: Loss %v out of [0, 1]", c.Loss)
	case !(c.Reorder >= 0 && c.Reorder <= 1):
		return fmt.Errorf("link/faulty: Reorder %v out of [0, 1]", c.Reorder)
	case c.Delay < 0:
		return fmt.Errorf("link/faulty: negative Delay %v", c.Delay)
	case c.Reorder > 0 && c.Delay == 0:
		return errors.New("link/faulty: Reorder needs a Delay (nothing to overtake)")
	case c.Limit < 0:
		return fmt.Errorf("link/faulty: negative Limit %d", c.Limit)
	}
	return nil
}

// Stats counts one direction's packets.
type Stats struct {
	Packets   uint64 // packets that entered the link
	Dropped   uint64 // dropped by Config.Drop
	Lost      uint64 // lost at random (Config.Loss)
	Delayed   uint64 // held for Config.Delay
	Reordered uint64 // sent at once past the held ones (Config.Reorder)
	Overflow  uint64 // dropped because the direction held Limit packets
	Delivered uint64 // handed on: written to the inner endpoint, or queued for ReadPacket
}

var errClosed = fmt.Errorf("link/faulty: endpoint closed: %w", net.ErrClosed)

// Link is a faulty link around an inner endpoint. It implements
// link.Endpoint, and is safe for concurrent use.
type Link struct {
	inner link.Endpoint
	cfg   Config
	limit int
	dirs  [2]dir

	in   chan []byte // packets for ReadPacket, in order
	pool sync.Pool   // *[]byte of cap MTU

	mu      sync.Mutex // guards queue and held
	queue   []held     // packets held, oldest first
	kick    chan struct{}
	closed  chan struct{}
	once    sync.Once
	readEnd chan struct{} // closed when the reader has stopped
	schdEnd chan struct{} // closed when the scheduler has stopped
}

var _ link.Endpoint = (*Link)(nil)

// dir is one direction's random stream and counters.
type dir struct {
	mu   sync.Mutex
	rng  *rand.Rand
	held int // packets of this direction in the queue; guarded by Link.mu

	packets, dropped, lost, delayed, reordered, overflow, delivered atomic.Uint64
}

// held is a packet waiting for its time.
type held struct {
	due time.Time
	dir Direction
	buf *[]byte
}

// New wraps inner in a faulty link. The Link owns inner from now on:
// Close closes it. (If New fails, inner is left open.)
func New(inner link.Endpoint, c Config) (*Link, error) {
	if inner == nil {
		return nil, errors.New("link/faulty: nil inner endpoint")
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	l := &Link{
		inner:   inner,
		cfg:     c,
		limit:   c.Limit,
		kick:    make(chan struct{}, 1),
		closed:  make(chan struct{}),
		readEnd: make(chan struct{}),
		schdEnd: make(chan struct{}),
	}
	if l.limit == 0 {
		l.limit = DefaultLimit
	}
	l.in = make(chan []byte, l.limit)
	mtu := inner.MTU()
	l.pool.New = func() any { b := make([]byte, mtu); return &b }
	for d := range l.dirs {
		// Distinct streams per direction: the second PCG word differs.
		l.dirs[d].rng = rand.New(rand.NewPCG(c.Seed, 0x9e3779b97f4a7c15^uint64(d)))
	}
	go l.reader()
	go l.scheduler()
	return l, nil
}

// MTU returns the inner endpoint's MTU.
func (l *Link) MTU() int { return l.inner.MTU() }

// Stats returns the counters of direction d.
func (l *Link) Stats(d Direction) Stats {
	x := &l.dirs[d]
	return Stats{
		Packets: x.packets.Load(), Dropped: x.dropped.Load(), Lost: x.lost.Load(),
		Delayed: x.delayed.Load(), Reordered: x.reordered.Load(),
		Overflow: x.overflow.Load(), Delivered: x.delivered.Load(),
	}
}

// fate is what the link does to one packet.
type fate int

const (
	pass    fate = iota // go on at once
	hold                // go on after the delay
	discard             // dropped or lost
)

// decide draws the fate of a packet going in direction d. Two numbers
// are drawn for every packet, whatever the configuration, so that
// packet k of a direction meets the same luck for a given seed.
func (l *Link) decide(d Direction, pkt []byte) fate {
	x := &l.dirs[d]
	x.packets.Add(1)
	if l.cfg.Drop != nil && l.cfg.Drop(d, pkt) {
		x.dropped.Add(1)
		return discard
	}
	x.mu.Lock()
	lossRoll, reorderRoll := x.rng.Float64(), x.rng.Float64()
	x.mu.Unlock()
	switch {
	case lossRoll < l.cfg.Loss:
		x.lost.Add(1)
		return discard
	case l.cfg.Delay == 0:
		return pass
	case reorderRoll < l.cfg.Reorder:
		x.reordered.Add(1)
		return pass
	}
	return hold
}

// WritePacket sends pkt towards the inner endpoint, subject to the
// faults. Like any link it drops without an error; the error is for a
// closed link or a packet larger than the MTU.
func (l *Link) WritePacket(pkt []byte) error {
	if l.isClosed() {
		return errClosed
	}
	if len(pkt) > l.inner.MTU() {
		return fmt.Errorf("link/faulty: packet of %d bytes exceeds the MTU %d", len(pkt), l.inner.MTU())
	}
	switch l.decide(Out, pkt) {
	case pass:
		l.dirs[Out].delivered.Add(1)
		return l.inner.WritePacket(pkt)
	case hold:
		l.enqueue(Out, pkt)
	}
	return nil
}

// ReadPacket waits for the next packet from the inner endpoint that
// survived the faults and copies it into buf. After Close, or once the
// inner endpoint is closed, it returns an error that wraps net.ErrClosed.
func (l *Link) ReadPacket(buf []byte) (int, error) {
	if l.isClosed() {
		return 0, errClosed
	}
	var p []byte
	select {
	case p = <-l.in:
	case <-l.closed:
		return 0, errClosed
	case <-l.readEnd:
		select {
		case p = <-l.in: // what was queued before the inner endpoint closed
		default:
			return 0, errClosed
		}
	}
	n := copy(buf, p)
	l.free(p)
	if n < len(p) {
		return n, errors.New("link/faulty: buffer shorter than the packet; packet truncated")
	}
	return n, nil
}

// Close closes the link and the inner endpoint, drops the packets held,
// and waits for the link's goroutines to end. A second Close returns an
// error that wraps net.ErrClosed.
func (l *Link) Close() error {
	err := errClosed
	l.once.Do(func() {
		close(l.closed)
		err = l.inner.Close()
		<-l.readEnd
		<-l.schdEnd
	})
	return err
}

func (l *Link) isClosed() bool {
	select {
	case <-l.closed:
		return true
	default:
		return false
	}
}

// free returns a packet's buffer to the pool.
func (l *Link) free(p []byte) {
	p = p[:cap(p)]
	l.pool.Put(&p)
}

// enqueue holds a copy of pkt for the delay, unless its direction holds
// Limit packets already.
func (l *Link) enqueue(d Direction, pkt []byte) {
	x := &l.dirs[d]
	l.mu.Lock()
	if x.held >= l.limit {
		l.mu.Unlock()
		x.overflow.Add(1)
		return
	}
	x.delayed.Add(1)
	bp := l.pool.Get().(*[]byte)
	*bp = append((*bp)[:0], pkt...)
	x.held++
	l.queue = append(l.queue, held{due: time.Now().Add(l.cfg.Delay), dir: d, buf: bp})
	first := len(l.queue) == 1
	l.mu.Unlock()
	if first {
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
}

// deliver hands a packet on in its direction. It must not block: a
// packet for ReadPacket that finds the queue full is dropped as an
// overflow.
func (l *Link) deliver(d Direction, p []byte) {
	x := &l.dirs[d]
	if d == Out {
		x.delivered.Add(1)
		l.inner.WritePacket(p) // an error means the inner endpoint is closed: the packet is lost
		l.free(p)
		return
	}
	select {
	case l.in <- p:
		x.delivered.Add(1)
	default:
		x.overflow.Add(1)
		l.free(p)
	}
}

// reader moves packets from the inner endpoint through the faults.
func (l *Link) reader() {
	defer close(l.readEnd)
	for {
		bp := l.pool.Get().(*[]byte)
		b := (*bp)[:cap(*bp)]
		n, err := l.inner.ReadPacket(b)
		if err != nil {
			l.free(b)
			if errors.Is(err, net.ErrClosed) || l.isClosed() {
				return
			}
			continue // a bad packet: skip it, as a host does
		}
		switch l.decide(In, b[:n]) {
		case pass:
			select {
			case l.in <- b[:n]:
				l.dirs[In].delivered.Add(1)
			case <-l.closed:
				l.free(b)
				return
			}
		case hold:
			l.enqueue(In, b[:n])
			l.free(b)
		default:
			l.free(b)
		}
	}
}

// scheduler sends each held packet on when its delay is over. It is the
// only goroutine that takes packets off the queue.
func (l *Link) scheduler() {
	defer close(l.schdEnd)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var spare []held // the last batch's array, reused
	for {
		l.mu.Lock()
		now := time.Now()
		i := 0
		for i < len(l.queue) && !l.queue[i].due.After(now) {
			i++
		}
		due := append(spare[:0], l.queue[:i]...)
		clear(l.queue[:i])
		l.queue = l.queue[i:]
		for _, h := range due {
			l.dirs[h.dir].held--
		}
		var wait time.Duration = -1
		if len(l.queue) > 0 {
			wait = l.queue[0].due.Sub(now)
		} else {
			l.queue = l.queue[:0:0] // let the drained array go
		}
		l.mu.Unlock()
		for _, h := range due {
			l.deliver(h.dir, *h.buf)
		}
		clear(due)
		spare = due
		if wait >= 0 {
			timer.Reset(wait)
		}
		select {
		case <-timer.C:
		case <-l.kick:
			// A packet joined an empty queue: look again. (Since Go
			// 1.23 Reset discards a stale expiry, so none is drained.)
		case <-l.closed:
			l.mu.Lock()
			for _, h := range l.queue {
				l.free(*h.buf)
			}
			l.queue = nil
			l.mu.Unlock()
			return
		}
	}
}
