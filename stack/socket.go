package stack

import (
	"cmp"
	"net/netip"
	"syscall"
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/tcp"
)

// Shutdown directions, as shutdown(2) names them.
const (
	ShutRD   = 0
	ShutWR   = 1
	ShutRDWR = 2
)

// Socket is what a file descriptor refers to: unbound, listening, or one
// connection. Handles share a Socket through Ref; the connection is closed
// when the last handle is. Its place in its life cycle is its phase; the
// other fields are attributes that hold in several phases.
type Socket struct {
	st    *Stack
	tuple Tuple
	conn  *tcp.Conn
	// parent is the listener, until accepted.
	parent  *Socket
	acceptQ []*Socket
	backlog int
	synRcvd int // children still in SYN_RCVD
	// lastOverflow is when the SYN queue last overflowed, if overflowed:
	// cookies are checked for two cookie periods after it.
	lastOverflow clock.Instant
	refs         int
	linger       time.Duration
	// rcvBuf and sndBuf are Linux's sk_rcvbuf and sk_sndbuf once
	// SO_RCVBUF or SO_SNDBUF set them (tcp.SockBuf), 0 before; cfg is
	// the stack's tcp.Config with them (tcp.WithBuffers), made for
	// cfgBase when first needed, shared with the listener's children.
	rcvBuf, sndBuf int
	cfg, cfgBase   *tcp.Config
	tn             timerNode // the connection's timer
	owner          any       // the driver's record of the socket (SetOwner)
	boundIdx       int32     // its place in the port's list of holders, when bound
	phase          phase
	bound          bool // holds tuple.Local's port in the bind table (always in phaseOpen and phaseOrphan)
	userBound      bool // bound by an explicit Bind
	// connectPort says the socket's port was found by Connect itself,
	// not by bind() or listen(): other connect() sockets may share it
	// (Linux: an inet_bind_bucket with fastreuse -1).
	connectPort        bool
	overflowed         bool
	reuseAddr          bool
	reusePort          bool
	lingerOn           bool
	isDirty, isTouched bool
	ready              uint8 // readiness as afterUser last saw it (readyRead, ...)
	// early holds TCP options set before the socket had a connection
	// (earlyOpts); nil until one is.
	early *earlyOpts
}

// NewSocket returns an unbound socket with one handle.
func (s *Stack) NewSocket() *Socket {
	return &Socket{st: s, refs: 1}
}

// SetOwner attaches the driver's own record of the socket (who waits on
// it, say), so that a socket from Touched leads back to it without a
// lookup. The stack never looks at it.
func (so *Socket) SetOwner(v any) { so.owner = v }

// Owner returns what SetOwner attached, or nil.
func (so *Socket) Owner() any { return so.owner }

// Ref adds a handle to the socket (dup(2)).
func (so *Socket) Ref() { so.refs++ }

// Refs returns the number of open handles.
func (so *Socket) Refs() int { return so.refs }

// SetReuseAddr sets SO_REUSEADDR.
func (so *Socket) SetReuseAddr(on bool) { so.reuseAddr = on }

// SetReusePort sets SO_REUSEPORT.
func (so *Socket) SetReusePort(on bool) { so.reusePort = on }

// SetLinger sets SO_LINGER: with on and d == 0 close aborts with RST; with
// d > 0 the driver makes close wait up to d for the FIN to be ACKed.
func (so *Socket) SetLinger(on bool, d time.Duration) { so.lingerOn, so.linger = on, max(d, 0) }

// Linger returns the SO_LINGER setting.
func (so *Socket) Linger() (bool, time.Duration) { return so.lingerOn, so.linger }

// SetKeepAlive sets SO_KEEPALIVE on the socket's connection, or keeps it
// for the connection to come (setConnOpt); it reports false on a socket
// whose connection has ended.
func (so *Socket) SetKeepAlive(now clock.Instant, on bool) bool {
	return so.setConnOpt(now, func(c *tcp.Conn) error { c.SetKeepAlive(now, on); return nil }, func(e *earlyOpts) {
		e.kaSet, e.ka = true, on
	}) == nil
}

// SetKeepAliveParams sets TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT on
// the socket's connection, or keeps them for the connection to come (zero
// fields unchanged). It fails with ENOTCONN once the connection has ended,
// and with EINVAL for values Linux refuses.
func (so *Socket) SetKeepAliveParams(now clock.Instant, p tcp.KeepAliveParams) error {
	if p.Validate() != nil {
		return syscall.EINVAL
	}
	return so.setConnOpt(now, func(c *tcp.Conn) error { return c.SetKeepAliveParams(now, p) }, func(e *earlyOpts) {
		e.params.Idle = cmp.Or(p.Idle, e.params.Idle)
		e.params.Interval = cmp.Or(p.Interval, e.params.Interval)
		e.params.Count = cmp.Or(p.Count, e.params.Count)
	})
}

