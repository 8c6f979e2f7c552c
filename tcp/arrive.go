package tcp

import (
	"syscall"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/seq"
	"github.com/tcpwave/tcpwave/wire"
)

// HandleSegment processes one arriving segment (RFC 9293 §3.10.7). The
// caller has already matched it to this connection by its 4-tuple.
func (c *Conn) HandleSegment(now clock.Instant, s *Segment) {
	c.unit = 0 // what the segment changes starts a new tcp_write_xmit
	switch c.state {
	case Closed, Listen:
		return // the stack answers segments for CLOSED and LISTEN
	case SynSent:
		c.synSentArrive(now, s)
		return
	case TimeWait:
		c.timeWaitArrive(now, s)
		return
	}
	if c.synRcvdDupSyn(s) {
		return
	}
	c.simOpenSynAck(s)
	if c.pawsDrop(now, s) {
		return
	}
	if !c.checkSeq(now, s) {
		return
	}
	if s.Flags&wire.RST != 0 {
		c.rstArrive(now, s)
		return
	}
	if s.Flags&wire.SYN != 0 {
		c.synArrive(now, s)
		return
	}
	if s.Flags&wire.ACK == 0 {
		return // RFC 9293 §3.10.7.4 fifth: without ACK, drop
	}
	if !c.ackArrive(now, s) {
		return
	}
	c.keepaliveHeard(now)
	defer c.finWait1Acked(now)
	if c.state == Closed {
		return
	}
	c.updateTimestamp(now, s)
	if !c.textArrive(now, s) {
		return
	}
	c.finArrive(now, s)
	if c.flags.has(oooFin) && c.rcvNxt == c.oooFinSeq {
		c.consumeFin(now) // the hole before an early FIN is filled
	}
}

// synSentArrive is RFC 9293 §3.10.7.3, SYN-SENT.
func (c *Conn) synSentArrive(now clock.Instant, s *Segment) {
	if s.Flags&wire.ACK != 0 {
		if s.Ack.LessEq(c.iss) || s.Ack.GreaterThan(c.sndMax) {
			// §3.10.7.3 first: unacceptable ACK: <SEQ=SEG.ACK><CTL=RST>.
			if s.Flags&wire.RST == 0 {
				c.queueRST(s.Ack, 0, wire.RST)
				if c.rto.retries == 0 && s.Flags&wire.SYN != 0 {
					// Linux (tcp_rcv_synsent_state_process): after a
					// SYN-ACK with a bad ACK the SYN goes again after
					// TCP_TIMEOUT_MIN, not the whole RTO. (Linux does so
					// after any segment with a bad ACK, a bare ACK or a
					// RST too; tcpwave keeps the RTO there, as its tests
					// and the old-duplicate scenario have it.)
					c.rto.at = now.Add(timeoutMin)
				}
			}
			return
		}
	}
	if s.Flags&wire.RST != 0 {
		// §3.10.7.3 second: an acceptable RST refuses the connection.
		if s.Flags&wire.ACK != 0 {
			c.err = syscall.ECONNREFUSED
			c.counts.AttemptFails++ // Linux tcp_reset -> tcp_done
			c.setState(now, Closed, "RST received in SYN_SENT: connection refused (RFC 9293 §3.10.7.3)")
		}
		return
	}
	if s.Flags&wire.SYN == 0 {
		return // §3.10.7.3 fifth: neither SYN nor RST, drop
	}
	// §3.10.7.3 fourth: the SYN.
	c.acceptSyn(now, s)
	if s.Flags&wire.ACK != 0 {
		c.ackSyn(now, s)
		c.sndWnd = uint32(s.Wnd) // RFC 7323 §2.2: a SYN-ACK's window is never scaled
		c.sndWl1, c.sndWl2 = s.Seq, s.Ack
		c.flags.set(ackNow)
		c.ack.quick = maxQuickAcks
		c.setState(now, Established, "SYN-ACK received: our SYN is ACKed (RFC 9293 §3.10.7.3)")
		c.keepaliveEstablished(now) // tcp_finish_connect
		c.expandSndBuf()
		return
	}
	// Simultaneous open: send SYN-ACK from our ISS.
	c.sndNxt = c.iss
	c.setState(now, SynRcvd, "SYN received in SYN_SENT: simultaneous open (RFC 9293 §3.10.7.3)")
}

