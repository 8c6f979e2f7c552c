//go:build linux

package kernel_test

import (
	"bytes"
	"errors"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/tcp"
	"github.com/tcpwave/tcpwave/wire"
)

// unread is what the peer sends and the closer leaves unread.
var unread = bytes.Repeat([]byte("unread "), 1000)

// TestCloseReset covers the closes that abort with a RST instead of a
// FIN, each done by tcpwave and by the kernel, over both ways of opening
// the connection:
//   - close-with-unread: close() while received data sits unread (RFC
//     2525 §2.17, Linux TCPAbortOnClose);
//   - linger-zero: SO_LINGER {on, 0} and close().
//
// The RST carries ACK ("R."); the peer's blocked read fails with
// ECONNRESET; neither side keeps TIME_WAIT or any other trace.
func TestCloseReset(t *testing.T) {
	for _, tc := range []struct {
		name   string
		closer side
		linger bool // SO_LINGER 0; otherwise unread data
	}{
		{"tcpwave-closes-with-unread-data", stackSide, false},
		{"kernel-closes-with-unread-data", kernelSide, false},
		{"tcpwave-linger-0", stackSide, true},
		{"kernel-linger-0", kernelSide, true},
	} {
		for _, d := range dialers {
			t.Run(tc.name+"/"+d.String(), func(t *testing.T) {
				t.Parallel()
				r := newRig(t, rigConfig{tcp: withShortTimeWait})
				p := r.pair(t, ipv4, d)
				exchange(t, p, d)
				closer, peer := p.end(tc.closer), p.end(1-tc.closer)
				if tc.linger {
					setLinger0(t, closer)
				} else {
					write(t, peer, unread)
					r.waitRecvQ(t, p, tc.closer, len(unread))
				}
				// The peer waits in a read, as an application would.
				readErr := make(chan error, 1)
				go func() {
					b, err := readAll(peer)
					if len(b) > 0 && err == nil {
						err = errors.New("data, then EOF")
					}
					readErr <- err
				}()
				if err := closer.Close(); err != nil {
					t.Fatal(err)
				}
				if err := <-readErr; !isReset(err) {
					t.Errorf("%v's read after the %v's abort: %v, want ECONNRESET", 1-tc.closer, tc.closer, err)
				}
				// The RST, as tcpwave sent or received it: "R.". A segment
				// the peer sent before it heard of the RST (a delayed ACK)
				// may cross it and draw a second RST, for a connection that
				// no longer exists: "R", its seq taken from the segment's
				// ACK.
				rsts := r.rec.segments(p.tuple(), tc.closer == stackSide, wire.RST, 0)
				if len(rsts) == 0 || rsts[0].flags != wire.RST|wire.ACK {
					t.Errorf("RSTs from the %v: %v, want R. first", tc.closer, rsts)
				}
				for _, x := range rsts[min(1, len(rsts)):] {
					if x.flags != wire.RST {
						t.Errorf("RSTs from the %v: %v, want R for any after the first", tc.closer, rsts)
					}
				}
				if fins := r.rec.segments(p.tuple(), tc.closer == stackSide, wire.FIN, 0); len(fins) != 0 {
					t.Errorf("FINs from the %v: %v, want none", tc.closer, fins)
				}
				r.waitStack(t, p, tcp.Closed)
				r.checkStackPath(t, p, tcp.Established, tcp.Closed)
				// The kernel's socket: gone if it aborted (an orphan), or
				// reset but still open (UNCONN); never in TIME-WAIT.
				if row, ok := r.kernelRow(t, p); ok {
					t.Logf("kernel: %v", row)
					if tc.closer == kernelSide || row.State != "UNCONN" {
						t.Errorf("kernel socket after the RST: %v, want it gone or UNCONN", row)
					}
				}
				p.kernel.Close()
				r.waitKernel(t, p, "")
				c := r.st.Counters()
				switch {
				case tc.closer == stackSide && tc.linger && c.TCPAbortOnLinger != 1:
					t.Errorf("TCPAbortOnLinger = %d, want 1", c.TCPAbortOnLinger)
				case tc.closer == stackSide && !tc.linger && c.TCPAbortOnClose != 1:
					t.Errorf("TCPAbortOnClose = %d, want 1", c.TCPAbortOnClose)
				case tc.closer == kernelSide && c.EstabResets != 1:
					t.Errorf("EstabResets = %d, want 1", c.EstabResets)
				}
				if c.TW != 0 {
					t.Errorf("tcpwave counted %d TIME_WAITs, want none", c.TW)
				}
			})
		}
	}
}

