package tcpwave

import (
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tcpwave/tcpwave/tcp"
)

// Listener is a TCP listener of a Stack. It implements net.Listener and
// is safe for concurrent use.
type Listener struct {
	s       *Stack
	k       *sock
	own     sock // what k points to
	network string
	addr    *net.TCPAddr

	closed  atomic.Bool
	hclosed bool // guarded by the host's lock

	mu sync.Mutex // one Accept at a time
	dl deadline
	ac acceptCall // the blocked Accept
}

// acceptCall is an Accept the host may finish for its caller (pending).
type acceptCall struct {
	pending[*Conn]
	l *Listener
}

var _ net.Listener = (*Listener)(nil)

// Listen listens on address ("ip:port", port 0 for an ephemeral port; an
// empty ip listens on every address of the family: for "tcp", the family
// of the host's first address) for network "tcp", "tcp4" or "tcp6". Like
// package net it sets SO_REUSEADDR and a backlog of SomaxConn:
// Listen(network, address) is ListenWith(ListenConfig{ReuseAddr: true},
// network, address).
func (s *Stack) Listen(network, address string) (*Listener, error) {
	return s.ListenWith(ListenConfig{ReuseAddr: true}, network, address)
}

// ListenWith is Listen with explicit socket options. Errors are
// *net.OpError with Op "listen"; errors.Is(err, syscall.EADDRINUSE) holds
// when the port is taken under Linux's bind rules, EADDRNOTAVAIL when the
// address is not the host's.
func (s *Stack) ListenWith(lc ListenConfig, network, address string) (*Listener, error) {
	if !s.ok() {
		return nil, errInvalid("listen")
	}
	ap, err := parseAddr(network, address, true, s.addrs)
	if err != nil {
		return nil, opError("listen", network, nil, nil, err)
	}
	backlog := lc.Backlog
	var l *Listener
	if s.run(func() {
		if s.closing {
			err = net.ErrClosed
			return
		}
		so := s.st.NewSocket()
		so.SetReuseAddr(lc.ReuseAddr)
		so.SetReusePort(lc.ReusePort)
		setBuffers(s.now(), so, lc.ReadBuffer, lc.WriteBuffer)
		if e := so.Bind(ap); e != nil {
			so.Close(s.now())
			err = sysErr("bind", e)
			return
		}
		if backlog <= 0 {
			backlog = s.st.Options().SomaxConn
		}
		if e := so.Listen(s.now(), backlog); e != nil {
			so.Close(s.now())
			err = sysErr("listen", e)
			return
		}
		l = &Listener{
			s:       s,
			network: network,
			addr:    tcpAddr(so.Local()),
		}
		l.k = s.track(so, &l.own)
	}) != nil {
		err = net.ErrClosed
	}
	if err != nil {
		return nil, opError("listen", network, nil, tcpAddr(ap), err)
	}
	return l, nil
}

// ok reports whether l was made by this package.
func (l *Listener) ok() bool { return l != nil && l.s != nil }

func (l *Listener) opError(err error) error {
	return opError("accept", l.network, nil, l.addr, err)
}

// Accept waits for the next connection and returns it as a net.Conn (a
// *Conn).
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.AcceptConn()
	if err != nil {
		return nil, err
	}
	return c, nil
}

// AcceptConn waits for the next connection, as net.TCPListener.AcceptTCP
// does. After Close it returns an error wrapping net.ErrClosed; after the
// deadline (SetDeadline), one wrapping os.ErrDeadlineExceeded.
func (l *Listener) AcceptConn() (*Conn, error) {
	if !l.ok() {
		return nil, errInvalid("accept")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	a := &l.ac
	a.l = l
	c, err := a.await(l.s, l.k, &l.k.rd, a, l.check, l.dl.sleep)
	if err != nil {
		return nil, l.opError(err)
	}
	return c, nil
}

// check ends an Accept, before each try, once the listener is closed or
// its deadline has passed.
func (l *Listener) check() error {
	if l.closed.Load() {
		return net.ErrClosed
	}
	if l.dl.expired() {
		return os.ErrDeadlineExceeded
	}
	return nil
}

// attempt accepts a connection, with the host's lock held.
func (a *acceptCall) attempt() bool {
	l := a.l
	if l.hclosed || l.s.closing {
		a.finish(nil, net.ErrClosed)
		return true
	}
	so, e := l.k.so.Accept()
	switch {
	case e == errWouldBlock:
		return false
	case e != nil:
		a.finish(nil, sysErr("accept", e))
	default:
		if so.State() != tcp.Closed { // reset while queued: nothing to set
			so.SetNoDelay(true) // Go's default
		}
		a.finish(newOwnConn(l.s, so, l.network), nil)
	}
	return true
}

// Close stops listening: connections not yet accepted are reset, blocked
// Accept calls return net.ErrClosed. Connections already accepted are not
// affected. A second Close returns an error wrapping net.ErrClosed.
func (l *Listener) Close() error {
	if !l.ok() {
		return errInvalid("close")
	}
	if !l.closed.CompareAndSwap(false, true) {
		return opError("close", l.network, nil, l.addr, net.ErrClosed)
	}
	l.s.run(func() {
		l.hclosed = true
		l.k.rd.drop(&l.ac)
		l.s.wakeLater(l.ac.ch) // a blocked Accept wakes and sees closed
		if !l.s.closing {
			l.k.so.Close(l.s.now())
			l.s.forget(l.k)
		}
	})
	l.dl.stop()
	return nil
}

// Addr returns the listener's address, a *net.TCPAddr (with the port
// picked when listening on port 0).
func (l *Listener) Addr() net.Addr {
	if !l.ok() {
		return nil
	}
	return l.addr
}

// SetDeadline sets the deadline for Accept calls, pending ones included;
// the zero time means none.
func (l *Listener) SetDeadline(t time.Time) error {
	if !l.ok() {
		return errInvalid("set")
	}
	if l.closed.Load() {
		return opError("set", l.network, nil, l.addr, net.ErrClosed)
	}
	l.dl.set(t)
	return nil
}
