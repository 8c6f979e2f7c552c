package tcpwave

// Concurrency
//
// The root package's whole concurrency is the host's lock (Stack.mu,
// taken with lock and released with unlock), its deferred wake queue
// (Stack.wakes) and the pending call (pending.go). The rules:
//
//   - The host's lock guards the stack.Stack and every stack.Socket, the
//     host's records of its sockets (sock: slots, waiters, ring), the
//     fields of Stack listed as guarded by mu, and Conn.hclosed,
//     Listener.hclosed and Conn.wr (which Close reads). Every call into
//     package stack holds it. Functions that need it held say so ("with
//     the host's lock held"), and the Stack's and Conn's check it in
//     debug builds (assertLocked, the tcpwavedebug build tag).
//   - Whoever holds the lock does everything the lock is for at one
//     instant (tick reads the clock once) and, in unlock, finishes it:
//     due timers, packets out (flush), blocked calls (pending), waiters.
//   - Nothing under the lock blocks or takes the lock again: a call's
//     attempt (completer), an Observer (WithObserver) and the link's
//     WritePacket and WriteGSO (SwapPacket and SwapGSO on a link that
//     takes packets in their buffers) all run with the lock held, on
//     whichever goroutine holds it. An attempt and an Observer never
//     call a method of the Stack, its Conns or Listeners; an Endpoint's
//     write must not block (link.Endpoint says what it does instead).
//     Debug builds check that an attempt the host makes (Stack.complete)
//     or an Observer never takes the lock (enterCallbacks).
//   - The reader goes first: a call or a timer about to take the lock
//     while the reader waits for it yields to it, up to readerFirst
//     times (lock, readerWaits), so that a Write taking the lock again
//     and again does not keep the packets, and the ACKs that free its
//     data, waiting.
//   - Wakes are deferred: a holder that wakes a sleeping call queues its
//     channel (sock.wake, Stack.wakeLater, slot.complete) and release
//     pokes it once the lock is free, so that the woken goroutine does
//     not at once wait for the lock. A channel has room for one token; a
//     token may be stale (its call ended otherwise) and its receiver then
//     just tries again.
//   - One readiness rule: every change that makes a connection readier
//     (readable, writable, connected), whether a packet, a timer or a
//     user call on any handle made it, and every connection joining a
//     listener's accept queue, marks the socket touched in package stack
//     (stack.Stack.Touched); flush tries the touched sockets' parked calls
//     and wakes their waiters. No call here wakes calls by hand for a
//     change of readiness; the wakes by hand are for what the socket does
//     not know: a handle closed (its own calls), the host closing or
//     stopping, a record forgotten (sock.wakeAll).
//   - Packet buffers: a packet the reader takes from the link is the
//     reader's until its next batch (one of its own buffers, read before
//     it takes the lock), or until its next read (the link's lent one:
//     NextPacket, PollNext), and the stack and an Observer keep nothing
//     of it past HandlePacket. A packet handed to the link
//     (SwapPacket, SwapGSO) is the link's from then on: flush builds the
//     next one in the buffer the link gives back (obuf, pump.Buf), under
//     the lock.
//   - Read without the lock: what is set before a Stack, Conn or
//     Listener is handed out and never changes (Stack.st, addrs, ep, mtu,
//     start, closeTimeout, offload, csum, swap; a Conn's s, k, network, laddr,
//     raddr); the atomics (Stack.closed, Conn.closed, Listener.closed, a
//     pending call's done, which publishes its result); Stack.done, a
//     channel closed once; Stack.final, written once when the host stops
//     and read by whoever finds it stopped, after taking the lock; a
//     Conn's deadlines, behind their own mutex; a blocked call's state
//     (pending), owned by its caller except while parked.
//   - Lock order: Conn.rmu, Conn.wmu and Listener.mu (one call of a kind
//     at a time) are taken before the host's lock; a deadline's mutex is
//     never held while taking the host's lock, and the host's lock is
//     never held while taking a deadline's.

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/link"
	"github.com/tcpwave/tcpwave/stack"
)

// swapper is an endpoint that takes a packet's buffer instead of copying
// the packet, and gives a free buffer back for the next one (link/pipe's
// End.SwapPacket and SwapGSO): flush then builds each packet in a buffer
// the link will carry as it is. The buffer it returns is at least
// BufferSize bytes long unless it hands the caller's own back.
type swapper interface {
	BufferSize() int
	SwapPacket(pkt []byte) ([]byte, error)
	SwapGSO(pkt []byte, segSize int) ([]byte, error)
}

