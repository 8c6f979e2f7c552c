package tcpwave

import (
	"context"
	"errors"
	"net"
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
	growStack(0)
	ap, err := parseAddr(network, address, false, s.addrs)
	if err != nil {
		return nil, opError("dial", network, nil, nil, err)
	}
	fail := func(err error) (*Conn, error) { return nil, opError("dial", network, nil, tcpAddr(ap), err) }
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	wake := make(chan struct{}, 1)
	c := &Conn{s: s, network: network} // its record (own) follows the socket from the start
	k := &c.own
	var cerr error
	if s.run(func() {
		if s.closing {
			cerr = net.ErrClosed
			return
		}
		now := s.now()
		so := s.st.NewSocket()
		if err := so.Connect(now, ap); err != nil {
			so.Close(now)
			cerr = sysErr("connect", err)
			return
		}
		so.SetNoDelay(true) // Go's default
		c.k = s.track(so, k)
		// The host finishes the wait when the handshake ends (complete).
		c.pdial = true
		k.pending(c, wake)
	}) != nil {
		cerr = net.ErrClosed
	}
	if cerr != nil {
		return fail(cerr)
	}
	for {
		select {
		case <-wake:
		case <-ctx.Done():
			s.run(func() {
				k.cancel(c)
				switch {
				case c.pdone.Load() && c.perr != nil:
					// The handshake failed: the socket is closed already.
				case !s.closing:
					k.so.SetLinger(true, 0)
					k.so.Close(s.now())
					s.forget(k)
				}
			})
			return fail(ctx.Err())
		case <-s.done:
			return fail(net.ErrClosed)
		}
		// Woken without the result (the host closing, a stale token, a
		// host too busy to finish the call): look under the lock.
		if !c.pdone.Load() && s.run(func() {
			switch {
			case c.pdone.Load():
			case s.closing:
				k.cancel(c)
				cerr = net.ErrClosed
			case c.complete():
				k.cancel(c)
			}
		}) != nil {
			cerr = net.ErrClosed
		}
		switch {
		case c.pdone.Load():
			c.pdone.Store(false)
			c.pdial = false
			if c.perr != nil {
				return fail(c.perr)
			}
			return c, nil
		case cerr != nil:
			return fail(cerr)
		}
	}
}
