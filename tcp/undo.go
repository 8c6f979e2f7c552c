package tcp

import "github.com/tcpwave/tcpwave/seq"

// Undo, as Linux does it (tcp_input.c: tcp_init_undo, tcp_may_undo,
// tcp_try_undo_loss, tcp_try_undo_recovery): a window reduction for a
// loss that was not one is taken back. The peer shows that the data
// sent first arrived after all: its ACK echoes the timestamp of a
// transmission older than the episode's first retransmission (RFC 3522,
// Eifel detection, Linux tcp_packet_delayed), or it reported every
// retransmission of the episode as a duplicate with D-SACK (RFC 3708).
// On a link that loses ACKs this matters most after an RTO: the one ACK
// for a whole flight is lost, the timer retransmits the head, and the
// answer (echoing the flight's timestamp) shows that nothing was lost;
// without an undo the window would restart from one segment.

// undoState is the undo record of one loss episode (fast recovery or an
// RTO), kept in the lossState.
type undoState struct {
	marker        seq.Value // SND.UNA when the episode began (Linux undo_marker)
	rexmitTS      uint32    // our TSval at the episode's first retransmission (Linux retrans_stamp)
	retrans       int32     // its retransmissions not reported duplicate by D-SACK (Linux undo_retrans)
	priorCwnd     uint32    // cwnd before the reduction (Linux prior_cwnd)
	priorSsthresh uint32    // ssthresh before it (Linux prior_ssthresh, tcp_current_ssthresh)
	on            bool      // an episode that may be undone runs (Linux undo_marker != 0)
	rexmitted     bool      // it has retransmitted: rexmitTS is set
}

// initUndo starts the undo record of a new loss episode, before its
// window reduction (Linux tcp_init_undo and prior_ssthresh).
func (c *Conn) initUndo() {
	prior := max(c.cc.ssthresh, c.cc.cwnd/2+c.cc.cwnd/4) // Linux tcp_current_ssthresh outside a reduction
	c.lossState().undo = undoState{marker: c.sndUna, priorCwnd: c.cc.cwnd, priorSsthresh: prior, on: true}
}

// undoRexmit counts a retransmission of the episode (Linux
// tcp_retransmit_skb: retrans_stamp, undo_retrans).
func (c *Conn) undoRexmit(ts uint32) {
	ls := c.cc.loss
	if ls == nil || !ls.undo.on {
		return
	}
	if !ls.undo.rexmitted {
		ls.undo.rexmitted, ls.undo.rexmitTS = true, ts
	}
	ls.undo.retrans++
}

// undoDSACK takes a D-SACK block [l, r) off the episode's
// retransmissions when it reports data the episode may have retransmitted:
// above its start and not beyond SND.MAX, and above SND.UNA only over a
// segment the send log shows sent twice (Linux counts blocks at or below
// SND.UNA in tcp_check_dsack, and above it in tcp_sacktag_one only over
// retransmitted skbs). Each block counts for one retransmission, whatever
// its length: a peer cannot end an episode's undo record with one
// oversized block, nor with blocks over data never sent again.
func (c *Conn) undoDSACK(l, r seq.Value) {
	ls := c.cc.loss
	if ls == nil || !ls.undo.on || ls.undo.retrans <= 0 || !r.GreaterThan(ls.undo.marker) || r.GreaterThan(c.sndMax) {
		return
	}
	if r.GreaterThan(c.sndUna) && !c.rexmitIn(l, r) {
		return
	}
	ls.undo.retrans--
}

// rexmitIn reports whether the send log holds a segment overlapping
// [l, r) that went more than once; without RACK's log, it cannot tell
// and says yes.
func (c *Conn) rexmitIn(l, r seq.Value) bool {
	rs := c.rack()
	if rs == nil {
		return true
	}
	for _, e := range rs.live() {
		if e.start.LessThan(r) && l.LessThan(e.end) && e.flags&txRexmit != 0 {
			return true
		}
	}
	return false
}

// mayUndo is Linux's tcp_may_undo for the ACK s: the episode has
// retransmitted, and either every retransmission was reported duplicate
// or s echoes a timestamp older than the first of them.
func (c *Conn) mayUndo(s *Segment) bool {
	ls := c.cc.loss
	if ls == nil || !ls.undo.on || !ls.undo.rexmitted {
		return false
	}
	if ls.undo.retrans == 0 {
		return true
	}
	return c.flags.has(tsOK) && s.Opts.HasTimestamp && s.Opts.TSEcr != 0 && int32(s.Opts.TSEcr-ls.undo.rexmitTS) < 0
}

// undoReduction takes the episode's window reduction back (Linux
// tcp_undo_cwnd_reduction): cwnd and ssthresh return to what they were;
// after an RTO what it deemed lost is in flight again, and without RACK
// the go-back-N retransmission stops.
func (c *Conn) undoReduction(unmarkLoss bool) {
	ls := c.cc.loss
	c.cc.cwnd = max(c.cc.cwnd, ls.undo.priorCwnd)
	c.cc.ssthresh = max(c.cc.ssthresh, ls.undo.priorSsthresh)
	ls.undo.on = false
	if !unmarkLoss {
		return
	}
	r := c.rack()
	if r == nil {
		c.sndNxt = c.sndMax
		return
	}
	live := r.live()
	for i := range live {
		live[i].flags &^= txLost | txLostRexmit
	}
	r.lostOut = 0
}

// tryUndo runs for an ACK s that moved SND.UNA on, before the window
// grows or recovery ends: after an RTO that was spurious (Linux
// tcp_try_undo_loss), or at the end of a fast recovery that was
// (tcp_try_undo_recovery), the reduction is undone and
// the connection is open again. A recovery undone does not count down a
// reordering window grown by D-SACKs (rackRecoveryEnd): it was
// reordering, which the window is there for (tcp_try_undo_recovery
// decrements reo_wnd_persist only when it does not undo). (Linux counts
// these as TCPLossUndo and TCPFullUndo; Counts has no room for them
// within the Conn's size.)
func (c *Conn) tryUndo(s *Segment) {
	switch {
	case c.flags.has(rtoHold) && c.mayUndo(s):
		c.undoReduction(true)
		c.flags.clear(rtoHold)
	case c.flags.has(inRecovery) && c.sndUna.GreaterEq(c.cc.recover) && c.mayUndo(s):
		c.undoReduction(false)
		c.flags.clear(inRecovery | sackRec)
	}
}

// endUndo closes the episode's undo record when the episode ends
// without an undo.
func (c *Conn) endUndo() {
	if c.cc.loss != nil {
		c.cc.loss.undo.on = false
	}
}