// lender is an endpoint that lends the reader each packet in the buffer
// it came in, until the next read, instead of copying it (link/pipe's
// End.NextPacket and PollNext; PollNext returns nil when none waits).
type lender interface {
	NextPacket() ([]byte, error)
	PollNext() ([]byte, error)
}

// inBatch is the most packets the reader hands to the stack before the
// stack sends its answers, when the endpoint can tell that packets wait
// (a link.Poller, or a lender).
const inBatch = 64

// Stack is one host: a TCP/IP stack on one link endpoint, with its own
// addresses, ports and connections.
//
// A Stack runs one goroutine, whatever the number of connections: a
// reader, which blocks in the endpoint's ReadPacket and gives each packet
// to the sans-IO stack.Stack. Everything that touches the stack.Stack
// (packets in, user calls, timers, packets out) holds the host's lock and
// runs on the goroutine that needs it done: the reader for packets, the
// caller for the methods of the Stack, its Conns and its Listeners (which
// may be called from any goroutine), a timer's function for timers. There
// is no goroutine to hand work to and wait for. A call that must wait (for
// data, for room, for a connection) sleeps until whoever changed the
// socket's readiness wakes it.
//
// Time is real: clock.Instant is the time since New, from the monotonic
// clock (inside a testing/synctest bubble, the bubble's fake clock).
type Stack struct {
	st           *stack.Stack
	addrs        []netip.Addr
	ep           link.Endpoint
	mtu          int
	start        time.Time
	closeTimeout time.Duration

	done       chan struct{} // closed when the host has stopped
	readerDone chan struct{} // closed when the reader has returned
	closed     atomic.Bool   // Close was called
	// readerWaits is set while the reader waits for the host's lock: a
	// user's call or a timer about to take the lock lets it in first
	// (lock), as Linux's softirq goes before the process that owns the
	// socket.
	readerWaits atomic.Bool
	yields      atomic.Uint64 // times a call yielded to the waiting reader (lock), for tests

	offload link.Offloader         // ep, when it takes super-packets; set by New
	csum    link.ChecksumOffloader // ep, when it has checksum offload; set by New
	swap    swapper                // ep, when it takes packets in their buffers (and its buffers fit obuf's length) and has no checksum offload; set by New

	// Guarded by mu.
	mu      sync.Mutex
	t       clock.Instant   // the instant of the holder's work: read when the lock is taken, and per packet of a batch (tick)
	holds   uint64          // times the lock was taken (lock), for tests
	stopped bool            // the host has stopped: done is closed, calls fail
	socks   sock            // head of the ring of tracked sockets (track); not a socket itself
	closing bool            // CloseAll has run: user calls fail with net.ErrClosed
	obuf    []byte          // the packet being sent: pump.Buf, which write replaces when the link took it (swap)
	timer   *time.Timer     // runs onTimer; set by New, reset under mu
	armed   clock.Instant   // the deadline the timer is set for: at most the stack's (flush)
	behind  bool            // the last flush ran out of its budget: the timer is set to go on
	final   stack.Counters  // the counters when the host stopped; read without mu once stopped is seen
	wakes   []chan struct{} // waiters to wake when the lock is released
	pump    stack.Pump      // flush's driver loop: write, ready, flushBudget (stack.Stack.Step)
	round   int             // the rounds of the flush under way (ready)
	dbg     debugState      // the lock's debug checks (tcpwavedebug); empty otherwise
}

// sock is the host's record of a socket: who waits on it. It is guarded
// by the host's lock. The socket points back to it (stack.Socket.Owner),
// and the host keeps its records in a ring (prev, next) for Close.
type sock struct {
	so         *stack.Socket
	prev, next *sock
	// The waiters, woken (and forgotten) when readiness may have
	// changed: the first two in w (a Read and a Write, typically), filled
	// from the front, any others in more.
	w    [2]chan struct{}
	more []chan struct{}
	// rd and wr are the blocked calls the host finishes for their
	// callers (see pending): a Read, an Accept or Dial's wait for the
	// handshake in rd, a Write in wr; at most one each, the others wait
	// as waiters.
	rd, wr slot
}

// parked reports whether a call is parked in one of k's slots.
func (k *sock) parked() bool { return k.rd.c != nil || k.wr.c != nil }

