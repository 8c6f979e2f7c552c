package tcpwave

import (
	"net"
	"sync/atomic"
)

// pending is the state of one blocking call with a result of type T,
// shared between the goroutine that made the call (the caller) and
// whoever holds the host's lock when the socket's readiness changes (the
// host: the reader, mostly). The host finishes the call on its caller's
// behalf and wakes the caller only with the result, which the caller
// takes without the lock: a caller that woke to retry by itself would
// take a contended lock once more for each wait. A Linux reader blocked
// in recvmsg is woken to copy the data itself; the bytes and the
// segments are the same.
//
// The protocol has four steps:
//
//  1. Register. The caller tries the call with the lock held (attempt).
//     When it would block, the caller parks it in one of the socket's two
//     slots (sock.rd, sock.wr) with park; when another call holds that
//     slot, the caller waits on the socket's waiter list instead and
//     tries again when woken.
//  2. Complete. Whoever holds the lock when the socket is touched
//     (stack.Stack.Touched) tries the parked call again (complete). A call
//     that finished leaves the slot, and its caller's channel is queued to
//     be woken once the lock is released (Stack.wakes).
//  3. Cancel. The caller, woken without its result (a deadline, Close, the
//     host stopping or too busy to finish the call), takes the lock and
//     takes the call off its slot (cancel), and looks at done once more:
//     the host may have finished it in between.
//  4. Take. Once done is seen, the caller reads the result (take) without
//     the lock and resets the state for its next call.
//
// The result (val, err) is written with the lock held, before done; the
// caller reads it after seeing done (an atomic, set last, which publishes
// it), or with the lock held, or when the call is not parked, when no one
// else writes it.
type pending[T any] struct {
	ch   chan struct{} // the caller sleeps on it; room for one token; made on the first wait
	val  T
	err  error
	done atomic.Bool
}

// A completer is a blocking call: a type that embeds a pending (which
// gives it publish and wakeChan) and has an attempt of its own.
type completer interface {
	// attempt is one try of the call, with the host's lock held. It
	// reports whether the call has finished, with a result or an error,
	// which it then has left in the pending state (finish). It must not
	// take the host's lock (its caller holds it) nor block.
	attempt() bool
	// publish marks the result ready for the caller (done).
	publish()
	// wakeChan is the channel the caller sleeps on.
	wakeChan() chan struct{}
}

// slot is the place of one parked call on a socket. It is guarded by the
// host's lock.
type slot struct{ c completer }

func (p *pending[T]) publish()                { p.done.Store(true) }
func (p *pending[T]) wakeChan() chan struct{} { return p.ch }

// finish records the call's result, with the lock held (by an attempt).
func (p *pending[T]) finish(v T, err error) {
	p.val, p.err = v, err
}

// park is step 1 for a call c (which embeds p) that would block: with
// the lock held, it parks c in sl, one of k's slots, or, when another
// call holds sl, puts the caller on k's waiter list. It reports whether c
// took the slot (and so must be cancelled if its caller wakes without the
// result).
func (p *pending[T]) park(k *sock, sl *slot, c completer) bool {
	if p.ch == nil {
		p.ch = make(chan struct{}, 1)
	}
	if sl.c != nil {
		k.wait(p.ch)
		return false
	}
	sl.c = c
	return true
}

// cancel is step 3: it takes the call off sl, taking the lock, and
// reports whether the host finished it first.
func (p *pending[T]) cancel(s *Stack, sl *slot, c completer) bool {
	if s.lock() {
		sl.drop(c)
		s.unlock()
	}
	return p.done.Load()
}

// take is step 4: it returns the call's result and resets the state.
func (p *pending[T]) take() (T, error) {
	v, err := p.val, p.err
	var zero T
	p.val, p.err = zero, nil
	p.done.Store(false)
	return v, err
}

// await makes the blocking call c, which embeds p, parked in sl (one of
// k's slots) while it waits, and returns its result. Before each try,
// check (without the lock) may end the call with an error (Close, the
// deadline): await then returns that error with the result so far (a
// Write's bytes queued). sleep blocks until a token comes on the channel
// or something else ends the wait, which it returns as an error: await
// takes the call off its slot and returns that error with the result so
// far.
func (p *pending[T]) await(s *Stack, k *sock, sl *slot, c completer, check func() error, sleep func(chan struct{}) error) (T, error) {
	for {
		if err := check(); err != nil {
			v, _ := p.take()
			return v, err
		}
		if !s.lock() {
			v, _ := p.take()
			return v, net.ErrClosed
		}
		finished := c.attempt()
		parked := !finished && p.park(k, sl, c)
		s.unlock()
		if finished {
			return p.take()
		}
		// A token comes with the result (the host finished the call), or
		// without it: the deadline, Close, the host stopping (which wakes
		// every call), a waiter's turn to try again.
		err := sleep(p.ch)
		if p.done.Load() || parked && p.cancel(s, sl, c) {
			return p.take()
		}
		if err != nil {
			v, _ := p.take()
			return v, err
		}
	}
}

// drop takes c off the slot, if it is the call parked there.
func (sl *slot) drop(c completer) {
	if sl.c == c {
		*sl = slot{}
	}
}

// complete tries the call parked in sl again, with the host's lock held;
// when it finishes, its caller is woken once the lock is released.
func (sl *slot) complete(s *Stack) {
	if sl.c != nil && sl.c.attempt() {
		sl.c.publish()
		s.wakes = append(s.wakes, sl.c.wakeChan())
		*sl = slot{}
	}
}
