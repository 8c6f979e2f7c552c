package tcp

import "github.com/tcpwave/tcpwave/seq"

// Proportional Rate Reduction (RFC 6937) as Linux's tcp_cwnd_reduction
// runs it in fast recovery, in bytes where Linux counts segments. At the
// start of a SACK recovery cwnd is left as it was; on every ACK it becomes
// the pipe plus what may be sent now. While the pipe exceeds ssthresh,
// that is ssthresh/prior_cwnd of what the peer reported delivered since
// recovery began, less what went out since, rounded up to whole segments
// as Linux's segment counts round: data keeps flowing at the reduced rate
// all through the recovery instead of stopping until the pipe drains to
// ssthresh (RFC 6675's cwnd = ssthresh at once), so the ACKs keep coming
// and the loss of one of them leaves data in flight. Once the pipe is
// below ssthresh (more was lost), it is rebuilt towards ssthresh as
// slow start would: what was delivered, one segment more when SND.UNA
// advanced and nothing was newly deemed lost, but never beyond ssthresh
// (Linux's reduction bound, PRR-SSRB).

// prrState is PRR's accounting for one recovery, kept in the lossState.
type prrState struct {
	delivered int // bytes the peer reported delivered since recovery began (Linux prr_delivered)
	out       int // bytes sent since recovery began (Linux prr_out)
}

// deliveredMark is SND.UNA moved on by the bytes SACKed above it: the
// difference of two marks taken around an ACK is what it reported newly
// delivered (Linux tcp_newly_delivered).
func (c *Conn) deliveredMark() seq.Value {
	if !c.hasSACK() {
		return c.sndUna
	}
	return c.sndUna.Add(seq.Size(c.sackedIn(c.sndUna, c.sndMax)))
}

// newlyDelivered is what the peer reported delivered since the delivered
// mark was prev: bytes newly ACKed or SACKed, none counted twice.
func (c *Conn) newlyDelivered(prev seq.Value) int {
	return max(int(int32(c.deliveredMark()-prev)), 0)
}

// lostMarks counts the segments ever deemed lost (Linux tp->lost), so
// that an ACK can tell whether it marked any; RACK keeps it, the RFC 6675
// rules do not (0).
func (c *Conn) lostMarks() uint32 {
	if c.cc.loss == nil {
		return 0
	}
	return c.cc.loss.rack.marked
}

// prrOnAck sets cwnd in SACK recovery for an event that reported newly
// bytes delivered (Linux tcp_cwnd_reduction): unaMoved says SND.UNA
// advanced, newlyLost that segments were deemed lost on the way.
func (c *Conn) prrOnAck(newly int, unaMoved, newlyLost bool) {
	ls := c.cc.loss
	prior := int(ls.undo.priorCwnd)
	if newly <= 0 || prior == 0 {
		return
	}
	mss := c.mss
	pipe := c.inFlight()
	ssthresh := int(c.cc.ssthresh)
	ls.prr.delivered += newly
	var sndcnt int
	if delta := ssthresh - pipe; delta < 0 {
		target := int((uint64(ssthresh)*uint64(ls.prr.delivered) + uint64(prior) - 1) / uint64(prior))
		sndcnt = (target+mss-1)/mss*mss - ls.prr.out
	} else {
		sndcnt = max(ls.prr.delivered-ls.prr.out, newly)
		if unaMoved && !newlyLost {
			sndcnt += mss
		}
		sndcnt = min(delta, sndcnt)
	}
	if ls.prr.out == 0 {
		sndcnt = max(sndcnt, mss) // the fast retransmission goes whatever the count
	}
	c.cc.cwnd = uint32(min(pipe+max(sndcnt, 0), 1<<30))
}

// prrSent counts n bytes sent during a SACK recovery (Linux prr_out).
func (c *Conn) prrSent(n seq.Size) {
	if c.flags.has(sackRec) && c.cc.loss != nil {
		c.cc.loss.prr.out += int(n)
	}
}