// wait registers ch to be woken at the socket's next readiness change.
func (k *sock) wait(ch chan struct{}) {
	for i, w := range k.w {
		switch w {
		case ch:
			return
		case nil:
			k.w[i] = ch
			return
		}
	}
	if !slices.Contains(k.more, ch) {
		k.more = append(k.more, ch)
	}
}

// wake wakes every waiter (and forgets them) once the host's lock is
// released: a goroutine woken while the lock is held would only wait for
// it. A waiter's channel holds one token; a waiter that is not waiting any
// more finds a stale token later and just tries again.
func (k *sock) wake(s *Stack) {
	for i, w := range k.w {
		if w == nil {
			break
		}
		s.wakes = append(s.wakes, w)
		k.w[i] = nil
	}
	if len(k.more) > 0 {
		s.wakes = append(s.wakes, k.more...)
		clear(k.more)
		k.more = k.more[:0]
	}
}

// wakeAll is wake for the parked calls too: woken without a result, they
// take the lock and see what happened (a Close, the host stopping).
func (k *sock) wakeAll(s *Stack) {
	k.wake(s)
	if k.rd.c != nil {
		s.wakeLater(k.rd.c.wakeChan())
	}
	if k.wr.c != nil {
		s.wakeLater(k.wr.c.wakeChan())
	}
}

// eachSock calls fn for every tracked socket's record.
func (s *Stack) eachSock(fn func(k *sock)) {
	s.assertLocked()
	for k := s.socks.next; k != &s.socks; {
		next := k.next // fn may forget k
		fn(k)
		k = next
	}
}

// wakeLater has release poke ch, if it is not nil, once the lock is free:
// a call sleeping on it wakes then, as the waiters sock.wake queues do.
func (s *Stack) wakeLater(ch chan struct{}) {
	s.assertLocked()
	if ch != nil {
		s.wakes = append(s.wakes, ch)
	}
}

// New starts a host with addresses addrs on the link endpoint ep. The
// Stack owns ep from now on and closes it in Close (if New fails, ep is
// left open). Options are applied to stack.DefaultOptions (Linux's
// defaults) with a random ISN key from crypto/rand; the MTU is the
// endpoint's, and the MSS is clamped to fit it.
func New(ep link.Endpoint, addrs []netip.Addr, opts ...Option) (*Stack, error) {
	if ep == nil {
		return nil, errors.New("tcpwave: nil link endpoint")
	}
	cf := config{opts: stack.DefaultOptions(), closeTimeout: DefaultCloseTimeout}
	rand.Read(cf.opts.ISNKey[:])
	for _, o := range opts {
		if o != nil {
			o(&cf)
		}
	}
	mtu := ep.MTU()
	cf.opts.MTU = mtu
	// A link with segmentation offload takes super-packets: bursts of a
	// connection's segments under one header.
	bufLen := mtu
	off, _ := ep.(link.Offloader)
	if off != nil && off.GSOMaxSize() > mtu {
		cf.opts.GSOMaxSize = off.GSOMaxSize()
		bufLen = cf.opts.GSOMaxSize
	} else {
		off = nil
	}
	// A link that passes the sender's buffers charges the receiver less
	// memory per segment than a TUN device's skb, unless set otherwise.
	if ro, ok := ep.(link.RxOverheader); ok && cf.opts.TCP.RxOverhead == 0 {
		cf.opts.TCP.RxOverhead = ro.RxOverhead()
	}
	// A link with checksum offload vouches for the checksums it reads and
	// completes those the stack leaves partial. An Observer is shown
	// packets whose checksums it can verify (trace parses them), so a host
	// with one keeps complete checksums both ways.
	cs, _ := ep.(link.ChecksumOffloader)
	if cs != nil && cs.ChecksumOffload() && cf.obs == nil {
		cf.opts.PartialChecksum = true
	} else {
		cs = nil
	}
	cf.opts.Addrs = make([]netip.Addr, len(addrs))
	for i, a := range addrs {
		cf.opts.Addrs[i] = a.Unmap()
	}
	s := &Stack{
		addrs:        cf.opts.Addrs,
		ep:           ep,
		mtu:          mtu,
		start:        time.Now(),
		closeTimeout: cf.closeTimeout,
		done:         make(chan struct{}),
		readerDone:   make(chan struct{}),
		offload:      off,
		csum:         cs,
		armed:        clock.Never,
	}
	st, err := stack.New(cf.opts, debugObserver(s, cf.obs))
	if err != nil {
		return nil, fmt.Errorf("tcpwave: %w", err)
	}
	// Only now that stack.New has checked the MTU and GSOMaxSize: a
	// negative or huge one from the endpoint is an error, not a panic or
	// a huge buffer.
	s.obuf = make([]byte, bufLen)
	if sw, ok := ep.(swapper); ok && sw.BufferSize() >= bufLen && s.csum == nil {
		s.swap = sw
	}
	s.st = st
	s.pump = stack.Pump{Buf: s.obuf, GSO: true, Budget: flushBudget, Send: s.write, Ready: s.ready}
	s.socks.prev, s.socks.next = &s.socks, &s.socks
	s.timer = time.AfterFunc(time.Hour, s.onTimer)
	s.timer.Stop()
	go s.reader(bufLen)
	return s, nil
}

