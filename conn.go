package tcpwave

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tcpwave/tcpwave/stack"
	"github.com/tcpwave/tcpwave/tcp"
)

// Conn is a TCP connection of a Stack: a handle on its socket, like a file
// descriptor. It implements net.Conn, with the extra methods of
// net.TCPConn (CloseRead, CloseWrite, SetLinger, SetNoDelay, SetKeepAlive,
// SetKeepAlivePeriod, SetKeepAliveConfig) and Dup.
//
// As in package net, a new connection has Nagle's algorithm off
// (TCP_NODELAY); SetNoDelay(false) turns it on.
//
// Errors follow package net: Read returns io.EOF after the peer's FIN;
// every other error is a *net.OpError whose Err is net.ErrClosed after
// Close, os.ErrDeadlineExceeded on a deadline (its Timeout() is true),
// or an *os.SyscallError around the errno Linux would give (errors.Is(err,
// syscall.ECONNRESET) after the peer's RST, EPIPE when writing after
// CloseWrite, ETIMEDOUT after the retransmissions give up).
//
// A Conn is safe for concurrent use.
type Conn struct {
	s            *Stack
	k            *sock // the socket's record: own, or a Dup's original's
	own          sock  // the record of a Conn that Dial or Accept made
	network      string
	laddr, raddr netip.AddrPort

	closed  atomic.Bool
	hclosed bool // guarded by the host's lock: Close has run there

	rmu sync.Mutex // one Read at a time
	rdl deadline
	rd  readCall // the blocked Read, or Dial's wait for the handshake (dialCall)

	wmu sync.Mutex // one Write at a time
	wdl deadline
	wr  *writeCall // the blocked Write; made when a Write first has to wait
}

// readCall is a Read the host may finish for its caller (pending): it
// reads into buf.
type readCall struct {
	pending[int]
	c   *Conn
	buf []byte
}

// writeCall is a Write the host may finish for its caller: it queues buf,
// of which val bytes are queued already.
type writeCall struct {
	pending[int]
	c   *Conn
	buf []byte
}

// dialCall is Dial's wait for the handshake, a call of its own on the
// Conn's read state: the two never overlap (the Conn is handed out once
// Dial returns), and a client's first wait after Dial is often a Read,
// which finds the channel made.
type dialCall readCall

var _ net.Conn = (*Conn)(nil)

// newConn makes a handle on k's socket, with the host's lock held. It
// holds no channel and no timer: a Read or Write makes its channel when it
// first has to wait, a deadline its own when it is set.
func newConn(s *Stack, k *sock, network string) *Conn {
	c := &Conn{
		s:       s,
		k:       k,
		network: network,
		laddr:   k.so.Local(),
		raddr:   k.so.Remote(),
	}
	c.rd.c = c
	return c
}

// newOwnConn makes a handle on so, with the host's lock held, and tracks
// so with the record inside the Conn: a connection is one allocation.
func newOwnConn(s *Stack, so *stack.Socket, network string) *Conn {
	c := &Conn{s: s, network: network}
	c.rd.c = c
	c.k = s.track(so, &c.own)
	c.connected()
	return c
}

// connected notes the addresses of the handle's connection, with the
// host's lock held.
func (c *Conn) connected() { c.laddr, c.raddr = c.k.so.Local(), c.k.so.Remote() }

func (c *Conn) opError(op string, err error) error {
	l, r := tcpAddrPair(c.laddr, c.raddr)
	return opError(op, c.network, l, r, err)
}

// gone reports, with the host's lock held, whether this handle or the whole stack is
// closed.
func (c *Conn) gone() bool {
	c.s.assertLocked()
	return c.hclosed || c.s.closing
}

// ok reports whether c was made by this package (not nil, not a zero
// value).
func (c *Conn) ok() bool { return c != nil && c.s != nil }

