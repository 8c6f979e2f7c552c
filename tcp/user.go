package tcp

import (
	"errors"
	"io"
	"syscall"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/seq"
)

// ErrWouldBlock is returned by Read and Write when the call cannot make
// progress now; the driver waits for readiness and calls again.
var ErrWouldBlock = syscall.EAGAIN

// takeErr returns the pending error once, as Linux's sock_error does.
func (c *Conn) takeErr() error {
	err := c.err
	c.err = nil
	return err
}

// Err returns the pending error without consuming it.
func (c *Conn) Err() error { return c.err }

// Write queues p for sending (RFC 9293 §3.10.2 SEND) and returns how many
// bytes it took. It returns ErrWouldBlock when the send buffer is full,
// EPIPE after the write side is shut, and a pending error (ECONNRESET,
// ETIMEDOUT, ...) once.
func (c *Conn) Write(now clock.Instant, p []byte) (int, error) {
	if c.err != nil {
		return 0, c.takeErr()
	}
	switch {
	case c.flags.has(wrShut):
		return 0, syscall.EPIPE
	case c.state == Closed || c.state == Listen:
		return 0, syscall.EPIPE
	case c.state != SynSent && c.state != SynRcvd && c.state != Established && c.state != CloseWait:
		return 0, syscall.EPIPE
	}
	n := min(len(p), max(c.sndBuf.free(), 0)) // SO_SNDBUF may shrink it below what is queued
	c.flags.put(sndLimited, n < len(p))
	if n == 0 {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, ErrWouldBlock
	}
	c.sndBuf.reserveIn(c.sndBuf.len()+n, c.cfg.SndBufMax) // auto-tuning raises max in small steps
	c.sndBuf.writeAt(c.sndBuf.len(), p[:n])
	c.sndBuf.commit(n)
	return n, nil
}

// Read copies received bytes into p (RFC 9293 §3.10.3 RECEIVE). After the
// data, it returns a pending error once, then io.EOF once the peer's FIN
// was read or the read side is shut; ErrWouldBlock when nothing is there yet.
func (c *Conn) Read(now clock.Instant, p []byte) (int, error) {
	if c.rcvBuf.len() > 0 {
		if len(p) == 0 {
			return 0, nil
		}
		before := c.rcvAdv.Sub(c.rcvNxt)
		n := c.rcvBuf.read(p)
		c.tuneOnRead(now)
		c.windowUpdate(before)
		return n, nil
	}
	if c.flags.has(finRcvd) || c.flags.has(rdShut) {
		return 0, io.EOF
	}
	if c.err != nil {
		return 0, c.takeErr()
	}
	if c.state == Closed {
		return 0, io.EOF
	}
	return 0, ErrWouldBlock
}

// Readable reports whether Read would return without ErrWouldBlock.
func (c *Conn) Readable() bool {
	return c.rcvBuf.len() > 0 || c.flags.has(finRcvd) || c.flags.has(rdShut) || c.err != nil || c.state == Closed
}

// Writable reports whether Write would return without ErrWouldBlock.
func (c *Conn) Writable() bool {
	if c.err != nil || c.flags.has(wrShut) || c.state == Closed {
		return true
	}
	switch c.state {
	case Established, CloseWait:
		return c.sndBuf.free() > 0
	}
	return false
}

// Connected reports whether the handshake is over (or failed): the point at
// which connect() returns.
func (c *Conn) Connected() bool {
	return c.state != SynSent && c.state != SynRcvd
}

// ErrNotConnected is returned for calls that need a connection that is not
// there.
var ErrNotConnected = syscall.ENOTCONN

// CloseWrite shuts down the sending direction (shutdown(SHUT_WR)): a FIN
// follows the queued data (RFC 9293 §3.10.4, per state).
func (c *Conn) CloseWrite(now clock.Instant) error {
	if c.flags.has(wrShut) {
		return nil
	}
	switch c.state {
	case SynSent:
		c.flags.set(wrShut)
		c.setState(now, Closed, "shutdown(SHUT_WR) in SYN_SENT: connection abandoned (Linux tcp_close_state)")
	case SynRcvd, Established:
		c.queueFin()
		c.setState(now, FinWait1, "shutdown(SHUT_WR) or close(): FIN queued (RFC 9293 §3.10.4)")
	case CloseWait:
		c.queueFin()
		c.setState(now, LastAck, "close() in CLOSE_WAIT: FIN queued (RFC 9293 §3.10.4)")
	case Closed, Listen:
		return ErrNotConnected
	default:
		c.flags.set(wrShut)
	}
	return nil
}

