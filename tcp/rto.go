package tcp

import (
	"syscall"
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/seq"
)

// rtoState is RTT sampling and the retransmission timer (RFC 6298).
type rtoState struct {
	srtt, rttvar time.Duration
	timeout      time.Duration // the RTO, backed off after expirations
	at           clock.Instant // when the retransmission timer fires, or Never
	rttStart     clock.Instant // when the timed segment went (without timestamps)
	rttSeq       seq.Value     // the timed segment's sequence number
	retries      int32         // consecutive RTO expirations
	total        int32         // every retransmitted segment so far
}

// timeoutMin is Linux's TCP_TIMEOUT_MIN, two jiffies (8 ms with HZ 250,
// the usual kernel configuration): the retransmission timer's shortest
// setting, as after a SYN-ACK with an unacceptable ACK.
const timeoutMin = 8 * time.Millisecond

// rtoFallback is the RTO after a handshake that gave no RTT sample
// (RFC 6298 §5.7, Linux TCP_TIMEOUT_FALLBACK).
const rtoFallback = 3 * time.Second

// sampleRTT takes an RTT sample from the timestamp echo (RFC 7323 §4.1) or,
// without timestamps, from the timed segment (Karn's rule: never from a
// retransmitted one), and reports whether it took one.
func (c *Conn) sampleRTT(now clock.Instant, s *Segment) bool {
	var r time.Duration
	switch {
	case c.flags.has(tsOK) && s.Opts.HasTimestamp && s.Opts.TSEcr != 0:
		r = time.Duration(c.tsNow(now)-s.Opts.TSEcr) * time.Millisecond
		if r < 0 || r > c.cfg.RTOMax {
			return false
		}
	case c.flags.has(rttTiming) && s.Ack.GreaterThan(c.rto.rttSeq):
		r = now.Sub(c.rto.rttStart)
		c.flags.clear(rttTiming)
	default:
		return false
	}
	r = max(r, time.Microsecond)
	// RFC 6298 §2.2 and §2.3.
	if c.rto.srtt == 0 {
		c.rto.srtt, c.rto.rttvar = r, r/2
		return true
	}
	d := c.rto.srtt - r
	if d < 0 {
		d = -d
	}
	c.rto.rttvar = (3*c.rto.rttvar + d) / 4
	c.rto.srtt = (7*c.rto.srtt + r) / 8
	return true
}

// rtoFromRTT computes the RTO as Linux does: SRTT plus the larger of
// 4*RTTVAR and the minimum RTO, within [RTOMin, RTOMax].
func (c *Conn) rtoFromRTT() time.Duration {
	if c.rto.srtt == 0 {
		return c.cfg.RTOInitial
	}
	rto := c.rto.srtt + max(4*c.rto.rttvar, c.cfg.RTOMin)
	return min(max(rto, c.cfg.RTOMin), c.cfg.RTOMax)
}