// ok reports whether s was made by New.
func (s *Stack) ok() bool { return s != nil && s.st != nil }

// now is the stack's clock, time since New, as read when the host's lock
// was taken: what a holder of the lock does happens at one instant, and
// the clock is read once for it, not at every step.
func (s *Stack) now() clock.Instant {
	s.assertLocked()
	return s.t
}

// readerFirst is how many times a call about to take the host's lock
// yields to the reader waiting for it (readerWaits) before it queues for
// the lock anyway.
const readerFirst = 3

// lock takes the host's lock, after the reader if it waits for it: a
// Write that takes the lock again as soon as it let it go (64 KiB
// writes, one after the other) would otherwise keep the reader, and the
// ACKs that let the data go out, waiting for milliseconds, until the
// lock hands itself over (sync.Mutex's starvation mode). It fails,
// leaving the lock free, when the host has stopped.
func (s *Stack) lock() bool {
	for range readerFirst {
		if !s.readerWaits.Load() {
			break
		}
		s.yields.Add(1)
		runtime.Gosched()
	}
	return s.take()
}

// lockReader is lock for the reader, which goes first.
func (s *Stack) lockReader() bool {
	s.readerWaits.Store(true)
	ok := s.take()
	s.readerWaits.Store(false)
	return ok
}

// take takes the host's lock, failing when the host has stopped.
func (s *Stack) take() bool {
	s.assertNotInCallback()
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return false
	}
	s.holds++
	s.tick()
	return true
}

// tick reads the clock for what the lock holder does next.
func (s *Stack) tick() { s.t = clock.Instant(time.Since(s.start)) }

// unlock finishes what the lock holder did (see flush), stops the host
// when a Close has nothing left to wait for, and releases the lock.
func (s *Stack) unlock() {
	s.flush()
	// Close may stop the host once every connection has finished, or
	// waits in TIME_WAIT (whose only job, answering a retransmitted FIN,
	// ends with the host).
	if s.closing && s.st.Settled() && !s.behind {
		s.stopAndRelease()
		return
	}
	s.release()
}

// stopAndRelease stops the host (shutdown), releases the lock and closes
// the endpoint, which ends the reader.
func (s *Stack) stopAndRelease() {
	s.shutdown()
	s.release()
	s.ep.Close()
}

// release releases the host's lock and then wakes the waiters that
// sock.wake queued. Up to eight are woken after the release; any more
// (a batch or a Close that touched many sockets) are woken before it,
// which costs them a wait for the lock but allocates nothing.
func (s *Stack) release() {
	var buf [8]chan struct{}
	n := copy(buf[:], s.wakes)
	for _, ch := range s.wakes[n:] {
		poke(ch)
	}
	clear(s.wakes)
	s.wakes = s.wakes[:0]
	s.mu.Unlock()
	for _, ch := range buf[:n] {
		poke(ch)
	}
}

// run runs fn with the host's lock held. It fails only when the host has
// stopped.
func (s *Stack) run(fn func()) error {
	if !s.lock() {
		return net.ErrClosed
	}
	fn()
	s.unlock()
	return nil
}

// onTimer runs when the timer set by flush fires.
func (s *Stack) onTimer() {
	if !s.lock() {
		return
	}
	s.armed = clock.Never // fired: flush sets it again if need be
	s.unlock()
}

// maxCompleteRounds bounds flush's rounds of sending and finishing
// blocked calls; past it, blocked calls are woken to retry by themselves.
const maxCompleteRounds = 8

