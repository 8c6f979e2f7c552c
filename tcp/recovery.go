package tcp

import (
	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/seq"
	"github.com/tcpwave/tcpwave/wire"
)

// lossState is what a connection keeps once it has seen loss or
// reordering: the SACK scoreboard of RFC 6675 and the state of CUBIC
// (RFC 9438); with RACK, the send log too, so a SACK connection takes
// one when it first sends data. A connection that never loses a segment
// and does not run RACK never takes one. A stack's connections hand
// theirs on through its LossCache (losscache.go).
type lossState struct {
	sacked  []span    // SACKed ranges above SND.UNA, sorted and disjoint
	rexmits []rexmit  // retransmissions of this recovery not yet delivered
	highRxt seq.Value // RFC 6675 HighRxt: end of the highest retransmission in this recovery
	// retransStart is the first RTO retransmission of this episode (Linux
	// retrans_stamp), read while Conn.rto.retries > 0.
	retransStart clock.Instant
	undo         undoState // what an undo of this episode's reduction needs (undo.go)
	prr          prrState  // the window's reduction in SACK recovery (prr.go)

	cubic cubicState // CUBIC's curve (cc.go)
	rack  rackState  // the send log and RACK's variables (rack.go)
	use   cwndUse    // how much of the window the sender used (cc.go)
}

// rexmit is one retransmission in SACK recovery: [start, end) went again
// when SND.MAX was mark. Once the peer SACKs data above mark, data sent
// after the retransmission has arrived and the retransmission has not: it
// was lost too (Linux's lost-retransmit detection, and what RACK, RFC 8985,
// concludes from send times).
type rexmit struct {
	start, end, mark seq.Value
	lost             bool
}

// maxRexmits bounds the retransmissions tracked in one recovery; beyond
// it, a lost retransmission is left to the retransmission timer.
const maxRexmits = 64

// dupThresh is RFC 6675's DupThresh (and Linux's initial tp->reordering).
const dupThresh = 3

// lossState returns the connection's loss state, made on first use from
// one a finished connection left in the driver's LossCache, or a new one.
func (c *Conn) lossState() *lossState {
	if c.cc.loss == nil {
		// Set field by field: a literal with fields would be built aside
		// and copied in.
		ls := c.takeLossState()
		ls.cubic.epochStart = clock.Never
		ls.rack = newRackState()
		ls.rack.log = ls.rack.first[:0]
		c.cc.loss = ls
	}
	return c.cc.loss
}

// lostEnd is RFC 6675's IsLost as a boundary: every byte below it that is
// not SACKed is deemed lost, because more than (DupThresh-1)*SMSS bytes,
// or DupThresh separate ranges, above it were SACKed. With fewer than four
// segments outstanding and nothing new to send, the threshold drops to one
// less than the segments outstanding (early retransmit, RFC 5827), so that
// a loss near the end of the data is not left to the timer.
func (c *Conn) lostEnd() seq.Value {
	if !c.hasSACK() {
		return c.sndUna
	}
	thresh := dupThresh
	if !c.unsentData() {
		if segs := (int(c.sndMax.Sub(c.sndUna)) + c.mss - 1) / c.mss; segs < dupThresh+1 {
			thresh = max(segs-1, 1)
		}
	}
	sp := c.cc.loss.sacked
	bytes := 0
	for i := len(sp) - 1; i >= 0; i-- {
		bytes += int(sp[i].end.Sub(sp[i].start))
		if bytes > (thresh-1)*c.mss || len(sp)-i >= thresh {
			return seq.Max(sp[i].start, c.sndUna)
		}
	}
	return c.sndUna
}

// markRexmit records a retransmission of [start, end): HighRxt moves past
// it and, in SACK recovery, it is tracked until delivered.
func (c *Conn) markRexmit(start, end seq.Value) {
	ls := c.cc.loss
	if ls == nil {
		return
	}
	ls.highRxt = seq.Max(ls.highRxt, end)
	if !c.flags.has(sackRec) || c.rackOn() {
		return
	}
	found := false
	for i := range ls.rexmits {
		if r := &ls.rexmits[i]; r.start.LessThan(end) && start.LessThan(r.end) {
			// Sent again (in part or whole): it is in flight once more.
			r.start, r.end = seq.Min(r.start, start), seq.Max(r.end, end)
			r.mark, r.lost = c.sndMax, false
			found = true
		}
	}
	if found {
		return
	}
	if len(ls.rexmits) == maxRexmits {
		copy(ls.rexmits, ls.rexmits[1:])
		ls.rexmits = ls.rexmits[:maxRexmits-1]
	}
	ls.rexmits = append(ls.rexmits, rexmit{start: start, end: end, mark: c.sndMax})
}

// markLostRexmits forgets delivered retransmissions and marks lost those
// that data sent after them overtook.
func (c *Conn) markLostRexmits() {
	ls := c.cc.loss
	if ls == nil || len(ls.rexmits) == 0 {
		return
	}
	top := c.sndUna
	if n := len(ls.sacked); n > 0 {
		top = ls.sacked[n-1].end
	}
	k := 0
	for _, r := range ls.rexmits {
		if r.end.LessEq(c.sndUna) || c.unsacked(seq.Max(r.start, c.sndUna), r.end) == 0 {
			continue // delivered
		}
		if top.GreaterThan(r.mark) {
			r.lost = true
		}
		ls.rexmits[k] = r
		k++
	}
	ls.rexmits = ls.rexmits[:k]
}