// SetUserTimeout sets TCP_USER_TIMEOUT on the socket's connection (see
// tcp.Conn.SetUserTimeout), or keeps it for the connection to come. It
// fails with EINVAL for a negative value and ENOTCONN once the connection
// has ended.
func (so *Socket) SetUserTimeout(now clock.Instant, d time.Duration) error {
	if d < 0 {
		return syscall.EINVAL
	}
	return so.setConnOpt(now, func(c *tcp.Conn) error { return c.SetUserTimeout(now, d) }, func(e *earlyOpts) {
		e.utSet, e.userTimeout = true, d
	})
}

// SetLinger2 sets TCP_LINGER2 on the socket's connection (see
// tcp.Conn.SetLinger2), or keeps it for the connection to come; it fails
// with ENOTCONN once the connection has ended.
func (so *Socket) SetLinger2(now clock.Instant, d time.Duration) error {
	return so.setConnOpt(now, func(c *tcp.Conn) error { c.SetLinger2(now, d); return nil }, func(e *earlyOpts) {
		e.l2Set, e.linger2 = true, tcp.Linger2Value(d) // as the connection will store it
	})
}

// setConnOpt applies a socket option to the connection, or keeps it for
// the connection to come (early) on a socket that has none yet, as a
// listener or a socket not yet connected: Linux keeps such options on
// the socket, connect() uses them, and a listener's children inherit
// them. ENOTCONN on a socket whose connection has ended; EINVAL when the
// connection refuses the value.
func (so *Socket) setConnOpt(now clock.Instant, set func(c *tcp.Conn) error, early func(e *earlyOpts)) error {
	if !so.live() {
		if so.phase == phaseDone {
			return syscall.ENOTCONN
		}
		early(so.earlyOpts())
		return nil
	}
	if set(so.conn) != nil {
		return syscall.EINVAL
	}
	so.st.afterUser(so)
	return nil
}

// SetRcvBuf is setsockopt(SO_RCVBUF, v): the socket's sk_rcvbuf becomes
// tcp.SockBuf(v, RmemMax, tcp.SockMinRcvBuf) and receive-buffer
// auto-tuning stops for it. Set before listen() or connect(), it decides
// the window and window scale the SYN or SYN-ACK offers; a listener's
// children inherit it, as Linux's are cloned from the listener.
func (so *Socket) SetRcvBuf(now clock.Instant, v int) {
	so.rcvBuf = tcp.SockBuf(v, cmp.Or(so.st.opts.RmemMax, defaultMemMax), tcp.SockMinRcvBuf)
	so.setBuffers(so.rcvBuf, 0)
}

// SetSndBuf is setsockopt(SO_SNDBUF, v): the socket's sk_sndbuf becomes
// tcp.SockBuf(v, WmemMax, tcp.SockMinSndBuf), the payload bytes Write may
// queue, and send-buffer auto-tuning stops for it; a listener's children
// inherit it.
func (so *Socket) SetSndBuf(now clock.Instant, v int) {
	so.sndBuf = tcp.SockBuf(v, cmp.Or(so.st.opts.WmemMax, defaultMemMax), tcp.SockMinSndBuf)
	so.setBuffers(0, so.sndBuf)
}

func (so *Socket) setBuffers(rcvbuf, sndbuf int) {
	so.cfg, so.cfgBase = nil, nil
	if so.live() {
		so.conn.SetBuffers(rcvbuf, sndbuf)
		so.st.afterUser(so)
	}
}

// RcvBuf returns what getsockopt(SO_RCVBUF) returns once set: sk_rcvbuf,
// twice the value set; 0 if SO_RCVBUF was never set.
func (so *Socket) RcvBuf() int { return so.rcvBuf }

// SndBuf returns sk_sndbuf once SO_SNDBUF set it, else 0.
func (so *Socket) SndBuf() int { return so.sndBuf }

// sockConfig is the connection configuration for so on local: the
// stack's, or the socket's own copy once it set its buffers.
func (s *Stack) sockConfig(so *Socket, local netip.Addr) *tcp.Config {
	base := s.tcpConfig(local)
	if so.rcvBuf == 0 && so.sndBuf == 0 {
		return base
	}
	if so.cfg == nil || so.cfgBase != base {
		so.cfg, so.cfgBase = tcp.WithBuffers(base, so.rcvBuf, so.sndBuf), base
	}
	return so.cfg
}

