package stack

import (
	"fmt"
	"math/bits"

	"github.com/tcpwave/tcpwave/tcp"
)

// CheckInvariants checks that the stack's tables agree with each other and
// with its sockets, and returns the first disagreement it finds, or nil:
//
//   - the demux table holds live sockets (phaseOpen, phaseOrphan) under
//     their own 4-tuple, each holding its port, and no TIME_WAIT record
//     shares a connection's 4-tuple;
//   - the orphan count is the number of sockets in phaseOrphan;
//   - listeners are listed under their own address in phaseListen,
//     holding their port; their accept queues hold their own unaccepted
//     children, within the backlog, and their SYN_RCVD counts are the
//     children in SYN_RCVD;
//   - the bind table lists each holder of a port once, at its boundIdx,
//     and counts the ones connect() did not pick;
//   - the timer wheel holds exactly its count of sockets, each a live
//     connection in the demux table, none before the wheel's cursor but
//     the overdue ones;
//   - the TIME_WAIT records are within MaxTimeWait (or the number held
//     when SetOptions lowered it), found by their hash
//     index, and listed once in expiry order;
//   - counters that count a subset of another are no larger than it.
//
// It costs a walk over every socket, port, timer and record: it is for
// tests, the simulator and the soak, after every step a driver takes
// (Step, or HandlePacket and the polls that follow).
func (s *Stack) CheckInvariants() error {
	for _, check := range []func() error{
		s.checkConns, s.checkListeners, s.checkBindTable, s.checkTimers, s.checkTimeWait, s.checkCounters,
	} {
		if err := check(); err != nil {
			return fmt.Errorf("stack: invariant: %w", err)
		}
	}
	return nil
}

// checkConns checks the demux table, the orphan count and the links from
// children to their listeners.
func (s *Stack) checkConns() error {
	orphans := 0
	for t, so := range s.conns {
		switch {
		case so.tuple != t:
			return fmt.Errorf("connection %v is listed under %v", so.tuple, t)
		case !so.live() || so.conn == nil:
			return fmt.Errorf("connection %v in the demux table in phase %d", t, so.phase)
		case !s.holds(so):
			return fmt.Errorf("connection %v does not hold its port in the bind table", t)
		case s.findTimeWait(t) != 0:
			return fmt.Errorf("connection %v shares its 4-tuple with a TIME_WAIT record", t)
		}
		if so.phase == phaseOrphan {
			orphans++
		}
		if l := so.parent; l != nil && (l.phase != phaseListen || so.refs != 0) {
			return fmt.Errorf("connection %v: a child with %d handles of a socket in phase %d", t, so.refs, l.phase)
		}
	}
	if orphans != s.orphans {
		return fmt.Errorf("orphan count %d, %d connections in phaseOrphan", s.orphans, orphans)
	}
	return nil
}

// holds reports whether so is in the bind table at its place.
func (s *Stack) holds(so *Socket) bool {
	hs := s.bound[so.tuple.Local.Port()]
	return so.bound && int(so.boundIdx) < len(hs) && hs[so.boundIdx] == so
}

// checkListeners checks the listeners and their queues.
func (s *Stack) checkListeners() error {
	for ap, ls := range s.listeners {
		if len(ls) == 0 {
			return fmt.Errorf("an empty list of listeners on %v", ap)
		}
		for _, l := range ls {
			switch {
			case l.phase != phaseListen || l.tuple.Local != ap:
				return fmt.Errorf("listener %v in phase %d listed on %v", l.tuple.Local, l.phase, ap)
			case !s.holds(l):
				return fmt.Errorf("listener %v does not hold its port in the bind table", ap)
			case len(l.acceptQ) > l.backlog+1:
				return fmt.Errorf("listener %v: accept queue of %d, backlog %d", ap, len(l.acceptQ), l.backlog)
			}
			for _, c := range l.acceptQ {
				if c.parent != l || c.refs != 0 || (!c.live() && c.phase != phaseDone) {
					return fmt.Errorf("listener %v: accept queue holds %v, a socket in phase %d with %d handles that is not its child",
						ap, c.tuple, c.phase, c.refs)
				}
			}
		}
	}
	return s.checkSynRcvd()
}

// checkSynRcvd checks each listener's count of children in SYN_RCVD.
func (s *Stack) checkSynRcvd() error {
	half := 0 // SYN_RCVD children of all listeners
	for _, so := range s.conns {
		if so.parent != nil && so.conn.State() == tcp.SynRcvd {
			half++
		}
	}
	counted := 0
	for _, ls := range s.listeners {
		for _, l := range ls {
			counted += l.synRcvd
			if l.synRcvd < 0 || l.synRcvd > half {
				return fmt.Errorf("listener %v counts %d connections in SYN_RCVD, of %d in all", l.tuple.Local, l.synRcvd, half)
			}
		}
	}
	if counted == half {
		return nil
	}
	// Find the listener whose count is off.
	for _, ls := range s.listeners {
		for _, l := range ls {
			n := 0
			for _, so := range s.conns {
				if so.parent == l && so.conn.State() == tcp.SynRcvd {
					n++
				}
			}
			if n != l.synRcvd {
				return fmt.Errorf("listener %v counts %d connections in SYN_RCVD, it has %d", l.tuple.Local, l.synRcvd, n)
			}
		}
	}
	return fmt.Errorf("listeners count %d connections in SYN_RCVD, there are %d", counted, half)
}

