//go:build linux

package kernel_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/tcp"
	"github.com/tcpwave/tcpwave/wire"
)

// shortTimeWait is tcpwave's TIME_WAIT in the close tests, so that a test
// sees the record expire. The kernel keeps Linux's 60 s.
const shortTimeWait = time.Second

func withShortTimeWait(c *tcp.Config) { c.TimeWait = shortTimeWait }

var (
	families = []family{ipv4, ipv6}
	dialers  = []dialer{stackDials, kernelDials}
)

// client and server return the side that dialed and the side that
// listened.
func (d dialer) client() side {
	if d == stackDials {
		return stackSide
	}
	return kernelSide
}

func (d dialer) server() side { return 1 - d.client() }

// readAll reads c to EOF or to an error, for at most opTimeout, and
// returns what it read and the error (nil at EOF).
func readAll(c net.Conn) ([]byte, error) {
	c.SetReadDeadline(time.Now().Add(opTimeout))
	defer c.SetReadDeadline(time.Time{})
	return io.ReadAll(c)
}

// readFull reads exactly n bytes from c, for at most opTimeout.
func readFull(t *testing.T, c net.Conn, n int) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(opTimeout))
	defer c.SetReadDeadline(time.Time{})
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("reading %d bytes: %v", n, err)
	}
	return b
}