// SetNoDelay sets TCP_NODELAY.
func (so *Socket) SetNoDelay(on bool) {
	if so.live() {
		so.conn.SetNoDelay(on)
		so.st.afterUser(so)
	}
}

// Local returns the bound local address.
func (so *Socket) Local() netip.AddrPort { return so.tuple.Local }

// Remote returns the peer's address, if connected.
func (so *Socket) Remote() netip.AddrPort { return so.tuple.Remote }

// Conn returns the connection (nil for unconnected and listening sockets).
func (so *Socket) Conn() *tcp.Conn { return so.conn }

// State returns the socket's TCP state as the user sees it.
func (so *Socket) State() tcp.State {
	switch {
	case so.phase == phaseListen:
		return tcp.Listen
	case !so.live():
		return tcp.Closed
	}
	return so.conn.State()
}

// Bind binds the socket to a local address under Linux's rules: EINVAL if
// already bound, EADDRNOTAVAIL for an address that is not ours,
// EADDRINUSE on a conflict. Port 0 picks an ephemeral port.
func (so *Socket) Bind(ap netip.AddrPort) error {
	s := so.st
	if so.bound || so.conn != nil {
		return syscall.EINVAL
	}
	a := ap.Addr().Unmap()
	if !a.IsValid() || (!a.IsUnspecified() && !s.hasAddr(a)) {
		return syscall.EADDRNOTAVAIL
	}
	port := ap.Port()
	if port == 0 {
		p, err := s.ephemeralPort(so, a)
		if err != nil {
			return err
		}
		port = p
	} else if s.bindConflict(so, a, port, false) {
		return syscall.EADDRINUSE
	}
	so.tuple.Local = netip.AddrPortFrom(a, port)
	so.userBound = true
	s.hold(port, so)
	return nil
}

// Listen makes a bound (or, if unbound, ephemeral) socket a listener; now
// is the instant the observer hears of it.
func (so *Socket) Listen(now clock.Instant, backlog int) error {
	s := so.st
	if so.conn != nil {
		return syscall.EINVAL
	}
	if so.phase == phaseListen {
		so.backlog = clampBacklog(backlog, s.opts.SomaxConn)
		return nil
	}
	if !so.bound {
		if err := so.Bind(netip.AddrPortFrom(netip.IPv4Unspecified(), 0)); err != nil {
			return err
		}
	}
	if s.bindConflict(so, so.tuple.Local.Addr(), so.tuple.Local.Port(), true) {
		return syscall.EADDRINUSE
	}
	so.phase = phaseListen
	so.backlog = clampBacklog(backlog, s.opts.SomaxConn)
	s.listeners[so.tuple.Local] = append(s.listeners[so.tuple.Local], so)
	if s.obs != nil {
		s.obs.StateChanged(now, so.tuple, tcp.Closed, tcp.Listen, "listen() called")
	}
	return nil
}

// clampBacklog is Linux's __sys_listen: the backlog is compared unsigned
// with somaxconn, so a negative one means somaxconn and 0 stays 0 (the
// accept queue then still holds one connection, sk_acceptq_is_full).
func clampBacklog(b, limit int) int {
	if b < 0 || b > limit {
		return limit
	}
	return b
}

// Connect starts an active open to remote. It returns at once; Connected
// tells when the handshake is over.
func (so *Socket) Connect(now clock.Instant, remote netip.AddrPort) error {
	s := so.st
	switch {
	case so.phase == phaseListen:
		return syscall.EINVAL
	case so.live():
		return syscall.EISCONN
	case so.conn != nil:
		return syscall.EINVAL // phaseDone: connect() again on a finished connection
	}
	ra := remote.Addr().Unmap()
	if !ra.IsValid() || ra.IsUnspecified() || remote.Port() == 0 {
		return syscall.EINVAL
	}
	t, tw, err := s.connectTuple(now, so, netip.AddrPortFrom(ra, remote.Port()))
	if err != nil {
		return err
	}
	so.tuple = t
	iss, tsRecent := s.isn(now, t), uint32(0)
	if tw != 0 {
		iss, tsRecent = s.takeTimeWait(now, tw)
	}
	so.conn = tcp.NewActive(s.sockConfig(so, t.Local.Addr()), so, now, iss, s.tsOffset(t))
	so.early.apply(now, so.conn)
	so.phase = phaseOpen
	if tw != 0 {
		so.conn.InheritTSRecent(now, tsRecent)
	}
	s.addConn(so)
	s.afterUser(so)
	return nil
}

