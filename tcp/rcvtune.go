package tcp

import (
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/seq"
	"github.com/tcpwave/tcpwave/wire"
)

// rcvExt is the receive side's state beyond the fixed fields of a Conn:
// the out-of-order queue, the ACKs owed for segments handed over in a
// batch, and the measurements of receive-buffer auto-tuning. A connection
// that only ever gets a few segments in order never allocates it.
type rcvExt struct {
	ooo []span // out-of-order runs held in the receive ring, sorted and disjoint
	// acks[:nAcks] are the immediate ACKs owed, oldest first, each for
	// RCV.NXT when it became due (an array: a bulk transfer queues and
	// sends them all the time, without allocating).
	acks  [maxOwedAcks]seq.Value
	nAcks uint8

	// Dynamic right-sizing (Linux tcp_rcv_space_adjust): the receiver's
	// RTT estimate and the bytes the application read in the last one.
	rttUs     uint32        // smoothed RTT at the receiver, µs << 3 (Linux rcv_rtt_est.rtt_us)
	rttSeq    seq.Value     // the per-window sample ends when RCV.NXT reaches it
	rttTime   clock.Instant // when the per-window sample began
	lastTSEcr uint32        // the TSecr of the last timestamp sample
	space     int           // bytes read in the last measured round trip (rcvq_space.space); 0 until tuning starts
	spaceSeq  seq.Value     // read position when the measurement began (rcvq_space.seq)
	spaceTime clock.Instant // when it began (rcvq_space.time)
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

// rxState returns the receive-side state, allocating it on first use.
func (c *Conn) rxState() *rcvExt {
	if c.rx == nil {
		c.rx = &rcvExt{}
	}
	return c.rx
}

// oooSpans returns the out-of-order runs.
func (c *Conn) oooSpans() []span {
	if c.rx == nil {
		return nil
	}
	return c.rx.ooo
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

// setRcvCap sets the receive buffer's size, and its ring's room: one
// window-scale unit more, as advertise rounds the window up to a unit.
func (c *Conn) setRcvCap(n int) {
	c.rcvCap = uint32(n)
	c.rcvBuf.max = n + 1<<c.rcvWScale // see advertise
}

// rcvBufMax is the most the receive buffer may grow to: RcvBufMax, and
// no more than the largest window the scale lets us advertise.
func (c *Conn) rcvBufMax() int {
	return min(c.cfg.rcvBufLimit(), 65535<<c.rcvWScale)
}

// copiedSeq is the sequence number of the next byte the application will
// read (Linux copied_seq).
func (c *Conn) copiedSeq() seq.Value {
	at := c.rcvNxt - seq.Value(c.rcvBuf.len())
	if c.flags.has(finRcvd) {
		at--
	}
	return at
}

// initialSpace is the first measurement's baseline (Linux
// tcp_init_buffer_space): ten segments, or less if the window is smaller.
func (c *Conn) initialSpace() int {
	return min(int(c.rcvSsthresh), int(c.rcvCap), c.cfg.InitCwnd*c.rcvMSS())
}

// tuneOnData is Linux's receive-side RTT measurement (tcp_rcv_rtt_measure
// and tcp_rcv_rtt_measure_ts, from tcp_event_data_recv) for in-order data
// that just arrived. Auto-tuning starts once the data received exceeds
// the first measurement's baseline, so that short connections never pay
// for it; the first measurement starts then rather than at the handshake.
func (c *Conn) tuneOnData(now clock.Instant, s *Segment, n int) {
	if int(c.rcvCap) >= c.rcvBufMax() { // at the bound, or tuning off (the bound is RcvBuf)
		return
	}
	rx := c.rx
	if rx == nil || rx.space == 0 {
		if int(c.rcvNxt.Sub(c.irs)) <= c.initialSpace() {
			return
		}
		rx = c.rxState()
		rx.space = c.initialSpace()
		rx.spaceSeq, rx.spaceTime = c.copiedSeq(), now
	}
	// Per window: the time the peer takes to send a window's worth of
	// data is about one round trip; only the minimum is kept.
	if rx.rttTime == 0 || !c.rcvNxt.LessThan(rx.rttSeq) {
		if rx.rttTime != 0 {
			c.rcvRTTUpdate(max(now.Sub(rx.rttTime), time.Microsecond), true)
		}
		rx.rttSeq, rx.rttTime = c.rcvAdv, now // the window offered now
	}
	// From the timestamp echo of a full-sized segment, once per echo: a
	// zero-millisecond sample says nothing at our 1 kHz clock.
	if c.flags.has(tsOK) && s.Opts.HasTimestamp && s.Opts.TSEcr != rx.lastTSEcr {
		rx.lastTSEcr = s.Opts.TSEcr
		if n >= c.rcvMSS() {
			if d := int32(c.tsNow(now) - s.Opts.TSEcr); d > 0 && time.Duration(d)*time.Millisecond <= c.cfg.RTOMax {
				c.rcvRTTUpdate(time.Duration(d)*time.Millisecond, false)
			}
		}
	}
}

// rcvRTTUpdate folds a sample into the receiver's RTT (Linux
// tcp_rcv_rtt_update): per-window samples only lower it, timestamp
// samples are smoothed with gain 1/8.
func (c *Conn) rcvRTTUpdate(sample time.Duration, perWindow bool) {
	rx := c.rx
	m := int64(max(sample.Microseconds(), 1))
	m = min(m, 1<<28)
	cur := int64(rx.rttUs)
	switch {
	case cur == 0:
		cur = m << 3
	case perWindow:
		cur = min(cur, m<<3)
	default:
		cur += m - cur>>3
	}
	rx.rttUs = uint32(max(cur, 1))
}

// tuneOnRead is Linux's tcp_rcv_space_adjust, run when the application
// reads: once a receiver round trip has passed since the measurement
// began, if it read more than in the last one, the buffer grows to twice
// that, plus 16 segments of slack, plus twice the growth over the last
// one again for a sender still in slow start; never beyond RcvBufMax.
func (c *Conn) tuneOnRead(now clock.Instant) {
	rx := c.rx
	if rx == nil || rx.space == 0 || rx.rttUs == 0 {
		return
	}
	if now.Sub(rx.spaceTime) < time.Duration(rx.rttUs>>3)*time.Microsecond {
		return
	}
	copied := int(c.copiedSeq().Sub(rx.spaceSeq))
	if copied > rx.space {
		win := 2*copied + 16*c.rcvMSS()
		win += 2 * int(int64(win)*int64(copied-rx.space)/int64(rx.space))
		if buf := min(win, c.rcvBufMax()); buf > int(c.rcvCap) {
			c.setRcvCap(buf)
		}
		rx.space = copied
	}
	rx.spaceSeq, rx.spaceTime = c.copiedSeq(), now
}

// RcvBuf returns the receive buffer's current size: RcvBuf, or more once
// auto-tuning has raised it; for a buffer set with SO_RCVBUF, sk_rcvbuf
// (twice the value set), of which Linux's accounting offers a share as
// window (rcvwin.go).
func (c *Conn) RcvBuf() int { return int(c.rcvCap) }
