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
	if c.flags.has(sackRec) && c.flags.has(inRecovery) && int(c.cc.cwnd)-c.inFlight() >= c.mss {
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

// synWindow is the window a SYN or SYN-ACK offers: a SYN-ACK to a SYN
// with timestamps counts in segments of MSS less the option (Linux
// tcp_openreq_init_rwin: 65160 bytes, not 64240, for MSS 1460); a SYN
// does not know yet (tcp_connect_init), and its side keeps that window.
func (c *Conn) synWindow() int {
	free := c.rcvFree()
	if c.cfg.rcvLocked {
		free = c.cfg.RcvBuf // tcp_full_space at the default ratio
	}
	return synWindowOf(c.cfg, free, c.flags.has(passive) && c.flags.has(tsOK))
}

// synSpace is the window the handshake opens (Linux's rcv_wnd from
// tcp_select_initial_window): the SYN's, or for a buffer set with
// SO_RCVBUF the whole of it in segments, which the SYN's 16-bit field
// offers only up to 65535 (SO_RCVBUF 100000 before connect(): the SYN
// says 65535, the first ACK 99280 bytes).
func (c *Conn) synSpace() int {
	if !c.cfg.rcvLocked || !c.flags.has(wsOK) {
		return c.synWindow()
	}
	seg := int(c.cfg.MSS)
	if c.flags.has(passive) && c.flags.has(tsOK) {
		seg -= 12
	}
	if free := c.cfg.RcvBuf; free > seg {
		return free - free%seg
	}
	return c.synWindow()
}

// synWindowOf is the window a SYN or SYN-ACK offers with free bytes of
// receive space: the largest multiple of the segment size that fits in 16
// bits, segments less the timestamp option when ts.
func synWindowOf(cfg *Config, free int, ts bool) int {
	seg := int(cfg.MSS)
	if ts {
		seg -= 12
	}
	if cfg.rcvLocked {
		// tcp_select_initial_window: the buffer set by SO_RCVBUF rounded
		// down to segments, then at most 65535 (an unscaled field).
		if free > seg {
			free -= free % seg
		}
		return min(free, 65535)
	}
	w := min(free, 65535)
	return w - w%seg
}

// dataBase is the sequence number of the first byte in the send ring.
func (c *Conn) dataBase() seq.Value {
	if c.sndUna == c.iss {
		return c.iss.Add(1)
	}
	return c.sndUna
}

// sendMode says which checks emitData applies.
type sendMode uint8

const (
	sendNew   sendMode = iota // both windows, sender SWS avoidance, Nagle
	sendProbe                 // a loss probe: the peer's window and SWS only (Linux push_one == 2, TCP_NAGLE_OFF)
	sendForce                 // a retransmission of the head: no checks
)

// emitData sends the next data and/or FIN segment at SND.NXT if what mode
// checks allows.
func (c *Conn) emitData(now clock.Instant, s *Segment, buf []byte, mode sendMode) bool {
	force := mode == sendForce
	base := c.dataBase()
	if c.sndNxt.LessThan(base) {
		return false
	}
	// Going back over data already sent (after an RTO), skip what the
	// peer SACKed and stop short of its next SACKed range.
	var hole int
	c.sndNxt, hole = c.sackHole(c.sndNxt)
	off := int(c.sndNxt.Sub(base))
	avail := c.sndBuf.len() - off
	if hole >= 0 {
		avail = min(avail, hole)
	}
	finHere := c.flags.has(finQ) && c.sndNxt.LessEq(c.finSeq)
	if avail <= 0 && !finHere {
		return false
	}
	avail = max(avail, 0)
	usable := 0
	if wndEnd := c.sndUna.Add(seq.Size(c.sndWnd)); wndEnd.GreaterThan(c.sndNxt) {
		usable = int(wndEnd.Sub(c.sndNxt))
	}
	if mode != sendProbe {
		usable = max(min(usable, int(c.cc.cwnd)-c.inFlight()), 0)
	}
	room := c.segRoom()
	n := min(room, avail)
	if !force {
		if c.sndWnd == 0 && c.sndUna == c.sndMax && c.persist.at == clock.Never {
			c.persist.at = now.Add(c.persistBackoff(now))
		}
		if usable < n {
			// Sender SWS avoidance (RFC 9293 §3.8.6.2.1): send a window-limited
			// piece only if it is at least half the largest window offered,
			// or when the persist timer (the override timeout) says so.
			if usable == 0 || (usable < int(c.maxWnd/2) && !c.flags.has(swsOverride)) {
				if c.sndUna == c.sndMax && c.persist.at == clock.Never {
					c.persist.at = now.Add(c.persistBackoff(now)) // Linux tcp_check_probe_timer
				}
				return false
			}
			n = usable
		}
		if mode == sendNew && n < room && n == avail && n > 0 && c.nagleHolds() {
			return false
		}
	}
	// The FIN takes a sequence number, so it needs one byte of window.
	// Not when a SACKed range follows: that range is the FIN itself.
	fin := finHere && off+n == c.sndBuf.len() && (force || usable > n) && hole < 0
	if n == 0 && !fin {
		return false
	}
	c.flags.clear(swsOverride)
	if n > 0 {
		if n < room {
			c.sndSml = c.sndNxt.Add(seq.Size(n))
		}
		if c.ack.mssSeen > 0 && now.Sub(c.ack.lastData) < c.cfg.DelAckMin {
			c.flags.set(pingpong) // Linux: data sent soon after data received
		}
	}
	c.fillData(now, s, buf, c.sndNxt, off, n, fin)
	c.sent(now, c.sndNxt, s.Len())
	return true
}

// fillData builds a segment of n bytes of the send ring from offset off
// (sequence number sq), with the FIN if fin.
func (c *Conn) fillData(now clock.Instant, s *Segment, buf []byte, sq seq.Value, off, n int, fin bool) {
	c.fillAck(now, s, wire.ACK)
	s.Seq = sq
	if n > 0 {
		k := c.sndBuf.peekAt(off, buf[:n])
		s.Payload = buf[:k]
		if off+n == c.sndBuf.len() {
			s.Flags |= wire.PSH
		}
	}
	if fin {
		s.Flags |= wire.FIN
	}
}

// emitAt retransmits up to limit bytes from sq (RFC 6675 NextSeg), with
// the FIN if it follows them; SND.NXT stays where it is.
func (c *Conn) emitAt(now clock.Instant, s *Segment, buf []byte, sq seq.Value, limit int) bool {
	base := c.dataBase()
	if sq.LessThan(base) {
		return false
	}
	off := int(sq.Sub(base))
	n := max(min(c.segRoom(), c.sndBuf.len()-off, limit), 0)
	fin := c.flags.has(finQ) && sq.Add(seq.Size(n)) == c.finSeq && c.finSeq.LessThan(c.sndMax) && n < limit
	if n == 0 && !fin {
		return false
	}
	c.fillData(now, s, buf, sq, off, n, fin)
	nxt := c.sndNxt
	c.sent(now, sq, s.Len())
	c.sndNxt = seq.Max(nxt, c.sndNxt)
	c.markRexmit(sq, sq.Add(s.Len()))
	return true
}

// nagleHolds is Nagle's algorithm with Minshall's change, as Linux has it:
// hold a small segment while an earlier small segment is unacknowledged.
func (c *Conn) nagleHolds() bool {
	if c.NoDelay() || c.flags.has(finQ) {
		return false // close() pushes with Nagle off (Linux tcp_send_fin)
	}
	return c.sndUna != c.sndMax && c.sndSml.GreaterThan(c.sndUna) && c.sndSml.LessEq(c.sndNxt)
}

// sent advances SND.NXT over n sequence numbers starting at sq and arms
// the retransmission timer.
func (c *Conn) sent(now clock.Instant, sq seq.Value, n seq.Size) {
	end := sq.Add(n)
	if sq.LessThan(c.sndMax) {
		c.rto.total++
		c.counts.RetransSegs++
		if c.flags.has(rttTiming) && c.rto.rttSeq.InRange(sq, end) {
			c.flags.clear(rttTiming) // Karn: the timed segment was sent twice
		}
	} else if !c.flags.has(rttTiming) {
		c.flags.set(rttTiming)
		c.rto.rttSeq, c.rto.rttStart = sq, now
	}
	c.sndNxt = end
	newData := end.GreaterThan(c.sndMax)
	if newData {
		c.sndMax = end
		c.tlp.lastSeg = sq
	}
	if c.rto.at == clock.Never {
		c.rto.at = now.Add(c.rtoDelay(now))
	}
	if newData {
		c.schedulePTO(now, false)
	}
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

// fillTS adds the timestamp option to a non-SYN segment, when the
// connection uses timestamps.
func (c *Conn) fillTS(now clock.Instant, o *wire.Options) {
	if c.flags.has(tsOK) {
		o.HasTimestamp = true
		o.TSVal = c.tsNow(now)
		o.TSEcr = c.tsRecent
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

// segRoom is the payload a segment sent now can carry: the send MSS less
// the SACK blocks that ride on it too, so that the packet stays within the
// MTU (Linux tcp_current_mss). The tcp_min_snd_mss floor keeps it positive
// (8 bytes at least); the max guards the loop that sends segments of it.
func (c *Conn) segRoom() int { return max(c.mss-c.sackOptLen(), 1) }

// sackOptLen is the option space the SACK blocks take: two NOPs, kind,
// length and 8 bytes a block.
func (c *Conn) sackOptLen() int {
	if k := c.sackBlocks(); k > 0 {
		return 4 + 8*k
	}
	return 0
}

func (c *Conn) clearAck() {
	c.flags.clear(ackNow | ackDueOn)
	c.ack.at = clock.Never
	c.ack.unacked = 0
}

// capWindow limits free receive space to what we offer: no more than
// rcv_ssthresh, aligned up to the scale unit so that scaling does not round
// it away (Linux __tcp_select_window); the ring has room for that unit.
func (c *Conn) capWindow(free int) int {
	unit := 1 << c.rcvWScale
	if limit := int(c.rcvSsthresh); free > limit && limit > 0 {
		free = (limit + unit - 1) / unit * unit
	}
	return free
}

// advertise computes the window field and records the right edge it
// offers. The edge never moves left (RFC 9293 §3.8.6.2.2). With window
// scaling it moves right to the free space aligned up to a unit, as
// Linux's __tcp_select_window; without, only by at least min(MSS, half
// the buffer): receiver-side SWS avoidance.
func (c *Conn) advertise() uint16 {
	free := c.rcvSpace()
	if c.flags.has(rdShut) && c.flags.has(orphan) {
		free = 0
	}
	return c.offerWindow(free)
}

// offerWindow is advertise for free bytes of receive space.
func (c *Conn) offerWindow(free int) uint16 {
	unit := 1 << c.rcvWScale
	free = c.capWindow(free)
	edge := c.rcvNxt.Add(seq.Size(free))
	cur := c.rcvAdv
	if cur.LessThan(c.rcvNxt) {
		cur = c.rcvNxt
	}
	if c.rcvWScale > 0 {
		// Linux __tcp_select_window with a scale: the free space aligned
		// up to a unit, whenever that moves the edge right at all.
		edge = c.rcvNxt.Add(seq.Size((free + unit - 1) / unit * unit))
		if edge.LessThan(cur) {
			edge = cur
		}
	} else {
		// Without a scale, Linux keeps the window it offers while it is
		// within a segment of the free space, and else offers the free
		// space rounded down to segments; never moving the edge left.
		mss := c.rcvMSS()
		w := int(cur.Sub(c.rcvNxt))
		if w <= free-mss || w > free {
			w = free - free%mss
		}
		edge = c.rcvNxt.Add(seq.Size(w))
		if edge.LessThan(cur) {
			edge = cur
		}
	}
	wnd := int(edge.Sub(c.rcvNxt))
	if edge == cur {
		// Keeping the old edge: round up, never down, so that scaling
		// does not move it left (Linux tcp_select_window aligns up). The
		// ring holds one scale unit beyond RcvBuf for this.
		wnd = (wnd + unit - 1) / unit
	} else {
		wnd /= unit
	}
	// The ring holds RcvBuf plus one scale unit: rounding up must not
	// offer more than it can take, or the edge would creep right by up to
	// a unit per ACK. Capped, the edge may move left by less than one
	// unit, which RFC 7323 §2.4 allows.
	if storage := c.rcvBuf.max - c.rcvBuf.len(); wnd*unit > storage {
		wnd = storage / unit
	}
	wnd = min(wnd, 65535)
	c.rcvAdv = c.rcvNxt.Add(seq.Size(wnd * unit))
	return uint16(wnd)
}