// ackSyn moves SND.UNA past our SYN.
func (c *Conn) ackSyn(now clock.Instant, s *Segment) {
	c.sndUna = c.iss.Add(1)
	if c.sndNxt.LessThan(c.sndUna) {
		c.sndNxt = c.sndUna
	}
	// A timestamp echo names the SYN it answers, so it gives a sample even
	// after a retransmission (RFC 7323 §4, Linux tcp_ack_update_rtt).
	sampled := (c.rto.retries == 0 || c.flags.has(tsOK)) && c.sampleRTT(now, s)
	c.rto.retries = 0
	c.rto.at = clock.Never
	switch {
	case sampled:
		c.rto.timeout = c.rtoFromRTT()
	case c.rto.srtt == 0:
		c.rto.timeout = rtoFallback // RFC 6298 §5.7: no sample from a retransmitted SYN
	}
}

// synRcvdDupSyn answers a retransmitted SYN in SYN_RCVD with the SYN-ACK
// again, as Linux's request sockets do.
func (c *Conn) synRcvdDupSyn(s *Segment) bool {
	if c.state != SynRcvd || s.Flags&(wire.SYN|wire.ACK|wire.RST) != wire.SYN || s.Seq != c.irs {
		return false
	}
	c.sndNxt = c.iss
	return true
}

// simOpenSynAck turns the peer's SYN-ACK in SYN_RCVD of a simultaneous open
// into the ACK of our SYN it also is: its SYN is the one we already took
// (RFC 9293 §3.5 figure 7; Linux tcp_validate_incoming lets it pass).
func (c *Conn) simOpenSynAck(s *Segment) {
	if c.state == SynRcvd && !c.flags.has(passive) && s.Flags&(wire.SYN|wire.ACK|wire.RST|wire.FIN) == wire.SYN|wire.ACK &&
		len(s.Payload) == 0 && s.Seq.Add(1) == c.rcvNxt && s.Ack == c.sndNxt {
		s.Flags &^= wire.SYN
		s.Seq = c.rcvNxt
	}
}

// checkSeq is RFC 9293 §3.10.7.4 first: the acceptability test. It trims
// the segment to the receive window and reports whether to go on.
func (c *Conn) checkSeq(now clock.Instant, s *Segment) bool {
	wnd := c.rcvAdv.Sub(c.rcvNxt)
	if c.rcvAdv.LessThan(c.rcvNxt) {
		wnd = 0
	}
	n := s.Len()
	ok := false
	switch {
	case n == 0 && wnd == 0:
		ok = s.Seq == c.rcvNxt
	case n == 0:
		ok = s.Seq.InWindow(c.rcvNxt, wnd)
	case wnd == 0:
		ok = false
	default:
		ok = s.Seq.InWindow(c.rcvNxt, wnd) || s.Seq.Add(n-1).InWindow(c.rcvNxt, wnd)
	}
	if !ok && wnd == 0 && s.Seq == c.rcvNxt {
		// RFC 9293 §3.10.7.4: with a zero window, still take ACK and RST.
		if n > 0 {
			c.flags.set(ackNow) // and answer a probe with the zero window (RFC 9293 §3.8.6.1)
		}
		s.Payload = s.Payload[:0]
		s.Flags &^= wire.FIN | wire.SYN | wire.PSH
		ok = true
	}
	if !ok && s.Flags&wire.RST != 0 && c.rstExact(s) {
		return true // RCV.NXT-1 after a FIN (Linux tcp_reset_check)
	}
	if !ok {
		switch {
		case s.Flags&wire.RST != 0:
		case s.Flags&wire.SYN != 0:
			c.synInErr()
			c.challengeAck(now) // RFC 5961 §4.2: any SYN, whatever its sequence number
		case s.Len() == 0:
			// "Send an acknowledgment" and drop; for a bare ACK only at the
			// rate limit, which keeps two stacks out of an ACK storm
			// (Linux tcp_oow_rate_limited).
			c.oowAck(now)
		default:
			c.dupAckFor(s)
		}
		return false
	}
	if s.Flags&(wire.SYN|wire.RST) != 0 {
		// Neither is trimmed: a SYN in a synchronized state is dropped
		// with a challenge ACK whatever it carries (RFC 5961 §4, Linux
		// tcp_validate_incoming), and a RST is judged by its own
		// sequence number.
		return true
	}
	// Trim what lies before RCV.NXT.
	if s.Seq.LessThan(c.rcvNxt) {
		skip := c.rcvNxt.Sub(s.Seq)
		if len(s.Payload) > 0 {
			// Part of it is a duplicate: report that part (Linux
			// tcp_data_queue, "partial packet").
			c.setDSACK(s.Seq, seq.Min(c.rcvNxt, s.Seq.Add(seq.Size(len(s.Payload)))), &c.counts.DSACKOldSent)
		}
		k := min(int(skip), len(s.Payload))
		s.Payload = s.Payload[k:]
		s.Seq = s.Seq.Add(seq.Size(k))
	}
	// Trim what lies beyond the window.
	if room := int(c.rcvAdv.Sub(s.Seq)); c.rcvAdv.GreaterEq(s.Seq) && len(s.Payload) > room {
		s.Payload = s.Payload[:room]
		s.Flags &^= wire.FIN
	}
	return true
}