// setLinger0 sets SO_LINGER {on, 0} on c.
func setLinger0(t *testing.T, c tcpConn) {
	t.Helper()
	l, ok := c.(interface{ SetLinger(int) error })
	if !ok {
		t.Fatalf("%T has no SetLinger", c)
	}
	if err := l.SetLinger(0); err != nil {
		t.Fatal(err)
	}
}

// waitRecvQ waits until side s of p holds n unread bytes, as its Recv-Q
// shows (ss for the kernel, Connections for tcpwave).
func (r *rig) waitRecvQ(t *testing.T, p *conns, s side, n int) {
	t.Helper()
	got := -1
	if poll(r.pollFor, func() bool {
		if s == stackSide {
			row, _ := r.stackRow(p)
			got = row.RecvQ
		} else {
			row, _ := r.kernelRow(t, p)
			got = row.RecvQ
		}
		return got == n
	}) {
		return
	}
	t.Fatalf("%v's Recv-Q is %d after %v, want %d", s, got, r.pollFor, n)
}

// TestCloseThenData: one side closes (a full close, not a shutdown), the
// other, in CLOSE_WAIT, still writes (scenario close-then-data). The
// closed side can no longer read, so the data draws a RST without ACK,
// "R seq=SND.NXT" (RFC 1122 §4.2.2.13; Linux TCPAbortOnData), and the
// closed side forgets the connection at once: no FIN_WAIT_2, no
// TIME_WAIT. The writer had read the FIN first, so Linux gives it EPIPE
// on its next write and EOF (not ECONNRESET) on read.
func TestCloseThenData(t *testing.T) {
	for _, closer := range []side{stackSide, kernelSide} {
		for _, d := range dialers {
			t.Run(closer.String()+"-closes/"+d.String(), func(t *testing.T) {
				t.Parallel()
				r := newRig(t, rigConfig{tcp: withShortTimeWait})
				p := r.pair(t, ipv4, d)
				exchange(t, p, d)
				c, w := p.end(closer), p.end(1-closer)
				if err := c.Close(); err != nil {
					t.Fatal(err)
				}
				if b, err := readAll(w); len(b) != 0 || err != nil {
					t.Fatalf("%v read after the FIN: %q, %v; want EOF", 1-closer, b, err)
				}
				if closer == stackSide {
					r.waitStack(t, p, tcp.FinWait2)
				} else {
					r.waitKernel(t, p, "FIN-WAIT-2")
				}
				write(t, w, []byte("too late"))
				if closer == stackSide {
					r.waitStack(t, p, tcp.Closed)
					r.checkStackPath(t, p, tcp.Established, tcp.FinWait1, tcp.FinWait2, tcp.Closed)
				} else {
					r.waitKernel(t, p, "") // an orphan: the RST frees it
					r.waitStack(t, p, tcp.Closed)
				}
				rsts := r.rec.segments(p.tuple(), closer == stackSide, wire.RST, 0)
				fins := r.rec.segments(p.tuple(), closer == stackSide, wire.FIN, 0)
				if len(rsts) != 1 || rsts[0].flags != wire.RST || len(fins) != 1 || rsts[0].seq != fins[0].seq+1 {
					t.Errorf("the %v sent FINs %v and RSTs %v; want one R with seq one past its FIN's", closer, fins, rsts)
				}
				// The writer: EPIPE on write, EOF on read.
				var err error
				poll(pollFor, func() bool {
					_, err = w.Write([]byte("x"))
					return err != nil
				})
				if !errors.Is(err, syscall.EPIPE) {
					t.Errorf("%v's write after the RST: %v, want EPIPE", 1-closer, err)
				}
				w.SetReadDeadline(time.Now().Add(opTimeout))
				if n, err := w.Read(make([]byte, 10)); n != 0 || err != io.EOF {
					t.Errorf("%v's read after the RST: %d, %v; want EOF", 1-closer, n, err)
				}
				if closer == kernelSide {
					r.checkStackPath(t, p, tcp.Established, tcp.CloseWait, tcp.Closed)
				}
				p.kernel.Close()
				r.waitKernel(t, p, "")
			})
		}
	}
}
