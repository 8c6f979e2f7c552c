package stack

import (
	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/tcp"
)

// phase is where a Socket is in its life. The transitions:
//
//	phaseIdle   -> phaseListen  Listen
//	phaseListen -> phaseIdle    Close, or Shutdown(SHUT_RD) (closeListener)
//	phaseIdle   -> phaseOpen    Connect, or a listener's child adopted (adopt)
//	phaseOpen   -> phaseOrphan  Close of the last handle, the connection still
//	                            finishing its close (orphaned)
//	phaseOpen, phaseOrphan -> phaseDone
//	                            the connection is over: released, turned into
//	                            a TIME_WAIT record, or dropped (detach)
//	phaseDone, phaseIdle -> phaseIdle
//	                            Close of the last handle: the port and the
//	                            connection are let go
//
// A socket holds a connection (conn) in phaseOpen and phaseOrphan, and
// still refers to the finished one in phaseDone, for its error.
type phase uint8

const (
	phaseIdle   phase = iota // no connection, not listening; bound or not
	phaseListen              // a listener
	phaseOpen                // a live connection with open handles
	// phaseOrphan is a live connection the application has closed, still
	// finishing its close: counted in Stack.orphans.
	phaseOrphan
	// phaseDone is a connection that is over: it moved to a TIME_WAIT
	// record, was released, or was dropped half-open.
	phaseDone
)

// live reports whether the socket drives a connection (phaseOpen or
// phaseOrphan): only then do user calls and the stack act on it.
func (so *Socket) live() bool { return so.phase == phaseOpen || so.phase == phaseOrphan }

// orphaned moves a connection the application has just closed that lives
// on to finish its close to phaseOrphan (Linux's orphan count) and, beyond
// MaxOrphans, resets it as Linux's tcp_close does when tcp_check_oom
// fails: RST, CLOSED, TCPAbortOnMemory.
func (s *Stack) orphaned(now clock.Instant, so *Socket) {
	if st := so.conn.State(); st == tcp.Closed || st == tcp.TimeWait {
		return
	}
	so.phase = phaseOrphan
	s.orphans++
	if s.orphans > s.opts.MaxOrphans {
		s.counters.TCPAbortOnMemory++
		so.conn.AbortOnMemory(now)
	}
}

// detachReason says why a connection's socket leaves the stack's tables.
type detachReason uint8

const (
	// detachReleased: the connection is CLOSED with nothing left to send
	// (tcp.Conn.Released), or was dropped by the stack. A port taken by
	// bind() stays held while the application has a handle on it.
	detachReleased detachReason = iota
	// detachTimeWait: the connection became a TIME_WAIT record, which
	// holds its port from now on.
	detachTimeWait
	// detachTimeWaitFull: the connection reached TIME_WAIT with no record
	// left (tcp_max_tw_buckets): it is closed without one.
	detachTimeWaitFull
	// detachHalfOpen: a SYN_RCVD child of a listener that closed is
	// dropped without a RST: Linux's request sockets die with their
	// listener (inet_csk_listen_stop, reqsk_timer_handler), and a late ACK
	// then meets no socket.
	detachHalfOpen
)

// detach is the one way out of the stack's tables for a connection's
// socket (phaseOpen or phaseOrphan to phaseDone), whatever ended it: its
// counts are collected, it leaves the orphan count, the demux table and
// the timer wheel, gives its loss state to the stack's cache
// (tcp.Conn.Recycle), lets go of its port (unless a bind() port still has a
// handle), drops its link to a listener whose accept queue does not hold
// it, tells the observer of a state change the connection itself did not
// report, and is touched so that its waiters wake.
func (s *Stack) detach(now clock.Instant, so *Socket, why detachReason) {
	s.collect(so)
	if so.phase == phaseOrphan {
		s.orphans--
	}
	so.phase = phaseDone
	so.conn.Recycle() // the connection never runs again
	s.delConn(so)
	s.timers.remove(so)
	if so.bound && (why != detachReleased || !(so.userBound && so.refs > 0)) {
		s.release(so.tuple.Local.Port(), so)
		so.bound = false
	}
	if so.parent != nil && !inQueue(so.parent, so) {
		so.parent = nil
	}
	switch why {
	case detachTimeWaitFull:
		if s.obs != nil {
			s.obs.StateChanged(now, so.tuple, tcp.TimeWait, tcp.Closed,
				"TIME_WAIT table full (tcp_max_tw_buckets): closed without TIME_WAIT (Linux TCPTimeWaitOverflow)")
		}
	case detachHalfOpen:
		s.stateChanged(now, so, tcp.SynRcvd, tcp.Closed, "listener closed: half-open connection dropped (Linux inet_csk_listen_stop)")
	}
	s.touch(so)
}

// inQueue reports whether so waits in listener l's accept queue.
func inQueue(l, so *Socket) bool {
	for _, c := range l.acceptQ {
		if c == so {
			return true
		}
	}
	return false
}
