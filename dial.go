package tcpwave

import (
	"context"
	"errors"
	"net"
	"net/netip"
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
	if err := s.connect(c, ap); err != nil {
		return fail(err)
	}
	if err := c.awaitHandshake(ctx); err != nil {
		return fail(err)
	}
	return c, nil
}

// connect opens c's socket and starts the handshake to ap.
func (s *Stack) connect(c *Conn, ap netip.AddrPort) error {
	var err error
	if s.run(func() {
		if s.closing {
			err = net.ErrClosed
			return
		}
		now := s.now()
		so := s.st.NewSocket()
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