// checkBindTable checks the port holders and the count of those connect()
// may not share.
func (s *Stack) checkBindTable() error {
	for port, hs := range s.bound {
		if len(hs) == 0 {
			return fmt.Errorf("port %d: an empty list of holders", port)
		}
		fixed := uint32(0)
		for i, h := range hs {
			switch {
			case h == nil || !h.bound || int(h.boundIdx) != i || h.tuple.Local.Port() != port:
				return fmt.Errorf("port %d: holder %d is not bound there", port, i)
			case !h.connectPort:
				fixed++
			}
		}
		if got := s.bindPorts.get(port); got != fixed {
			return fmt.Errorf("port %d: %d holders by bind() or listen() counted, %d listed", port, got, fixed)
		}
	}
	return nil
}

// checkTimers walks the timer wheel.
func (s *Stack) checkTimers() error {
	t := &s.timers
	n := 0
	check := func(l *timerList, slot int32) error {
		var prev *Socket
		for so := l.head; so != nil; prev, so = so, so.tn.next {
			n++
			switch {
			case so.tn.slot != slot || so.tn.prev != prev:
				return fmt.Errorf("timer of %v filed in slot %d, found in %d", so.tuple, so.tn.slot, slot)
			case !so.live() || s.conns[so.tuple] != so:
				return fmt.Errorf("a timer for %v, no live connection (phase %d)", so.tuple, so.phase)
			case slot != dueSlot && so.tn.deadline < t.cursor:
				return fmt.Errorf("timer of %v at %v, before the wheel's cursor %v", so.tuple, so.tn.deadline, t.cursor)
			}
			if n > t.n {
				return fmt.Errorf("more timers in the wheel than its count %d", t.n)
			}
		}
		if l.tail != prev {
			return fmt.Errorf("a timer list's tail is not its last socket")
		}
		return nil
	}
	if err := check(&t.due, dueSlot); err != nil {
		return err
	}
	for level := range wheelLevels {
		for used := t.used[level]; used != 0; used &= used - 1 {
			idx := bits.TrailingZeros64(used)
			l := &t.slots[level][idx]
			if l.head == nil {
				return fmt.Errorf("timer slot %d of level %d is marked used and is empty", idx, level)
			}
			if err := check(l, int32(level*wheelSlots+idx+1)); err != nil {
				return err
			}
		}
	}
	if n != t.n {
		return fmt.Errorf("%d timers in the wheel, its count says %d", n, t.n)
	}
	return nil
}

// checkTimeWait checks the TIME_WAIT table's index and expiry list.
func (s *Stack) checkTimeWait() error {
	tw := &s.tw
	if tw.len() > max(s.opts.MaxTimeWait, s.twKept) {
		return fmt.Errorf("%d TIME_WAIT records, MaxTimeWait %d (%d kept by SetOptions)", tw.len(), s.opts.MaxTimeWait, s.twKept)
	}
	for i := 1; i <= tw.len(); i++ {
		k := tw.at(uint32(i)).key()
		if got := tw.find(&k); got != uint32(i) {
			return fmt.Errorf("TIME_WAIT record %d: its index finds %d", i, got)
		}
	}
	n := 0
	for i, prev := tw.first(), uint32(0); i != 0; prev, i = i, tw.at(i).next {
		if n++; n > tw.len() {
			return fmt.Errorf("the TIME_WAIT expiry list is longer than the %d records", tw.len())
		}
		if prev != 0 && tw.at(i).expire < tw.at(prev).expire {
			return fmt.Errorf("TIME_WAIT record %d expires before the one ahead of it", i)
		}
	}
	if n != tw.len() {
		return fmt.Errorf("%d TIME_WAIT records on the expiry list, %d in the table", n, tw.len())
	}
	return nil
}

// checkCounters checks the counters that count a subset of another.
func (s *Stack) checkCounters() error {
	c := &s.counters
	for _, p := range []struct {
		part, whole uint64
		what        string
	}{
		{c.OutRsts, c.OutSegs, "OutRsts > OutSegs"},
		{c.InCsumErrors, c.InErrs, "InCsumErrors > InErrs"},
		{c.ListenOverflows, c.ListenDrops, "ListenOverflows > ListenDrops"},
		{c.TWKilled + c.TWRecycled + uint64(s.tw.len()), c.TW, "TIME_WAIT records killed, recycled and held > TW"},
		{uint64(s.orphans), uint64(len(s.conns)), "orphans > connections"},
	} {
		if p.part > p.whole {
			return fmt.Errorf("%s (%d > %d)", p.what, p.part, p.whole)
		}
	}
	return nil
}