// Read reads data from the connection. It blocks until data arrives, the
// peer closes (io.EOF), an error occurs, or the read deadline passes.
func (c *Conn) Read(b []byte) (int, error) {
	if !c.ok() {
		return 0, errInvalid("read")
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.closed.Load() {
		return 0, c.opError("read", net.ErrClosed)
	}
	if len(b) == 0 {
		return 0, nil
	}
	r := &c.rd
	r.buf = b
	n, err := r.await(c.s, c.k, &c.k.rd, r, c.readCheck, c.rdl.sleep)
	r.buf = nil
	return c.readResult(n, err)
}

// readCheck ends a Read, before each try, once the handle is closed or
// the read deadline has passed.
func (c *Conn) readCheck() error {
	if c.closed.Load() {
		return net.ErrClosed
	}
	if c.rdl.expired() {
		return os.ErrDeadlineExceeded
	}
	return nil
}

// readResult turns what the socket's Read returned into what Conn.Read
// returns.
func (c *Conn) readResult(n int, err error) (int, error) {
	switch err {
	case nil:
		return n, nil
	case io.EOF:
		return 0, io.EOF
	case net.ErrClosed, os.ErrDeadlineExceeded:
		return 0, c.opError("read", err)
	default:
		return 0, c.opError("read", sysErr("read", err))
	}
}

// attempt reads into buf, with the host's lock held.
func (r *readCall) attempt() bool {
	c := r.c
	if c.gone() {
		// Close or the host's CloseAll: the call fails as it would
		// retrying by itself.
		r.finish(0, net.ErrClosed)
		return true
	}
	n, err := c.k.so.Read(c.s.now(), r.buf)
	if err == errWouldBlock {
		return false
	}
	r.finish(n, err)
	return true
}

// attempt finishes Dial's wait once the handshake is over, with the
// host's lock held: a failed handshake closes the socket.
func (d *dialCall) attempt() bool {
	c := d.c
	s, so := c.s, c.k.so
	switch {
	case c.gone():
		d.finish(0, net.ErrClosed)
	case !so.Connected():
		return false
	default:
		if err := so.ConnectError(); err != nil {
			so.Close(s.now())
			s.forget(c.k)
			d.finish(0, sysErr("connect", err))
		} else {
			c.connected()
			d.finish(0, nil)
		}
	}
	return true
}

// Write writes data to the connection. It blocks until every byte is in
// the send buffer, an error occurs, or the write deadline passes; it
// returns how many bytes were queued.
func (c *Conn) Write(b []byte) (int, error) {
	if !c.ok() {
		return 0, errInvalid("write")
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.writeCheck(); err != nil {
		return 0, c.writeError(err)
	}
	if len(b) == 0 {
		return 0, nil
	}
	// Most Writes find room: the first try needs no call state, which is
	// made (once) when a Write has to wait; await then tries again before
	// it parks the call.
	n, done, err := 0, true, error(net.ErrClosed)
	if c.s.lock() {
		n, done, err = c.writeSome(b, 0)
		if !done && c.wr == nil {
			c.wr = &writeCall{c: c} // under the lock, which Close reads it with
		}
		c.s.unlock()
	}
	if !done {
		w := c.wr
		w.buf, w.val = b, n
		n, err = w.await(c.s, c.k, &c.k.wr, w, c.writeCheck, c.wdl.sleep)
		w.buf = nil
	}
	if err != nil {
		return n, c.writeError(err)
	}
	return n, nil
}

// writeError is what Write returns for an error that ended it.
func (c *Conn) writeError(err error) error {
	switch err {
	case net.ErrClosed, os.ErrDeadlineExceeded:
		return c.opError("write", err)
	}
	return c.opError("write", sysErr("write", err))
}

// writeCheck is readCheck for a Write.
func (c *Conn) writeCheck() error {
	if c.closed.Load() {
		return net.ErrClosed
	}
	if c.wdl.expired() {
		return os.ErrDeadlineExceeded
	}
	return nil
}

// attempt queues what it can of what is left of buf, with the host's
// lock held.
func (w *writeCall) attempt() bool {
	n, done, err := w.c.writeSome(w.buf, w.val)
	w.val = n
	if done {
		w.finish(n, err)
	}
	return done
}

// writeSome queues what it can of b[n:], with the host's lock held, and
// returns the bytes of b queued so far and whether the Write has
// finished: all of b queued, or the socket failed it.
func (c *Conn) writeSome(b []byte, n int) (int, bool, error) {
	if n == len(b) {
		return n, true, nil
	}
	if c.gone() {
		return n, true, net.ErrClosed
	}
	k, err := c.k.so.Write(c.s.now(), b[n:])
	n += k
	if err == errWouldBlock || err == nil && n < len(b) {
		return n, false, nil
	}
	return n, true, err
}

// Close closes this handle. When it is the socket's last handle (see
// Dup), the connection closes as close(2) does: a FIN follows the data
// already written, or a RST if unread data remains or SetLinger(0) was
// called. With SetLinger(sec > 0), Close waits until the FIN is
// acknowledged or sec seconds pass. Blocked Read and Write calls on this
// handle return net.ErrClosed. Closing a handle again returns an error
// that wraps net.ErrClosed; closing one after its Stack is closed returns
// nil (the stack closed the socket already).
func (c *Conn) Close() error {
	if !c.ok() {
		return errInvalid("close")
	}
	if !c.closed.CompareAndSwap(false, true) {
		return c.opError("close", net.ErrClosed)
	}
	var linger time.Duration
	err := c.s.run(func() {
		c.hclosed = true
		// This handle's blocked calls wake, see closed and return; the
		// host no longer finishes them.
		c.k.rd.drop(&c.rd)
		c.s.wakeLater(c.rd.ch)
		if c.wr != nil {
			c.k.wr.drop(c.wr)
			c.s.wakeLater(c.wr.ch)
		}
		if c.s.closing {
			return
		}
		so := c.k.so
		so.Close(c.s.now())
		if so.Refs() > 0 {
			return
		}
		if on, d := so.Linger(); on && d > 0 && so.Closing() {
			linger = d
			return
		}
		c.s.forget(c.k)
	})
	c.rdl.stop()
	c.wdl.stop()
	if err == nil && linger > 0 {
		c.lingerWait(linger)
	}
	return nil
}

// lingerWait waits until the socket's FIN is acknowledged (SO_LINGER with
// a timeout) or d passes.
func (c *Conn) lingerWait(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	wake := make(chan struct{}, 1)
	for {
		busy := false
		err := c.s.run(func() {
			if c.s.closing {
				return
			}
			if busy = c.k.so.Closing(); busy {
				c.k.wait(wake)
			} else {
				c.s.forget(c.k)
			}
		})
		if err != nil || !busy {
			return
		}
		select {
		case <-wake:
		case <-t.C:
			c.s.run(func() { c.s.forget(c.k) })
			return
		case <-c.s.done:
			return
		}
	}
}

// CloseRead shuts down the reading side (shutdown(SHUT_RD)): Read returns
// io.EOF from now on, for every handle of the socket.
func (c *Conn) CloseRead() error { return c.shutdown(stack.ShutRD) }

// CloseWrite shuts down the writing side (shutdown(SHUT_WR)): a FIN
// follows the data already written, at once, whatever the number of
// handles; Write then fails with EPIPE on every handle.
func (c *Conn) CloseWrite() error { return c.shutdown(stack.ShutWR) }

func (c *Conn) shutdown(how int) error {
	if !c.ok() {
		return errInvalid("close")
	}
	if c.closed.Load() {
		return c.opError("close", net.ErrClosed)
	}
	var err error
	if c.s.run(func() {
		if c.gone() {
			err = net.ErrClosed
			return
		}
		// A shutdown makes the socket readier: the stack touches it, and
		// the blocked calls of every handle see it.
		err = c.k.so.Shutdown(c.s.now(), how)
	}) != nil {
		err = net.ErrClosed
	}
	if err != nil {
		return c.opError("close", sysErr("shutdown", err))
	}
	return nil
}

// SetLinger sets SO_LINGER for the socket, as net.TCPConn.SetLinger does:
// sec < 0 (the default) closes in the background; sec == 0 makes Close
// abort the connection with a RST, discarding unsent data; sec > 0 makes
// Close wait up to sec seconds for the FIN to be acknowledged.
func (c *Conn) SetLinger(sec int) error {
	return c.setOpt(func(so *stack.Socket) {
		so.SetLinger(sec >= 0, time.Duration(sec)*time.Second)
	})
}

// SetNoDelay sets TCP_NODELAY: true (the default) sends small writes at
// once; false delays them while data is unacknowledged (Nagle's
// algorithm). A stack configured with tcp.Config.NoDelay ignores false.
func (c *Conn) SetNoDelay(noDelay bool) error {
	return c.setOpt(func(so *stack.Socket) {
		if so.State() != tcp.Closed {
			so.SetNoDelay(noDelay)
		}
	})
}

// SetReadBuffer sets SO_RCVBUF, as net.TCPConn.SetReadBuffer does: as
// Linux, the stack keeps twice bytes (at most twice Options.RmemMax),
// turns receive-buffer auto-tuning off for the connection, and offers
// the window Linux's accounting allows of twice bytes from then on (about
// bytes, more with full-sized segments); the window already offered is
// not taken back. To size the window scale too, set it before the
// handshake (ListenConfig.ReadBuffer).
func (c *Conn) SetReadBuffer(bytes int) error {
	return c.setOpt(func(so *stack.Socket) { so.SetRcvBuf(c.s.now(), bytes) })
}

// SetWriteBuffer sets SO_SNDBUF, as net.TCPConn.SetWriteBuffer does: the
// stack keeps twice bytes (at most twice Options.WmemMax), the payload
// Write may queue unacknowledged, and turns send-buffer auto-tuning off.
func (c *Conn) SetWriteBuffer(bytes int) error {
	return c.setOpt(func(so *stack.Socket) { so.SetSndBuf(c.s.now(), bytes) })
}

func (c *Conn) setOpt(fn func(so *stack.Socket)) error {
	if !c.ok() {
		return errInvalid("set")
	}
	if c.closed.Load() {
		return c.opError("set", net.ErrClosed)
	}
	var err error
	if c.s.run(func() {
		if c.gone() {
			err = net.ErrClosed
			return
		}
		fn(c.k.so)
	}) != nil {
		err = net.ErrClosed
	}
	if err != nil {
		return c.opError("set", err)
	}
	return nil
}

// Dup returns another handle on the same socket, as dup(2) does. Handles
// share the connection, its data and its socket options (SetLinger,
// SetNoDelay) but each has its own deadlines; the connection closes when
// the last handle is closed, while CloseWrite and CloseRead act at once
// for all handles.
func (c *Conn) Dup() (*Conn, error) {
	if !c.ok() {
		return nil, errInvalid("dup")
	}
	if c.closed.Load() {
		return nil, c.opError("dup", net.ErrClosed)
	}
	var nc *Conn
	if c.s.run(func() {
		if !c.gone() {
			c.k.so.Ref()
			nc = newConn(c.s, c.k, c.network)
		}
	}) != nil || nc == nil {
		return nil, c.opError("dup", net.ErrClosed)
	}
	return nc, nil
}

// LocalAddr returns the local address, a new *net.TCPAddr.
func (c *Conn) LocalAddr() net.Addr {
	if !c.ok() {
		return nil
	}
	return tcpAddr(c.laddr)
}

// RemoteAddr returns the peer's address, a new *net.TCPAddr.
func (c *Conn) RemoteAddr() net.Addr {
	if !c.ok() {
		return nil
	}
	return tcpAddr(c.raddr)
}

// LocalAddrPort returns the local address as a netip.AddrPort, without
// allocating.
func (c *Conn) LocalAddrPort() netip.AddrPort {
	if !c.ok() {
		return netip.AddrPort{}
	}
	return c.laddr
}

// RemoteAddrPort returns the peer's address as a netip.AddrPort, without
// allocating.
func (c *Conn) RemoteAddrPort() netip.AddrPort {
	if !c.ok() {
		return netip.AddrPort{}
	}
	return c.raddr
}

// SetDeadline sets the read and write deadlines (see net.Conn). A blocked
// call returns an error wrapping os.ErrDeadlineExceeded once its deadline
// passes; the zero time means no deadline.
func (c *Conn) SetDeadline(t time.Time) error {
	if !c.ok() {
		return errInvalid("set")
	}
	if c.closed.Load() {
		return c.opError("set", net.ErrClosed)
	}
	c.rdl.set(t)
	c.wdl.set(t)
	return nil
}

// SetReadDeadline sets the deadline for Read calls, pending ones included.
func (c *Conn) SetReadDeadline(t time.Time) error {
	if !c.ok() {
		return errInvalid("set")
	}
	if c.closed.Load() {
		return c.opError("set", net.ErrClosed)
	}
	c.rdl.set(t)
	return nil
}

// SetWriteDeadline sets the deadline for Write calls, pending ones
// included. A Write that times out may have queued part of its data.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if !c.ok() {
		return errInvalid("set")
	}
	if c.closed.Load() {
		return c.opError("set", net.ErrClosed)
	}
	c.wdl.set(t)
	return nil
}

