package tcp

import (
	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/seq"
	"github.com/tcpwave/tcpwave/wire"
)

// Poll fills s with the next segment to send and reports whether there is
// one. Its payload is copied into buf, which must hold at least MSS() bytes
// (cfg.MSS is always enough). Call Poll until it returns false after every
// HandleSegment, HandleTimeout and user call.
func (c *Conn) Poll(now clock.Instant, s *Segment, buf []byte) bool {
	*s = Segment{}
	if c.flags.has(rstPending) {
		c.flags.clear(rstPending)
		s.Seq, s.Ack, s.Flags = c.rst.sq, c.rst.ack, c.rst.flags
		if c.flags.has(rstActive) {
			s.Wnd = c.rst.wnd
			c.fillTS(now, &s.Opts)
			if c.flags.has(sackOK) && (len(c.oooSpans()) > 0 || c.flags.has(dsackOn)) {
				c.fillSACK(&s.Opts)
			}
			if c.rx != nil {
				c.rx.ooo, c.rx.nAcks = nil, 0
			}
		}
		return true
	}
	switch c.state {
	case Closed, Listen, TimeWait:
		if c.state == TimeWait && c.flags.has(ackNow) {
			c.fillAck(now, s, wire.ACK)
			s.Seq = c.sndMax
			return true
		}
		return false
	}
	if c.sndNxt == c.iss && c.sndUna == c.iss {
		// Our SYN is due: in SYN_SENT, SYN_RCVD, or FIN_WAIT_1 after a
		// close() in SYN_RCVD, whose RTO must still resend the SYN-ACK.
		c.emitSyn(now, s)
		return true
	}
	if c.state == SynSent || (c.sndUna == c.iss && c.sndBuf.len() > 0) {
		// No data until our SYN is ACKed. A close() in SYN_RCVD sends its
		// FIN at once only when nothing was written; otherwise the FIN
		// waits for ESTABLISHED behind the data (RFC 9293 §3.10.4).
		if c.flags.has(ackNow) && c.state != SynSent {
			c.fillAck(now, s, wire.ACK)
			s.Seq = c.sndMax
			return true
		}
		return false
	}
	if c.emitOwedAck(now, s) {
		return true
	}
	if c.flags.has(probeNow) {
		// Zero-window probe: an old sequence number provokes an ACK that
		// carries the window (Linux tcp_xmit_probe_skb).
		c.flags.clear(probeNow)
		c.fillAck(now, s, wire.ACK)
		s.Seq = c.sndUna - 1
		c.persist.at = now.Add(c.persistBackoff(now))
		return true
	}
	if c.keepaliveProbe(now, s) {
		return true
	}
	if c.flags.has(fastRexmit) {
		c.flags.clear(fastRexmit)
		saved := c.sndNxt
		c.sndNxt = c.sndUna
		ok := c.emitData(now, s, buf, sendForce)
		if ok {
			c.markRexmit(s.Seq, c.sndNxt)
		}
		c.sndNxt = seq.Max(saved, c.sndNxt)
		if ok {
			return true
		}
	}
	if c.flags.has(tlpNow) {
		c.flags.clear(tlpNow)
		if c.emitProbe(now, s, buf) {
			c.tlp.at = clock.Never // one probe per tail (Linux push_one == 2)
			return true
		}
	}
	if r := c.rack(); r != nil && (c.flags.has(inRecovery) || c.flags.has(rtoHold)) && int(c.cc.cwnd)-c.inFlight() >= c.mss {
		// With RACK, what it marked lost goes first, lowest sequence
		// first, in recovery and after an RTO alike (Linux
		// tcp_xmit_retransmit_queue); then new data.
		if from, n, ok := c.rackLost(r); ok && c.emitAt(now, s, buf, from, n) {
			return true
		}
	} else if c.flags.has(sackRec) && c.flags.has(inRecovery) && int(c.cc.cwnd)-c.inFlight() >= c.mss {
		// A retransmission found lost goes again first; then RFC 6675
		// §5 (C), NextSeg rule 1: the first lost hole above HighRxt.
		if from, n, ok := c.lostRexmit(); ok && c.emitAt(now, s, buf, from, n) {
			return true
		}
		if from, n, ok := c.nextLostHole(); ok && c.emitAt(now, s, buf, from, n) {
			return true
		}
	}
	if c.state != SynRcvd && c.emitData(now, s, buf, sendNew) {
		return true
	}
	c.unit = 0 // the send loop stopped: so did its unit (tcp_write_xmit)
	if c.flags.has(ackNow) {
		c.fillAck(now, s, wire.ACK)
		// A pure ACK carries the highest sequence number sent, never the
		// rewound SND.NXT of a retransmission (Linux tcp_acceptable_seq):
		// the peer may already hold everything below it.
		s.Seq = c.sndMax
		return true
	}
	return false
}

// emitSyn builds our SYN or SYN-ACK with options in Linux's layout.
func (c *Conn) emitSyn(now clock.Instant, s *Segment) {
	s.Seq = c.iss
	s.Flags = wire.SYN
	o := &s.Opts
	o.MSS = c.cfg.MSS
	if c.state == SynSent {
		o.SACKPermitted = c.cfg.SACK
		o.HasTimestamp = c.cfg.Timestamps
		o.TSEcr = c.tsRecent // Linux tcp_syn_options: 0, or what a TIME_WAIT record handed on (InheritTSRecent)
		if ws := c.cfg.wscale(); ws >= 0 {
			o.HasWScale, o.WScale = true, uint8(ws)
		}
	} else {
		s.Flags |= wire.ACK
		s.Ack = c.rcvNxt
		o.SACKPermitted = c.flags.has(sackOK)
		o.HasTimestamp = c.flags.has(tsOK)
		if c.flags.has(wsOK) {
			o.HasWScale, o.WScale = true, c.rcvWScale
		}
		o.TSEcr = c.tsRecent
		c.clearAck()
	}
	if o.HasTimestamp {
		o.TSVal = c.tsNow(now)
	}
	// RFC 7323 §2.2: the window in a SYN is never scaled; Linux offers
	// the largest multiple of the MSS that fits.
	w := c.synWindow()
	s.Wnd = uint16(w)
	if s.Flags&wire.ACK != 0 {
		c.rcvAdv = c.rcvNxt.Add(seq.Size(w))
	}
	c.sent(now, c.iss, 1)
}

// fillAck sets the ACK, window and options every synchronized segment
// carries, and clears any pending or delayed ACK.
func (c *Conn) fillAck(now clock.Instant, s *Segment, flags wire.Flags) {
	s.Flags = flags
	s.Ack = c.rcvNxt
	s.Wnd = c.advertise()
	c.fillTS(now, &s.Opts)
	if c.flags.has(sackOK) && (len(c.oooSpans()) > 0 || c.flags.has(dsackOn)) {
		c.fillSACK(&s.Opts)
	}
	c.clearAck()
}