// rstArrive is RFC 9293 §3.10.7.4 second, with RFC 5961 §3.2: only a RST at
// exactly RCV.NXT resets; any other in-window RST draws a challenge ACK.
func (c *Conn) rstArrive(now clock.Instant, s *Segment) {
	if !c.rstExact(s) {
		c.challengeAck(now)
		return
	}
	switch c.state {
	case SynRcvd:
		c.counts.AttemptFails++ // Linux tcp_check_req (passive), tcp_reset -> tcp_done (active)
		if c.flags.has(passive) {
			c.setState(now, Closed, "RST received in SYN_RCVD: back to LISTEN, request dropped (RFC 9293 §3.10.7.4)")
			return
		}
		c.err = syscall.ECONNREFUSED
		c.setState(now, Closed, "RST received in SYN_RCVD: connection refused (RFC 9293 §3.10.7.4)")
	case Established, FinWait1, FinWait2:
		c.err = syscall.ECONNRESET
		c.setState(now, Closed, "RST received: connection reset (RFC 9293 §3.10.7.4)")
	case CloseWait:
		c.err = syscall.EPIPE // Linux tcp_reset: EPIPE in CLOSE_WAIT
		c.setState(now, Closed, "RST received in CLOSE_WAIT: writes fail with EPIPE (RFC 9293 §3.10.7.4, Linux tcp_reset)")
	default:
		c.err = syscall.ECONNRESET // Linux tcp_reset: ECONNRESET outside SYN_SENT and CLOSE_WAIT
		c.setState(now, Closed, "RST received: connection closed (RFC 9293 §3.10.7.4)")
	}
}

// rstExact reports whether a RST's sequence number is the one that resets:
// RCV.NXT (RFC 5961 §3.2), or RCV.NXT-1 once the peer's FIN is in, as some
// stacks send it after their FIN (Linux tcp_reset_check).
func (c *Conn) rstExact(s *Segment) bool {
	return s.Seq == c.rcvNxt || (c.flags.has(finRcvd) && s.Seq == c.rcvNxt-1)
}

// synArrive is RFC 9293 §3.10.7.4 fourth, with RFC 5961 §4: a SYN in a
// synchronized state draws a challenge ACK.
func (c *Conn) synArrive(now clock.Instant, s *Segment) {
	if c.state == SynRcvd && c.flags.has(passive) {
		// §3.10.7.4 fourth: back to LISTEN; Linux tcp_check_req also
		// answers the SYN with RST (tcp_v4_send_reset).
		if s.Flags&wire.ACK != 0 {
			c.queueRST(s.Ack, 0, wire.RST)
		} else {
			c.queueRST(0, s.Seq.Add(s.Len()), wire.RST|wire.ACK)
		}
		c.counts.AttemptFails++ // Linux tcp_check_req
		c.setState(now, Closed, "SYN in SYN_RCVD: request dropped with RST (RFC 9293 §3.10.7.4, Linux tcp_check_req)")
		return
	}
	c.synInErr()
	c.challengeAck(now)
}

