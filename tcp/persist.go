package tcp

import (
	"syscall"
	"time"

	"github.com/tcpwave/tcpwave/clock"
)

// persistState is the persist timer and its zero-window probes (RFC 9293
// §3.8.6.1).
type persistState struct {
	at     clock.Instant // when the persist timer fires, or Never
	probes int32         // unanswered zero-window probes (Linux icsk_probes_out)
	shift  uint8         // probes sent since the window shut: the backoff (Linux icsk_backoff), saturating
}

// persistTimer sends a zero-window probe (RFC 9293 §3.8.6.1) and backs off.
func (c *Conn) persistTimer(now clock.Instant) {
	c.persist.at = clock.Never
	if c.sndNxt != c.sndUna {
		return
	}
	if c.sndWnd != 0 {
		c.flags.set(swsOverride) // a window too small to fill: send what fits (Linux tcp_write_wakeup)
		return
	}
	c.persist.probes++
	if c.opt != nil && c.opt.userTimeout > 0 {
		if c.opt.zwpStart == clock.Never {
			c.opt.zwpStart = now
		} else if c.userTimedOut(now, c.opt.zwpStart) {
			c.err = syscall.ETIMEDOUT
			c.countTimeout()
			c.setState(now, Closed, "zero-window probes unanswered for TCP_USER_TIMEOUT (Linux tcp_probe_timer)")
			return
		}
	}
	if int(c.persist.probes) > c.retryLimit() {
		c.err = syscall.ETIMEDOUT
		c.countTimeout()
		c.setState(now, Closed, "zero-window probes unanswered (Linux tcp_retries2)")
		return
	}
	if c.persist.shift < 255 {
		c.persist.shift++
	}
	c.flags.set(probeNow)
}

// persistBackoff is the interval before the next zero-window probe.
func (c *Conn) persistBackoff(now clock.Instant) time.Duration {
	d := c.rtoFromRTT()
	for i := 0; i < int(c.persist.shift) && d < c.cfg.RTOMax; i++ {
		d *= 2
	}
	d = min(d, c.cfg.RTOMax)
	if c.opt != nil {
		d = c.clampToUserTimeout(now, c.opt.zwpStart, d, 2*time.Millisecond) // TCP_TIMEOUT_MIN
	}
	return d
}
