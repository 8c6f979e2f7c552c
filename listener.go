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

	mu   sync.Mutex // one Accept at a time
	dl   deadline
	wake chan struct{}

	// The blocked Accept the host finishes (completer): guarded by the
	// host's lock until pdone is set, which hands pc or perr to the caller.
	pc    *Conn
	perr  error
	pdone atomic.Bool
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
		if lc.ReadBuffer > 0 {
			so.SetRcvBuf(s.now(), lc.ReadBuffer)
		}
		if lc.WriteBuffer > 0 {
			so.SetSndBuf(s.now(), lc.WriteBuffer)
		}
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
			wake:    make(chan struct{}, 1),
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
	growStack(0)
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.s
	for {
		if l.closed.Load() {
			return nil, l.opError(net.ErrClosed)
		}
		if l.dl.expired() {
			return nil, l.opError(os.ErrDeadlineExceeded)
		}
		var err error
		if s.run(func() {
			if l.hclosed || s.closing {
				err = net.ErrClosed
				return
			}
			if !l.complete() && !l.k.pending(l, l.wake) {
				l.k.wait(l.wake)
			}
		}) != nil {
			err = net.ErrClosed
		}
		if err == nil && l.pdone.Load() {
			return l.take()
		}
		if err != nil {
			return nil, l.opError(err)
		}
		// A token comes with a connection (the host accepted it for us),
		// the deadline, Close, or the host stopping (which wakes every
		// waiter).
		l.dl.sleep(l.wake)
		if l.pdone.Load() || l.cancel() {
			return l.take()
		}
	}
}

// complete accepts a connection, with the host's lock held, and reports
// whether it has a result: a connection or an error (completer).
func (l *Listener) complete() bool {
	if l.hclosed || l.s.closing {
		l.perr = net.ErrClosed
		l.pdone.Store(true)
		return true
	}
	so, e := l.k.so.Accept()
	switch {
	case e == errWouldBlock:
		return false
	case e != nil:
		l.perr = sysErr("accept", e)
	default:
		if so.State() != tcp.Closed { // reset while queued: nothing to set
			so.SetNoDelay(true) // Go's default
		}
		l.pc = newOwnConn(l.s, so, l.network)
	}
	l.pdone.Store(true)
	return true
}

// cancel takes an Accept woken without a connection off the socket, and
// reports whether the host finished it after all, before the cancel.
func (l *Listener) cancel() bool {
	if l.s.lock() {
		l.k.cancel(l)
		l.s.unlock()
	}
	return l.pdone.Load()
}

// take returns the result of an Accept the host finished.
func (l *Listener) take() (*Conn, error) {
	c, err := l.pc, l.perr
	l.pc, l.perr = nil, nil
	l.pdone.Store(false)
	if err != nil {
		return nil, l.opError(err)
	}
	return c, nil
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
		l.k.cancel(l)
		l.s.wakeLater(l.wake) // a blocked Accept wakes and sees closed
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
