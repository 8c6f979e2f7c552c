package tcp

import (
	"syscall"
	"time"

	"github.com/tcpwave/tcpwave/clock"
)

// sampleRTT takes an RTT sample from the timestamp echo (RFC 7323 §4.1) or,
// without timestamps, from the timed segment (Karn's rule: never from a
// retransmitted one), and reports whether it took one.
func (c *Conn) sampleRTT(now clock.Instant, s *Segment) bool {
	var r time.Duration
	switch {
	case c.tsOK && s.Opts.HasTimestamp && s.Opts.TSEcr != 0:
		r = time.Duration(c.tsNow(now)-s.Opts.TSEcr) * time.Millisecond
		if r < 0 || r > c.cfg.RTOMax {
			return false
		}
	case c.rttTiming && s.Ack.GreaterThan(c.rttSeq):
		r = now.Sub(c.rttStart)
		c.rttTiming = false
	default:
		return false
	}
	r = max(r, time.Microsecond)
	// RFC 6298 §2.2 and §2.3.
	if c.srtt == 0 {
		c.srtt, c.rttvar = r, r/2
		return true
	}
	d := c.srtt - r
	if d < 0 {
		d = -d
	}
	c.rttvar = (3*c.rttvar + d) / 4
	c.srtt = (7*c.srtt + r) / 8
	return true
}

// rtoFromRTT computes the RTO as Linux does: SRTT plus the larger of
// 4*RTTVAR and the minimum RTO, within [RTOMin, RTOMax].
func (c *Conn) rtoFromRTT() time.Duration {
	if c.srtt == 0 {
		return c.cfg.RTOInitial
	}
	rto := c.srtt + max(4*c.rttvar, c.cfg.RTOMin)
	return min(max(rto, c.cfg.RTOMin), c.cfg.RTOMax)
}

// tsNow is our TSval clock: 1 kHz, as Linux's, plus a per-connection offset.
func (c *Conn) tsNow(now clock.Instant) uint32 {
	return uint32(now.Millis()) + c.tsOffset
}

// congestionOnAck handles new data ACKed: NewReno's partial and full ACKs
// (RFC 6582 §3.2) and the end of SACK recovery (RFC 6675 §5) in recovery,
// window growth otherwise.
func (c *Conn) congestionOnAck(now clock.Instant, acked uint32) {
	mss := uint32(c.mss)
	c.dupAcks = 0
	if c.rtoHold && c.sndUna.GreaterEq(c.recover) {
		c.rtoHold = false
	}
	if c.inRecovery {
		switch {
		case c.sndUna.GreaterEq(c.recover):
			c.inRecovery, c.sackRec = false, false
			c.cwnd = c.ssthresh
		case c.sackRec:
			// RFC 6675 leaves the repair to NextSeg; without SACK
			// information, retransmit the new head as NewReno would.
			if !c.hasSACK() {
				c.fastRexmit = true
			}
		default:
			// Partial ACK: retransmit the next hole, deflate the window.
			c.fastRexmit = true
			c.cwnd = max(c.cwnd-min(c.cwnd, acked)+mss, mss)
		}
		return
	}
	c.growWindow(now, acked)
}

// HandleTimeout runs every timer whose time has come.
func (c *Conn) HandleTimeout(now clock.Instant) {
	if c.closeAt <= now {
		c.closeTimer(now)
		return
	}
	if c.ptoAt <= now && c.ptoAt <= c.rtoAt {
		c.probeTimer(now)
	}
	if c.rtoAt <= now {
		c.rtoTimer(now)
	}
	if c.persistAt <= now {
		c.persistTimer(now)
	}
	if c.opt != nil && c.opt.at <= now {
		c.keepaliveTimer(now)
	}
	if c.delackAt <= now {
		c.delackAt = clock.Never
		if c.pingpong {
			c.pingpong = false // Linux: a missed delayed ACK leaves pingpong mode
		}
		c.ackNow = true
	}
}

