package tcpwave

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/link"
	"github.com/tcpwave/tcpwave/stack"
	"github.com/tcpwave/tcpwave/tcp"
)

// Sizes of the host's packet plumbing.
const (
	inQueue = 64 // packets read from the link, waiting for the loop
	inBatch = 64 // packets the loop handles before it flushes output
)

// Stack is one host: a TCP/IP stack on one link endpoint, with its own
// addresses, ports and connections.
//
// A Stack runs two goroutines, whatever the number of connections: the
// loop, which owns the sans-IO stack.Stack and does everything to it
// (packets in, user calls, timers, packets out), and a reader, which
// blocks in the endpoint's ReadPacket and hands packets to the loop.
// Methods of the Stack, its Conns and its Listeners may be called from any
// goroutine: each call is run on the loop and waits for it, and a call
// that must wait (for data, for room, for a connection) sleeps until the
// loop reports that the socket's readiness changed.
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

	reqs       chan *request
	in         chan []byte   // packets from the reader
	free       chan []byte   // the reader's empty buffers
	stop       chan struct{} // closed when Close gives up waiting
	done       chan struct{} // closed when the loop has stopped
	readerDone chan struct{}
	closed     atomic.Bool // Close was called
	stopOnce   sync.Once
	reqPool    sync.Pool // *request for run; per stack, as a stack's channels belong to its synctest bubble

	// Owned by the loop goroutine.
	socks   map[*stack.Socket]*sock
	closing bool // CloseAll has run: user calls fail with net.ErrClosed
	obuf    []byte
	offload link.Offloader // ep, when it takes super-packets
	timer   *time.Timer
	armed   clock.Instant // the deadline the timer is set for
	final   stack.Counters
}

// sock is the host's record of a socket: who waits on it. It is owned by
// the loop goroutine.
type sock struct {
	so      *stack.Socket
	waiters []chan struct{} // woken (and forgotten) when readiness may have changed
}

// wait registers ch to be woken at the socket's next readiness change.
func (k *sock) wait(ch chan struct{}) {
	if !slices.Contains(k.waiters, ch) {
		k.waiters = append(k.waiters, ch)
	}
}

// wake wakes every waiter. A waiter's channel holds one token; a waiter
// that is not waiting any more finds a stale token later and just tries
// again.
func (k *sock) wake() {
	for i, ch := range k.waiters {
		select {
		case ch <- struct{}{}:
		default:
		}
		k.waiters[i] = nil
	}
	k.waiters = k.waiters[:0]
}

// request is a call to run on the loop goroutine.
type request struct {
	fn   func()
	done chan struct{} // one token when fn has returned
}

func newRequest(fn func()) request { return request{fn: fn, done: make(chan struct{}, 1)} }

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
	cf.opts.Addrs = make([]netip.Addr, len(addrs))
	for i, a := range addrs {
		cf.opts.Addrs[i] = a.Unmap()
	}
	st, err := stack.New(cf.opts, cf.obs)
	if err != nil {
		return nil, fmt.Errorf("tcpwave: %w", err)
	}
	s := &Stack{
		st:           st,
		addrs:        cf.opts.Addrs,
		ep:           ep,
		mtu:          mtu,
		start:        time.Now(),
		closeTimeout: cf.closeTimeout,
		reqs:         make(chan *request),
		in:           make(chan []byte, inQueue),
		free:         make(chan []byte, inQueue+1),
		stop:         make(chan struct{}),
		done:         make(chan struct{}),
		readerDone:   make(chan struct{}),
		socks:        make(map[*stack.Socket]*sock),
		obuf:         make([]byte, bufLen),
		offload:      off,
		armed:        clock.Never,
	}
	for range inQueue + 1 {
		s.free <- make([]byte, bufLen)
	}
	s.timer = time.NewTimer(time.Hour)
	s.timer.Stop()
	go s.loop()
	go s.reader()
	return s, nil
}

// ok reports whether s was made by New.
func (s *Stack) ok() bool { return s != nil && s.st != nil }

// now is the stack's clock: time since New.
func (s *Stack) now() clock.Instant { return clock.Instant(time.Since(s.start)) }

// do runs r on the loop and waits for it. It fails only when the loop has
// stopped.
func (s *Stack) do(r *request) error {
	select {
	case s.reqs <- r:
	case <-s.done:
		return net.ErrClosed
	}
	<-r.done
	return nil
}