// flushBudget is the most packets one flush writes to the link. What the
// stack has to send at once is bounded by its windows and buffers, but a
// peer can make that large: a tiny MSS (8 bytes of payload beside three
// SACK blocks) with a wide window and a grown congestion window let one
// ACK free tens of thousands of segments. Past the budget the flush stops
// and sets the timer to fire at once, so the lock is released and the
// rest goes out from the timer's flush (or whichever comes first), as
// Linux's NAPI and TSQ budgets let other work in between.
const flushBudget = 1024

// flush runs due timers, sends the packets the stack has (at most
// flushBudget; the timer goes on with the rest), finishes the blocked
// calls it can (pending) and wakes the waiters of sockets whose
// readiness may have changed, and sets the timer for the next deadline.
func (s *Stack) flush() {
	now := s.now()
	s.round = 0
	sent := s.st.Step(now, &s.pump)
	// The timer is moved only to an earlier deadline. Set for an earlier
	// one than the stack now has (its connection finished, its data was
	// ACKed), it fires once for nothing and onTimer sets it again: that
	// costs one hold of the lock per deadline set, where moving it at every
	// step cost a timer reset per step (about one per connection's
	// lifecycle, in churn).
	s.behind = sent == flushBudget
	d := s.st.Deadline()
	if s.behind {
		d = now // the stack may have more to send: go on at once
	}
	if d < s.armed {
		s.armed = d
		s.timer.Reset(max(d.Sub(now), 0))
	}
}

// ready is the host's stack.Pump.Ready: it finishes or retries the calls
// parked on the touched sockets (complete) and reports whether it tried
// any, which may have left segments to send; past maxCompleteRounds
// rounds of one flush it wakes them to retry by themselves instead.
func (s *Stack) ready(touched []*stack.Socket) bool {
	tried := false
	for _, so := range touched {
		k, _ := so.Owner().(*sock)
		switch {
		case k == nil:
			continue
		case k.parked() && s.round < maxCompleteRounds:
			tried = true
			s.complete(k)
		default:
			k.wakeAll(s)
		}
	}
	s.round++
	return tried
}

// write is the host's stack.Pump.Send: a super-packet goes to the link
// whole (segSize > 0, with offload), a packet as it is. An error from the
// endpoint means it is closed; the packet is lost as on a link that went
// down.
func (s *Stack) write(pkt []byte, segSize int) {
	switch {
	case s.csum != nil:
		if segSize > 0 || len(pkt) <= s.mtu {
			_ = s.csum.WritePartial(pkt, segSize)
		}
	case s.swap != nil:
		s.writeSwap(pkt, segSize)
	case segSize > 0:
		_ = s.offload.WriteGSO(pkt, segSize)
	case len(pkt) <= s.mtu:
		_ = s.ep.WritePacket(pkt)
	}
}

// writeSwap is write on a swapper: the link keeps the packet's buffer
// and the next packet is built in the one it gives back.
func (s *Stack) writeSwap(pkt []byte, segSize int) {
	var next []byte
	switch {
	case segSize > 0:
		next, _ = s.swap.SwapGSO(pkt, segSize)
	case len(pkt) <= s.mtu:
		next, _ = s.swap.SwapPacket(pkt)
	default:
		return
	}
	if len(next) < len(s.obuf) {
		next = make([]byte, len(s.obuf)) // not expected: a link keeps its word
	}
	s.obuf = next[:len(s.obuf)]
	s.pump.Buf = s.obuf
}

// complete tries the calls parked on k again (see pending), finishing
// those it can, and wakes k's waiters. The calls' attempts run as
// callbacks: debug builds check that they never take the lock.
func (s *Stack) complete(k *sock) {
	cb := s.enterCallbacks()
	k.rd.complete(s)
	k.wr.complete(s)
	s.leaveCallbacks(cb)
	k.wake(s)
}

// shutdown stops the host, with its lock held: it records the last
// counters, stops the timer and wakes every waiter. The caller closes the
// endpoint once it has released the lock, which ends the reader.
func (s *Stack) shutdown() {
	s.assertLocked()
	s.stopped = true
	s.final = s.st.Counters()
	s.timer.Stop()
	s.eachSock(func(k *sock) { k.wakeAll(s) })
	close(s.done)
}