// connectTuple picks the 4-tuple of so's connection to remote: the local
// address for remote and, for a socket bind() did not bind, a port
// (connectPort), which so then holds. It returns the slot of the TIME_WAIT
// record whose 4-tuple the connection takes over, or 0.
func (s *Stack) connectTuple(now clock.Instant, so *Socket, remote netip.AddrPort) (Tuple, uint32, error) {
	var tw uint32
	if !so.bound || so.tuple.Local.Addr().IsUnspecified() {
		la, ok := s.sourceAddr(remote.Addr())
		if !ok {
			return Tuple{}, 0, syscall.ENETUNREACH
		}
		if !so.bound {
			p, slot, err := s.connectPort(now, la, remote)
			if err != nil {
				return Tuple{}, 0, err
			}
			so.tuple.Local = netip.AddrPortFrom(la, p)
			so.connectPort = true
			s.hold(p, so)
			tw = slot
		} else {
			so.tuple.Local = netip.AddrPortFrom(la, so.tuple.Local.Port())
		}
	}
	t := Tuple{Local: so.tuple.Local, Remote: remote}
	if tw == 0 {
		// A port of bind(): Linux's __inet_check_established without a
		// twp, which takes over a TIME_WAIT record whatever tcp_tw_reuse.
		if s.conns[t] != nil {
			return Tuple{}, 0, syscall.EADDRNOTAVAIL
		}
		if tw = s.findTimeWait(t); tw != 0 && !s.twReusable(now, tw, t, true) {
			return Tuple{}, 0, syscall.EADDRNOTAVAIL
		}
	}
	return t, tw, nil
}

