package tcp

import (
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

// maxOOOSpans bounds the out-of-order queue: the disjoint runs of bytes
// held beyond a hole. The bytes themselves are bounded by the receive
// buffer; the runs are bounded here, so that a peer sending one byte at
// every other offset cannot make the queue (and the work on each segment
// and each SACK) grow with the window. A segment that would start a run
// beyond the limit is dropped, as Linux, which charges each out-of-order
// segment's whole buffer to the socket, prunes its out-of-order queue
// under memory pressure (tcp_prune_ofo_queue); the peer sends it again.
// With the default 256 KiB buffer, losing every other full-sized segment
// makes about 90 runs, well within the limit.
const maxOOOSpans = 256

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

// queueData stores in-window payload in the receive ring, in order or not.
func (c *Conn) queueData(now clock.Instant, s *Segment) {
	off := int(s.Seq.Sub(c.rcvNxt))
	if room := c.rcvBuf.max - c.rcvBuf.len() - off; len(s.Payload) > room {
		// Never write past the ring: what does not fit is dropped, and the
		// FIN behind it, as Linux drops data it has no memory for.
		s.Payload = s.Payload[:max(room, 0)]
		s.Flags &^= wire.FIN
		c.flags.set(ackNow)
		if len(s.Payload) == 0 {
			return
		}
	}
	c.rcvBuf.writeAt(c.rcvBuf.len()+off, s.Payload)
	prevMSS := c.rcvMSS()
	c.ack.mssSeen = max(c.ack.mssSeen, int32(len(s.Payload)))
	end := s.Seq.Add(seq.Size(len(s.Payload)))
	if off > 0 {
		c.dsackOfo(s.Seq, end)
		c.sackLast = s.Seq
		c.addOOO(s.Seq, end)
		c.flags.set(ackNow) // RFC 5681 §4.2: out-of-order data is ACKed at once
		return
	}
	prevNxt := c.rcvNxt
	c.advanceRcv(end)
	c.measureRatio(len(s.Payload), prevMSS, prevNxt)
	c.growRcvWindow(len(s.Payload))
	c.tuneOnData(now, s, len(s.Payload))
	hadHole := len(c.oooSpans()) > 0
	c.mergeOOO()
	c.dataAckPolicy(now, len(s.Payload), hadHole)
}

// advanceRcv commits bytes up to end.
func (c *Conn) advanceRcv(end seq.Value) {
	n := int(end.Sub(c.rcvNxt))
	c.rcvBuf.commit(n)
	c.ack.unacked += int32(n)
	c.rcvNxt = end
}

// addOOO records [start, end) as held out of order, keeping spans sorted and
// disjoint. A segment that would start a run beyond maxOOOSpans is dropped,
// as Linux prunes its out-of-order queue.
func (c *Conn) addOOO(start, end seq.Value) {
	rx := c.rxState()
	rx.ooo = insertSpan(rx.ooo, start, end, maxOOOSpans)
}

// mergeOOO commits out-of-order spans that RCV.NXT has reached.
func (c *Conn) mergeOOO() {
	ooo := c.oooSpans()
	k := 0
	for k < len(ooo) && ooo[k].start.LessEq(c.rcvNxt) {
		if ooo[k].end.GreaterThan(c.rcvNxt) {
			c.advanceRcv(ooo[k].end)
		}
		k++
	}
	if k > 0 {
		ooo = append(ooo[:0], ooo[k:]...)
		if len(ooo) == 0 {
			ooo = nil
		}
		c.rx.ooo = ooo
	}
}

func (c *Conn) rcvMSS() int {
	return max(min(int(c.ack.mssSeen), int(c.cfg.MSS)), 536)
}