// poke leaves a wake-up token in ch, a channel with room for one, unless
// it is nil or holds one already.
func poke(ch chan struct{}) {
	if ch == nil {
		return
	}
	select {
	case ch <- struct{}{}:
	default:
	}
}

// SetKeepAlive turns SO_KEEPALIVE on or off, as net.TCPConn.SetKeepAlive
// does. On, a connection silent for the idle time (tcp.Config's
// KeepAliveTime, Linux's 2 hours, unless set) gets probes, and is reset
// and fails with ETIMEDOUT when they go unanswered. tcpwave leaves it
// off until asked; Go's net.Dialer and net.ListenConfig turn it on with
// 15 s by default.
func (c *Conn) SetKeepAlive(keepalive bool) error {
	return c.setOpt(func(so *stack.Socket) { so.SetKeepAlive(c.s.now(), keepalive) })
}

// SetKeepAlivePeriod sets the silence before the first keepalive probe
// (TCP_KEEPIDLE), rounded up to whole seconds, as net.TCPConn's does on
// Linux.
func (c *Conn) SetKeepAlivePeriod(d time.Duration) error {
	if d <= 0 {
		return c.opError("set", syscall.EINVAL)
	}
	return c.setKeepAliveParams(tcp.KeepAliveParams{Idle: roundSecond(d)})
}