// write writes b to c, for at most opTimeout.
func write(t *testing.T, c net.Conn, b []byte) {
	t.Helper()
	c.SetWriteDeadline(time.Now().Add(opTimeout))
	defer c.SetWriteDeadline(time.Time{})
	if _, err := c.Write(b); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// exchange does a request and a response, client first, so that both
// sides have sent and acknowledged data before the close.
func exchange(t *testing.T, p *conns, d dialer) {
	t.Helper()
	c, s := p.end(d.client()), p.end(d.server())
	write(t, c, []byte("request"))
	if got := readFull(t, s, 7); string(got) != "request" {
		t.Fatalf("server read %q", got)
	}
	write(t, s, []byte("response"))
	if got := readFull(t, c, 8); string(got) != "response" {
		t.Fatalf("client read %q", got)
	}
}

// TestCloseOrderly is the four-way close (scenarios four-way-close and
// server-active-close), each side closing first, over both address
// families and both ways of opening the connection. The side that closes
// first passes FIN_WAIT_1 and FIN_WAIT_2 and ends in TIME_WAIT; the other
// passes CLOSE_WAIT (where it reads EOF) and LAST_ACK, and ends CLOSED.
//
// The kernel's LAST-ACK lasts one round trip on a TUN device, too short
// to see; so when the kernel is the passive side, the link drops
// tcpwave's ACK of the kernel's FIN once (scenario lost-ack-4): ss shows
// the kernel in LAST-ACK until it retransmits the FIN, which tcpwave, in
// TIME_WAIT, ACKs again.
func TestCloseOrderly(t *testing.T) {
	for _, fam := range families {
		for _, d := range dialers {
			for _, first := range []string{"client", "server"} {
				t.Run(fam.name+"/"+d.String()+"/"+first+"-closes", func(t *testing.T) {
					t.Parallel()
					r := newRig(t, rigConfig{tcp: withShortTimeWait})
					p := r.pair(t, fam, d)
					exchange(t, p, d)
					closer := d.client()
					if first == "server" {
						closer = d.server()
					}
					if closer == stackSide {
						stackClosesFirst(t, r, p)
					} else {
						kernelClosesFirst(t, r, p)
					}
				})
			}
		}
	}
}

// stackClosesFirst: tcpwave closes, the kernel reads EOF in CLOSE-WAIT
// while tcpwave waits in FIN_WAIT_2, then the kernel closes.
func stackClosesFirst(t *testing.T, r *rig, p *conns) {
	t.Helper()
	if err := p.stack.Close(); err != nil {
		t.Fatal(err)
	}
	row := r.waitKernel(t, p, "CLOSE-WAIT")
	t.Logf("kernel: %v", row)
	// Orphaned by close(): FIN_WAIT_2 lasts tcp_fin_timeout (60 s), and
	// Linux lists it with a timewait timer.
	fw2 := r.waitStack(t, p, tcp.FinWait2)
	if fw2.Timer != "timewait" || fw2.TimerLeft <= 50*time.Second || fw2.TimerLeft > time.Minute {
		t.Errorf("tcpwave orphaned FIN_WAIT_2 timer %q %v, want timewait, about 60 s (tcp_fin_timeout)", fw2.Timer, fw2.TimerLeft)
	}
	if b, err := readAll(p.kernel); len(b) != 0 || err != nil {
		t.Fatalf("kernel read in CLOSE-WAIT: %q, %v; want EOF", b, err)
	}
	dropped := r.dropKernelFinAck(t, p)
	if err := p.kernel.Close(); err != nil {
		t.Fatal(err)
	}
	tw := r.waitStack(t, p, tcp.TimeWait)
	if tw.Timer != "timewait" || tw.TimerLeft <= 0 || tw.TimerLeft > shortTimeWait {
		t.Errorf("tcpwave TIME_WAIT timer %q %v, want timewait within %v", tw.Timer, tw.TimerLeft, shortTimeWait)
	}
	row = r.waitKernel(t, p, "LAST-ACK")
	t.Logf("kernel: %v", row)
	if !dropped.Load() {
		t.Error("the kernel is in LAST-ACK, but the link dropped no ACK")
	}
	if !strings.HasPrefix(row.Timer, "on,") {
		t.Errorf("kernel LAST-ACK timer %q, want the retransmission timer (on,...)", row.Timer)
	}
	r.waitKernel(t, p, "") // its FIN again, ACKed again by TIME_WAIT
	if fins := r.rec.segments(p.tuple(), false, wire.FIN, 0); len(fins) != 2 || fins[0].seq != fins[1].seq {
		t.Errorf("tcpwave received the kernel's FIN %d times (%v), want twice, the same", len(fins), fins)
	}
	r.waitStack(t, p, tcp.Closed) // after shortTimeWait
	r.checkStackPath(t, p, tcp.Established, tcp.FinWait1, tcp.FinWait2, tcp.TimeWait, tcp.Closed)
}

// kernelClosesFirst: the kernel closes, tcpwave reads EOF in CLOSE_WAIT
// while the kernel waits in FIN-WAIT-2, then tcpwave closes; the kernel
// holds TIME-WAIT for Linux's 60 s.
func kernelClosesFirst(t *testing.T, r *rig, p *conns) {
	t.Helper()
	if err := p.kernel.Close(); err != nil {
		t.Fatal(err)
	}
	r.waitStack(t, p, tcp.CloseWait)
	row := r.waitKernel(t, p, "FIN-WAIT-2")
	t.Logf("kernel: %v", row)
	checkKernel60s(t, row) // orphaned: tcp_fin_timeout
	if b, err := readAll(p.stack); len(b) != 0 || err != nil {
		t.Fatalf("tcpwave read in CLOSE_WAIT: %q, %v; want EOF", b, err)
	}
	if err := p.stack.Close(); err != nil {
		t.Fatal(err)
	}
	row = r.waitKernel(t, p, "TIME-WAIT")
	t.Logf("kernel: %v", row)
	checkKernel60s(t, row)
	r.waitStack(t, p, tcp.Closed)
	r.checkStackPath(t, p, tcp.Established, tcp.CloseWait, tcp.LastAck, tcp.Closed)
}

// TestCloseSimultaneous closes both ends at the same moment (scenario
// simultaneous-close). The link delays every packet by crossDelay each
// way, so the two FINs cross on the wire as long as the two close calls
// are less than crossDelay apart: each side, in FIN_WAIT_1, receives a
// FIN that does not ACK its own, ACKs it and moves to CLOSING; the ACK of
// its own FIN then moves it to TIME_WAIT, and both sides hold TIME_WAIT
// (the kernel's for Linux's 60 s). The delay also keeps the kernel in
// FIN-WAIT-1 and CLOSING long enough for ss to show both.
func TestCloseSimultaneous(t *testing.T) {
	const crossDelay = 100 * time.Millisecond
	for _, d := range dialers {
		t.Run(d.String(), func(t *testing.T) {
			t.Parallel()
			r := newRig(t, rigConfig{tcp: withShortTimeWait, faults: faultyDelay(crossDelay)})
			p := r.pair(t, ipv4, d)
			exchange(t, p, d)
			skew := closeTogether(t, p)
			t.Logf("the two close calls returned %v apart", skew)
			if skew >= crossDelay {
				t.Fatalf("close calls %v apart: too far apart for the FINs to cross", skew)
			}
			// Each state lasts one crossDelay: long enough for ss to see.
			for _, state := range []string{"FIN-WAIT-1", "CLOSING", "TIME-WAIT"} {
				row := r.waitKernel(t, p, state)
				t.Logf("kernel: %v", row)
			}
			checkKernel60s(t, r.waitKernel(t, p, "TIME-WAIT"))
			r.waitStackPath(t, p, tcp.Established, tcp.FinWait1, tcp.Closing, tcp.TimeWait)
			if fins := r.rec.segments(p.tuple(), true, wire.FIN, 0); len(fins) != 1 {
				t.Errorf("tcpwave sent %d FINs, want 1: %v", len(fins), fins)
			}
			r.waitStack(t, p, tcp.Closed)
		})
	}
}

// TestCloseSimultaneousDirect closes both ends at the same moment on the
// bare TUN device, where a packet takes microseconds: whether the FINs
// cross depends on which close runs first and how fast the other side
// hears of it. The test closes several connections so, and checks each
// outcome against what its own FINs show:
//   - crossed: both sides go through CLOSING and hold TIME_WAIT;
//   - tcpwave's FIN first: tcpwave holds TIME_WAIT, the kernel (which was
//     in CLOSE-WAIT when it closed) is gone; when the kernel's close ran
//     before it ACKed our FIN, that ACK rides on its FIN, and tcpwave
//     goes from FIN_WAIT_1 straight to TIME_WAIT;
//   - the kernel's FIN first: the kernel holds TIME-WAIT, tcpwave passed
//     CLOSE_WAIT and LAST_ACK.
func TestCloseSimultaneousDirect(t *testing.T) {
	const tries = 6
	r := newRig(t, rigConfig{tcp: withShortTimeWait, direct: true})
	outcomes := map[string]int{}
	for i := range tries {
		d := dialers[i%2]
		p := r.pair(t, ipv4, d)
		exchange(t, p, d)
		skew := closeTogether(t, p)
		var path []tcp.State
		for end := time.Now().Add(pollFor); time.Now().Before(end); time.Sleep(pollEvery) {
			path = r.rec.path(p.tuple())
			if last := path[len(path)-1]; last == tcp.TimeWait || last == tcp.Closed {
				break // pair made sure path holds ESTABLISHED at least
			}
		}
		var outcome string
		switch {
		case contains(path, tcp.Closing):
			outcome = "crossed"
			r.checkStackPath(t, p, tcp.Established, tcp.FinWait1, tcp.Closing, tcp.TimeWait)
			checkKernel60s(t, r.waitKernel(t, p, "TIME-WAIT"))
		case contains(path, tcp.CloseWait):
			outcome = "kernel-first"
			r.checkStackPath(t, p, tcp.Established, tcp.CloseWait, tcp.LastAck, tcp.Closed)
			checkKernel60s(t, r.waitKernel(t, p, "TIME-WAIT"))
		default:
			outcome = "tcpwave-first"
			r.checkActiveClosePath(t, p)
			r.waitKernel(t, p, "")
		}
		outcomes[outcome]++
		t.Logf("try %d (%v): close calls %v apart: %s; tcpwave %v", i, d, skew, outcome, path)
	}
	t.Logf("outcomes of %d tries: %v", tries, outcomes)
}

func contains(path []tcp.State, s tcp.State) bool {
	for _, x := range path {
		if x == s {
			return true
		}
	}
	return false
}

// closeTogether closes both ends of p from two goroutines released at
// once, and returns how far apart the two calls returned.
func closeTogether(t *testing.T, p *conns) time.Duration {
	t.Helper()
	var wg sync.WaitGroup
	var errS, errK error
	var atS, atK time.Time
	start := make(chan struct{})
	wg.Go(func() { <-start; errS = p.stack.Close(); atS = time.Now() })
	wg.Go(func() { <-start; errK = p.kernel.Close(); atK = time.Now() })
	time.Sleep(time.Millisecond) // both goroutines wait on start
	close(start)
	wg.Wait()
	if err := errors.Join(errS, errK); err != nil {
		t.Fatal(err)
	}
	return max(atS.Sub(atK), atK.Sub(atS))
}

// TestHalfClose: one side shuts down its sending half (CloseWrite,
// shutdown(SHUT_WR)) and keeps reading (scenario half-close). The other
// side reads EOF in CLOSE_WAIT while the first waits in FIN_WAIT_2 (not
// orphaned, so without the FIN_WAIT_2 timeout); data it writes then
// still arrives, followed by EOF when it closes. The half-closer ends in
// TIME_WAIT.
func TestHalfClose(t *testing.T) {
	reply := bytes.Repeat([]byte("data after the FIN "), 10000) // 190 kB: many segments
	for _, d := range dialers {
		for _, half := range []side{stackSide, kernelSide} {
			t.Run(d.String()+"/"+half.String()+"-shuts-down", func(t *testing.T) {
				t.Parallel()
				r := newRig(t, rigConfig{tcp: withShortTimeWait})
				p := r.pair(t, ipv4, d)
				exchange(t, p, d)
				h, o := p.end(half), p.end(1-half)
				if err := h.CloseWrite(); err != nil {
					t.Fatal(err)
				}
				if b, err := readAll(o); len(b) != 0 || err != nil {
					t.Fatalf("%v read after the FIN: %q, %v; want EOF", 1-half, b, err)
				}
				// Not orphaned, the half-closer has no FIN_WAIT_2 timeout.
				if half == stackSide {
					fw2 := r.waitStack(t, p, tcp.FinWait2)
					if fw2.Timer == "timewait" {
						t.Errorf("tcpwave FIN_WAIT_2 after CloseWrite has timer %q %v, want no FIN_WAIT_2 timeout", fw2.Timer, fw2.TimerLeft)
					}
					row := r.waitKernel(t, p, "CLOSE-WAIT")
					t.Logf("kernel: %v", row)
				} else {
					r.waitStack(t, p, tcp.CloseWait)
					row := r.waitKernel(t, p, "FIN-WAIT-2")
					t.Logf("kernel: %v", row)
					if strings.HasPrefix(row.Timer, "timewait") {
						t.Errorf("kernel FIN-WAIT-2 after shutdown(SHUT_WR) has timer %q, want no FIN_WAIT_2 timeout", row.Timer)
					}
				}
				// Writing after the half-close fails at once (EPIPE).
				if _, err := h.Write([]byte("x")); err == nil {
					t.Errorf("%v wrote after CloseWrite", half)
				}
				var got []byte
				var readErr error
				done := make(chan struct{})
				go func() {
					defer close(done)
					got, readErr = readAll(h)
				}()
				write(t, o, reply)
				if err := o.Close(); err != nil {
					t.Fatal(err)
				}
				<-done
				if readErr != nil || !bytes.Equal(got, reply) {
					t.Fatalf("%v read %d bytes (want %d, equal %v), then %v; want the data, then EOF",
						half, len(got), len(reply), bytes.Equal(got, reply), readErr)
				}
				if err := h.Close(); err != nil {
					t.Fatal(err)
				}
				if half == stackSide {
					r.waitStack(t, p, tcp.TimeWait)
					r.waitKernel(t, p, "")
					r.waitStack(t, p, tcp.Closed)
					r.checkStackPath(t, p, tcp.Established, tcp.FinWait1, tcp.FinWait2, tcp.TimeWait, tcp.Closed)
				} else {
					checkKernel60s(t, r.waitKernel(t, p, "TIME-WAIT"))
					r.waitStack(t, p, tcp.Closed)
					r.checkStackPath(t, p, tcp.Established, tcp.CloseWait, tcp.LastAck, tcp.Closed)
				}
			})
		}
	}
}