// lostRexmit returns the first retransmission deemed lost: its first byte
// not SACKed and how many follow before the next SACKed range.
func (c *Conn) lostRexmit() (seq.Value, int, bool) {
	for _, r := range c.cc.loss.rexmits {
		if !r.lost {
			continue
		}
		from, hole := c.sackHole(seq.Max(r.start, c.sndUna))
		n := int(r.end.Sub(from))
		if hole >= 0 {
			n = min(n, hole)
		}
		if n > 0 {
			return from, n, true
		}
	}
	return 0, 0, false
}

// lostRexmitBytes counts the bytes of retransmissions deemed lost, which
// the pipe no longer counts as in flight.
func (c *Conn) lostRexmitBytes() int {
	n := 0
	for _, r := range c.cc.loss.rexmits {
		if r.lost {
			n += c.unsacked(seq.Max(r.start, c.sndUna), r.end)
		}
	}
	return n
}

// inFlight is the data the network is taken to hold: SND.NXT - SND.UNA
// without loss; RFC 6675's pipe in SACK recovery (bytes not SACKed and not
// lost, plus bytes retransmitted); Linux's packets_out - sacked_out otherwise
// (so that SACKed segments let new ones out: limited transmit, RFC 3042).
func (c *Conn) inFlight() int {
	if r := c.rack(); r != nil {
		return c.rackInFlight(r)
	}
	if !c.hasSACK() && !c.flags.has(sackRec) {
		return int(c.sndNxt.Sub(c.sndUna))
	}
	if !c.flags.has(sackRec) {
		return c.unsacked(c.sndUna, c.sndNxt)
	}
	lost := c.lostEnd()
	high := seq.Max(c.cc.loss.highRxt, c.sndUna)
	return max(c.unsacked(lost, c.sndMax)+c.unsacked(c.sndUna, high)-c.lostRexmitBytes(), 0)
}

// nextLostHole is RFC 6675's NextSeg rule 1: the first range not SACKed,
// above HighRxt and below the loss boundary. It returns its start and its
// length up to the next SACKed range.
func (c *Conn) nextLostHole() (seq.Value, int, bool) {
	lost := c.lostEnd()
	from := seq.Max(c.cc.loss.highRxt, c.sndUna)
	for _, sp := range c.cc.loss.sacked {
		if sp.end.LessEq(from) {
			continue
		}
		if from.LessThan(sp.start) {
			if !from.LessThan(lost) {
				return 0, 0, false
			}
			return from, int(sp.start.Sub(from)), true
		}
		from = sp.end
	}
	return 0, 0, false
}

// enterRecovery starts fast recovery: NewReno (RFC 6582) without SACK,
// RFC 6675 with it, its window brought down by PRR (RFC 6937, prr.go).
// The window is reduced once per window of data, from w, the congestion
// window as it was before the event that found the loss: Linux's cubic
// takes cwnd alone, before the ACK counts (tcp_fastretrans_alert runs
// before tcp_cong_control), however much of it was in use
// (recovery-ssthresh-cwnd.pkt), and an ACK that moves SND.UNA up to the
// hole does not shrink it (recovery-ssthresh-prior-flight.pkt).
func (c *Conn) enterRecovery(now clock.Instant, sack bool, w uint32) {
	c.initUndo()
	c.reduceWindow(now, w)
	c.flags.set(inRecovery)
	c.flags.put(sackRec, sack)
	c.cc.recover = c.sndMax
	c.tlp.at = clock.Never
	c.flags.set(fastRexmit) // RFC 6675 §5 (4.3), RFC 6582 §3.2 step 2: the head now
	if sack {
		// cwnd stays: PRR brings it down to ssthresh as the peer reports
		// deliveries (prr.go), from this ACK on.
		ls := c.lossState()
		ls.highRxt = c.sndUna
		ls.rexmits = ls.rexmits[:0]
		ls.prr = prrState{}
		c.counts.SACKRecovery++
	} else {
		c.cc.cwnd = c.cc.ssthresh + uint32(dupThresh*c.mss)
		c.counts.RenoRecovery++
	}
}

// checkRecovery enters SACK-based recovery once the scoreboard says the
// segment at SND.UNA is lost, or after DupThresh duplicate ACKs
// (RFC 6675 §5); without SACK, at the third duplicate ACK (RFC 5681 §3.2).
// w is the congestion window before the ACK (enterRecovery).
func (c *Conn) checkRecovery(now clock.Instant, w uint32) {
	if c.flags.has(inRecovery) || c.flags.has(rtoHold) || c.sndUna == c.sndMax || c.state == SynSent || c.state == SynRcvd {
		return
	}
	if r := c.rack(); r != nil {
		// RACK marks the losses (Linux tcp_time_to_recover: lost_out).
		if r.lostOut > 0 {
			c.enterRecovery(now, true, w)
		}
		return
	}
	switch {
	case c.flags.has(sackOK) && (c.cc.dupAcks >= dupThresh || c.lostEnd().GreaterThan(c.sndUna)):
		c.enterRecovery(now, true, w)
	case !c.flags.has(sackOK) && c.cc.dupAcks == dupThresh:
		c.enterRecovery(now, false, w)
	}
}

// maybeDupAck counts duplicate ACKs (RFC 5681 §2: no data, no window
// change, data outstanding); checkRecovery acts on them. In NewReno
// recovery each further one inflates the window by an MSS (RFC 5681 §3.2
// step 4); SACK recovery counts the pipe instead.
func (c *Conn) maybeDupAck(s *Segment) {
	if len(s.Payload) != 0 || s.Flags&(wire.SYN|wire.FIN) != 0 || c.sndUna == c.sndMax ||
		uint32(s.Wnd)<<c.sndWScale != c.sndWnd {
		c.cc.dupAcks = 0
		return
	}
	c.cc.dupAcks++
	if c.cc.dupAcks > dupThresh && c.flags.has(inRecovery) && !c.flags.has(sackRec) {
		c.cc.cwnd += uint32(c.mss)
	}
}
