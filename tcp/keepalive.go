package tcp

import (
	"fmt"
	"syscall"
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/wire"
)

// Linux's bounds on the keepalive socket options (MAX_TCP_KEEPIDLE,
// MAX_TCP_KEEPINTVL, MAX_TCP_KEEPCNT).
const (
	maxKeepIdle  = 32767 * time.Second
	maxKeepIntvl = 32767 * time.Second
	maxKeepCnt   = 127
)

// KeepAliveParams are a connection's keepalive settings. A zero field
// means the Config's value (tcp_keepalive_time, _intvl, _probes).
type KeepAliveParams struct {
	Idle     time.Duration // TCP_KEEPIDLE: silence before the first probe
	Interval time.Duration // TCP_KEEPINTVL: between probes
	Count    int           // TCP_KEEPCNT: unanswered probes before the connection is reset
}

// Validate reports a setting outside Linux's bounds.
func (p KeepAliveParams) Validate() error {
	switch {
	case p.Idle < 0 || p.Idle > maxKeepIdle || (p.Idle > 0 && p.Idle < time.Second):
		return fmt.Errorf("tcp: keepalive idle %v out of range [1s, %v]", p.Idle, maxKeepIdle)
	case p.Interval < 0 || p.Interval > maxKeepIntvl || (p.Interval > 0 && p.Interval < time.Second):
		return fmt.Errorf("tcp: keepalive interval %v out of range [1s, %v]", p.Interval, maxKeepIntvl)
	case p.Count < 0 || p.Count > maxKeepCnt:
		return fmt.Errorf("tcp: keepalive count %d out of range [1, %d]", p.Count, maxKeepCnt)
	}
	return nil
}

// SetKeepAlive turns SO_KEEPALIVE on or off. Turned on, the first probe is
// due the idle time from now (Linux tcp_set_keepalive), in every state but
// SYN_SENT and CLOSED (a connection being opened starts it when
// established).
func (c *Conn) SetKeepAlive(now clock.Instant, on bool) {
	if !on && c.opt == nil {
		return
	}
	o := c.options(now)
	if on == o.kaOn {
		return
	}
	o.kaOn, o.at = on, clock.Never
	if on && c.keepaliveRuns() {
		o.at = now.Add(c.keepIdle())
	}
}

// SetKeepAliveParams sets TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT; zero
// fields keep the current values. A new idle time re-arms a running timer
// for that much silence since the peer was last heard (Linux
// tcp_sock_set_keepidle).
func (c *Conn) SetKeepAliveParams(now clock.Instant, p KeepAliveParams) error {
	if err := p.Validate(); err != nil {
		return err
	}
	o := c.options(now)
	if p.Interval > 0 {
		o.intvl = p.Interval
	}
	if p.Count > 0 {
		o.cnt = p.Count
	}
	if p.Idle > 0 {
		o.idle = p.Idle
		if o.kaOn && c.keepaliveRuns() {
			o.at = max(o.heard.Add(p.Idle), now)
		}
	}
	return nil
}

// KeepAlive reports whether SO_KEEPALIVE is on and the settings in force.
func (c *Conn) KeepAlive() (bool, KeepAliveParams) {
	p := KeepAliveParams{Idle: c.keepIdle(), Interval: c.keepIntvl(), Count: c.keepCnt()}
	return c.opt != nil && c.opt.kaOn, p
}

func (c *Conn) keepIdle() time.Duration {
	if c.opt != nil && c.opt.idle > 0 {
		return c.opt.idle
	}
	return c.cfg.keepAliveTime()
}

func (c *Conn) keepIntvl() time.Duration {
	if c.opt != nil && c.opt.intvl > 0 {
		return c.opt.intvl
	}
	return c.cfg.keepAliveIntvl()
}

func (c *Conn) keepCnt() int {
	if c.opt != nil && c.opt.cnt > 0 {
		return c.opt.cnt
	}
	return c.cfg.keepAliveProbes()
}

// keepaliveRuns reports whether the keepalive timer runs in this state:
// all but CLOSED and SYN_SENT (tcp_keepalive_timer), and not in TIME_WAIT,
// which Linux keeps in a record without the timer.
func (c *Conn) keepaliveRuns() bool {
	switch c.state {
	case Closed, SynSent, Listen, TimeWait:
		return false
	}
	return true
}

// keepaliveHeard notes an acceptable segment from the peer: the silence
// the timer measures starts again, and unanswered probes are forgotten
// (tcp_ack clears icsk_probes_out).
func (c *Conn) keepaliveHeard(now clock.Instant) {
	if c.opt != nil {
		c.opt.heard = now
		c.opt.probesOut = 0
	}
}

// keepaliveProbe fills s with the probe due, if one is: an ACK whose
// sequence number the peer has seen (SND.UNA-1), which it must answer
// (Linux tcp_xmit_probe_skb).
func (c *Conn) keepaliveProbe(now clock.Instant, s *Segment) bool {
	if c.opt == nil || !c.opt.probeNow {
		return false
	}
	c.opt.probeNow = false
	c.fillAck(now, s, wire.ACK)
	s.Seq = c.sndUna - 1
	return true
}

// KeepAliveProbesOut is the number of keepalive probes sent since the peer
// was last heard (ss -o shows it as the keepalive timer's third field).
func (c *Conn) KeepAliveProbesOut() int {
	if c.opt == nil {
		return 0
	}
	return c.opt.probesOut
}

// keepaliveEstablished starts the timer of a connection that was opened
// with keepalive on (tcp_finish_connect).
func (c *Conn) keepaliveEstablished(now clock.Instant) {
	if c.opt != nil && c.opt.kaOn {
		c.opt.heard = now
		c.opt.at = now.Add(c.keepIdle())
	}
}

// keepaliveTimer is Linux's tcp_keepalive_timer. A connection with data in
// flight or waiting is alive without keepalive (the retransmission timer
// watches it). Otherwise, once the peer has been silent for the idle time,
// a probe goes every interval; after the count of unanswered probes the
// connection is reset and fails with ETIMEDOUT.
func (c *Conn) keepaliveTimer(now clock.Instant) {
	ka := c.opt
	ka.at = clock.Never
	if !ka.kaOn || !c.keepaliveRuns() {
		return
	}
	idle := c.keepIdle()
	if c.sndUna != c.sndMax || c.unsentBytes() > 0 {
		ka.at = now.Add(idle)
		return
	}
	silent := now.Sub(ka.heard)
	if silent < idle {
		ka.at = ka.heard.Add(idle)
		return
	}
	ut := ka.userTimeout
	if (ut > 0 && silent >= ut && ka.probesOut > 0) || (ut == 0 && ka.probesOut >= c.keepCnt()) {
		c.err = syscall.ETIMEDOUT
		c.counts.AbortOnTimeout++
		c.queueActiveRST()
		c.setState(now, Closed, fmt.Sprintf("keepalive: %d probes unanswered (Linux tcp_keepalive_timer): RST sent", ka.probesOut))
		return
	}
	ka.probesOut++
	c.counts.KeepAlive++
	ka.probeNow = true
	ka.at = now.Add(c.keepIntvl())
}