// SetKeepAliveConfig sets keepalive as net.TCPConn.SetKeepAliveConfig
// does: Enable turns it on or off; a zero Idle or Interval means 15 s and
// a zero Count 9 (Go's defaults), a negative one leaves the setting as it
// is; durations are rounded up to whole seconds.
func (c *Conn) SetKeepAliveConfig(config net.KeepAliveConfig) error {
	if err := c.setKeepAliveParams(keepAliveParams(config)); err != nil {
		return err
	}
	return c.SetKeepAlive(config.Enable)
}

// keepAliveParams reads a net.KeepAliveConfig as Go's net package does:
// 0 durations mean 15 s, a 0 count 9, negative values leave the setting.
func keepAliveParams(config net.KeepAliveConfig) tcp.KeepAliveParams {
	p := tcp.KeepAliveParams{Idle: goKeepAlive(config.Idle), Interval: goKeepAlive(config.Interval)}
	switch {
	case config.Count == 0:
		p.Count = 9
	case config.Count > 0:
		p.Count = config.Count
	}
	return p
}

func (c *Conn) setKeepAliveParams(p tcp.KeepAliveParams) error {
	var err error
	if serr := c.setOpt(func(so *stack.Socket) {
		err = so.SetKeepAliveParams(c.s.now(), p)
		if errors.Is(err, syscall.ENOTCONN) {
			err = nil // the connection has ended: as setsockopt on a closed TCP socket, nothing to set
		}
	}); serr != nil {
		return serr
	}
	if err != nil {
		return c.opError("set", err)
	}
	return nil
}

