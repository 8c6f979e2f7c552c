//go:build tcpwavedebug

package tcpwave

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/stack"
	"github.com/tcpwave/tcpwave/tcp"
)

// debugState holds the state of the debug checks (the tcpwavedebug build
// tag): the goroutine running callbacks with the host's lock held (a
// blocked call's attempt, an Observer), 0 when none is. A goroutine that
// finds the lock taken and is that goroutine would wait for itself
// forever: it panics instead.
type debugState struct {
	callbacks atomic.Uint64 // the goroutine running callbacks, or 0
	depth     int           // nested callback regions (guarded by the lock)
	bufs      sync.Pool     // buffers for goid
}

// assertLocked panics unless the host's lock is held. It cannot tell who
// holds it; the lock held by nobody is the mistake it catches.
func (s *Stack) assertLocked() {
	if s.mu.TryLock() {
		s.mu.Unlock()
		panic("tcpwave: the host's lock is not held")
	}
}

// assertNotInCallback runs as lock is about to take the host's lock: it
// panics when the lock is held by this goroutine, running a callback.
func (s *Stack) assertNotInCallback() {
	g := s.dbg.callbacks.Load()
	if g != 0 && g == s.goid() {
		panic("tcpwave: the host's lock taken inside a callback (a blocked call's attempt or an Observer), which runs with it held")
	}
}

// enterCallbacks marks this goroutine, which holds the host's lock, as
// running callbacks until leaveCallbacks; it returns what leaveCallbacks
// wants.
func (s *Stack) enterCallbacks() bool {
	s.assertLocked()
	s.dbg.depth++
	if s.dbg.depth == 1 {
		s.dbg.callbacks.Store(s.goid())
	}
	return true
}

// leaveCallbacks ends what enterCallbacks began.
func (s *Stack) leaveCallbacks(bool) {
	s.dbg.depth--
	if s.dbg.depth == 0 {
		s.dbg.callbacks.Store(0)
	}
}

// goid is the calling goroutine's id, read from the first line of its
// stack trace ("goroutine 42 [running]:"). It is slow (microseconds),
// which is why only debug builds use it, and only around callbacks.
func (s *Stack) goid() uint64 {
	bp, _ := s.dbg.bufs.Get().(*[64]byte)
	if bp == nil {
		bp = new([64]byte)
	}
	defer s.dbg.bufs.Put(bp)
	b := bp[:runtime.Stack(bp[:], false)]
	const prefix = "goroutine "
	if len(b) < len(prefix) {
		panic("tcpwave: no goroutine id in runtime.Stack's trace")
	}
	var id uint64
	for _, c := range b[len(prefix):] {
		if c < '0' || c > '9' {
			break
		}
		id = id*10 + uint64(c-'0')
	}
	return id
}

// debugObserver wraps obs so that each of its calls runs as a callback:
// one that takes the host's lock panics.
func debugObserver(s *Stack, obs stack.Observer) stack.Observer {
	if obs == nil {
		return nil
	}
	return &checkedObserver{s: s, obs: obs}
}

type checkedObserver struct {
	s   *Stack
	obs stack.Observer
}

func (o *checkedObserver) PacketSent(now clock.Instant, pkt []byte) {
	defer o.s.leaveCallbacks(o.s.enterCallbacks())
	o.obs.PacketSent(now, pkt)
}

func (o *checkedObserver) PacketReceived(now clock.Instant, pkt []byte) {
	defer o.s.leaveCallbacks(o.s.enterCallbacks())
	o.obs.PacketReceived(now, pkt)
}

func (o *checkedObserver) PacketDropped(now clock.Instant, pkt []byte, err error) {
	defer o.s.leaveCallbacks(o.s.enterCallbacks())
	o.obs.PacketDropped(now, pkt, err)
}

func (o *checkedObserver) StateChanged(now clock.Instant, t stack.Tuple, from, to tcp.State, why string) {
	defer o.s.leaveCallbacks(o.s.enterCallbacks())
	o.obs.StateChanged(now, t, from, to, why)
}
