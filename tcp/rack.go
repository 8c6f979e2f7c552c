package tcp

import (
	"math"
	"sort"
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/seq"
	"github.com/tcpwave/tcpwave/wire"
)

// RACK (RFC 8985 §6) as Linux runs it by default (tcp_recovery=1,
// net/ipv4/tcp_recovery.c): a segment is lost once a segment sent after it
// has been delivered (cumulatively ACKed or SACKed) and more than RACK.rtt
// plus a reordering window has passed since it went. Send times, not
// sequence numbers, order the segments, so a retransmission that is lost
// again is found the same way as any other segment, in fast recovery and
// after an RTO alike.

// txSeg is one segment in the send log: the sequence range it covers,
// when it last went and what is known of it.
type txSeg struct {
	start, end seq.Value
	at         clock.Instant // when it was last sent
	flags      uint8
}

// txSeg flags, after Linux's TCP_SKB_CB(skb)->sacked bits.
const (
	txRexmit     uint8 = 1 << iota // sent more than once (TCPCB_EVER_RETRANS)
	txLost                         // deemed lost and not sent since (TCPCB_LOST without TCPCB_SACKED_RETRANS)
	txSacked                       // SACKed whole (TCPCB_SACKED_ACKED)
	txLostRexmit                   // sent again after it was deemed lost, not found lost since (TCPCB_LOST with TCPCB_SACKED_RETRANS)
)

// rackState is the send log and RACK's variables (RFC 8985 §6.1). It
// lives in the lossState, allocated when a SACK connection first sends
// data; the log's slice is reused, so a steady transfer allocates nothing.
type rackState struct {
	log  []txSeg // the segments in [SND.UNA, SND.MAX) in sequence order, from log[head]
	head int

	xmit   clock.Instant // RACK.xmit_ts: send time of the latest-sent segment delivered
	endSeq seq.Value     // RACK.end_seq: its end
	rtt    time.Duration // RACK.rtt: the round trip of the latest delivery
	minRTT time.Duration // the least round trip seen on a segment sent once
	reoAt  clock.Instant // the reordering timer (RFC 8985 §6.3), or Never
	adjAt  clock.Instant // when the reordering window last grew on a D-SACK, or Never
	fack   seq.Value     // the highest SACKed sequence before this ACK (Linux prior_fack)

	lostOut   int    // bytes of segments deemed lost and not sent since
	marked    uint32 // segments ever deemed lost (Linux tp->lost)
	sackedOut int32  // segments SACKed whole

	dsacks     int32 // D-SACKs received (Linux dsack_dups, in blocks)
	reoSteps   uint8 // the reordering window in quarters of the minimum RTT (RACK.reo_wnd_mult)
	reoPersist uint8 // recoveries the grown window lasts (RACK.reo_wnd_persist)
	advanced   bool  // a delivery moved RACK.xmit_ts since the last detection
	reordSeen  bool  // reordering was observed (Linux reord_seen)

	// first holds the log of a connection with few segments in flight,
	// so that a request and its answer allocate no slice.
	first [4]txSeg
}

// rackRecoveries is how many recoveries a reordering window grown by a
// D-SACK lasts (Linux TCP_RACK_RECOVERY_THRESH).
const rackRecoveries = 16

func newRackState() rackState {
	return rackState{xmit: math.MinInt64, reoAt: clock.Never, adjAt: clock.Never, reoSteps: 1}
}

// rack returns the RACK state when RACK runs on this connection (SACK
// agreed with Config.RACK set at the handshake) and data has been sent,
// else nil.
func (c *Conn) rack() *rackState {
	if c.cc.loss == nil || !c.rackOn() {
		return nil
	}
	return &c.cc.loss.rack
}

func (c *Conn) rackOn() bool { return c.flags.has(rackOK) }

// live returns the log's segments.
func (r *rackState) live() []txSeg { return r.log[r.head:] }

// push appends a segment, moving the live ones to the front instead of
// growing when at least half the slice is spent.
func (r *rackState) push(e txSeg) {
	if len(r.log) == cap(r.log) && r.head > 0 && r.head >= len(r.log)/2 {
		n := copy(r.log, r.log[r.head:])
		r.log, r.head = r.log[:n], 0
	}
	r.log = append(r.log, e)
}

// find returns the index in live of the first segment that ends after sq.
func (r *rackState) find(sq seq.Value) int {
	live := r.live()
	return sort.Search(len(live), func(i int) bool { return live[i].end.GreaterThan(sq) })
}

