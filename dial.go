package tcpwave

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/stack"
	"github.com/tcpwave/tcpwave/tcp"
)

// Dial connects to address on network ("tcp", "tcp4" or "tcp6"). The
// address is "ip:port" with an IP literal ("10.0.0.2:80", "[fd00::2]:80"):
// tcpwave has no resolver. Dial blocks until the handshake completes or
// fails; see DialContext.
func (s *Stack) Dial(network, address string) (*Conn, error) {
	return s.DialContext(context.Background(), network, address)
}

// DialContext connects to address on network, as Dial does, until ctx
// ends. A refused connection fails with an error for which errors.Is(err,
// syscall.ECONNREFUSED) holds; unanswered SYNs (tcp.Config.SynRetries)
// fail with ETIMEDOUT. If ctx ends first, the half-open connection is
// aborted and the error wraps ctx.Err(). Errors are *net.OpError with Op
// "dial".
func (s *Stack) DialContext(ctx context.Context, network, address string) (*Conn, error) {
	return s.DialWith(ctx, DialConfig{}, network, address)
}

// DialConfig holds the socket options DialWith sets before connect(), as
// a C program calls setsockopt before connect: they shape the handshake
// itself (the SYN's window and window scale) or start with it (the
// keepalive timer). The zero value sets nothing, which is Linux's
// default (keepalive off; Go's net.Dialer, unlike Linux, turns it on).
type DialConfig struct {
	// ReadBuffer and WriteBuffer, if positive, set SO_RCVBUF and
	// SO_SNDBUF: doubled as Linux doubles them (at most twice
	// Options.RmemMax or WmemMax), auto-tuning off for that direction;
	// the receive buffer chooses the SYN's window and scale, and the
	// first ACK opens the whole of it (SO_RCVBUF 100000: the SYN offers
	// 65535, the first ACK 99280 bytes, as Linux 6.18 does).
	ReadBuffer, WriteBuffer int
	// KeepAlive, when Enable is set, turns SO_KEEPALIVE on with its
	// idle time, interval and count (net.KeepAliveConfig's meaning of 0
	// and negative values, as Conn.SetKeepAliveConfig); the timer starts
	// when the handshake completes.
	KeepAlive net.KeepAliveConfig
	// UserTimeout, if positive, sets TCP_USER_TIMEOUT (see
	// Conn.SetUserTimeout), in force from the SYN on.
	UserTimeout time.Duration
}

// DialWith is DialContext with socket options set before connect().
func (s *Stack) DialWith(ctx context.Context, dc DialConfig, network, address string) (*Conn, error) {
	if !s.ok() {
		return nil, errInvalid("dial")
	}
	if ctx == nil {
		return nil, opError("dial", network, nil, nil, errors.New("nil context"))
	}
	ap, err := parseAddr(network, address, false, s.addrs)
	if err != nil {
		return nil, opError("dial", network, nil, nil, err)
	}
	fail := func(err error) (*Conn, error) { return nil, opError("dial", network, nil, tcpAddr(ap), err) }
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	c := &Conn{s: s, network: network} // its record (own) follows the socket from the start
	c.rd.c = c
	if err := dc.check(); err != nil {
		return fail(err)
	}
	if err := s.connect(c, ap, &dc); err != nil {
		return fail(err)
	}
	if err := c.awaitHandshake(ctx); err != nil {
		return fail(err)
	}
	return c, nil
}

// check validates the options before a socket is made.
func (dc *DialConfig) check() error {
	if dc.UserTimeout < 0 {
		return fmt.Errorf("negative user timeout %v: %w", dc.UserTimeout, syscall.EINVAL)
	}
	if dc.KeepAlive.Enable {
		if err := dc.keepAliveParams().Validate(); err != nil {
			return fmt.Errorf("%v: %w", err, syscall.EINVAL)
		}
	}
	return nil
}

// keepAliveParams are KeepAlive's settings as the stack takes them.
func (dc *DialConfig) keepAliveParams() tcp.KeepAliveParams {
	return keepAliveParams(dc.KeepAlive)
}

// apply sets the options on a socket before connect().
func (dc *DialConfig) apply(now clock.Instant, so *stack.Socket) {
	setBuffers(now, so, dc.ReadBuffer, dc.WriteBuffer)
	if dc.UserTimeout > 0 {
		so.SetUserTimeout(now, dc.UserTimeout)
	}
	if dc.KeepAlive.Enable {
		so.SetKeepAliveParams(now, dc.keepAliveParams())
		so.SetKeepAlive(now, true)
	}
}

// setBuffers sets SO_RCVBUF to rcv and SO_SNDBUF to snd, each only if
// positive, before connect() or listen() (DialConfig, ListenConfig).
func setBuffers(now clock.Instant, so *stack.Socket, rcv, snd int) {
	if rcv > 0 {
		so.SetRcvBuf(now, rcv)
	}
	if snd > 0 {
		so.SetSndBuf(now, snd)
	}
}

// connect opens c's socket, sets dc's options and starts the handshake to
// ap.
func (s *Stack) connect(c *Conn, ap netip.AddrPort, dc *DialConfig) error {
	var err error
	if s.run(func() {
		if s.closing {
			err = net.ErrClosed
			return
		}
		now := s.now()
		so := s.st.NewSocket()
		dc.apply(now, so)
		if e := so.Connect(now, ap); e != nil {
			so.Close(now)
			err = sysErr("connect", e)
			return
		}
		so.SetNoDelay(true) // Go's default
		c.k = s.track(so, &c.own)
	}) != nil {
		err = net.ErrClosed
	}
	return err
}

// awaitHandshake waits until c's handshake ends (the host finishes the
// wait: dialCall) or ctx does, when it aborts the half-open connection.
func (c *Conn) awaitHandshake(ctx context.Context) error {
	s := c.s
	d := (*dialCall)(&c.rd)
	_, err := d.await(s, c.k, &c.k.rd, d, noCheck, func(wake chan struct{}) error {
		select {
		case <-wake:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
			return net.ErrClosed
		}
	})
	if err != nil && err == ctx.Err() {
		// A handshake that failed has closed the socket already: this
		// does nothing then.
		s.run(func() {
			if !s.closing {
				c.k.so.SetLinger(true, 0)
				c.k.so.Close(s.now())
				s.forget(c.k)
			}
		})
	}
	return err
}

// noCheck is the check of a call that only its sleep ends.
func noCheck() error { return nil }
