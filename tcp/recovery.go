package tcp

import (
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/seq"
	"github.com/tcpwave/tcpwave/wire"
)

// lossState is what a connection keeps once it has seen loss or
// reordering: the SACK scoreboard of RFC 6675 and the state of CUBIC
// (RFC 9438). A connection that never loses a segment never allocates it.
type lossState struct {
	sacked  []span    // SACKed ranges above SND.UNA, sorted and disjoint
	rexmits []rexmit  // retransmissions of this recovery not yet delivered
	highRxt seq.Value // RFC 6675 HighRxt: end of the highest retransmission in this recovery
	// retransStart is the first RTO retransmission of this episode (Linux
	// retrans_stamp), read while Conn.rto.retries > 0.
	retransStart clock.Instant

	// CUBIC (RFC 9438 §4), in bytes and seconds.
	wMax       float64       // window just before the last reduction (W_max)
	k          float64       // time the cubic curve takes to regain wMax (K)
	origin     float64       // the window the curve is centred on
	wEst       float64       // the Reno-friendly estimate (W_est, §4.3)
	acc        float64       // fractional window growth not yet applied
	epochStart clock.Instant // start of the congestion-avoidance epoch, or Never
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

// maxSACKSpans bounds the scoreboard. A peer cannot make it grow past this
// whatever SACK blocks it sends; blocks that would open a new range beyond
// it are ignored, which only delays recovery to the retransmission timer.
const maxSACKSpans = 64

// dupThresh is RFC 6675's DupThresh (and Linux's initial tp->reordering).
const dupThresh = 3

// lossState returns the connection's loss state, allocating it on first use.
func (c *Conn) lossState() *lossState {
	if c.cc.loss == nil {
		c.cc.loss = &lossState{epochStart: clock.Never}
	}
	return c.cc.loss
}

// takeSACK records the SACK blocks of an acceptable ACK in the scoreboard
// (RFC 2018 §3, RFC 6675 §5). A first block that reports a duplicate
// (RFC 2883 §4: below SEG.ACK, or inside the second block) is a D-SACK and
// is only counted; the rest are clipped to (SEG.ACK, SND.MAX].
func (c *Conn) takeSACK(s *Segment) (dsack bool) {
	o := &s.Opts
	if !c.flags.has(sackOK) || o.NumSACK == 0 {
		return false
	}
	base := seq.Max(s.Ack, c.sndUna)
	for i := 0; i < int(o.NumSACK) && i < wire.MaxSACKBlocks; i++ {
		l, r := seq.Value(o.SACK[i].Left), seq.Value(o.SACK[i].Right)
		if !l.LessThan(r) {
			continue
		}
		if i == 0 && c.isDSACK(s, l, r) {
			c.counts.DSACKRecv++
			dsack = true
			continue
		}
		l, r = seq.Max(l, base), seq.Min(r, c.sndMax)
		if !l.LessThan(r) || !base.LessEq(l) || !r.LessEq(c.sndMax) {
			continue
		}
		ls := c.lossState()
		ls.sacked = insertSpan(ls.sacked, l, r, maxSACKSpans)
	}
	return dsack
}

// isDSACK reports whether the first SACK block [l, r) of s reports a
// duplicate segment (RFC 2883 §4).
func (c *Conn) isDSACK(s *Segment, l, r seq.Value) bool {
	if r.LessEq(s.Ack) {
		return true
	}
	if s.Opts.NumSACK < 2 {
		return false
	}
	l2, r2 := seq.Value(s.Opts.SACK[1].Left), seq.Value(s.Opts.SACK[1].Right)
	return l2.LessEq(l) && r.LessEq(r2)
}

// insertSpan adds [start, end) to the sorted, disjoint spans, merging what
// touches it. When the spans already number limit and the new range would
// be a new span, it is dropped.
func insertSpan(spans []span, start, end seq.Value, limit int) []span {
	i := 0
	for i < len(spans) && spans[i].end.LessThan(start) {
		i++
	}
	j := i
	for j < len(spans) && spans[j].start.LessEq(end) {
		start = seq.Min(start, spans[j].start)
		end = seq.Max(end, spans[j].end)
		j++
	}
	if i == j {
		if len(spans) >= limit {
			return spans
		}
		spans = append(spans, span{})
		copy(spans[i+1:], spans[i:])
		spans[i] = span{start, end}
		return spans
	}
	spans[i] = span{start, end}
	return append(spans[:i+1], spans[j:]...)
}

// trimSACK forgets SACKed ranges that SND.UNA has passed.
func (c *Conn) trimSACK() {
	ls := c.cc.loss
	if ls == nil {
		return
	}
	k := 0
	for k < len(ls.sacked) && ls.sacked[k].end.LessEq(c.sndUna) {
		k++
	}
	if k > 0 {
		ls.sacked = append(ls.sacked[:0], ls.sacked[k:]...)
	}
	if len(ls.sacked) > 0 && ls.sacked[0].start.LessThan(c.sndUna) {
		ls.sacked[0].start = c.sndUna
	}
	if ls.highRxt.LessThan(c.sndUna) {
		ls.highRxt = c.sndUna
	}
}

// sackedIn counts the SACKed bytes in [from, to).
func (c *Conn) sackedIn(from, to seq.Value) int {
	if c.cc.loss == nil {
		return 0
	}
	n := 0
	for _, sp := range c.cc.loss.sacked {
		l, r := seq.Max(sp.start, from), seq.Min(sp.end, to)
		if l.LessThan(r) {
			n += int(r.Sub(l))
		}
	}
	return n
}

// unsacked counts the bytes in [from, to) not SACKed.
func (c *Conn) unsacked(from, to seq.Value) int {
	if !from.LessThan(to) {
		return 0
	}
	return int(to.Sub(from)) - c.sackedIn(from, to)
}

// hasSACK reports whether the scoreboard holds any SACKed range.
func (c *Conn) hasSACK() bool { return c.cc.loss != nil && len(c.cc.loss.sacked) > 0 }

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

// unsentData reports whether written bytes (or a FIN) wait to be sent for
// the first time.
func (c *Conn) unsentData() bool {
	return c.unsentBytes() > 0 || c.flags.has(finQ) && !c.sndMax.GreaterThan(c.finSeq)
}

// unsentBytes is the written data not yet sent for the first time: the
// buffer beyond SND.MAX.
func (c *Conn) unsentBytes() int { return max(c.sndBuf.len()-int(c.sndMax.Sub(c.dataBase())), 0) }

// markRexmit records a retransmission of [start, end): HighRxt moves past
// it and, in SACK recovery, it is tracked until delivered.
func (c *Conn) markRexmit(start, end seq.Value) {
	ls := c.cc.loss
	if ls == nil {
		return
	}
	ls.highRxt = seq.Max(ls.highRxt, end)
	if !c.flags.has(sackRec) {
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

// sackHole returns how many bytes from sq may go before the next SACKed
// range, and where sq should move to if it lies inside one (a retransmission
// after an RTO skips what the peer already holds, as Linux does).
func (c *Conn) sackHole(sq seq.Value) (seq.Value, int) {
	if !c.hasSACK() || !sq.LessThan(c.sndMax) {
		return sq, -1
	}
	for _, sp := range c.cc.loss.sacked {
		if sp.end.LessEq(sq) {
			continue
		}
		if sp.start.LessEq(sq) {
			sq = sp.end
			continue
		}
		return sq, int(sp.start.Sub(sq))
	}
	return sq, -1
}

// enterRecovery starts fast recovery: NewReno (RFC 6582) without SACK,
// RFC 6675 with it. The window is reduced once per window of data.
func (c *Conn) enterRecovery(now clock.Instant, sack bool) {
	flight := uint32(c.sndMax.Sub(c.sndUna))
	c.reduceWindow(now, flight)
	c.flags.set(inRecovery)
	c.flags.put(sackRec, sack)
	c.cc.recover = c.sndMax
	c.tlp.at = clock.Never
	c.flags.set(fastRexmit) // RFC 6675 §5 (4.3), RFC 6582 §3.2 step 2: the head now
	if sack {
		c.cc.cwnd = c.cc.ssthresh
		ls := c.lossState()
		ls.highRxt = c.sndUna
		ls.rexmits = ls.rexmits[:0]
		c.counts.SACKRecovery++
	} else {
		c.cc.cwnd = c.cc.ssthresh + uint32(dupThresh*c.mss)
		c.counts.RenoRecovery++
	}
}

// checkRecovery enters SACK-based recovery once the scoreboard says the
// segment at SND.UNA is lost, or after DupThresh duplicate ACKs
// (RFC 6675 §5); without SACK, at the third duplicate ACK (RFC 5681 §3.2).
func (c *Conn) checkRecovery(now clock.Instant) {
	if c.flags.has(inRecovery) || c.flags.has(rtoHold) || c.sndUna == c.sndMax || c.state == SynSent || c.state == SynRcvd {
		return
	}
	switch {
	case c.flags.has(sackOK) && (c.cc.dupAcks >= dupThresh || c.lostEnd().GreaterThan(c.sndUna)):
		c.enterRecovery(now, true)
	case !c.flags.has(sackOK) && c.cc.dupAcks == dupThresh:
		c.enterRecovery(now, false)
	}
}

// Info is a snapshot of a connection's transmission state, the fields of
// Linux's tcp_info that matter here (ss -ti).
type Info struct {
	State       State
	Cwnd        int // congestion window, bytes
	Ssthresh    int // slow-start threshold, bytes (1 GiB until the first loss)
	InFlight    int // bytes the network is taken to hold (RFC 6675 pipe)
	Outstanding int // bytes sent and not yet cumulatively ACKed: SND.MAX - SND.UNA
	SRTT        int64
	RTTVar      int64
	RTO         int64 // retransmission timeout, ns
	MSS         int
	SndWnd      int  // the peer's window, bytes
	Sacked      int  // bytes the peer SACKed above SND.UNA
	InRecovery  bool // fast recovery (NewReno or SACK) in progress
	Retransmits int  // every retransmitted segment so far
}

// Info returns a snapshot of the connection's transmission state. SRTT,
// RTTVar and RTO are in nanoseconds.
func (c *Conn) Info() Info {
	return Info{
		State:       c.state,
		Cwnd:        int(c.cc.cwnd),
		Ssthresh:    int(c.cc.ssthresh),
		InFlight:    c.inFlight(),
		Outstanding: int(c.sndMax.Sub(c.sndUna)),
		SRTT:        int64(c.rto.srtt),
		RTTVar:      int64(c.rto.rttvar),
		RTO:         int64(c.rto.timeout),
		MSS:         c.mss,
		SndWnd:      int(c.sndWnd),
		Sacked:      c.sackedIn(c.sndUna, c.sndMax),
		InRecovery:  c.flags.has(inRecovery),
		Retransmits: int(c.rto.total),
	}
}

// schedulePTO arms the tail loss probe (RFC 8985 §7.2, as Linux's
// tcp_schedule_loss_probe): on SACK connections with data outstanding and
// no recovery under way, two smoothed RTTs after the last transmission or
// new ACK, plus the minimum RTO when a single segment is out (the peer may
// be delaying its ACK) or 2 ms otherwise, and never after the RTO would
// fire. advancingRTO says the RTO was just restarted from now.
func (c *Conn) schedulePTO(now clock.Instant, advancingRTO bool) {
	c.tlp.at = clock.Never
	if !c.cfg.TLP || !c.flags.has(sackOK) || c.sndUna == c.sndMax || c.flags.has(inRecovery) || c.flags.has(rtoHold) || c.sndUna == c.iss {
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
	if c.flags.has(tlpOn) || c.sndUna == c.sndMax {
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