// synInErr counts a SYN that reaches an ESTABLISHED connection as an input
// error, as Linux's fast path does (tcp_validate_incoming's syn_inerr);
// in the other states Linux only challenges it.
func (c *Conn) synInErr() {
	if c.state == Established {
		c.counts.InErrs++
	}
}

// ackArrive is RFC 9293 §3.10.7.4 fifth: the ACK field. It reports whether
// processing goes on.
func (c *Conn) ackArrive(now clock.Instant, s *Segment) bool {
	if c.state == SynRcvd {
		if !s.Ack.GreaterThan(c.sndUna) || s.Ack.GreaterThan(c.sndMax) {
			c.queueRST(s.Ack, 0, wire.RST) // §3.10.7.4: <SEQ=SEG.ACK><CTL=RST>
			return false
		}
		c.ackSyn(now, s)
		c.sndWnd = uint32(s.Wnd) << c.sndWScale
		c.growMaxWnd()
		c.sndWl1, c.sndWl2 = s.Seq, s.Ack
		c.ack.quick = maxQuickAcks
		c.setState(now, Established, "ACK of our SYN-ACK received (RFC 9293 §3.10.7.4)")
		c.keepaliveEstablished(now) // inherited from the listener
		c.expandSndBuf()
	}
	if s.Ack.GreaterThan(c.sndMax) {
		// RFC 5961 §5.2: an ACK for data not yet sent draws a challenge ACK.
		c.challengeAck(now)
		return false
	}
	if s.Ack.LessThan(c.sndUna) && c.sndUna.Sub(s.Ack) > seq.Size(min(c.maxWnd, uint32(c.sndUna.Sub(c.iss)))) {
		// RFC 5961 §5.2: older than SND.UNA - MAX.SND.WND, which Linux bounds
		// by the bytes ever ACKed: drop it, challenge ACK (Linux tcp_ack,
		// TOO_OLD_ACK).
		c.challengeAck(now)
		return false
	}
	// Any acceptable ACK answers our zero-window probes: no limit while the
	// peer answers (RFC 1122 §4.2.2.17, Linux tcp_ack icsk_probes_out).
	c.persist.probes = 0
	prevUna, prevCwnd := c.sndUna, c.cc.cwnd
	prevDelivered, prevLost := c.deliveredMark(), c.lostMarks()
	if r := c.rack(); r != nil {
		r.fack = c.fackSeq()
	}
	dsack := c.takeSACK(s)
	// A D-SACK of the loss probe's retransmission says nothing of
	// reordering (Linux FLAG_DSACK_TLP): RACK and undo leave it out.
	probeDup := dsack && c.flags.has(tlpOn) && seq.Value(s.Opts.SACK[0].Right) == c.tlp.high
	if dsack && !probeDup {
		c.undoDSACK(seq.Value(s.Opts.SACK[0].Left), seq.Value(s.Opts.SACK[0].Right))
	}
	c.rackSACKed(now, s, dsack)
	delivered := -1 // not yet computed
	if s.Ack.GreaterThan(c.sndUna) {
		delivered = c.newAck(now, s, prevDelivered)
	} else if s.Ack == c.sndUna {
		c.maybeDupAck(s)
	}
	c.tlpAck(now, s, prevUna, dsack)
	if !c.rackAck(now, dsack && !probeDup) && c.flags.has(sackRec) {
		c.markLostRexmits()
	}
	w := prevCwnd // the window a reduction starts from (enterRecovery)
	if !c.flags.has(sackOK) {
		// RFC 5681's FlightSize: without SACK there is no record of how
		// much of the window was used (cwndLimited), so the data out
		// bounds it.
		w = min(w, uint32(c.sndMax.Sub(prevUna)))
	}
	c.checkRecovery(now, w)
	if c.flags.has(sackRec) {
		if delivered < 0 {
			delivered = c.newlyDelivered(prevDelivered)
		}
		c.prrOnAck(delivered, c.sndUna != prevUna, c.lostMarks() != prevLost)
	}
	if c.sndUna != prevUna {
		c.schedulePTO(now, true) // Linux tcp_set_xmit_timer on new data ACKed
	}
	c.updateWindow(now, s)
	if c.sndUna != prevUna {
		c.newSpace()
	}
	return c.ackStateChanges(now, prevUna)
}

