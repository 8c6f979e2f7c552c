package stack

import (
	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/tcp"
	"github.com/tcpwave/tcpwave/wire"
)

// PollPacket writes the next IP packet to send into buf and returns its
// length, or 0 when there is nothing to send. buf must hold MTU bytes.
// Every packet the stack sends leaves through here.
func (s *Stack) PollPacket(now clock.Instant, buf []byte) int {
	if so := s.takePending(); so != nil {
		// Left over from PollPacketGSO: it goes first, alone.
		if n := s.encode(now, buf, so.tuple, &s.seg); n > 0 {
			return n
		}
	}
	for s.ctlHead < len(s.ctl) {
		c := &s.ctl[s.ctlHead]
		s.ctlHead++
		n := s.encode(now, buf, c.t, &c.seg)
		*c = ctlSeg{}
		if s.ctlHead == len(s.ctl) {
			s.ctl, s.ctlHead = s.ctl[:0], 0 // keep the array: a flood of SYNs allocates nothing
		}
		if n > 0 {
			return n
		}
	}
	for s.dirtyHead < len(s.dirty) {
		so := s.dirty[s.dirtyHead]
		// The payload goes to s.payload, not buf: a buffer of MTU bytes has
		// no room for a full-sized payload behind worst-case headers.
		if so.live() && so.conn.Poll(now, &s.seg, s.payload) {
			if n := s.encode(now, buf, so.tuple, &s.seg); n > 0 {
				return n
			}
			continue
		}
		s.doneDirty(now, so)
	}
	s.dirty, s.dirtyHead = s.dirty[:0], 0 // keep the array: no allocation per step
	return 0
}

// doneDirty takes so, which has nothing more to send, off the front of the
// dirty list and settles it.
func (s *Stack) doneDirty(now clock.Instant, so *Socket) {
	s.dirty[s.dirtyHead] = nil
	s.dirtyHead++
	so.isDirty = false
	s.settle(now, so)
}

// settle runs once a connection has nothing more to send: it refreshes
// its timer and turns TIME_WAIT into a record or forgets a closed
// connection.
func (s *Stack) settle(now clock.Instant, so *Socket) {
	if !so.live() {
		return
	}
	c := so.conn
	s.collect(so)
	switch {
	case c.State() == tcp.TimeWait && s.tw.len() >= s.opts.MaxTimeWait:
		// Linux tcp_time_wait: no TIME_WAIT bucket left (tcp_max_tw_buckets),
		// "just CLOSE this socket up".
		s.counters.TCPTimeWaitOverflow++
		s.detach(now, so, detachTimeWaitFull)
	case c.State() == tcp.FinWait2 && c.Orphaned() && c.FinTimeout() <= s.opts.TCP.TimeWait &&
		s.tw.len() >= s.opts.MaxTimeWait:
		// Linux parks an orphaned FIN_WAIT_2 whose tcp_fin_timeout is no
		// longer than TIME_WAIT as a timewait socket (tcp_time_wait with
		// TCP_FIN_WAIT2); with no bucket left it is closed at once
		// (conformance/no-time-wait-orphan.pkt).
		s.counters.TCPTimeWaitOverflow++
		c.Drop(now, "orphaned FIN_WAIT_2 with the TIME_WAIT table full (tcp_max_tw_buckets): closed (Linux TCPTimeWaitOverflow)")
		s.detach(now, so, detachReleased)
	case c.State() == tcp.TimeWait:
		s.enterTimeWait(now, so)
	case c.Released():
		s.detach(now, so, detachReleased)
	default:
		s.timers.update(so, c.Deadline())
	}
}

// collect adds the MIB events of a socket's connection to the counters.
func (s *Stack) collect(so *Socket) {
	s.counters.add(so.conn.TakeCounts())
}

// encode builds the IP packet for seg on tuple t into buf.
func (s *Stack) encode(now clock.Instant, buf []byte, t Tuple, seg *tcp.Segment) int {
	p := wire.Packet{
		Src: t.Local.Addr(),
		Dst: t.Remote.Addr(),
		TCP: wire.TCPFields{
			SrcPort: t.Local.Port(), DstPort: t.Remote.Port(),
			Seq: uint32(seg.Seq), Ack: uint32(seg.Ack), Flags: seg.Flags,
			Window: seg.Wnd, Options: seg.Opts,
		},
		Payload: seg.Payload,
	}
	s.ipID++
	var n int
	var err error
	if s.opts.PartialChecksum {
		n, err = wire.EncodePacketPartial(buf, &p, s.opts.TTL, s.ipID)
	} else {
		n, err = wire.EncodePacket(buf, &p, s.opts.TTL, s.ipID)
	}
	if err != nil {
		// Not with a buffer of MTU bytes: the segment is dropped.
		s.counters.TCPWaveEncodeDrops++
		return 0
	}
	s.counters.OutSegs++
	if seg.Flags&wire.RST != 0 {
		s.counters.OutRsts++
	}
	if s.obs != nil {
		s.obs.PacketSent(now, buf[:n])
	}
	return n
}
