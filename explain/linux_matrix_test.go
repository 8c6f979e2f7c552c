//go:build linux

package explain

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"golang.org/x/sys/unix"

	"github.com/tcpwave/tcpwave/internal/netns"
	"github.com/tcpwave/tcpwave/tcp"
)

// matrixEnv is what a case of TestLinuxMatrix runs with: the rig, the
// server's port (each case has its own) and what the case records.
type matrixEnv struct {
	r      *rig
	port   uint16
	local  uint16 // a fixed client port for the cases that need one (above the ephemeral range)
	mu     sync.Mutex
	client []netip.AddrPort // the client's address of each incarnation, in order
	hold   []io.Closer      // sockets closed only after the captures end
	marks  map[string]time.Time
}

// matrixDump makes TestLinuxMatrix log every connection it explains.
var matrixDump = flag.Bool("matrix.dump", false, "TestLinuxMatrix: log every explained connection")

// matrixKeep names a directory where TestLinuxMatrix leaves its captures
// (A.pcapng, M.pcapng, B.pcapng) when it fails.
var matrixKeep = flag.String("matrix.keep", "", "TestLinuxMatrix: a directory to keep the captures in when the test fails")

// captureSettle is how long the cases wait for the captures to begin.
const captureSettle = 500 * time.Millisecond

// matrixDeadline bounds every read and write of a case.
const matrixDeadline = 10 * time.Second

// server returns the server's address.
func (e *matrixEnv) server() netip.AddrPort { return netip.AddrPortFrom(rigAddrB, e.port) }

// mark records the wall time of a step, for a case's own check.
func (e *matrixEnv) mark(name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.marks[name] = time.Now()
}

// keep holds c open until the captures end.
func (e *matrixEnv) keep(c io.Closer) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.hold = append(e.hold, c)
}

// listen listens on the case's port in B.
func (e *matrixEnv) listen() (*net.TCPListener, error) {
	var l net.Listener
	err := e.r.b.Run(func() error {
		var err error
		lc := net.ListenConfig{KeepAlive: -1}
		l, err = lc.Listen(context.Background(), "tcp4", e.server().String())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	return l.(*net.TCPListener), nil
}

// serve accepts n connections on l, one after the other, and runs fn on
// each; the function it returns waits for them, closes l and returns the
// first error.
func (e *matrixEnv) serve(l *net.TCPListener, n int, fn func(i int, c *net.TCPConn) error) func() error {
	done := make(chan error, 1)
	go func() {
		var errs []error
		l.SetDeadline(time.Now().Add(matrixDeadline))
		for i := range n {
			c, err := l.AcceptTCP()
			if err != nil {
				errs = append(errs, fmt.Errorf("accept: %w", err))
				break
			}
			c.SetDeadline(time.Now().Add(matrixDeadline))
			if err := fn(i, c); err != nil {
				errs = append(errs, fmt.Errorf("server, connection %d: %w", i+1, err))
			}
		}
		done <- errors.Join(errs...)
	}()
	return func() error {
		err := <-done
		l.Close()
		return err
	}
}

// dial connects from A to the case's port: from the case's fixed port
// when fixed is set, with ctl applied to the socket before connect.
func (e *matrixEnv) dial(fixed bool, ctl func(fd int) error) (*net.TCPConn, error) {
	var c net.Conn
	d := net.Dialer{Timeout: matrixDeadline, KeepAlive: -1}
	if fixed {
		d.LocalAddr = &net.TCPAddr{IP: rigAddrA.AsSlice(), Port: int(e.local)}
		e.mu.Lock()
		e.client = append(e.client, netip.AddrPortFrom(rigAddrA, e.local))
		e.mu.Unlock()
	}
	d.Control = func(_, _ string, rc syscall.RawConn) error {
		var err error
		cerr := rc.Control(func(fd uintptr) {
			if fixed {
				err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
			}
			if err == nil && ctl != nil {
				err = ctl(int(fd))
			}
		})
		return errors.Join(cerr, err)
	}
	err := e.r.a.Run(func() error {
		var err error
		c, err = d.Dial("tcp4", e.server().String())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	tc := c.(*net.TCPConn)
	tc.SetDeadline(time.Now().Add(matrixDeadline))
	if !fixed {
		e.mu.Lock()
		e.client = append(e.client, tc.LocalAddr().(*net.TCPAddr).AddrPort())
		e.mu.Unlock()
	}
	return tc, nil
}

// sockopt sets an integer socket option on c.
func sockopt(c *net.TCPConn, level, opt, v int) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), level, opt, v) }); err != nil {
		return err
	}
	return serr
}

// readEOF reads c to its end and returns what it read; an error other
// than EOF is returned.
func readEOF(c *net.TCPConn) ([]byte, error) {
	b, err := io.ReadAll(c)
	if err != nil {
		return b, fmt.Errorf("read: %w", err)
	}
	return b, nil
}

// pause is how long a side waits so that ss sees the state it is in.
const pause = 200 * time.Millisecond

// matrixPoll is how often a case looks again for what it waits for.
const matrixPoll = 10 * time.Millisecond

