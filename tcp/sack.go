package tcp

import (
	"github.com/tcpwave/tcpwave/seq"
	"github.com/tcpwave/tcpwave/wire"
)

// maxSACKSpans bounds the scoreboard. A peer cannot make it grow past this
// whatever SACK blocks it sends; blocks that would open a new range beyond
// it are ignored, which only delays recovery to the retransmission timer.
const maxSACKSpans = 64

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

// setDSACK queues [start, end) as the D-SACK block of our next ACK.
func (c *Conn) setDSACK(start, end seq.Value, counter *uint32) {
	if !c.flags.has(sackOK) || !c.cfg.DSACK || !start.LessThan(end) {
		return
	}
	c.dsack = span{start, end}
	c.flags.set(dsackOn)
	*counter++
}

// dsackOfo reports the part of an out-of-order segment [start, end) that
// we already hold, as Linux's tcp_data_queue_ofo does: the overlap with the
// first span it meets.
func (c *Conn) dsackOfo(start, end seq.Value) {
	for _, sp := range c.oooSpans() {
		l, r := seq.Max(start, sp.start), seq.Min(end, sp.end)
		if l.LessThan(r) {
			c.setDSACK(l, r, &c.counts.DSACKOfoSent)
			return
		}
	}
}

// fillSACK lists a pending D-SACK block first (RFC 2883 §4), then the
// out-of-order spans: the one holding the latest out-of-order segment
// first (RFC 2018 §4), then the others from the top. The D-SACK block goes
// out once.
func (c *Conn) fillSACK(o *wire.Options) {
	limit := c.sackBlocks()
	add := func(sp span) {
		if int(o.NumSACK) < limit {
			o.SACK[o.NumSACK] = wire.SACKBlock{Left: uint32(sp.start), Right: uint32(sp.end)}
			o.NumSACK++
		}
	}
	if c.flags.has(dsackOn) {
		add(c.dsack)
		c.flags.clear(dsackOn)
	}
	ooo := c.oooSpans()
	first := -1
	for i, sp := range ooo {
		if c.sackLast.InRange(sp.start, sp.end) {
			first = i
		}
	}
	if first >= 0 {
		add(ooo[first])
	}
	for i := len(ooo) - 1; i >= 0; i-- {
		if i != first {
			add(ooo[i])
		}
	}
}

// sackBlocks is how many SACK blocks our next segment carries: a D-SACK
// block and one per out-of-order run, as many as fit beside the timestamps.
func (c *Conn) sackBlocks() int {
	if !c.flags.has(sackOK) {
		return 0
	}
	n := len(c.oooSpans())
	if c.flags.has(dsackOn) {
		n++
	}
	limit := wire.MaxSACKBlocks
	if c.flags.has(tsOK) {
		limit = 3
	}
	return min(n, limit)
}

// sackOptLen is the option space the SACK blocks take: two NOPs, kind,
// length and 8 bytes a block.
func (c *Conn) sackOptLen() int {
	if k := c.sackBlocks(); k > 0 {
		return 4 + 8*k
	}
	return 0
}