// goKeepAlive is a KeepAliveConfig duration as Go's net package reads it:
// 0 means 15 s, negative leaves the setting (0 here), others round up to
// whole seconds.
func goKeepAlive(d time.Duration) time.Duration {
	switch {
	case d == 0:
		return 15 * time.Second
	case d < 0:
		return 0
	}
	return roundSecond(d)
}

func roundSecond(d time.Duration) time.Duration {
	return (d + time.Second - 1) / time.Second * time.Second
}

// SetUserTimeout sets TCP_USER_TIMEOUT: once data sent stays
// unacknowledged (or zero-window probes or keepalive probes go
// unanswered) for d, the connection is dropped and its calls fail with
// ETIMEDOUT. 0 turns it off; a negative d is refused.
func (c *Conn) SetUserTimeout(d time.Duration) error {
	var err error
	if serr := c.setOpt(func(so *stack.Socket) {
		if err = so.SetUserTimeout(c.s.now(), d); errors.Is(err, syscall.ENOTCONN) {
			err = nil
		}
	}); serr != nil {
		return serr
	}
	if err != nil {
		return c.opError("set", err)
	}
	return nil
}

// SetLinger2 sets TCP_LINGER2: how long the connection lives in FIN_WAIT_2
// once closed (at most 120 s; 0 means tcp.Config.FinTimeout); negative
// makes Close in FIN_WAIT_2 reset the connection.
func (c *Conn) SetLinger2(d time.Duration) error {
	return c.setOpt(func(so *stack.Socket) { _ = so.SetLinger2(c.s.now(), d) })
}

// Info returns the connection's TCP state as Linux's tcp_info holds it
// (what ss -ti prints; trace.FormatInfo writes it so): congestion window
// and threshold, RTT, RTO, MSS, windows, window scales, bytes acknowledged
// and received, retransmissions. Once the connection has ended, State
// says how (CLOSED after a reset, TIME_WAIT after an orderly close) and
// the rest is what it had; once the stack keeps no state for it (a
// TIME_WAIT record keeps none) State is CLOSED and the rest zero. After
// Close it fails with net.ErrClosed, and on a nil or zero Conn with
// EINVAL.
func (c *Conn) Info() (tcp.Info, error) {
	if !c.ok() {
		return tcp.Info{}, errInvalid("info")
	}
	var i tcp.Info
	err := c.setOpt(func(so *stack.Socket) {
		if tc := so.Conn(); tc != nil {
			i = tc.Info()
		}
	})
	if err != nil {
		return tcp.Info{}, c.opError("info", net.ErrClosed)
	}
	return i, nil
}