// waitGone waits until A has no socket from local to the case's port.
func (e *matrixEnv) waitGone(local netip.AddrPort) error {
	ctx, cancel := context.WithTimeout(context.Background(), matrixDeadline)
	defer cancel()
	for ctx.Err() == nil {
		rows, err := e.r.a.SS(ctx)
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(rows, func(r netns.SSRow) bool { return r.Local == local && r.Peer == e.server() }) {
			return nil
		}
		time.Sleep(matrixPoll)
	}
	return fmt.Errorf("A's socket %v is still there after %v", local, matrixDeadline)
}

// waitSeen waits until M's rule for the case has matched n segments.
func (e *matrixEnv) waitSeen(n int) error {
	for deadline := time.Now().Add(matrixDeadline); time.Now().Before(deadline); {
		if e.r.fwd.seen(e.port) >= n {
			return nil
		}
		time.Sleep(matrixPoll)
	}
	return fmt.Errorf("M's rule matched %d segments in %v, want %d", e.r.fwd.seen(e.port), matrixDeadline, n)
}

// waitUnread waits until n bytes wait unread in c's receive queue.
func waitUnread(c *net.TCPConn, n int) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	for deadline := time.Now().Add(matrixDeadline); time.Now().Before(deadline); time.Sleep(matrixPoll) {
		var q int
		var qerr error
		if err := rc.Control(func(fd uintptr) { q, qerr = unix.IoctlGetInt(int(fd), unix.SIOCINQ) }); err != nil {
			return err
		}
		if qerr != nil {
			return fmt.Errorf("SIOCINQ: %w", qerr)
		}
		if q >= n {
			return nil
		}
	}
	return fmt.Errorf("%d bytes did not arrive in %v", n, matrixDeadline)
}

// matrixCase is one SCENARIOS.md case run between kernel sockets.
type matrixCase struct {
	name string
	// close is the close kind of each incarnation, in order.
	close []string
	// kernel, when set, says from B's capture (read with gopacket, not
	// explain) whether the kernel did what close expects; when it did
	// not, close is replaced by the kinds it returns, which the log says.
	kernel func(capB []byte, e *matrixEnv) (ok bool, instead []string, err error)
	// drop, when set, is M's rule for the case's connections.
	drop *dropRule
	// hidden lists, per capture point, the states ss shows that no
	// segment crossing that point tells ("A:FIN_WAIT_1": the client's
	// FIN_WAIT_1 when every FIN it sent was lost before the point).
	hidden map[string][]string
	// untimed lists, the same way, the states a capture point shows but
	// cannot date (entered on a segment lost before the point).
	untimed map[string][]string
	// finding, when set, is a part of a finding explain must give the
	// first incarnation at every capture point.
	finding string
	// findingAt are parts of findings explain must give the first
	// incarnation at one capture point.
	findingAt map[string][]string
	// run plays the case.
	run func(e *matrixEnv) error
	// check, when set, checks a case's explained connections at one
	// capture point further (start: the capture's first packet's time).
	check func(e *matrixEnv, conns []*Conn, start time.Time) error
}

// closeOnEOF is the server of most cases: it reads to EOF, waits wait and
// closes.
func closeOnEOF(wait time.Duration) func(int, *net.TCPConn) error {
	return func(_ int, c *net.TCPConn) error {
		if _, err := readEOF(c); err != nil {
			return err
		}
		time.Sleep(wait)
		return c.Close()
	}
}

// clientCloses is the client of most cases: it connects, waits so that
// ss sees ESTABLISHED, and closes.
func clientCloses(e *matrixEnv, fixed bool) error {
	c, err := e.dial(fixed, nil)
	if err != nil {
		return err
	}
	time.Sleep(pause / 2)
	return c.Close()
}

// simple runs a case whose client is clientCloses and whose server is srv.
func simple(srv func(int, *net.TCPConn) error) func(e *matrixEnv) error {
	return simpleWith(func(_ *matrixEnv, i int, c *net.TCPConn) error { return srv(i, c) })
}

// simpleWith is simple with a server that sees the case's environment.
func simpleWith(srv func(*matrixEnv, int, *net.TCPConn) error) func(e *matrixEnv) error {
	return func(e *matrixEnv) error {
		l, err := e.listen()
		if err != nil {
			return err
		}
		wait := e.serve(l, 1, func(i int, c *net.TCPConn) error { return srv(e, i, c) })
		return errors.Join(clientCloses(e, false), wait())
	}
}