func (c *Conn) closeTimer(now clock.Instant) {
	c.closeAt = clock.Never
	switch c.state {
	case TimeWait:
		c.setState(now, Closed, "TIME_WAIT expired (2MSL, Linux TCP_TIMEWAIT_LEN)")
	case FinWait2:
		c.setState(now, Closed, "orphaned FIN_WAIT_2 timed out (Linux tcp_fin_timeout)")
	}
}

// retryLimit is how many RTO expirations the current state allows.
func (c *Conn) retryLimit() int {
	switch {
	case c.state == SynSent:
		return c.cfg.SynRetries
	case c.state == SynRcvd && c.passive:
		return c.cfg.SynAckRetries
	case c.orphan:
		return c.cfg.orphanRetries()
	}
	return c.cfg.Retries2
}

// retriesExhausted is Linux's tcp_write_timeout. An opening connection
// counts its SYN or SYN-ACK retransmissions. Afterwards the limit is time:
// what the given number of retransmissions would take, backing off from
// the minimum RTO (tcp_model_timeout), measured from the first retransmission
// the timer made (a tail loss probe does not start it) and checked when
// the timer fires (retransmits_timed_out).
func (c *Conn) retriesExhausted(now clock.Instant) bool {
	limit := c.retryLimit()
	if c.retries > 0 && c.userTimedOut(now, c.lossState().retransStart) {
		return true // TCP_USER_TIMEOUT replaces the limit (retransmits_timed_out)
	}
	if c.state == SynSent || c.state == SynRcvd {
		return int(c.retries) >= limit
	}
	return c.retries > 0 && now.Sub(c.lossState().retransStart) >= modelTimeout(limit, c.cfg.RTOMin, c.cfg.RTOMax)
}

// modelTimeout is how long boundary retransmissions take when the RTO
// starts at base and doubles up to max (Linux tcp_model_timeout).
func modelTimeout(boundary int, base, maxRTO time.Duration) time.Duration {
	thresh := 0
	for base<<(thresh+1) <= maxRTO {
		thresh++ // ilog2(max/base)
	}
	if boundary <= thresh {
		return time.Duration((2<<boundary)-1) * base
	}
	return time.Duration((2<<thresh)-1)*base + time.Duration(boundary-thresh)*maxRTO
}

// rtoTimer is RFC 6298 §5.4–5.7: retransmit from SND.UNA, back off the
// timer, collapse the congestion window; give up after the retry limit.
func (c *Conn) rtoTimer(now clock.Instant) {
	c.rtoAt = clock.Never
	c.ptoAt, c.tlpOn, c.tlpNow = clock.Never, false, false
	if c.sndUna == c.sndMax {
		return
	}
	// Linux counts every expiry, the one that gives up included
	// (tcp_retransmit_timer, and tcp_syn_ack_timeout for a request).
	c.counts.Timeouts++
	if c.retriesExhausted(now) {
		c.err = syscall.ETIMEDOUT
		c.countTimeout()
		why := "retransmission limit reached (Linux tcp_retries2): connection dropped"
		switch {
		case c.state == SynSent:
			why = "SYN retries exhausted (Linux tcp_syn_retries)"
		case c.state == SynRcvd && c.passive:
			why = "SYN-ACK retries exhausted (Linux tcp_synack_retries)"
		case c.orphan:
			why = "orphan retries exhausted (Linux tcp_orphan_retries): dropped without RST"
		}
		c.setState(now, Closed, why)
		return
	}
	if c.retries == 0 {
		c.lossState().retransStart = now
	}
	if c.hasSACK() && c.loss.sacked[0].start.LessEq(c.sndUna) {
		// Linux tcp_timeout_mark_lost: a SACKed head at the timeout
		// means the peer reneged on its SACKs, as RFC 2018 §8 lets it:
		// every mark is forgotten and the head goes again.
		c.loss.sacked = c.loss.sacked[:0]
	}
	c.retries++
	if c.retries == 1 || !c.rtoHold {
		// One reduction per loss episode (RFC 5681 §3.1 eq. 4 uses the
		// flight at the first expiry; later ones keep ssthresh, as Linux).
		c.reduceWindow(now, uint32(c.sndMax.Sub(c.sndUna)))
	}
	c.cwnd = uint32(c.mss)
	c.inRecovery, c.sackRec, c.dupAcks, c.fastRexmit = false, false, 0, false
	c.rtoHold, c.recover = true, c.sndMax
	c.rttTiming = false
	c.sndNxt = c.sndUna
	c.rto = min(c.rto*2, c.cfg.RTOMax)
	if c.state == SynSent || c.state == SynRcvd {
		c.sndNxt = c.iss
	} else {
		c.fastRexmit = true // the head goes even into a zero window (Linux tcp_retransmit_timer)
	}
	// Linux tcp_retransmit_timer re-arms the timer whether or not the
	// retransmission goes out (out_reset_timer): data outstanding always
	// has a timer, so the retries run out if nothing else happens.
	c.rtoAt = now.Add(c.rtoDelay(now))
}

