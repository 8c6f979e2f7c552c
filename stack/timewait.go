package stack

import (
	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/tcp"
)

// enterTimeWait replaces a connection by its TIME_WAIT record (56 bytes
// in the table; the connection itself is freed) and wakes its users.
func (s *Stack) enterTimeWait(now clock.Instant, so *Socket) {
	tw := so.conn.TimeWaitRecord()
	k, ok := s.twKeyOf(so.tuple)
	if !ok {
		s.detach(now, so, detachReleased) // cannot happen: a connection's local address is the host's
		return
	}
	r := twRec{remote: k.remote, lport: k.lport, rport: k.rport, meta: k.local << twLocalShift}
	r.setTCPRecord(&tw)
	if so.reuseAddr {
		r.meta |= twReuseAddr
	}
	if so.reusePort {
		r.meta |= twReusePort
	}
	if so.connectPort {
		r.meta |= twConnectPort
	}
	s.detach(now, so, detachTimeWait)
	s.tw.add(&r)
	s.tupleTaken(so.tuple, true, true)
	s.counters.TW++
}

// expireTimeWait forgets every record whose 2MSL is over.
func (s *Stack) expireTimeWait(now clock.Instant) {
	for {
		i := s.tw.first()
		if i == 0 || s.tw.at(i).expire > now {
			return
		}
		s.removeTimeWait(now, i, "TIME_WAIT expired (2MSL, Linux TCP_TIMEWAIT_LEN)")
	}
}

// removeTimeWait forgets the record in slot i.
func (s *Stack) removeTimeWait(now clock.Instant, i uint32, why string) {
	var t Tuple
	if s.obs != nil || len(s.hot) != 0 {
		t = s.twTuple(i)
		s.tupleTaken(t, true, false)
	}
	s.tw.remove(i)
	if s.obs != nil {
		s.obs.StateChanged(now, t, tcp.TimeWait, tcp.Closed, why)
	}
}

// timeWaitArrive handles a segment for the TIME_WAIT record in slot i
// (Linux tcp_timewait_state_process).
func (s *Stack) timeWaitArrive(now clock.Instant, i uint32, seg *tcp.Segment) {
	r := s.tw.at(i)
	before := r.expire
	t := s.twTuple(i)
	rec := r.tcpRecord(s.tsOffset(t))
	act := rec.Handle(now, &s.opts.TCP, seg)
	r.setTCPRecord(&rec)
	switch act {
	case tcp.TWSkip:
		s.counters.TCPACKSkippedTimeWait++
	case tcp.TWAck:
		s.twAck(now, t, &rec)
	case tcp.TWKill:
		s.counters.TWKilled++
		s.removeTimeWait(now, i, "RST received in TIME_WAIT: record removed (Linux tcp_rfc1337=0)")
		return
	case tcp.TWNewSyn:
		if l := s.findListener(t); l != nil {
			s.counters.TWRecycled++
			s.removeTimeWait(now, i, "new SYN with a higher sequence number or newer timestamp: TIME_WAIT reused (RFC 6191)")
			s.listenArrive(now, l, t, seg, rec.SndNxt+65535+2, true)
			return
		}
		// No listener: Linux's tcp_v4_rcv falls through from TCP_TW_SYN to TCP_TW_ACK.
		s.twAck(now, t, &rec)
	}
	if rec.Expire != before {
		s.tw.restart(i)
	}
}

// twAck queues the ACK a TIME_WAIT record answers with.
func (s *Stack) twAck(now clock.Instant, t Tuple, rec *tcp.TWRecord) {
	var ack tcp.Segment
	rec.Ack(now, &ack)
	s.ctl = append(s.ctl, ctlSeg{t: t, seg: ack})
}