// matrixCases are the SCENARIOS.md cases that kernel sockets can play.
// simultaneous-close has M hold the first FIN until the second comes;
// keepalive-dead-peer shortens the keepalive timers; in
// half-open-after-reboot M drops the RST of B's abort, so that B forgets
// the connection unheard, as a crash does; fin-wait-2-timeout runs with
// A's tcp_fin_timeout at 3 s (explain is told so). Left out: the cases
// about sockets rather than the wire (time-wait-blocks-bind, reuse-port,
// process-exit), and no-time-wait and old-duplicate (they need a TIME_WAIT
// of 0, which Linux does not let a test set).
func matrixCases() []matrixCase {
	return []matrixCase{
		{
			name:  "handshake",
			close: []string{CloseOpen},
			run: func(e *matrixEnv) error {
				l, err := e.listen()
				if err != nil {
					return err
				}
				wait := e.serve(l, 1, func(_ int, c *net.TCPConn) error { e.keep(c); return nil })
				c, err := e.dial(false, nil)
				if err == nil {
					e.keep(c)
				}
				return errors.Join(err, wait())
			},
		},
		{
			name:    "four-way-close",
			close:   []string{CloseFourWay},
			finding: "closed first and holds TIME_WAIT",
			run:     simple(closeOnEOF(pause)),
		},
		{
			// A request and a response put B in pingpong mode: its ACK of
			// A's FIN waits (delayed ACK) and leaves with its own FIN.
			name:  "three-way-close",
			close: []string{CloseThreeWay},
			// On a busy machine B's delayed ACK (40 ms) may fire before
			// its application, woken by the EOF, calls close().
			kernel: func(capB []byte, e *matrixEnv) (bool, []string, error) {
				merged, err := finAckMerged(capB, e.server())
				return merged, []string{CloseFourWay}, err
			},
			run: func(e *matrixEnv) error {
				l, err := e.listen()
				if err != nil {
					return err
				}
				wait := e.serve(l, 1, func(_ int, c *net.TCPConn) error {
					req := make([]byte, 3)
					if _, err := io.ReadFull(c, req); err != nil {
						return err
					}
					if _, err := c.Write([]byte("200")); err != nil {
						return err
					}
					if _, err := readEOF(c); err != nil {
						return err
					}
					return c.Close() // at once: the delayed ACK has not left yet
				})
				c, err := e.dial(false, nil)
				if err != nil {
					return errors.Join(err, wait())
				}
				if _, err := c.Write([]byte("GET")); err != nil {
					return errors.Join(err, wait())
				}
				if _, err := io.ReadFull(c, make([]byte, 3)); err != nil {
					return errors.Join(err, wait())
				}
				time.Sleep(pause / 2)
				return errors.Join(c.Close(), wait())
			},
		},
		{
			// TCP_CORK holds the 5 bytes back, so close() puts the FIN on
			// them: "FP. 1:6(5)".
			name:  "fin-with-data",
			close: []string{CloseFourWay},
			run: func(e *matrixEnv) error {
				l, err := e.listen()
				if err != nil {
					return err
				}
				wait := e.serve(l, 1, func(_ int, c *net.TCPConn) error {
					b, err := readEOF(c)
					if err == nil && string(b) != "hello" {
						err = fmt.Errorf("read %q, want hello", b)
					}
					time.Sleep(pause)
					return errors.Join(err, c.Close())
				})
				c, err := e.dial(false, nil)
				if err != nil {
					return errors.Join(err, wait())
				}
				time.Sleep(pause / 2)
				if err := sockopt(c, unix.IPPROTO_TCP, unix.TCP_CORK, 1); err != nil {
					return errors.Join(err, wait())
				}
				if _, err := c.Write([]byte("hello")); err != nil {
					return errors.Join(err, wait())
				}
				return errors.Join(c.Close(), wait())
			},
			check: func(_ *matrixEnv, conns []*Conn, _ time.Time) error {
				for _, g := range conns[0].Segments {
					if g.From == Client && g.Flags&0x01 != 0 {
						if g.Len != 5 {
							return fmt.Errorf("the client's FIN carries %d bytes, want 5", g.Len)
						}
						return nil
					}
				}
				return errors.New("no FIN from the client")
			},
		},
		{
			name:    "half-close",
			close:   []string{CloseHalf},
			finding: "went on sending 20 bytes",
			run: func(e *matrixEnv) error {
				l, err := e.listen()
				if err != nil {
					return err
				}
				wait := e.serve(l, 1, func(_ int, c *net.TCPConn) error {
					if _, err := readEOF(c); err != nil {
						return err
					}
					time.Sleep(pause)
					if _, err := c.Write(bytes.Repeat([]byte("y"), 20)); err != nil {
						return err
					}
					time.Sleep(pause)
					return c.Close()
				})
				c, err := e.dial(false, nil)
				if err != nil {
					return errors.Join(err, wait())
				}
				time.Sleep(pause / 2)
				if err := c.CloseWrite(); err != nil {
					return errors.Join(err, wait())
				}
				b, err := readEOF(c)
				if err == nil && len(b) != 20 {
					err = fmt.Errorf("client read %d bytes after its FIN, want 20", len(b))
				}
				return errors.Join(err, c.Close(), wait())
			},
		},
		{
			// A calls close(), not shutdown: B's data after A's FIN draws RST.
			name:    "close-then-data",
			close:   []string{CloseRST},
			finding: "TCPAbortOnData",
			run: simple(func(_ int, c *net.TCPConn) error {
				if _, err := readEOF(c); err != nil {
					return err
				}
				time.Sleep(pause)
				if _, err := c.Write([]byte("late data")); err != nil {
					return err
				}
				// Once the RST is in, a write fails (EPIPE).
				for deadline := time.Now().Add(matrixDeadline); ; {
					time.Sleep(pause / 4)
					if _, err := c.Write([]byte("again")); err != nil {
						return c.Close()
					}
					if time.Now().After(deadline) {
						return errors.New("writes still succeed long after the data that should draw a RST")
					}
				}
			}),
		},
		{
			// HTTP/1.0 style: B answers and closes first.
			name:    "server-active-close",
			close:   []string{CloseFourWay},
			finding: "closed first and holds TIME_WAIT",
			run: func(e *matrixEnv) error {
				l, err := e.listen()
				if err != nil {
					return err
				}
				wait := e.serve(l, 1, func(_ int, c *net.TCPConn) error {
					if _, err := io.ReadFull(c, make([]byte, 3)); err != nil {
						return err
					}
					if _, err := c.Write([]byte("HTTP/1.0 200 OK\r\n\r\nhi")); err != nil {
						return err
					}
					return c.Close()
				})
				c, err := e.dial(false, nil)
				if err != nil {
					return errors.Join(err, wait())
				}
				if _, err := c.Write([]byte("GET")); err != nil {
					return errors.Join(err, wait())
				}
				_, err = readEOF(c)
				time.Sleep(pause)
				return errors.Join(err, c.Close(), wait())
			},
		},
		{
			name:    "close-with-unread",
			close:   []string{CloseRST},
			finding: "unread data",
			run: func(e *matrixEnv) error {
				l, err := e.listen()
				if err != nil {
					return err
				}
				wait := e.serve(l, 1, func(_ int, c *net.TCPConn) error {
					if _, err := c.Write(bytes.Repeat([]byte("x"), 100)); err != nil {
						return err
					}
					if _, err := readEOF(c); err == nil {
						return errors.New("the client's close() with unread data read as EOF, not as a reset")
					}
					return c.Close()
				})
				c, err := e.dial(false, nil)
				if err != nil {
					return errors.Join(err, wait())
				}
				// The 100 bytes arrive, unread.
				if err := waitUnread(c, 100); err != nil {
					return errors.Join(err, wait())
				}
				return errors.Join(c.Close(), wait())
			},
		},
		{
			name:    "linger-zero",
			close:   []string{CloseRST},
			finding: "SO_LINGER",
			run: func(e *matrixEnv) error {
				l, err := e.listen()
				if err != nil {
					return err
				}
				wait := e.serve(l, 1, func(_ int, c *net.TCPConn) error {
					io.ReadAll(c) // "bye", then the RST
					return c.Close()
				})
				c, err := e.dial(false, nil)
				if err != nil {
					return errors.Join(err, wait())
				}
				if _, err := c.Write([]byte("bye")); err != nil {
					return errors.Join(err, wait())
				}
				time.Sleep(pause / 2)
				if err := c.SetLinger(0); err != nil {
					return errors.Join(err, wait())
				}
				return errors.Join(c.Close(), wait())
			},
		},
		{
			name:    "rst-closed-port",
			close:   []string{CloseRefused},
			finding: "nothing listens",
			run: func(e *matrixEnv) error {
				c, err := e.dial(true, nil)
				if err == nil {
					c.Close()
					return errors.New("a port nothing listens on accepted")
				}
				if !errors.Is(err, syscall.ECONNREFUSED) {
					return err
				}
				return nil
			},
		},
		{
			// B closes first and holds TIME_WAIT; A connects again from the
			// same port, and B takes the new SYN (its ISN and timestamp are
			// higher) instead of waiting.
			name:    "time-wait-reuse",
			close:   []string{CloseFourWay, CloseFourWay},
			finding: "RFC 6191",
			run: func(e *matrixEnv) error {
				l, err := e.listen()
				if err != nil {
					return err
				}
				wait := e.serve(l, 2, func(i int, c *net.TCPConn) error {
					if i == 0 {
						time.Sleep(pause / 2)
						return c.Close()
					}
					return closeOnEOF(pause/2)(i, c)
				})
				c, err := e.dial(true, nil)
				if err != nil {
					return errors.Join(err, wait())
				}
				_, err = readEOF(c)
				time.Sleep(pause / 2)
				if err := errors.Join(err, c.Close()); err != nil {
					return errors.Join(err, wait())
				}
				time.Sleep(pause)
				c, err = e.dial(true, nil)
				if err != nil {
					return errors.Join(err, wait())
				}
				time.Sleep(pause)
				return errors.Join(c.Close(), wait())
			},
		},
		{
			// Two handles on one socket: the first close() sends nothing,
			// the last one the FIN.
			name:  "dup-close",
			close: []string{CloseFourWay},
			run: func(e *matrixEnv) error {
				l, err := e.listen()
				if err != nil {
					return err
				}
				wait := e.serve(l, 1, closeOnEOF(pause/2))
				c, err := e.dial(false, nil)
				if err != nil {
					return errors.Join(err, wait())
				}
				f, err := c.File()
				if err != nil {
					return errors.Join(err, wait())
				}
				time.Sleep(pause / 2)
				e.mark("first close")
				if err := c.Close(); err != nil {
					return errors.Join(err, wait())
				}
				time.Sleep(pause)
				e.mark("last close")
				return errors.Join(f.Close(), wait())
			},
			check: func(e *matrixEnv, conns []*Conn, start time.Time) error {
				for _, tr := range conns[0].States[Client] {
					if tr.To == tcp.FinWait1 {
						at := start.Add(tr.T)
						if first := e.marks["first close"]; at.Before(first.Add(pause / 2)) {
							return fmt.Errorf("the client's FIN at %v, %v after the first of two close() calls, want it at the last", at.Format("15:04:05.000000"), at.Sub(first))
						}
						return nil
					}
				}
				return errors.New("the client never entered FIN_WAIT_1")
			},
		},
		{
			// Both close at once; M holds the first FIN until the other
			// comes, so that they cross: both go through CLOSING.
			name:    "simultaneous-close",
			close:   []string{CloseSimultaneous},
			drop:    &dropRule{hold: true, match: matchFIN},
			finding: "holds TIME_WAIT",
			run: func(e *matrixEnv) error {
				l, err := e.listen()
				if err != nil {
					return err
				}
				now := make(chan struct{})
				wait := e.serve(l, 1, func(_ int, c *net.TCPConn) error {
					<-now
					return c.Close()
				})
				c, err := e.dial(false, nil)
				if err != nil {
					close(now)
					return errors.Join(err, wait())
				}
				time.Sleep(pause / 2)
				close(now)
				return errors.Join(c.Close(), wait())
			},
		},
		{
			// A probes an idle connection (SO_KEEPALIVE, 1 s idle, 1 s
			// apart, 2 probes); B's answers are all lost in M, so A gives
			// up and resets the connection (its read fails with ETIMEDOUT).
			name:  "keepalive-dead-peer",
			close: []string{CloseRST},
			drop:  &dropRule{dir: bToA, match: matchAny},
			findingAt: map[string][]string{
				pointA: {"unanswered keepalive probes"},
				pointM: {"unanswered keepalive probes"},
				pointB: {"unanswered keepalive probes"},
			},
			run: func(e *matrixEnv) error {
				l, err := e.listen()
				if err != nil {
					return err
				}
				wait := e.serve(l, 1, func(_ int, c *net.TCPConn) error {
					if _, err := io.ReadAll(c); err == nil {
						return errors.New("read EOF, want the keepalive's RST")
					}
					return c.Close()
				})
				c, err := e.dial(false, func(fd int) error {
					return errors.Join(
						unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1),
						unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, 1),
						unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, 1),
						unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPCNT, 2))
				})
				if err != nil {
					return errors.Join(err, wait())
				}
				_, err = c.Read(make([]byte, 1))
				if !errors.Is(err, syscall.ETIMEDOUT) {
					err = fmt.Errorf("the client's read: %v, want ETIMEDOUT", err)
				} else {
					err = nil
				}
				return errors.Join(err, c.Close(), wait())
			},
		},
		{
			// B loses the connection without A hearing of it (its abort's
			// RST is lost in M, as a crash or a reboot sends none); A
			// then sends, and B answers with a RST for no connection.
			name:  "half-open-after-reboot",
			close: []string{CloseRST},
			drop:  &dropRule{dir: bToA, match: func(f byte, _ int) bool { return f&tcpRST != 0 }, nth: 1},
			findingAt: map[string][]string{
				pointA: {"no longer knew it"},
				pointM: {"no longer knew it"},
				pointB: {"did not reach 10.77.0.1", "with no connection left, answered a late segment with RST"},
			},
			run: func(e *matrixEnv) error {
				l, err := e.listen()
				if err != nil {
					return err
				}
				wait := e.serve(l, 1, func(_ int, c *net.TCPConn) error {
					time.Sleep(pause / 2)
					if err := c.SetLinger(0); err != nil {
						return err
					}
					return c.Close()
				})
				c, err := e.dial(false, nil)
				if err != nil {
					return errors.Join(err, wait())
				}
				if err := wait(); err != nil {
					return err
				}
				time.Sleep(pause)
				if _, err := c.Write([]byte("hello")); err != nil {
					return fmt.Errorf("the client's write: %w", err)
				}
				if _, err := c.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
					return fmt.Errorf("the client's read: %v, want ECONNRESET", err)
				}
				return c.Close()
			},
		},
		{
			// A closes, B does not: A's orphaned FIN_WAIT_2 ends after
			// tcp_fin_timeout, and B's late FIN draws a RST.
			name:    "fin-wait-2-timeout",
			close:   []string{CloseRST},
			finding: "left FIN_WAIT_2 after 3s (tcp_fin_timeout): the peer's late FIN drew RST",
			run: simpleWith(func(e *matrixEnv, _ int, c *net.TCPConn) error {
				if _, err := readEOF(c); err != nil {
					return err
				}
				if err := e.waitGone(c.RemoteAddr().(*net.TCPAddr).AddrPort()); err != nil {
					return err
				}
				return c.Close()
			}),
		},
		{
			// Every FIN of A is lost: A gives up after tcp_orphan_retries
			// (1 here) and forgets the connection; B, which never heard it,
			// closes later and A answers with RST.
			name:  "lost-fin-1",
			close: []string{CloseRST},
			drop:  &dropRule{dir: aToB, match: matchFIN},
			// B's capture sees none of A's FINs.
			hidden: map[string][]string{pointB: {"A:FIN_WAIT_1"}},
			findingAt: map[string][]string{
				pointA: {"gave up (tcp_orphan_retries)"},
				pointM: {"gave up (tcp_orphan_retries)"},
				pointB: {"no longer had the connection when the peer's FIN came"},
			},
			run: simpleWith(func(e *matrixEnv, _ int, c *net.TCPConn) error {
				// Once A has given up and forgotten the connection (its
				// RTO, and so the time, grows with the machine's load).
				if err := e.waitGone(c.RemoteAddr().(*net.TCPAddr).AddrPort()); err != nil {
					return err
				}
				return c.Close()
			}),
		},
		{
			name:  "lost-ack-2",
			close: []string{CloseFourWay},
			drop:  &dropRule{dir: bToA, match: matchPureACK, nth: 1},
			findingAt: map[string][]string{
				pointA: {"times: the FIN was lost (or the peer's ACK, before the capture point)"},
				pointM: {"times: the FIN was lost (or the peer's ACK, before the capture point)"},
				pointB: {"times: the peer's ACK at", "in CLOSE_WAIT ACKed the retransmitted FIN"},
			},
			// B closes once it has ACKed A's FIN again (else, on a busy
			// machine, B's FIN could ACK it before A's RTO and be the
			// first ACK A gets: a three-segment close, as A sees it).
			run: simpleWith(func(e *matrixEnv, i int, c *net.TCPConn) error {
				if _, err := readEOF(c); err != nil {
					return err
				}
				if err := e.waitSeen(2); err != nil {
					return err
				}
				time.Sleep(pause)
				return c.Close()
			}),
		},
		{
			name:  "lost-fin-3",
			close: []string{CloseFourWay},
			drop:  &dropRule{dir: bToA, match: matchFIN, nth: 1},
			// A and M see B's FIN once: only B's capture shows it lost,
			// and when B entered LAST_ACK.
			untimed:   map[string][]string{pointA: {"B:LAST_ACK"}, pointM: {"B:LAST_ACK"}},
			findingAt: map[string][]string{pointB: {"times: the FIN was lost"}},
			run:       simple(closeOnEOF(pause)),
		},
		{
			// A's pure ACKs: the handshake's, then the last ACK (lost).
			name:  "lost-ack-4",
			close: []string{CloseFourWay},
			drop:  &dropRule{dir: aToB, match: matchPureACK, nth: 2},
			findingAt: map[string][]string{
				pointA: {"times: the peer's ACK at", "in TIME_WAIT ACKed the retransmitted FIN again"},
				pointM: {"times: the peer's ACK at", "in TIME_WAIT ACKed the retransmitted FIN again"},
				pointB: {"times: the FIN was lost (or the peer's ACK, before the capture point)"},
			},
			run: simple(closeOnEOF(pause)),
		},
	}
}