// reader moves packets from the link into the stack; where it must copy
// them, into buffers of bufLen bytes (MTU bytes, or GSOMaxSize with
// offload).
func (s *Stack) reader(bufLen int) {
	defer close(s.readerDone)
	in := newPacketSource(s.ep, bufLen, s.csum)
	errs := 0 // consecutive read errors, for a backoff on a failing link
	for {
		pkt, checked, err := in.next()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || isClosedChan(s.done) {
				return
			}
			errs++ // a bad packet: skip it
			if errs > 1 {
				time.Sleep(time.Duration(min(errs, 100)) * time.Millisecond)
			}
			continue
		}
		errs = 0
		// The packets queued behind this one make a batch: the stack
		// answers them once (one flush), as a NIC's interrupt coalescing
		// lets a kernel do. Where the reader copies packets, it reads
		// them before it takes the lock, each into a buffer of its own,
		// so that the lock is not held across the link's reads (system
		// calls, on a TUN device) while the connections' users wait for
		// it; a lent packet is only good until the next read, so those
		// are taken one by one with the lock held.
		more := in.readAhead()
		if !s.lockReader() {
			return
		}
		s.handle(pkt, checked)
		for _, p := range more {
			s.tick() // each packet at its own instant
			s.handle(p.pkt, p.checked)
		}
		for range inBatch - 1 {
			pkt := in.pollLent()
			if len(pkt) == 0 {
				break
			}
			s.tick()
			s.handle(pkt, false)
		}
		s.unlock()
	}
}

// readAheadBytes bounds the buffer the reader reads a batch into before
// it takes the lock (packetSource.arena): packets are packed in it, so
// that it holds a whole batch (inBatch) of small ones however large the
// reader's buffers (GSOMaxSize, with offload), or 16 super-packets of
// 64 KiB.
const readAheadBytes = 1 << 20

// packetSource is how the reader takes packets from its endpoint: in
// the link's own buffers when it lends them (lender), else copied into
// the reader's buffers, with the link's word on their checksums where it
// has checksum offload (link.ChecksumOffloader); and, for a batch, the
// packets already waiting, when the endpoint can tell (lender,
// link.Poller).
type packetSource struct {
	ep     link.Endpoint
	poller link.Poller
	lend   lender
	csum   link.ChecksumOffloader
	buf    []byte     // next's
	arena  []byte     // readAhead's packets, one after the other; made at its first call
	ahead  []inPacket // readAhead's result, reused
}

// inPacket is a packet readAhead read, and whether the link vouched for
// its checksum.
type inPacket struct {
	pkt     []byte
	checked bool
}

// newPacketSource reads ep with buffers of n bytes where it must copy;
// csum is ep when the host uses its checksum offload, else nil.
func newPacketSource(ep link.Endpoint, n int, csum link.ChecksumOffloader) *packetSource {
	in := &packetSource{ep: ep, csum: csum}
	if l, ok := ep.(lender); ok && csum == nil {
		in.lend = l
		return in
	}
	in.poller, _ = ep.(link.Poller)
	in.buf = make([]byte, n)
	return in
}

// next waits for the next packet, valid until the next call of next;
// checked reports that the link vouched for its TCP checksum.
func (in *packetSource) next() (pkt []byte, checked bool, err error) {
	if in.lend != nil {
		pkt, err = in.lend.NextPacket()
		return pkt, false, err
	}
	n, checked, err := in.read(in.buf, true)
	return in.buf[:n], checked, err
}

// read copies a packet into buf, waiting for one if wait (else, on a
// link.Poller, returning 0 when none waits), with the link's word on its
// checksum where the host uses its checksum offload.
func (in *packetSource) read(buf []byte, wait bool) (n int, checked bool, err error) {
	switch {
	case in.csum != nil:
		return in.csum.ReadPacketChecked(buf, wait)
	case wait:
		n, err = in.ep.ReadPacket(buf)
	default:
		n, err = in.poller.PollPacket(buf)
	}
	return n, false, err
}

// readAhead takes, without waiting, the packets already queued behind
// the one next returned, one after the other in a buffer of its own: up
// to inBatch-1 of them, while a read of next's buffer's length still
// fits in readAheadBytes. They stay valid until the next call of next.
// It takes none from a lender (whose packet is only good until its next
// read) nor from an endpoint that cannot tell whether one waits; it
// stops at an error, which the next read meets again or was about one
// packet only.
func (in *packetSource) readAhead() []inPacket {
	in.ahead = in.ahead[:0]
	if in.poller == nil {
		return nil
	}
	size := len(in.buf)
	if in.arena == nil {
		in.arena = make([]byte, min(readAheadBytes, (inBatch-1)*size)) // size is at most 65535 (stack.New)
	}
	for used := 0; len(in.ahead) < inBatch-1 && len(in.arena)-used >= size; {
		buf := in.arena[used : used+size : used+size]
		n, checked, err := in.read(buf, false)
		if n == 0 || err != nil {
			break
		}
		in.ahead = append(in.ahead, inPacket{buf[:n], checked})
		used += n
	}
	return in.ahead
}

