package tcp

import (
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/seq"
)

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
