package stack

import (
	"cmp"
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/tcp"
)

// earlyOpts are the TCP options set on a socket before it has a
// connection: SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT,
// TCP_USER_TIMEOUT and TCP_LINGER2 on a listener or on a socket not yet
// connected. Linux keeps them in the socket: connect() takes them, and a
// listener's children, cloned from it, inherit them.
type earlyOpts struct {
	params      tcp.KeepAliveParams // zero fields: not set
	userTimeout time.Duration
	linger2     time.Duration
	kaSet, ka   bool // SO_KEEPALIVE was set, and to what
	utSet       bool // TCP_USER_TIMEOUT was set
	l2Set       bool // TCP_LINGER2 was set
}

// earlyOpts returns so's early options, made on first use.
func (so *Socket) earlyOpts() *earlyOpts {
	if so.early == nil {
		so.early = new(earlyOpts)
	}
	return so.early
}

// apply gives the options to a new connection; a nil e has none.
func (e *earlyOpts) apply(now clock.Instant, c *tcp.Conn) {
	if e == nil {
		return
	}
	c.SetKeepAliveParams(now, e.params) // validated when set
	if e.utSet {
		c.SetUserTimeout(now, e.userTimeout)
	}
	if e.l2Set {
		c.SetLinger2(now, e.linger2)
	}
	if e.kaSet {
		c.SetKeepAlive(now, e.ka)
	}
}

// The options' getters answer for the connection, or, before the socket
// has one, for what was set for it over the stack's defaults.

// KeepAlive returns SO_KEEPALIVE and the keepalive settings.
func (so *Socket) KeepAlive() (bool, tcp.KeepAliveParams) {
	if so.conn != nil {
		return so.conn.KeepAlive()
	}
	p := so.st.tcp4.KeepAliveDefaults()
	e := so.early
	if e == nil {
		return false, p
	}
	p.Idle = cmp.Or(e.params.Idle, p.Idle)
	p.Interval = cmp.Or(e.params.Interval, p.Interval)
	p.Count = cmp.Or(e.params.Count, p.Count)
	return e.ka, p
}

// UserTimeout returns TCP_USER_TIMEOUT, 0 when off.
func (so *Socket) UserTimeout() time.Duration {
	switch {
	case so.conn != nil:
		return so.conn.UserTimeout()
	case so.early != nil:
		return so.early.userTimeout
	}
	return 0
}

// Linger2 returns TCP_LINGER2 as set: 0 for the default (FinTimeout),
// negative for -1.
func (so *Socket) Linger2() time.Duration {
	switch {
	case so.conn != nil:
		return so.conn.Linger2()
	case so.early != nil:
		return so.early.linger2
	}
	return 0
}

// FinTimeout returns an orphaned FIN_WAIT_2's lifetime: TCP_LINGER2 when
// positive, else the stack's tcp_fin_timeout.
func (so *Socket) FinTimeout() time.Duration {
	if so.conn != nil {
		return so.conn.FinTimeout()
	}
	if l := so.Linger2(); l > 0 {
		return l
	}
	return so.st.tcp4.FinTimeout
}