// split cuts live segment i in two at sq, inside it.
func (r *rackState) split(i int, sq seq.Value) {
	r.push(txSeg{})
	live := r.live()
	copy(live[i+1:], live[i:len(live)-1])
	live[i+1].start = sq
	live[i].end = sq
	if live[i].flags&txSacked != 0 {
		r.sackedOut++
	}
}

// rackSent logs a transmission of [sq, end): new data is appended, data
// sent before is marked retransmitted at now (no longer lost). Called by
// sent before SND.MAX moves. The SYN is not logged; it is known by the
// state as well as by its sequence number, which data has again after
// 4 GiB.
func (c *Conn) rackSent(now clock.Instant, sq, end seq.Value) {
	if !c.rackOn() || sq == c.iss && (c.state == SynSent || c.state == SynRcvd) {
		return
	}
	r := &c.lossState().rack
	if sq.LessThan(c.sndMax) {
		to := seq.Min(end, c.sndMax)
		i := r.find(sq)
		if i < len(r.live()) && r.live()[i].start.LessThan(sq) {
			r.split(i, sq)
			i++
		}
		for ; i < len(r.live()) && r.live()[i].start.LessThan(to); i++ {
			if r.live()[i].end.GreaterThan(to) {
				r.split(i, to)
			}
			e := &r.live()[i]
			if e.flags&txLost != 0 {
				r.lostOut -= int(e.end.Sub(e.start))
				e.flags |= txLostRexmit
			}
			e.flags = e.flags&^txLost | txRexmit
			e.at = now
		}
	}
	if end.GreaterThan(c.sndMax) {
		r.push(txSeg{start: seq.Max(sq, c.sndMax), end: end, at: now})
	}
}

// sentAfter reports whether a segment sent at t1 ending at s1 went after
// one sent at t2 ending at s2 (RFC 8985 §6.2, Linux tcp_rack_sent_after).
func sentAfter(t1 clock.Instant, s1 seq.Value, t2 clock.Instant, s2 seq.Value) bool {
	return t1 > t2 || (t1 == t2 && s1.GreaterThan(s2))
}

// rackDelivered is RFC 8985 §6.2 step 2 (Linux tcp_rack_advance) for a
// segment just delivered, cumulatively or by SACK, before its flags
// change: it is no longer lost; delivered after data sent later, it shows
// reordering (Linux tcp_check_sack_reordering); RACK.rtt is its round
// trip, and RACK.xmit_ts moves to its send time if it went after the one
// recorded. A retransmission whose round trip is shorter than the minimum
// RTT was delivered by its original: it says nothing of when it went.
func (c *Conn) rackDelivered(now clock.Instant, r *rackState, e *txSeg) {
	if e.flags&txLost != 0 {
		r.lostOut -= int(e.end.Sub(e.start))
	}
	if e.flags&txRexmit == 0 && e.end.LessThan(r.fack) {
		r.reordSeen = true
	}
	rtt := now.Sub(e.at)
	if e.flags&txRexmit != 0 {
		if rtt < r.minRTT {
			return
		}
	} else if r.minRTT == 0 || rtt < r.minRTT {
		r.minRTT = max(rtt, time.Microsecond)
	}
	r.advanced = true
	r.rtt = rtt
	if sentAfter(e.at, e.end, r.xmit, r.endSeq) {
		r.xmit, r.endSeq = e.at, e.end
	}
}

// rackAcked drops from the log what the cumulative ACK up to ack
// delivers, before SND.UNA moves.
func (c *Conn) rackAcked(now clock.Instant, ack seq.Value) {
	r := c.rack()
	if r == nil {
		return
	}
	for len(r.live()) > 0 {
		e := &r.live()[0]
		if ack.LessThan(e.end) {
			if e.start.LessThan(ack) {
				if e.flags&txLost != 0 {
					r.lostOut -= int(ack.Sub(e.start))
				}
				e.start = ack
			}
			break
		}
		if e.flags&txSacked != 0 {
			r.sackedOut--
		} else {
			c.rackDelivered(now, r, e)
		}
		r.head++
	}
	if r.head == len(r.log) {
		r.log, r.head = r.log[:0], 0
		r.lostOut, r.sackedOut = 0, 0
		r.reoAt = clock.Never
	}
}

