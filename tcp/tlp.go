package tcp

import (
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/seq"
)

// tlpState is the tail loss probe (RFC 8985 §7).
type tlpState struct {
	at      clock.Instant // when the probe timer fires, or Never
	high    seq.Value     // SND.NXT when the loss probe went (Linux tlp_high_seq)
	lastSeg seq.Value     // start of the last segment of new data sent
}

// schedulePTO arms the tail loss probe (RFC 8985 §7.2, as Linux's
// tcp_schedule_loss_probe): on SACK connections with data outstanding,
// none of it SACKed (RFC 8985 §7.2 condition 2; Linux probes in the Open
// state, not in Disorder, where RACK's reordering timer finds the losses)
// and no recovery under way, two smoothed RTTs after the last transmission or
// new ACK, plus the minimum RTO when a single segment is out (the peer may
// be delaying its ACK) or 2 ms otherwise, and never after the RTO would
// fire. advancingRTO says the RTO was just restarted from now.
func (c *Conn) schedulePTO(now clock.Instant, advancingRTO bool) {
	c.tlp.at = clock.Never
	if !c.cfg.TLP || !c.flags.has(sackOK) || c.sndUna == c.sndMax || c.flags.has(inRecovery) || c.flags.has(rtoHold) || c.sndUna == c.iss || c.hasSACK() {
		return
	}
	pto := c.cfg.RTOInitial
	if c.rto.srtt > 0 {
		pto = 2 * c.rto.srtt
		if c.tlp.lastSeg.LessEq(c.sndUna) {
			pto += c.cfg.RTOMin // one segment out
		} else {
			pto += 2 * time.Millisecond
		}
	}
	left := c.rto.timeout
	if !advancingRTO && c.rto.at != clock.Never {
		left = c.rto.at.Sub(now)
	}
	if left > 0 {
		pto = min(pto, left)
	}
	c.tlp.at = now.Add(pto)
}

// probeTimer is RFC 8985 §7.3 (Linux tcp_send_loss_probe): send one new
// segment if the peer's window allows, else retransmit the last segment
// sent; then the RTO runs again from now. One probe at a time.
func (c *Conn) probeTimer(now clock.Instant) {
	c.tlp.at = clock.Never
	// A probe armed before a SACK came stays unsent: with SACKed data
	// outstanding, the RTO or the recovery the SACKs start repairs the
	// tail (RFC 8985 §7.2 condition 2; Linux re-arms its one timer on an
	// ACK that SACKs new data).
	if c.flags.has(tlpOn) || c.sndUna == c.sndMax || c.hasSACK() {
		return
	}
	c.flags.set(tlpNow)
	c.flags.set(tlpOn)
	c.rto.at = now.Add(c.rto.timeout)
}

// emitProbe sends the loss probe: new data ignoring cwnd (never the
// peer's window), or the last segment again.
func (c *Conn) emitProbe(now clock.Instant, s *Segment, buf []byte) bool {
	if c.unsentData() {
		if c.emitData(now, s, buf, sendProbe) {
			c.flags.clear(tlpRexmit)
			c.tlp.high = c.sndNxt
			c.counts.LossProbes++
			return true
		}
	}
	from := seq.Max(c.tlp.lastSeg, c.sndUna)
	if !c.emitAt(now, s, buf, from, int(c.sndMax.Sub(from))) {
		c.flags.clear(tlpOn)
		return false
	}
	c.flags.set(tlpRexmit)
	c.tlp.high = c.sndMax
	c.counts.LossProbes++
	return true
}

// tlpAck is RFC 8985 §7.4 (Linux tcp_process_tlp_ack): once the probe's
// sequence is ACKed, a D-SACK of it means nothing was lost; an ACK beyond
// it without one means the probe repaired a loss, and the window is
// reduced as for any loss.
func (c *Conn) tlpAck(now clock.Instant, s *Segment, prevUna seq.Value, dsack bool) {
	if !c.flags.has(tlpOn) || s.Ack.LessThan(c.tlp.high) {
		return
	}
	switch {
	case !c.flags.has(tlpRexmit), dsack:
		c.flags.clear(tlpOn)
	case s.Ack.GreaterThan(c.tlp.high):
		c.flags.clear(tlpOn)
		c.reduceWindow(now, uint32(c.tlp.high.Sub(prevUna)))
		c.cc.cwnd = c.cc.ssthresh
		c.counts.LossProbeRecovery++
	case s.Ack == prevUna && s.Opts.NumSACK == 0:
		c.flags.clear(tlpOn) // a plain duplicate ACK
	}
}