// run runs fn on the loop and waits for it.
func (s *Stack) run(fn func()) error {
	r, _ := s.reqPool.Get().(*request)
	if r == nil {
		nr := newRequest(nil)
		r = &nr
	}
	r.fn = fn
	err := s.do(r)
	r.fn = nil
	s.reqPool.Put(r)
	return err
}

// loop is the host: the only goroutine that touches s.st.
func (s *Stack) loop() {
	defer s.shutdown()
	for {
		select {
		case r := <-s.reqs:
			r.fn()
			r.done <- struct{}{}
		case p := <-s.in:
			s.handle(p)
		batch:
			for range inBatch - 1 {
				select {
				case p = <-s.in:
					s.handle(p)
				default:
					break batch
				}
			}
		case <-s.timer.C:
			s.armed = clock.Never
			s.st.HandleTimeout(s.now())
		case <-s.stop:
			return
		}
		s.flush()
		if s.closing && s.drained() {
			return
		}
	}
}

// handle gives one packet to the stack and recycles its buffer.
func (s *Stack) handle(p []byte) {
	s.st.HandlePacket(s.now(), p)
	s.free <- p[:cap(p)]
}

// flush runs due timers, sends every packet the stack has, wakes the
// waiters of sockets whose readiness may have changed, and sets the timer
// for the next deadline.
func (s *Stack) flush() {
	now := s.now()
	if s.st.Deadline() <= now {
		s.st.HandleTimeout(now)
	}
	for {
		// An error from the endpoint means it is closed; the packet is
		// lost as on a link that went down.
		if s.offload != nil {
			n, size := s.st.PollPacketGSO(now, s.obuf)
			if n == 0 {
				break
			}
			if size > 0 {
				_ = s.offload.WriteGSO(s.obuf[:n], size)
			} else if n <= s.mtu {
				_ = s.ep.WritePacket(s.obuf[:n])
			}
			continue
		}
		n := s.st.PollPacket(now, s.obuf)
		if n == 0 {
			break
		}
		if n <= s.mtu {
			_ = s.ep.WritePacket(s.obuf[:n])
		}
	}
	for _, so := range s.st.Touched() {
		if k := s.socks[so]; k != nil {
			k.wake()
		}
	}
	d := s.st.Deadline()
	if d == s.armed {
		return
	}
	s.armed = d
	if d == clock.Never {
		s.timer.Stop()
		return
	}
	s.timer.Reset(max(d.Sub(now), 0))
}

// drained reports whether Close may stop the host: every connection has
// finished, or waits in TIME_WAIT (whose only job, answering a
// retransmitted FIN, ends with the host).
func (s *Stack) drained() bool {
	for _, r := range s.st.Connections(s.now()) {
		if r.State != tcp.TimeWait {
			return false
		}
	}
	return true
}

// shutdown runs when the loop ends: it records the last counters, stops
// everything and closes the endpoint, which ends the reader.
func (s *Stack) shutdown() {
	s.final = s.st.Counters()
	s.timer.Stop()
	for _, k := range s.socks {
		k.wake()
	}
	close(s.done)
	s.ep.Close()
}

// reader moves packets from the link to the loop.
func (s *Stack) reader() {
	defer close(s.readerDone)
	errs := 0 // consecutive read errors, for a backoff on a failing link
	for {
		var buf []byte
		select {
		case buf = <-s.free:
		case <-s.done:
			return
		}
		n, err := s.ep.ReadPacket(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.free <- buf // a bad packet: skip it
			errs++
			if errs > 1 {
				time.Sleep(time.Duration(min(errs, 100)) * time.Millisecond)
			}
			continue
		}
		errs = 0
		select {
		case s.in <- buf[:n]:
		case <-s.done:
			return
		}
	}
}

// track makes the host follow a socket's readiness.
func (s *Stack) track(so *stack.Socket) *sock {
	k := &sock{so: so}
	s.socks[so] = k
	return k
}

// forget stops following a socket.
func (s *Stack) forget(k *sock) {
	k.wake()
	delete(s.socks, k.so)
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
		for _, k := range s.socks {
			k.wake()
		}
	})
	if err == nil {
		select {
		case <-s.done:
		case <-ctx.Done():
			err = ctx.Err()
			s.stopOnce.Do(func() { close(s.stop) })
			<-s.done
		}
	} else {
		err = nil // the loop had stopped already
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
