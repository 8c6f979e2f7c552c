package tcp

import (
	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/seq"
	"github.com/tcpwave/tcpwave/wire"
)

// ackState is the delayed-ACK machinery (RFC 9293 §3.8.6.3, RFC 5681
// §4.2) as Linux runs it: quick-ACK and pingpong modes (icsk_ack).
type ackState struct {
	at       clock.Instant // delayed-ACK timer, or Never
	lastData clock.Instant // when data last arrived
	// due is RCV.NXT when the pending immediate ACK became due
	// (ackDueOn): if more data asks for another before Poll, due goes
	// to the owed list, so that a driver that hands over segments in
	// batches still gets an ACK for every second full-sized segment.
	due     seq.Value
	unacked int32 // bytes received since our last ACK
	mssSeen int32 // largest payload received, to judge "full-sized"
	quick   uint8 // quick ACKs left (Linux icsk_ack.quick)
}

const maxQuickAcks = 16 // TCP_MAX_QUICKACKS

// dataAckPolicy decides between an immediate and a delayed ACK the way
// Linux does: quick-ACK mode acks every segment; otherwise ACK at least
// every second full-sized segment and delay the rest by the ATO.
func (c *Conn) dataAckPolicy(now clock.Instant, n int, filledHole bool) {
	c.ack.lastData = now
	switch {
	case filledHole:
		c.ackDueNow()
	case c.ack.quick > 0 && !c.flags.has(pingpong):
		c.ack.quick--
		c.ackDueNow()
	case int(c.ack.unacked) >= 2*c.rcvMSS():
		c.ackDueNow()
	default:
		if c.ack.at == clock.Never {
			c.ack.at = now.Add(c.cfg.DelAckMin)
		}
	}
}

// ackDueNow records that an immediate ACK is due for everything up to
// RCV.NXT (Linux sends it there and then, from tcp_ack_snd_check). One
// still owed from earlier segments of the same batch is queued (up to
// maxOwedAcks), so that they go out, oldest first, at the next Poll.
//
// It runs only from dataAckPolicy, after in-order data moved RCV.NXT on,
// so an ACK still owed (ackDueOn) is always for less than RCV.NXT, and
// each queued ACK is below the one behind it and below RCV.NXT.
func (c *Conn) ackDueNow() {
	if c.flags.has(ackNow) && c.flags.has(ackDueOn) {
		rx := c.rxState()
		if rx.nAcks == maxOwedAcks {
			copy(rx.acks[:], rx.acks[1:])
			rx.nAcks--
		}
		rx.acks[rx.nAcks] = c.ack.due
		rx.nAcks++
	}
	c.flags.set(ackNow | ackDueOn)
	c.ack.due = c.rcvNxt
	c.ack.unacked = 0
}

// maxOwedAcks bounds the ACKs a batch of segments leaves owed; when more
// fall due, the oldest is dropped, as the later ACKs acknowledge its data.
// Linux, handling segments one at a time, sends one ACK for every second
// full-sized segment; a batch here gets the last four of those, so that
// the loss of one ACK does not leave the sender waiting for the timer
// (one ACK per batch did: a lost ACK cost a loss probe and a delayed ACK,
// or an RTO in recovery), without the cost of one ACK per two segments on
// a bulk transfer.
const maxOwedAcks = 3

// emitOwedAck builds the oldest owed ACK, if any: a pure ACK for the
// RCV.NXT of its time, with the window's current right edge and the
// current SACK blocks. The pending D-SACK block is left for the last ACK.
func (c *Conn) emitOwedAck(now clock.Instant, s *Segment) bool {
	if c.rx == nil || c.rx.nAcks == 0 {
		return false
	}
	at := c.rx.acks[0]
	copy(c.rx.acks[:], c.rx.acks[1:c.rx.nAcks])
	c.rx.nAcks--
	c.advertise()
	s.Flags = wire.ACK
	s.Seq = c.sndMax
	s.Ack = at
	s.Wnd = uint16(min(int(c.rcvAdv.Sub(at))>>c.rcvWScale, 65535))
	c.fillTS(now, &s.Opts)
	if c.flags.has(sackOK) && len(c.oooSpans()) > 0 {
		on := c.flags.has(dsackOn)
		c.flags.clear(dsackOn)
		c.fillSACK(&s.Opts)
		c.flags.put(dsackOn, on)
	}
	return true
}

func (c *Conn) clearAck() {
	c.flags.clear(ackNow | ackDueOn)
	c.ack.at = clock.Never
	c.ack.unacked = 0
}

// ackLimits rate-limits the ACKs a peer can provoke (RFC 5961 §7, Linux
// tcp_invalid_ratelimit).
type ackLimits struct {
	chalMs uint32 // when the last challenge ACK went, in ms
	oowMs  uint32 // when the last out-of-window ACK went, in ms
}

// oowAck answers an out-of-window bare segment with an ACK, at most once
// per ChallengeAck interval (Linux tcp_invalid_ratelimit).
func (c *Conn) oowAck(now clock.Instant) {
	if c.flags.has(oowSent) && uint32(now.Millis())-c.limit.oowMs < uint32(c.cfg.ChallengeAck.Milliseconds()) {
		return
	}
	c.flags.set(oowSent)
	c.limit.oowMs = uint32(now.Millis())
	c.flags.set(ackNow)
}

// challengeAck sends an ACK for RCV.NXT, at most once per ChallengeAck
// interval (RFC 5961 §7; Linux tcp_invalid_ratelimit).
func (c *Conn) challengeAck(now clock.Instant) {
	if c.flags.has(chalSent) && uint32(now.Millis())-c.limit.chalMs < uint32(c.cfg.ChallengeAck.Milliseconds()) {
		return
	}
	c.flags.set(chalSent)
	c.limit.chalMs = uint32(now.Millis())
	c.flags.set(ackNow)
	c.counts.ChallengeACK++
}

// dupAckFor answers a segment we drop with an immediate ACK, reporting it
// as a duplicate (D-SACK, RFC 2883) when it lies below RCV.NXT, as Linux's
// tcp_send_dupack does.
func (c *Conn) dupAckFor(s *Segment) {
	c.flags.set(ackNow)
	end := s.Seq.Add(s.Len()) // a FIN counts: Linux reports a duplicate FIN too
	if s.Len() > 0 && s.Seq.LessThan(c.rcvNxt) {
		c.setDSACK(s.Seq, seq.Min(end, c.rcvNxt), &c.counts.DSACKOldSent)
	}
}
