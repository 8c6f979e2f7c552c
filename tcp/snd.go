package tcp

import (
	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/seq"
	"github.com/tcpwave/tcpwave/wire"
)

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
	wnd := usable
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
	newData := mode == sendNew && n > 0 && !c.sndNxt.LessThan(c.sndMax)
	if newData && c.unit == 0 {
		// A short last piece Nagle holds back is not part of the unit
		// (tcp_mss_split_point: needed - partial).
		room, data := c.segRoom(), avail
		if data%room != 0 && c.nagleHolds() {
			data -= data % room
		}
		c.startUnit(wnd, data, room)
	}
	c.fillData(now, s, buf, c.sndNxt, off, n, fin)
	if newData && c.unitEnds() {
		s.Flags |= wire.PSH
	}
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
	c.rackSent(now, sq, end)
	c.prrSent(n)
	if sq.LessThan(c.sndMax) {
		c.rto.total++
		c.counts.RetransSegs++
		c.undoRexmit(c.tsNow(now))
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
		c.cwndValidate() // Linux: after tcp_write_xmit, not after a retransmission
		c.schedulePTO(now, false)
	}
}

// segRoom is the payload a segment sent now can carry: the send MSS less
// the SACK blocks that ride on it too, so that the packet stays within the
// MTU (Linux tcp_current_mss). The tcp_min_snd_mss floor keeps it positive
// (8 bytes at least); the max guards the loop that sends segments of it.
func (c *Conn) segRoom() int { return max(c.mss-c.sackOptLen(), 1) }

// unsentData reports whether written bytes (or a FIN) wait to be sent for
// the first time.
func (c *Conn) unsentData() bool {
	return c.unsentBytes() > 0 || c.flags.has(finQ) && !c.sndMax.GreaterThan(c.finSeq)
}

// unsentBytes is the written data not yet sent for the first time: the
// buffer beyond SND.MAX.
func (c *Conn) unsentBytes() int { return max(c.sndBuf.len()-int(c.sndMax.Sub(c.dataBase())), 0) }

// growMaxWnd records the peer's window as the largest it has offered
// when it is, and then bounds the send MSS by it again (Linux
// tcp_ack_update_window calls tcp_sync_mss).
func (c *Conn) growMaxWnd() {
	if c.sndWnd > c.maxWnd {
		c.maxWnd = c.sndWnd
		c.syncMSS()
	}
}

// updateWindow applies RFC 9293 §3.10.7.4's send-window update rule.
func (c *Conn) updateWindow(now clock.Instant, s *Segment) {
	if c.sndWl1.LessThan(s.Seq) || (c.sndWl1 == s.Seq && c.sndWl2.LessEq(s.Ack)) {
		c.sndWnd = uint32(s.Wnd) << c.sndWScale
		c.growMaxWnd()
		c.sndWl1, c.sndWl2 = s.Seq, s.Ack
		if c.sndWnd > 0 {
			c.persist.at = clock.Never
			c.persist.probes, c.persist.shift = 0, 0
			if c.opt != nil {
				c.opt.zwpStart = clock.Never // tcp_ack_probe
			}
		}
	}
}
