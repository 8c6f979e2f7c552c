package stack

import (
	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/tcp"
)

// twEntry is a TIME_WAIT record: the connection itself has been freed.
type twEntry struct {
	t                    Tuple
	rec                  tcp.TWRecord
	reuseAddr, reusePort bool
}

// twItem is one expiry in the TIME_WAIT queue. All records of a stack wait
// the same time, so expiries join the queue in order: a FIFO is a timer
// wheel with one slot per instant, O(1) per operation. A restarted timer
// adds a new item; the stale one is skipped when it comes up.
type twItem struct {
	e      *twEntry
	expire clock.Instant
}

type twQueue struct {
	items []twItem
	head  int
}

func (q *twQueue) push(it twItem) {
	if q.head > 0 && q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	}
	q.items = append(q.items, it)
}

func (q *twQueue) peek() (twItem, bool) {
	if q.head == len(q.items) {
		return twItem{}, false
	}
	return q.items[q.head], true
}

func (q *twQueue) pop() {
	q.items[q.head] = twItem{}
	q.head++
	if q.head > 1024 && q.head*2 > len(q.items) {
		n := copy(q.items, q.items[q.head:])
		q.items, q.head = q.items[:n], 0
	}
}

// enterTimeWait replaces a connection by its TIME_WAIT record.
func (s *Stack) enterTimeWait(so *Socket) {
	e := &twEntry{t: so.tuple, rec: so.conn.TimeWaitRecord(), reuseAddr: so.reuseAddr, reusePort: so.reusePort}
	delete(s.conns, so.tuple)
	s.timers.remove(so)
	so.detached = true
	s.tw[so.tuple] = e
	s.counters.TW++
	port := so.tuple.Local.Port()
	s.hold(port, e)
	if so.bound {
		s.release(port, so)
		so.bound = false
	}
	s.twFIFO.push(twItem{e, e.rec.Expire})
}

// expireTimeWait forgets every record whose 2MSL is over.
func (s *Stack) expireTimeWait(now clock.Instant) {
	for {
		it, ok := s.twFIFO.peek()
		if !ok || it.expire > now {
			return
		}
		s.twFIFO.pop()
		e := it.e
		if s.tw[e.t] != e || e.rec.Expire != it.expire {
			continue // killed, reused, or restarted: a later item stands for it
		}
		s.removeTimeWait(e, "TIME_WAIT expired (2MSL, Linux TCP_TIMEWAIT_LEN)")
	}
}

func (s *Stack) removeTimeWait(e *twEntry, why string) {
	delete(s.tw, e.t)
	s.release(e.t.Local.Port(), e)
	if s.obs != nil {
		s.obs.StateChanged(s.now, e.t, tcp.TimeWait, tcp.Closed, why)
	}
}

// timeWaitArrive handles a segment for a TIME_WAIT record
// (Linux tcp_timewait_state_process).
func (s *Stack) timeWaitArrive(now clock.Instant, e *twEntry, seg *tcp.Segment) {
	before := e.rec.Expire
	switch e.rec.Handle(now, &s.opts.TCP, seg) {
	case tcp.TWAck:
		var ack tcp.Segment
		e.rec.Ack(now, &ack)
		s.ctl = append(s.ctl, ctlSeg{t: e.t, seg: ack})
	case tcp.TWKill:
		s.counters.TWKilled++
		s.removeTimeWait(e, "RST received in TIME_WAIT: record removed (Linux tcp_rfc1337=0)")
		return
	case tcp.TWNewSyn:
		if l := s.findListener(e.t); l != nil {
			s.counters.TWRecycled++
			s.removeTimeWait(e, "new SYN with a higher sequence number or newer timestamp: TIME_WAIT reused (RFC 6191)")
			s.listenArrive(now, l, e.t, seg, e.rec.SndNxt+65535+2, true)
			return
		}
		// No listener: Linux's tcp_v4_rcv falls through from TCP_TW_SYN to TCP_TW_ACK.
		var ack tcp.Segment
		e.rec.Ack(now, &ack)
		s.ctl = append(s.ctl, ctlSeg{t: e.t, seg: ack})
	}
	if e.rec.Expire != before {
		s.twFIFO.push(twItem{e, e.rec.Expire})
	}
}