func (c *Conn) queueFin() {
	c.flags.set(wrShut)
	c.flags.set(finQ)
	c.finSeq = c.dataBase().Add(seq.Size(c.sndBuf.len()))
}

// CloseRead shuts down the receiving direction (shutdown(SHUT_RD)).
func (c *Conn) CloseRead() {
	c.flags.set(rdShut)
}

// Close is the user's last close (RFC 9293 §3.10.4 CLOSE): the connection
// becomes an orphan that finishes its close alone. With unread data it is
// aborted with RST instead (RFC 2525 §2.17; Linux TCPAbortOnClose).
func (c *Conn) Close(now clock.Instant) {
	if c.flags.has(orphan) {
		return
	}
	unread := c.rcvBuf.len() > 0 // the in-order queue only, not out-of-order data (Linux __tcp_close)
	c.flags.set(orphan)
	c.flags.set(rdShut)
	if unread && c.state != SynSent && c.state != Closed {
		c.abort(now, "close() with unread data: RST instead of FIN (RFC 2525 §2.17, Linux TCPAbortOnClose)")
		return
	}
	switch c.state {
	case SynSent:
		c.setState(now, Closed, "close() in SYN_SENT (RFC 9293 §3.10.4)")
	case FinWait2:
		if c.Linger2() < 0 {
			// Linux tcp_close: TCP_LINGER2 < 0 resets a FIN_WAIT_2 at
			// close() (TCPAbortOnLinger).
			c.counts.AbortOnLinger++
			c.queueActiveRST()
			c.setState(now, Closed, "close() in FIN_WAIT_2 with TCP_LINGER2 < 0: RST sent (Linux tcp_close)")
			return
		}
		c.closeAt = now.Add(c.FinTimeout())
	default:
		if err := c.CloseWrite(now); err != nil && !errors.Is(err, ErrNotConnected) {
			c.err = err
		}
	}
	if c.state == Closed {
		c.rcvBuf = ring{max: c.rcvBuf.max}
	}
}

// Abort resets the connection (RFC 9293 §3.10.5 ABORT; close() with
// SO_LINGER {on, 0}): a RST goes out in synchronized states and SYN_RCVD.
func (c *Conn) Abort(now clock.Instant) {
	c.flags.set(orphan)
	c.flags.set(rdShut | wrShut)
	c.abort(now, "abort (SO_LINGER 0 close): RST sent (RFC 9293 §3.10.5)")
}

// AbortOnMemory resets a connection the host has no room to keep as an
// orphan (Linux tcp_close when tcp_check_oom finds more orphans than
// tcp_max_orphans): a RST goes out in every synchronized state, as
// tcp_send_active_reset does there, and the connection is closed.
func (c *Conn) AbortOnMemory(now clock.Instant) {
	c.flags.set(orphan)
	c.flags.set(rdShut | wrShut)
	c.abortRST(now, "too many orphaned connections (tcp_max_orphans): RST sent (Linux TCPAbortOnMemory)",
		c.abortSendsRST() || c.state == Closing || c.state == LastAck) // abort sends none in these two
}

func (c *Conn) abort(now clock.Instant, why string) { c.abortRST(now, why, c.abortSendsRST()) }

// abortSendsRST reports whether ABORT sends a RST in this state (RFC
// 9293 §3.10.5: SYN_RCVD and the states where the user can still send or
// is owed a FIN's answer).
func (c *Conn) abortSendsRST() bool {
	switch c.state {
	case SynRcvd, Established, FinWait1, FinWait2, CloseWait:
		return true
	}
	return false
}

// abortRST closes the connection, sending an active RST if rst: the
// receive queue is purged first, as tcp_close does, so the RST's window
// counts that space free.
func (c *Conn) abortRST(now clock.Instant, why string, rst bool) {
	c.rcvBuf = ring{max: c.rcvBuf.max}
	if rst {
		c.queueActiveRST()
	}
	c.setState(now, Closed, why)
}

// Drop closes the connection at once without sending anything, as Linux's
// tcp_done does when it has no room to keep an orphan (for example no
// TIME_WAIT bucket left for an orphaned FIN_WAIT_2). The driver forgets it.
func (c *Conn) Drop(now clock.Instant, why string) {
	c.setState(now, Closed, why)
}