// newAck handles an ACK that advances SND.UNA; prevDelivered is the
// delivered mark (prr.go) before the ACK's SACK blocks were taken. It
// returns the bytes the ACK newly delivered.
func (c *Conn) newAck(now clock.Instant, s *Segment, prevDelivered seq.Value) int {
	acked := s.Ack.Sub(c.sndUna)
	data := int(acked)
	finAcked := c.flags.has(finQ) && c.sndMax.GreaterThan(c.finSeq) && s.Ack.GreaterThan(c.finSeq)
	if finAcked {
		data--
	}
	if c.sndUna == c.iss {
		data-- // the ACK of our SYN, after a close() in SYN_RCVD: the SYN is not data
	}
	data = max(min(data, c.sndBuf.len()), 0)
	c.sndBuf.discard(data)
	c.rackAcked(now, s.Ack)
	if (c.rto.retries == 0 || c.flags.has(tsOK)) && c.sampleRTT(now, s) {
		c.rto.timeout = c.rtoFromRTT() // RFC 6298 §5: a backed-off RTO stands until a valid sample (Karn)
	}
	c.sndUna = s.Ack
	if c.sndNxt.LessThan(c.sndUna) {
		c.sndNxt = c.sndUna
	}
	c.trimSACK()
	c.rto.retries = 0
	c.persist.shift = 0
	c.tryUndo(s)
	delivered := c.newlyDelivered(prevDelivered)
	c.congestionOnAck(now, uint32(acked), uint32(delivered))
	if c.sndUna == c.sndMax {
		c.rto.at = clock.Never
	} else {
		c.rto.at = now.Add(c.rto.timeout)
	}
	return delivered
}

// ackStateChanges moves FIN_WAIT_1, CLOSING and LAST_ACK on once our FIN is
// ACKed (RFC 9293 §3.10.7.4 fifth, per state).
func (c *Conn) ackStateChanges(now clock.Instant, prevUna seq.Value) bool {
	if !c.ourFinAcked() {
		return true
	}
	switch c.state {
	case Closing:
		c.enterTimeWait(now, "our FIN is ACKed in CLOSING (RFC 9293 §3.10.7.4)")
		return false
	case LastAck:
		c.setState(now, Closed, "our FIN is ACKed in LAST_ACK (RFC 9293 §3.10.7.4)")
		return false
	}
	return true
}

// finWait1Acked moves FIN_WAIT_1 to FIN_WAIT_2 once our FIN is ACKed. It
// runs after FIN processing so that a segment that both ACKs our FIN and
// carries the peer's goes straight to TIME_WAIT, as Linux shows it.
func (c *Conn) finWait1Acked(now clock.Instant) {
	if c.state != FinWait1 || !c.ourFinAcked() {
		return
	}
	c.setState(now, FinWait2, "our FIN is ACKed (RFC 9293 §3.10.7.4)")
	if c.flags.has(orphan) && c.Linger2() < 0 {
		// Linux tcp_rcv_state_process: an orphan with TCP_LINGER2 < 0
		// is done on reaching FIN_WAIT_2 (TCPAbortOnData), without a RST.
		c.counts.AbortOnData++
		c.setState(now, Closed, "orphan reached FIN_WAIT_2 with TCP_LINGER2 < 0: closed (Linux tcp_rcv_state_process)")
		return
	}
	if c.flags.has(orphan) {
		// Linux: an orphaned FIN_WAIT_2 lives tcp_fin_timeout, or
		// TCP_LINGER2 (tcp_fin_time).
		c.closeAt = now.Add(c.FinTimeout())
	}
}

func (c *Conn) ourFinAcked() bool {
	return c.flags.has(finQ) && c.sndUna.GreaterThan(c.finSeq)
}

