package tcp

import "github.com/tcpwave/tcpwave/clock"

// HandleTimeout runs every timer whose time has come.
func (c *Conn) HandleTimeout(now clock.Instant) {
	c.unit = 0
	if c.closeAt <= now {
		c.closeTimer(now)
		return
	}
	if c.cc.loss != nil && c.cc.loss.rack.reoAt <= now {
		c.rackTimer(now)
	}
	if c.tlp.at <= now && c.tlp.at <= c.rto.at {
		c.probeTimer(now)
	}
	if c.rto.at <= now {
		c.rtoTimer(now)
	}
	if c.persist.at <= now {
		c.persistTimer(now)
	}
	if c.opt != nil && c.opt.at <= now {
		c.keepaliveTimer(now)
	}
	if c.ack.at <= now {
		c.ack.at = clock.Never
		if c.flags.has(pingpong) {
			c.flags.clear(pingpong) // Linux: a missed delayed ACK leaves pingpong mode
		}
		c.flags.set(ackNow)
	}
}

func (c *Conn) closeTimer(now clock.Instant) {
	c.closeAt = clock.Never
	switch c.state {
	case TimeWait:
		c.setState(now, Closed, "TIME_WAIT expired (2MSL, Linux TCP_TIMEWAIT_LEN)")
	case FinWait2:
		c.setState(now, Closed, "orphaned FIN_WAIT_2 timed out (Linux tcp_fin_timeout)")
	}
}

// Deadline returns when HandleTimeout must next be called, or clock.Never.
func (c *Conn) Deadline() clock.Instant {
	d := clock.Min(clock.Min(c.rto.at, c.tlp.at), c.ack.at)
	d = clock.Min(d, c.persist.at)
	if c.cc.loss != nil {
		d = clock.Min(d, c.cc.loss.rack.reoAt)
	}
	if c.opt != nil {
		d = clock.Min(d, c.opt.at)
	}
	return clock.Min(d, c.closeAt)
}

// TimerInfo names the timer that fires next as ss does ("on", "persist",
// "timewait", "keepalive", or "") and when it fires.
func (c *Conn) TimerInfo() (string, clock.Instant) {
	switch {
	case c.closeAt != clock.Never && c.state == TimeWait:
		return "timewait", c.closeAt
	case c.closeAt != clock.Never:
		return "timewait", c.closeAt // Linux shows an orphaned FIN_WAIT_2 in its timewait table
	case c.rto.at != clock.Never || c.tlp.at != clock.Never:
		// Linux shows a loss probe and the reordering timer as "on" too.
		at := clock.Min(c.rto.at, c.tlp.at)
		if c.cc.loss != nil {
			at = clock.Min(at, c.cc.loss.rack.reoAt)
		}
		return "on", at
	case c.persist.at != clock.Never:
		return "persist", c.persist.at
	case c.opt != nil && c.opt.at != clock.Never:
		return "keepalive", c.opt.at // Linux's sk_timer, shown before the delayed ACK
	case c.ack.at != clock.Never:
		return "delack", c.ack.at
	}
	return "", clock.Never
}