// rackSACKed marks the segments that s's SACK blocks complete, after
// takeSACK has put the blocks in the scoreboard.
func (c *Conn) rackSACKed(now clock.Instant, s *Segment, dsack bool) {
	r := c.rack()
	if r == nil {
		return
	}
	for b := 0; b < int(s.Opts.NumSACK) && b < wire.MaxSACKBlocks; b++ {
		if b == 0 && dsack {
			continue
		}
		l, h := seq.Value(s.Opts.SACK[b].Left), seq.Value(s.Opts.SACK[b].Right)
		if !l.LessThan(h) {
			continue
		}
		for i := r.find(l); i < len(r.live()) && r.live()[i].start.LessThan(h); i++ {
			e := &r.live()[i]
			if e.flags&txSacked != 0 || c.unsacked(e.start, e.end) != 0 {
				continue
			}
			c.rackDelivered(now, r, e)
			e.flags = e.flags&^txLost | txSacked
			r.sackedOut++
		}
	}
}

// rackReoWnd is RFC 8985 §6.2 step 4 (Linux tcp_rack_reo_wnd): none in
// recovery or once DupThresh segments are SACKed while no reordering has
// been seen; else a quarter of the minimum RTT per step, at most SRTT.
func (c *Conn) rackReoWnd(r *rackState) time.Duration {
	if !r.reordSeen && (c.flags.has(inRecovery) || c.flags.has(rtoHold) || r.sackedOut >= dupThresh) {
		return 0
	}
	base := r.minRTT
	if base == 0 {
		base = c.rto.srtt
	}
	return min(base/4*time.Duration(r.reoSteps), c.rto.srtt)
}

// rackDetect is RFC 8985 §6.2 step 5 (Linux tcp_rack_detect_loss): every
// segment not delivered that went before RACK.xmit_ts and more than
// RACK.rtt plus the reordering window ago is lost; for the others the
// reordering timer is set to when they will be. It reports whether it
// marked any segment lost.
func (c *Conn) rackDetect(now clock.Instant, r *rackState) bool {
	reo := c.rackReoWnd(r)
	var wait time.Duration
	marked := false
	live := r.live()
	for i := range live {
		e := &live[i]
		if e.flags&(txSacked|txLost) != 0 {
			continue
		}
		if !sentAfter(r.xmit, r.endSeq, e.at, e.end) {
			if e.flags&txRexmit == 0 {
				break // sent once, after RACK.xmit_ts: so was everything above it
			}
			continue
		}
		if left := r.rtt + reo - now.Sub(e.at); left > 0 {
			wait = max(wait, left)
			continue
		}
		c.rackMarkLost(r, e)
		marked = true
	}
	r.reoAt = clock.Never
	if wait > 0 {
		// The reordering timer takes the loss probe's place, as in
		// Linux's one timer slot (ICSK_TIME_REO_TIMEOUT replaces
		// ICSK_TIME_LOSS_PROBE): SACKed data is out, no probe is due.
		r.reoAt = now.Add(wait + timeoutMin)
		c.tlp.at = clock.Never
	}
	return marked
}

// rackMarkLost marks e lost (Linux tcp_mark_skb_lost): it no longer
// counts in flight, and goes again when the window allows. A segment
// that was deemed lost before and sent again is a lost retransmission
// (TCPLostRetransmit), whether RACK or an RTO finds it; one sent again
// for another reason (a loss probe) is not.
func (c *Conn) rackMarkLost(r *rackState, e *txSeg) {
	if e.flags&txLostRexmit != 0 {
		c.counts.LostRetransmit++
	}
	e.flags = e.flags&^txLostRexmit | txLost
	r.lostOut += int(e.end.Sub(e.start))
	r.marked++
}

// rackAck runs RACK for an acceptable ACK, once the SACK blocks and the
// cumulative ACK are in: a D-SACK may widen the reordering window (not
// one of a loss probe, which the caller leaves out), and
// when the ACK delivered anything, loss detection runs if the connection
// is not in the Open state (SACKed data outstanding, recovery, or after
// an RTO), as Linux's tcp_fastretrans_alert runs it. It reports whether
// it ran (the RFC 6675 rules are then not used).
func (c *Conn) rackAck(now clock.Instant, dsack bool) bool {
	r := c.rack()
	if r == nil {
		return false
	}
	if dsack {
		r.dsacks++
	}
	// Linux tcp_dsack_seen: a D-SACK counts once reordering has been
	// seen, and only while there are no more of them than segments
	// retransmitted (a peer cannot D-SACK what was sent once); then
	// tcp_rack_update_reo_wnd: one step per round trip.
	if dsack && r.reordSeen && r.dsacks <= c.rto.total {
		if r.adjAt == clock.Never || now.Sub(r.adjAt) >= c.rto.srtt {
			r.reoSteps = uint8(min(int(r.reoSteps)+1, math.MaxUint8))
			r.reoPersist = rackRecoveries
			r.adjAt = now
		}
	}
	if r.advanced && (c.hasSACK() || r.lostOut > 0 || c.flags.has(inRecovery) || c.flags.has(rtoHold)) {
		r.advanced = false
		c.rackDetect(now, r)
	}
	return true
}