// sourceAddr picks the local address for a destination of remote's family.
func (s *Stack) sourceAddr(remote netip.Addr) (netip.Addr, bool) {
	for _, a := range s.opts.Addrs {
		if a.Is4() == remote.Is4() {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// Accept returns the next established connection, or EAGAIN.
func (so *Socket) Accept() (*Socket, error) {
	if so.phase != phaseListen {
		return nil, syscall.EINVAL
	}
	if len(so.acceptQ) == 0 {
		return nil, syscall.EAGAIN
	}
	c := so.acceptQ[0]
	so.acceptQ[0] = nil
	so.acceptQ = so.acceptQ[1:]
	if len(so.acceptQ) == 0 {
		so.acceptQ = nil
	}
	c.parent = nil
	c.refs = 1
	return c, nil
}

// Acceptable reports whether Accept would return a connection.
func (so *Socket) Acceptable() bool { return len(so.acceptQ) > 0 || so.phase != phaseListen }

// Read reads received data (see tcp.Conn.Read).
func (so *Socket) Read(now clock.Instant, p []byte) (int, error) {
	if so.conn == nil {
		return 0, syscall.ENOTCONN
	}
	n, err := so.conn.Read(now, p)
	if so.live() {
		so.st.afterUser(so)
	}
	return n, err
}

// Write queues data (see tcp.Conn.Write).
func (so *Socket) Write(now clock.Instant, p []byte) (int, error) {
	if so.conn == nil {
		return 0, syscall.EPIPE
	}
	n, err := so.conn.Write(now, p)
	if so.live() {
		so.st.afterUser(so)
	}
	return n, err
}

// Shutdown shuts down one or both directions (shutdown(2)); it acts at
// once whatever the number of handles.
func (so *Socket) Shutdown(now clock.Instant, how int) error {
	if how < ShutRD || how > ShutRDWR {
		return syscall.EINVAL // Linux inet_shutdown checks how before the state
	}
	if so.phase == phaseListen {
		// Linux inet_shutdown: shutting the read side of a listener
		// stops it (tcp_disconnect: inet_csk_listen_stop), keeping the
		// port it was bound to; SHUT_WR alone does nothing.
		if how != ShutWR {
			so.st.closeListener(now, so, so.userBound, "shutdown(SHUT_RD) on a listener: it stops (Linux tcp_disconnect)")
		}
		return nil
	}
	if !so.live() {
		// Never connected, or the connection is over (CLOSED, or a
		// TIME_WAIT record): Linux's inet_shutdown in TCP_CLOSE.
		return syscall.ENOTCONN
	}
	if how != ShutWR {
		so.conn.CloseRead()
	}
	var err error
	if how != ShutRD {
		err = so.conn.CloseWrite(now)
	}
	so.st.afterUser(so)
	return err
}

// Readable reports whether Read would not return EAGAIN.
func (so *Socket) Readable() bool {
	return !so.live() || so.conn.Readable()
}

// Writable reports whether Write would not return EAGAIN.
func (so *Socket) Writable() bool {
	return !so.live() || so.conn.Writable()
}

// Connected reports whether a Connect has finished (or failed).
func (so *Socket) Connected() bool {
	return !so.live() || so.conn.Connected()
}

// Closing reports whether a closed connection is still sending its FIN
// (FIN_WAIT_1, CLOSING, LAST_ACK): SO_LINGER waits while this holds.
func (so *Socket) Closing() bool {
	if !so.live() {
		return false
	}
	switch so.conn.State() {
	case tcp.FinWait1, tcp.Closing, tcp.LastAck:
		return true
	}
	return false
}

// Err returns the connection's pending error (ECONNRESET, ETIMEDOUT, ...)
// without consuming it.
func (so *Socket) Err() error {
	if so.conn == nil {
		return nil
	}
	return so.conn.Err()
}

// ConnectError returns the error a failed Connect ended with, once.
func (so *Socket) ConnectError() error {
	if so.conn == nil {
		return nil
	}
	if so.conn.State() == tcp.Closed || so.phase == phaseDone {
		if err := so.conn.Err(); err != nil {
			// A Read with no buffer only takes the pending error: it
			// moves no window and reads no clock.
			_, err = so.conn.Read(0, nil)
			return err
		}
		return syscall.ECONNREFUSED
	}
	return nil
}

// Close drops one handle; the last one closes the socket (close(2)): a
// listener stops and resets its unaccepted connections, a connection sends
// its FIN (RST with unread data, or with SO_LINGER {on, 0}).
func (so *Socket) Close(now clock.Instant) {
	if so.refs <= 0 {
		return
	}
	so.refs--
	if so.refs > 0 {
		return
	}
	s := so.st
	switch {
	case so.phase == phaseListen:
		s.closeListener(now, so, false, "close() on a listener")
	case so.live():
		// Linux __tcp_close: unread data first, then linger 0; a
		// connection already reset counts neither.
		closed := so.conn.State() == tcp.Closed
		switch {
		case so.conn.RecvQ() > 0 && !closed:
			s.counters.TCPAbortOnClose++
			so.conn.Close(now)
		case so.lingerOn && so.linger == 0:
			if !closed {
				s.counters.TCPAbortOnData++ // sic: Linux counts a linger-0 close here
				s.counters.TCPAbortOnLinger++
			}
			so.conn.Abort(now)
		default:
			so.conn.Close(now)
			s.orphaned(now, so)
		}
		s.afterUser(so)
	default: // phaseIdle or phaseDone
		if so.bound {
			s.release(so.tuple.Local.Port(), so)
			so.bound = false
		}
		so.conn, so.phase = nil, phaseIdle
	}
}

// closeListener stops a listener: unaccepted connections are reset,
// half-open ones dropped. With keepPort the socket stays bound to its port.
func (s *Stack) closeListener(now clock.Instant, so *Socket, keepPort bool, why string) {
	so.phase = phaseIdle
	ls := s.listeners[so.tuple.Local]
	for i, l := range ls {
		if l == so {
			ls = append(ls[:i], ls[i+1:]...)
			break
		}
	}
	if len(ls) == 0 {
		delete(s.listeners, so.tuple.Local)
	} else {
		s.listeners[so.tuple.Local] = ls
	}
	if s.obs != nil {
		s.obs.StateChanged(now, so.tuple, tcp.Listen, tcp.Closed, why)
	}
	// Unaccepted connections are reset; half-open ones are dropped
	// (Linux inet_csk_listen_stop).
	for _, c := range so.acceptQ {
		c.parent = nil
		c.refs = 0
		c.conn.Abort(now)
		s.after(c)
	}
	so.acceptQ = nil
	var half []*Socket
	for _, c := range s.conns {
		if c.parent == so {
			half = append(half, c)
		}
	}
	sortSockets(half) // map order is random; the trace must not be
	for _, c := range half {
		c.parent = nil
		if c.conn.State() == tcp.SynRcvd {
			s.detach(now, c, detachHalfOpen)
		}
	}
	if !keepPort {
		s.release(so.tuple.Local.Port(), so)
		so.bound = false
	}
}

// CloseAll closes every handle of every socket, as the exit of a process
// closes its descriptors: listeners stop, connections send their FIN.
func (s *Stack) CloseAll(now clock.Instant) {
	var all []*Socket
	for _, ls := range s.listeners {
		all = append(all, ls...)
	}
	for _, c := range s.conns {
		all = append(all, c)
	}
	sortSockets(all)
	for _, so := range all {
		if so.phase == phaseListen || (so.refs > 0 && so.parent == nil) {
			so.refs = 1
			so.Close(now)
		}
	}
}