// TestLinuxMatrix is the kernel as the oracle: each case of SCENARIOS.md
// that real sockets can play runs between kernel sockets in two network
// namespaces, A (client) and B (server), joined through a third, M;
// dumpcap captures in A, in M and in B at once while `ss -tan` is sampled
// in A and B. Each capture, explained, must name the case's close kind
// and give each end a state sequence that holds the states ss showed, in
// their order, and ends in the state ss last showed. Loss cases drop a
// chosen segment in M. Skipped without root, iproute2 or dumpcap (failed
// with CI=true).
func TestLinuxMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("runs kernel connections for a few seconds")
	}
	dumpcap := requireRig(t)
	r := newRig(t)
	cases := matrixCases()
	envs := make([]*matrixEnv, len(cases))
	for i, mc := range cases {
		envs[i] = &matrixEnv{r: r, port: uint16(7000 + i), local: uint16(61000 + i), marks: map[string]time.Time{}}
		if mc.drop != nil {
			r.fwd.setRule(envs[i].port, mc.drop)
		}
	}
	dir := t.TempDir()
	caps := map[string]*rigCapture{}
	for _, p := range []struct {
		point string
		ns    *netns.NS
		dev   string
	}{{pointA, r.a, "va"}, {pointM, r.m, "ma"}, {pointB, r.b, "vb"}} {
		c, err := startCapture(dumpcap, p.ns, p.dev, dir)
		if err != nil {
			t.Fatal(err)
		}
		caps[p.point] = c
		t.Cleanup(func() { c.stop() })
	}
	samplers := [2]*sampler{startSampler(r.a), startSampler(r.b)}
	for _, s := range samplers {
		t.Cleanup(func() { s.finish() })
	}
	t.Cleanup(func() {
		for _, e := range envs {
			for _, c := range e.hold {
				c.Close()
			}
		}
	})
	// dumpcap says it captures a little before it does, the more so on a
	// busy machine.
	time.Sleep(captureSettle)

	// The cases run at once, each on its own port.
	errs := make([]error, len(cases))
	var wg sync.WaitGroup
	for i := range cases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = cases[i].run(envs[i])
		}()
	}
	wg.Wait()
	r.fwd.waitQuiet(300*time.Millisecond, matrixDeadline) // the last ACKs and RSTs
	time.Sleep(captureSettle)                             // and dumpcap has them
	for i, s := range samplers {
		if err := s.finish(); err != nil {
			t.Fatalf("sampler %d: %v", i, err)
		}
	}
	files := map[string][]byte{}
	for _, p := range rigPoints {
		if err := caps[p].stop(); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(caps[p].file)
		if err != nil {
			t.Fatal(err)
		}
		files[p] = b
	}
	if *matrixKeep != "" {
		t.Cleanup(func() {
			if !t.Failed() {
				return
			}
			for p, b := range files {
				if err := os.WriteFile(filepath.Join(*matrixKeep, p+".pcapng"), b, 0o644); err != nil {
					t.Errorf("keeping the capture: %v", err)
				}
			}
			t.Logf("captures kept in %s", *matrixKeep)
		})
	}
	t.Logf("ss samples: A %d, B %d", len(samplers[0].samples), len(samplers[1].samples))

	type key struct{ client, server netip.AddrPort }
	explained := map[string]map[key][]*Conn{}
	starts := map[string]time.Time{}
	for _, p := range rigPoints {
		m := map[key][]*Conn{}
		sum, err := Explain(bytes.NewReader(files[p]), Options{FinTimeout: rigFinTimeout}, func(c *Conn) {
			k := key{c.Addr[Client], c.Addr[Server]}
			m[k] = append(m[k], c)
		})
		if err != nil {
			t.Fatalf("explain the capture at %s: %v", p, err)
		}
		for _, cs := range m {
			sort.Slice(cs, func(i, j int) bool { return cs[i].Incarnation < cs[j].Incarnation })
		}
		explained[p], starts[p] = m, sum.Start
	}

	table := map[string]map[string]string{}
	var worst time.Duration
	var worstAt string
	for i, mc := range cases {
		e := envs[i]
		table[mc.name] = map[string]string{}
		if mc.kernel != nil {
			ok, instead, err := mc.kernel(files[pointB], e)
			if err != nil {
				t.Fatalf("%s: %v", mc.name, err)
			}
			if !ok {
				t.Logf("%s: the kernel did not play the case as planned (the machine is busy): want %v instead of %v", mc.name, instead, mc.close)
				mc.close = instead
			}
		}
		if errs[i] != nil {
			t.Errorf("%s: the case did not play as it should: %v", mc.name, errs[i])
		}
		dropped, crossed := r.fwd.dropped(e.port)
		if mc.drop != nil && !mc.drop.hold && dropped == 0 {
			t.Errorf("%s: M dropped nothing", mc.name)
		}
		if mc.drop != nil && mc.drop.hold && !crossed {
			t.Errorf("%s: M did not hold a segment of each side", mc.name)
		}
		if len(e.client) == 0 {
			continue
		}
		// ss's view, per end and incarnation (the same 4-tuple for each),
		// the incarnations told apart by when they began as a capture
		// point saw it.
		client := e.client[0]
		k := key{client, e.server()}
		ssAt := func(p string) [2][][]ssStep {
			var bounds []time.Time
			for i, c := range explained[p][k] {
				if i > 0 {
					bounds = append(bounds, starts[p].Add(c.Start))
				}
			}
			return [2][][]ssStep{
				incarnations(samplers[0].samples, client, e.server(), bounds),
				incarnations(samplers[1].samples, e.server(), client, bounds),
			}
		}
		ss := ssAt(pointA)
		t.Logf("%s: ss saw A %s, B %s; M dropped %d", mc.name, fmtSteps(ss[0], starts[pointA]), fmtSteps(ss[1], starts[pointA]), dropped)
		for _, p := range rigPoints {
			ss := ssAt(p)
			if *matrixDump {
				for _, c := range explained[p][k] {
					t.Logf("%s at %s #%d %s:\n%s", mc.name, p, c.Incarnation, c.Close, dump(c))
				}
			}
			table[mc.name][p] = "FAIL"
			ok := t.Run(mc.name+"/"+p, func(t *testing.T) {
				conns := explained[p][k]
				if len(conns) > 0 && conns[0].MidStream {
					t.Fatalf("the capture at %s missed the handshake: dumpcap began late (the machine is busy)", p)
				}
				if len(conns) != len(mc.close) {
					t.Fatalf("%d connections explained on %v-%v, want %d", len(conns), client, e.server(), len(mc.close))
				}
				for n, c := range conns {
					if c.Close != mc.close[n] {
						t.Errorf("incarnation %d: close %q, want %q\n%s", n+1, c.Close, mc.close[n], dump(c))
					}
					for s := Client; s <= Server; s++ {
						var saw []ssStep
						if n < len(ss[s]) {
							saw = ss[s][n]
						}
						off, err := matchSS(c, s, saw, mc.hidden[p], mc.untimed[p], starts[p])
						if err != nil {
							t.Errorf("incarnation %d %s: %v\n%s", n+1, s, err, dump(c))
						}
						if off > worst {
							worst, worstAt = off, fmt.Sprintf("%s at %s, %s", mc.name, p, s)
						}
					}
				}
				want := slices.Clone(mc.findingAt[p])
				if mc.finding != "" {
					want = append(want, mc.finding)
				}
				for _, w := range want {
					if !slices.ContainsFunc(conns[0].Findings, func(f Finding) bool { return strings.Contains(f.Text, w) }) {
						t.Errorf("no finding says %q\n%s", w, dump(conns[0]))
					}
				}
				if mc.check != nil {
					if err := mc.check(e, conns, starts[p]); err != nil {
						t.Error(err)
					}
				}
			})
			if ok {
				table[mc.name][p] = "pass"
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-24s %-5s %-5s %-5s\n", "case", pointA, pointM, pointB)
	for _, mc := range cases {
		fmt.Fprintf(&b, "%-24s %-5s %-5s %-5s\n", mc.name, table[mc.name][pointA], table[mc.name][pointM], table[mc.name][pointB])
	}
	t.Logf("case x capture point:\n%s", b.String())
	t.Logf("the furthest explain dated a change outside the ss listings that show it: %v (%s)", worst, worstAt)
}

// ssSlack is how far outside the two ss listings that bracket a change
// (the last that did not show the new state, the first that did) explain
// may date it: the capture point sees a segment before or after the end
// it changes, by the path's delay through M's forwarder on a busy machine.
const ssSlack = 300 * time.Millisecond

// matchSS checks side s of c against the states ss saw that socket in:
// explain's sequence (without the changes after the capture) holds them
// in order, save those hidden from the capture point, dated (save those
// untimed there, or whose time explain says it cannot tell) within ssSlack
// of the listings that first showed them, and its final state is the last
// one ss saw; explain's changes come in time order. It returns the
// furthest a change was dated outside its listings.
func matchSS(c *Conn, s Side, steps []ssStep, hidden, untimed []string, start time.Time) (time.Duration, error) {
	type change struct {
		st    tcp.State
		at    time.Time
		timed bool
	}
	var got []change
	var names []tcp.State
	if tr := c.States[s]; len(tr) > 0 {
		got = append(got, change{st: tr[0].From})
		for i, x := range tr {
			if x.AfterCapture {
				continue
			}
			if i > 0 && x.T < tr[i-1].T {
				return 0, fmt.Errorf("%v->%v dated %v, before the change it follows (%v)", x.From, x.To, x.T, tr[i-1].T)
			}
			// A change whose time explain says it cannot tell is not timed.
			got = append(got, change{x.To, start.Add(x.T), !strings.Contains(x.Uncertain, "cannot be told")})
		}
	}
	for _, g := range got {
		names = append(names, g.st)
	}
	var saw []tcp.State
	for _, x := range steps {
		saw = append(saw, x.st)
	}
	if len(saw) == 0 {
		if c.Known[s] && len(got) > 0 && names[len(names)-1] != tcp.Closed && names[len(names)-1] != tcp.Listen {
			return 0, fmt.Errorf("ss never saw the socket, explain ends it in %v", names[len(names)-1])
		}
		return 0, nil
	}
	who := "A:"
	if s == Server {
		who = "B:"
	}
	var want []ssStep
	for _, x := range steps {
		if !slices.Contains(hidden, who+x.st.String()) {
			want = append(want, x)
		}
	}
	var worst time.Duration
	i := 0
	for _, g := range got {
		if i == len(want) || want[i].st != g.st {
			continue
		}
		if g.timed && !slices.Contains(untimed, who+g.st.String()) {
			var off time.Duration
			if !want[i].since.IsZero() && g.at.Before(want[i].since) {
				off = want[i].since.Sub(g.at)
			}
			if g.at.After(want[i].seen) {
				off = g.at.Sub(want[i].seen)
			}
			if off > ssSlack {
				return off, fmt.Errorf("%v dated %s, %v outside the ss listings that show the change (%s to %s)",
					g.st, g.at.Format("15:04:05.000"), off, want[i].since.Format("15:04:05.000"), want[i].seen.Format("15:04:05.000"))
			}
			worst = max(worst, off)
		}
		i++
	}
	if i < len(want) {
		return worst, fmt.Errorf("states %v do not hold what ss saw, %v, in order", names, saw)
	}
	if last := saw[len(saw)-1]; c.Final[s] != last {
		return worst, fmt.Errorf("final state %v, ss last saw %v (ss: %v; explain: %v)", c.Final[s], last, saw, names)
	}
	return worst, nil
}

// fmtSteps writes ss's sequences with the time each state was first seen,
// since start.
func fmtSteps(incs [][]ssStep, start time.Time) string {
	var b strings.Builder
	for i, inc := range incs {
		if i > 0 {
			b.WriteString(" | ")
		}
		for j, x := range inc {
			if j > 0 {
				b.WriteString(" ")
			}
			since := "?"
			if !x.since.IsZero() {
				since = fmt.Sprintf("%.3f", x.since.Sub(start).Seconds())
			}
			fmt.Fprintf(&b, "%v@%s-%.3f", x.st, since, x.seen.Sub(start).Seconds())
		}
	}
	return b.String()
}

// finAckMerged reads a pcapng capture with gopacket and reports whether
// server's first segment after the client's FIN carried the server's FIN
// (its ACK of the client's FIN merged with it) rather than a bare ACK.
func finAckMerged(capture []byte, server netip.AddrPort) (bool, error) {
	r, err := pcapgo.NewNgReader(bytes.NewReader(capture), pcapgo.DefaultNgReaderOptions)
	if err != nil {
		return false, fmt.Errorf("reading the capture: %w", err)
	}
	clientFIN := false
	for {
		data, _, err := r.ReadPacketData()
		if err != nil {
			return false, fmt.Errorf("no segment of %v after the client's FIN (%v)", server, err)
		}
		pkt := gopacket.NewPacket(data, layers.LinkTypeEthernet, gopacket.Default)
		ip, _ := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		tcpl, _ := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if ip == nil || tcpl == nil {
			continue
		}
		src, _ := netip.AddrFromSlice(ip.SrcIP)
		dst, _ := netip.AddrFromSlice(ip.DstIP)
		switch {
		case dst == server.Addr() && uint16(tcpl.DstPort) == server.Port() && tcpl.FIN:
			clientFIN = true
		case clientFIN && src == server.Addr() && uint16(tcpl.SrcPort) == server.Port():
			return tcpl.FIN, nil
		}
	}
}

// subsequence reports whether want is a subsequence of got.
func subsequence(want, got []tcp.State) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && want[i] == g {
			i++
		}
	}
	return i == len(want)
}