func (c *Conn) enterTimeWait(now clock.Instant, why string) {
	c.rto.at, c.persist.at = clock.Never, clock.Never
	c.closeAt = now.Add(c.cfg.TimeWait)
	c.setState(now, TimeWait, why)
}

// textArrive is RFC 9293 §3.10.7.4 seventh: segment text. It reports
// whether FIN processing goes on.
func (c *Conn) textArrive(now clock.Instant, s *Segment) bool {
	switch c.state {
	case CloseWait, Closing, LastAck, TimeWait:
		// The peer already sent its FIN: nothing new can arrive.
		if s.Seq.GreaterEq(c.rcvNxt) {
			return false
		}
	}
	newData := len(s.Payload) > 0 && s.Seq.Add(seq.Size(len(s.Payload))).GreaterThan(c.rcvNxt)
	if newData && c.flags.has(rdShut) && (c.state == FinWait1 || c.state == FinWait2) {
		// RFC 1122 §4.2.2.13 and Linux (TCPAbortOnData): data for a socket
		// that can no longer read is answered with RST.
		c.queueRST(s.Ack, 0, wire.RST)
		c.err = syscall.ECONNRESET
		c.counts.AbortOnData++
		c.setState(now, Closed, "data arrived after close(): RST (RFC 1122 §4.2.2.13, Linux TCPAbortOnData)")
		return false
	}
	if len(s.Payload) == 0 {
		return true
	}
	c.queueData(now, s)
	return true
}

// finArrive is RFC 9293 §3.10.7.4 eighth: the FIN bit.
func (c *Conn) finArrive(now clock.Instant, s *Segment) {
	if s.Flags&wire.FIN == 0 {
		return
	}
	fseq := s.Seq.Add(seq.Size(len(s.Payload)))
	if fseq != c.rcvNxt {
		if fseq.GreaterThan(c.rcvNxt) {
			c.flags.set(oooFin)
			c.oooFinSeq = fseq
			c.flags.set(ackNow)
		}
		return
	}
	c.consumeFin(now)
}

// consumeFin advances RCV.NXT over the peer's FIN and changes state.
func (c *Conn) consumeFin(now clock.Instant) {
	if c.flags.has(finRcvd) {
		return
	}
	c.flags.set(finRcvd)
	c.flags.clear(oooFin)
	c.rcvNxt = c.rcvNxt.Add(1)
	// Linux's tcp_fin drops what is out of order (nothing can follow a
	// FIN) and resets the SACK state: the ACK of a FIN carries no SACK or
	// D-SACK block, not even for the duplicate data of a retransmitted
	// data+FIN segment (conformance/fin-retransmit-no-dsack.pkt).
	c.flags.clear(dsackOn)
	if c.rx != nil {
		c.rx.ooo = nil
	}
	switch c.state {
	case SynRcvd, Established:
		c.setState(now, CloseWait, "FIN received (RFC 9293 §3.10.7.4)")
		// Linux's tcp_fin enters pingpong mode, so the ACK of the FIN is
		// delayed by the delayed-ACK timeout and can merge with our own
		// FIN. That timeout (ato) is set by the first data received;
		// before any data it is zero and the ACK goes at once
		// (conformance/fin-ack-delayed-after-data.pkt,
		// four-way-close-passive.pkt).
		dataSeen := c.ack.mssSeen > 0
		c.flags.set(pingpong)
		switch {
		case !dataSeen || c.flags.has(ackNow):
			c.flags.set(ackNow)
		case c.ack.at == clock.Never:
			c.ack.at = now.Add(c.cfg.DelAckMin)
		}
	case FinWait1:
		c.flags.set(ackNow)
		if c.ourFinAcked() {
			c.enterTimeWait(now, "FIN received and our FIN ACKed (RFC 9293 §3.10.7.4)")
		} else {
			c.setState(now, Closing, "FIN received in FIN_WAIT_1: simultaneous close (RFC 9293 §3.10.7.4)")
		}
	case FinWait2:
		c.flags.set(ackNow)
		c.enterTimeWait(now, "FIN received in FIN_WAIT_2 (RFC 9293 §3.10.7.4)")
	}
}