// pollLent is next without the wait for a lender: nil when no packet
// waits, when the read fails, or when the endpoint is not a lender.
func (in *packetSource) pollLent() []byte {
	if in.lend == nil {
		return nil
	}
	pkt, err := in.lend.PollNext()
	if err != nil {
		return nil
	}
	return pkt
}

// handle gives the stack the packet pkt, read from the link, with the
// host's lock held; checked says that the link vouched for its checksum.
func (s *Stack) handle(pkt []byte, checked bool) {
	if checked {
		s.st.HandleCheckedPacket(s.now(), pkt)
	} else {
		s.st.HandlePacket(s.now(), pkt)
	}
}

// track makes the host follow a socket's readiness with the record k
// (which the caller may have made as part of something larger, a Conn).
func (s *Stack) track(so *stack.Socket, k *sock) *sock {
	s.assertLocked()
	k.so = so
	k.prev, k.next = s.socks.prev, &s.socks
	k.prev.next, s.socks.prev = k, k
	so.SetOwner(k)
	return k
}

// forget stops following a socket. Forgetting one twice does nothing.
func (s *Stack) forget(k *sock) {
	s.assertLocked()
	k.wakeAll(s)
	if k.next == nil {
		return
	}
	k.prev.next, k.next.prev = k.next, k.prev
	k.prev, k.next = nil, nil
	k.so.SetOwner(nil)
}

// Close closes the host as the exit of a process closes its descriptors:
// listeners stop, every connection sends its FIN after its data (or a RST
// if it has unread data or SO_LINGER 0), and the host keeps answering its
// peers until every connection has finished its close (TIME_WAIT aside)
// or the close timeout (WithCloseTimeout, DefaultCloseTimeout) passes.
// Then it stops its goroutines and closes the endpoint. Calls blocked on
// the stack's connections return net.ErrClosed; so do all later calls.
// A second Close returns an error that wraps net.ErrClosed.
func (s *Stack) Close() error {
	if !s.ok() {
		return errInvalid("close")
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.closeTimeout)
	defer cancel()
	if err := s.CloseContext(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// CloseContext is Close with ctx in place of the close timeout: when ctx
// ends before every connection has finished its close, the host stops
// anyway and CloseContext returns ctx.Err().
func (s *Stack) CloseContext(ctx context.Context) error {
	if !s.ok() {
		return errInvalid("close")
	}
	if ctx == nil {
		ctx = context.Background()
	}
	if !s.closed.CompareAndSwap(false, true) {
		return opError("close", "tcp", nil, nil, net.ErrClosed)
	}
	err := s.run(func() {
		s.closing = true
		s.st.CloseAll(s.now())
		s.eachSock(func(k *sock) { k.wakeAll(s) })
	})
	if err == nil {
		select {
		case <-s.done:
		case <-ctx.Done():
			err = ctx.Err()
			if s.lock() {
				s.stopAndRelease()
			}
			<-s.done
		}
	} else {
		err = nil // the host had stopped already
	}
	<-s.readerDone
	return err
}

// Connections lists the host's connections, listeners and TIME_WAIT
// records, the rows `ss -tan -o` shows. After Close it returns nil.
func (s *Stack) Connections() []stack.ConnInfo {
	if !s.ok() {
		return nil
	}
	var rows []stack.ConnInfo
	s.run(func() { rows = s.st.Connections(s.now()) })
	return rows
}

// Counters returns the host's MIB counters (as nstat shows them). After
// Close it returns their final values.
func (s *Stack) Counters() stack.Counters {
	if !s.ok() {
		return stack.Counters{}
	}
	var c stack.Counters
	if s.run(func() { c = s.st.Counters() }) != nil {
		return s.final
	}
	return c
}

// Addrs returns the host's addresses.
func (s *Stack) Addrs() []netip.Addr {
	if !s.ok() {
		return nil
	}
	return slices.Clone(s.addrs)
}