// rtoDelay is the retransmission timer's delay from now: the RTO, shortened
// to end when TCP_USER_TIMEOUT does once the timer has retransmitted
// (tcp_clamp_rto_to_user_timeout).
func (c *Conn) rtoDelay(now clock.Instant) time.Duration {
	if c.retries > 0 && c.opt != nil {
		return c.clampToUserTimeout(now, c.lossState().retransStart, c.rto, time.Millisecond)
	}
	return c.rto
}

// countTimeout counts a connection that gives up on its retries: Linux's
// tcp_write_err (TCPAbortOnTimeout, and AttemptFails through tcp_done for
// an open). A passive SYN_RCVD is a request socket in Linux, dropped
// silently by reqsk_timer_handler.
func (c *Conn) countTimeout() {
	if c.state == SynRcvd && c.passive {
		return
	}
	c.counts.AbortOnTimeout++
	if c.state == SynSent || c.state == SynRcvd {
		c.counts.AttemptFails++
	}
}

// persistTimer sends a zero-window probe (RFC 9293 §3.8.6.1) and backs off.
func (c *Conn) persistTimer(now clock.Instant) {
	c.persistAt = clock.Never
	if c.sndNxt != c.sndUna {
		return
	}
	if c.sndWnd != 0 {
		c.swsOverride = true // a window too small to fill: send what fits (Linux tcp_write_wakeup)
		return
	}
	c.probes++
	if c.opt != nil && c.opt.userTimeout > 0 {
		if c.opt.zwpStart == clock.Never {
			c.opt.zwpStart = now
		} else if c.userTimedOut(now, c.opt.zwpStart) {
			c.err = syscall.ETIMEDOUT
			c.countTimeout()
			c.setState(now, Closed, "zero-window probes unanswered for TCP_USER_TIMEOUT (Linux tcp_probe_timer)")
			return
		}
	}
	if int(c.probes) > c.retryLimit() {
		c.err = syscall.ETIMEDOUT
		c.countTimeout()
		c.setState(now, Closed, "zero-window probes unanswered (Linux tcp_retries2)")
		return
	}
	if c.probeShift < 255 {
		c.probeShift++
	}
	c.probeNow = true
}

// persistBackoff is the interval before the next zero-window probe.
func (c *Conn) persistBackoff(now clock.Instant) time.Duration {
	d := c.rtoFromRTT()
	for i := 0; i < int(c.probeShift) && d < c.cfg.RTOMax; i++ {
		d *= 2
	}
	d = min(d, c.cfg.RTOMax)
	if c.opt != nil {
		d = c.clampToUserTimeout(now, c.opt.zwpStart, d, 2*time.Millisecond) // TCP_TIMEOUT_MIN
	}
	return d
}