// retryLimit is how many RTO expirations the current state allows.
func (c *Conn) retryLimit() int {
	switch {
	case c.state == SynSent:
		return c.cfg.SynRetries
	case c.state == SynRcvd && c.flags.has(passive):
		return c.cfg.SynAckRetries
	case c.flags.has(orphan):
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
	if c.rto.retries > 0 && c.userTimedOut(now, c.lossState().retransStart) {
		return true // TCP_USER_TIMEOUT replaces the limit (retransmits_timed_out)
	}
	if c.state == SynSent || c.state == SynRcvd {
		return int(c.rto.retries) >= limit
	}
	return c.rto.retries > 0 && now.Sub(c.lossState().retransStart) >= modelTimeout(limit, c.cfg.RTOMin, c.cfg.RTOMax)
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
	c.rto.at = clock.Never
	c.tlp.at = clock.Never
	c.flags.clear(tlpOn | tlpNow)
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
		case c.state == SynRcvd && c.flags.has(passive):
			why = "SYN-ACK retries exhausted (Linux tcp_synack_retries)"
		case c.flags.has(orphan):
			why = "orphan retries exhausted (Linux tcp_orphan_retries): dropped without RST"
		}
		c.setState(now, Closed, why)
		return
	}
	if c.rto.retries == 0 {
		c.lossState().retransStart = now
		if c.flags.has(inRecovery) && c.flags.has(sackRec) {
			c.counts.SACKRecoveryFail++ // Linux tcp_retransmit_timer: the first expiry in SACK recovery
		}
	}
	reneged := c.hasSACK() && c.cc.loss.sacked[0].start.LessEq(c.sndUna)
	if reneged {
		// Linux tcp_timeout_mark_lost: a SACKed head at the timeout
		// means the peer reneged on its SACKs, as RFC 2018 §8 lets it:
		// every mark is forgotten and the head goes again.
		c.cc.loss.sacked = c.cc.loss.sacked[:0]
	}
	r := c.rack()
	if r != nil {
		c.rackTimeout(now, r, reneged)
	}
	c.rto.retries++
	inEpisode := c.flags.has(inRecovery) || c.flags.has(rtoHold)
	if !inEpisode || c.sndUna.GreaterEq(c.cc.recover) || c.flags.has(rtoHold) && c.rto.retries == 1 {
		// One reduction per loss episode (RFC 5681 §3.1 eq. 4 uses the
		// flight at the first expiry; later ones keep ssthresh, as
		// Linux's tcp_enter_loss): an RTO in fast recovery keeps the
		// recovery's ssthresh and its undo record, one after an ACK
		// of new data since the last starts an episode of its own.
		// A SYN's or SYN-ACK's timeout starts no undo record: the
		// handshake sets the window afresh, and a record left open
		// would count the first flight's D-SACKs against a SYN.
		if c.state != SynSent && c.state != SynRcvd {
			c.initUndo()
		}
		c.reduceWindow(now, uint32(c.sndMax.Sub(c.sndUna)))
	}
	if reneged {
		c.endUndo() // the peer dropped what it SACKed: no undo
	}
	c.cc.cwnd = uint32(c.mss)
	c.flags.clear(inRecovery | sackRec | fastRexmit)
	c.cc.dupAcks = 0
	c.flags.set(rtoHold)
	c.cc.recover = c.sndMax
	c.flags.clear(rttTiming)
	if r == nil {
		c.sndNxt = c.sndUna // go back N; with RACK, what it marked lost goes again instead
	}
	c.rto.timeout = min(c.rto.timeout*2, c.cfg.RTOMax)
	if c.state == SynSent || c.state == SynRcvd {
		c.sndNxt = c.iss
	} else {
		c.flags.set(fastRexmit) // the head goes even into a zero window (Linux tcp_retransmit_timer)
	}
	// Linux tcp_retransmit_timer re-arms the timer whether or not the
	// retransmission goes out (out_reset_timer): data outstanding always
	// has a timer, so the retries run out if nothing else happens.
	c.rto.at = now.Add(c.rtoDelay(now))
}

// rtoDelay is the retransmission timer's delay from now: the RTO, shortened
// to end when TCP_USER_TIMEOUT does once the timer has retransmitted
// (tcp_clamp_rto_to_user_timeout).
func (c *Conn) rtoDelay(now clock.Instant) time.Duration {
	if c.rto.retries > 0 && c.opt != nil {
		return c.clampToUserTimeout(now, c.lossState().retransStart, c.rto.timeout, time.Millisecond)
	}
	return c.rto.timeout
}

// countTimeout counts a connection that gives up on its retries: Linux's
// tcp_write_err (TCPAbortOnTimeout, and AttemptFails through tcp_done for
// an open). A passive SYN_RCVD is a request socket in Linux, dropped
// silently by reqsk_timer_handler.
func (c *Conn) countTimeout() {
	if c.state == SynRcvd && c.flags.has(passive) {
		return
	}
	c.counts.AbortOnTimeout++
	if c.state == SynSent || c.state == SynRcvd {
		c.counts.AttemptFails++
	}
}