// rackTimer is the reordering timer (RFC 8985 §6.3, Linux
// tcp_rack_reo_timeout): detection runs again, and a loss found starts
// fast recovery.
func (c *Conn) rackTimer(now clock.Instant) {
	r := &c.cc.loss.rack
	r.reoAt = clock.Never
	if c.sndUna == c.sndMax || !c.rackDetect(now, r) {
		return
	}
	if !c.flags.has(inRecovery) && !c.flags.has(rtoHold) {
		c.enterRecovery(now, true, c.cc.cwnd)
		c.prrOnAck(c.mss, false, false) // Linux tcp_rack_reo_timeout: one segment's worth
	}
}

// rackRecoveryEnd counts down a reordering window grown by D-SACKs: it
// lasts rackRecoveries recoveries.
func (c *Conn) rackRecoveryEnd() {
	r := c.rack()
	if r == nil {
		return
	}
	if r.reoPersist > 0 {
		r.reoPersist--
	}
	if r.reoPersist == 0 {
		r.reoSteps = 1
	}
}

// rackTimeout marks segments lost at an RTO (Linux tcp_timeout_mark_lost
// with RACK): the head, and every other segment not SACKed that went at
// least RACK.rtt ago; those sent more recently are left in flight. When
// the peer reneged on its SACKs, every segment is lost.
func (c *Conn) rackTimeout(now clock.Instant, r *rackState, reneged bool) {
	r.reoAt = clock.Never
	live := r.live()
	if reneged {
		for i := range live {
			live[i].flags &^= txSacked
		}
		r.sackedOut = 0
	}
	for i := range live {
		e := &live[i]
		if e.flags&(txSacked|txLost) != 0 {
			continue
		}
		if !reneged && i > 0 && r.rtt-now.Sub(e.at) > 0 {
			continue
		}
		c.rackMarkLost(r, e)
	}
}

// rackLost returns the first run of segments deemed lost: its first byte
// not SACKed and how many follow, up to the next SACKed range or segment
// not lost. A segment deemed lost that the peer holds whole (the SACKed
// part of one SACKed in part, cut off by a retransmission of the rest)
// is marked SACKed on the way: it is neither lost nor in flight.
func (c *Conn) rackLost(r *rackState) (seq.Value, int, bool) {
	if r.lostOut <= 0 {
		return 0, 0, false
	}
	live := r.live()
	for i := 0; i < len(live); i++ {
		e := &live[i]
		if e.flags&txLost == 0 {
			continue
		}
		if c.unsacked(e.start, e.end) == 0 {
			r.lostOut -= int(e.end.Sub(e.start))
			e.flags = e.flags&^(txLost|txLostRexmit) | txSacked
			r.sackedOut++
			continue
		}
		from, hole := c.sackHole(seq.Max(e.start, c.sndUna))
		end := e.end
		for j := i + 1; j < len(live) && live[j].flags&txLost != 0 && live[j].start == end; j++ {
			end = live[j].end
		}
		if !from.LessThan(end) {
			continue
		}
		n := int(end.Sub(from))
		if hole >= 0 {
			n = min(n, hole)
		}
		if n > 0 {
			return from, n, true
		}
	}
	return 0, 0, false
}

// rackInFlight is the pipe with RACK (Linux tcp_packets_in_flight): what
// was sent and not delivered, less what is deemed lost and not sent again.
func (c *Conn) rackInFlight(r *rackState) int {
	return max(int(c.sndMax.Sub(c.sndUna))-c.sackedIn(c.sndUna, c.sndMax)-r.lostOut, 0)
}

// fackSeq is the highest SACKed sequence number, or SND.UNA.
func (c *Conn) fackSeq() seq.Value {
	if !c.hasSACK() {
		return c.sndUna
	}
	sp := c.cc.loss.sacked
	return sp[len(sp)-1].end
}
