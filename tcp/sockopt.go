package tcp

import (
	"fmt"
	"time"

	"github.com/tcpwave/tcpwave/clock"
)

// sockOpts are the options a user set on one connection beyond TCP_NODELAY:
// allocated when the first is set, so that a connection without any pays a
// pointer.
type sockOpts struct {
	// SO_KEEPALIVE (Linux's keepalive timer, tcp_keepalive_timer).
	kaOn      bool
	probeNow  bool          // a keepalive probe is due at the next Poll
	idle      time.Duration // TCP_KEEPIDLE; 0: Config.KeepAliveTime
	intvl     time.Duration // TCP_KEEPINTVL; 0: Config.KeepAliveIntvl
	cnt       int           // TCP_KEEPCNT; 0: Config.KeepAliveProbes
	probesOut int           // keepalive probes sent since the peer was last heard (icsk_probes_out)
	at        clock.Instant // when the keepalive timer fires, or Never
	heard     clock.Instant // the last acceptable segment from the peer (rcv_tstamp, lrcvtime)

	// TCP_USER_TIMEOUT: how long retransmissions, zero-window probes or
	// keepalive probes may go unanswered before the connection is
	// dropped; 0: the retry counts decide.
	userTimeout time.Duration
	// zwpStart is when the zero-window probe timer first fired since the
	// window shut (icsk_probes_tstamp), or Never.
	zwpStart clock.Instant
	// TCP_LINGER2: an orphaned FIN_WAIT_2's lifetime; 0: Config.FinTimeout;
	// negative: close() in FIN_WAIT_2 resets the connection, and an orphan
	// reaching FIN_WAIT_2 is dropped.
	linger2 time.Duration
}

func newSockOpts(now clock.Instant) *sockOpts {
	return &sockOpts{at: clock.Never, heard: now, zwpStart: clock.Never}
}

// options returns the connection's socket options, allocating them.
func (c *Conn) options(now clock.Instant) *sockOpts {
	if c.opt == nil {
		c.opt = newSockOpts(now)
	}
	return c.opt
}

// finTimeoutMax is Linux's TCP_FIN_TIMEOUT_MAX, the largest TCP_LINGER2.
const finTimeoutMax = 120 * time.Second

// SetUserTimeout sets TCP_USER_TIMEOUT: once data sent (an orphan's FIN
// included) stays unacknowledged that long after its first retransmission
// by the timer, or zero-window probes go unanswered that long, the
// connection is dropped with ETIMEDOUT and no RST (Linux tcp_write_err);
// with keepalive on, it is reset once a probe went and the peer was silent
// that long. 0 turns it off. Negative values are refused.
func (c *Conn) SetUserTimeout(now clock.Instant, d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("tcp: negative user timeout %v", d)
	}
	if d == 0 && c.opt == nil {
		return nil
	}
	c.options(now).userTimeout = d
	return nil
}

// UserTimeout returns TCP_USER_TIMEOUT, 0 when off.
func (c *Conn) UserTimeout() time.Duration {
	if c.opt == nil {
		return 0
	}
	return c.opt.userTimeout
}

// SetLinger2 sets TCP_LINGER2 as Linux does: negative makes close() in
// FIN_WAIT_2 reset the connection (and drops an orphan that reaches it);
// 0 means Config.FinTimeout; larger values bound an orphaned FIN_WAIT_2's
// life, at most 120 s (TCP_FIN_TIMEOUT_MAX).
func (c *Conn) SetLinger2(now clock.Instant, d time.Duration) {
	d = Linger2Value(d)
	if d == 0 && c.opt == nil {
		return
	}
	c.options(now).linger2 = d
}

// Linger2Value is what setsockopt(TCP_LINGER2, d) stores (Linux
// do_tcp_setsockopt): -1 for any negative d, at most 120 s
// (TCP_FIN_TIMEOUT_MAX), d otherwise.
func Linger2Value(d time.Duration) time.Duration {
	return min(max(d, -1), finTimeoutMax)
}

// Linger2 returns TCP_LINGER2: negative, 0 (the Config's), or a lifetime.
func (c *Conn) Linger2() time.Duration {
	if c.opt == nil {
		return 0
	}
	return c.opt.linger2
}

// FinTimeout is how long this connection lives orphaned in FIN_WAIT_2:
// TCP_LINGER2 when set positive, else Config.FinTimeout (tcp_fin_time).
func (c *Conn) FinTimeout() time.Duration {
	if c.opt != nil && c.opt.linger2 > 0 {
		return c.opt.linger2
	}
	return c.cfg.FinTimeout
}

// userTimedOut reports whether TCP_USER_TIMEOUT has passed since start.
func (c *Conn) userTimedOut(now, start clock.Instant) bool {
	ut := c.UserTimeout()
	return ut > 0 && now.Sub(start) >= ut
}

// clampToUserTimeout shortens a timer's delay so that it fires when
// TCP_USER_TIMEOUT, counted from start, runs out (Linux
// tcp_clamp_rto_to_user_timeout, tcp_clamp_probe0_to_user_timeout), and no
// sooner than least.
func (c *Conn) clampToUserTimeout(now, start clock.Instant, d, least time.Duration) time.Duration {
	ut := c.UserTimeout()
	if ut == 0 || start == clock.Never {
		return d
	}
	return min(d, max(ut-now.Sub(start), least))
}

// SetNoDelay turns Nagle's algorithm off (TCP_NODELAY) for this connection.
func (c *Conn) SetNoDelay(on bool) { c.flags.put(noDelay, on) }

// NoDelay reports whether Nagle's algorithm is off.
func (c *Conn) NoDelay() bool { return c.flags.has(noDelay) || c.cfg.NoDelay }
