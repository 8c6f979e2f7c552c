//go:build linux

package kernel_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/link/faulty"
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
// tcpwave's ACKs of the kernel's FIN (scenario lost-ack-4) until the test
// has seen LAST-ACK, however long that takes on a busy machine: the
// kernel then retransmits its FIN, which tcpwave, in TIME_WAIT, ACKs
// again.
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
	hold := r.holdKernelFinAcks(t, p)
	if err := p.kernel.Close(); err != nil {
		t.Fatal(err)
	}
	tw := r.waitStack(t, p, tcp.TimeWait)
	if tw.Timer != "timewait" || tw.TimerLeft <= 0 || tw.TimerLeft > shortTimeWait {
		t.Errorf("tcpwave TIME_WAIT timer %q %v, want timewait within %v", tw.Timer, tw.TimerLeft, shortTimeWait)
	}
	// The kernel stays in LAST-ACK while the link drops our ACKs. Its
	// retransmissions back off, so the waits from here are generous.
	r.pollFor = heldStateWait
	row = r.waitKernel(t, p, "LAST-ACK")
	t.Logf("kernel: %v", row)
	if hold.dropped() == 0 {
		t.Error("the kernel is in LAST-ACK, but the link dropped no ACK")
	}
	if !strings.HasPrefix(row.Timer, "on,") {
		t.Errorf("kernel LAST-ACK timer %q, want the retransmission timer (on,...)", row.Timer)
	}
	hold.release()
	r.waitKernel(t, p, "") // its FIN again, ACKed again by TIME_WAIT
	r.pollFor = pollFor
	fins := r.rec.segments(p.tuple(), false, wire.FIN, 0)
	if len(fins) < 2 {
		t.Errorf("tcpwave received the kernel's FIN %d times (%v), want it again after the lost ACK", len(fins), fins)
	}
	for _, f := range fins {
		if f.seq != fins[0].seq {
			t.Errorf("the kernel's FINs differ: %v", fins)
			break
		}
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
	r.waitKernelTimeWait(t, p)
	r.waitStack(t, p, tcp.Closed)
	r.checkStackPath(t, p, tcp.Established, tcp.CloseWait, tcp.LastAck, tcp.Closed)
}

// TestCloseSimultaneous closes both ends so that their FINs cross
// (scenario simultaneous-close): each side, in FIN_WAIT_1, receives a FIN
// that does not ACK its own, ACKs it and moves to CLOSING; the ACK of its
// own FIN then moves it to TIME_WAIT, and both sides hold TIME_WAIT (the
// kernel's for Linux's 60 s).
//
// The crossing and each of the kernel's states are held by design, not by
// timing: the link holds back everything tcpwave sends on the connection
// (a gate), so tcpwave closes first and the kernel, which has not seen
// that FIN, closes too and stays in FIN-WAIT-1 until the test hands it
// tcpwave's FIN; it then stays in CLOSING, its FIN unacknowledged, until
// the test hands it tcpwave's ACK. However slow the machine, ss sees each
// state; if either side does the wrong thing, a wait for a state fails.
func TestCloseSimultaneous(t *testing.T) {
	for _, d := range dialers {
		t.Run(d.String(), func(t *testing.T) {
			t.Parallel()
			r := newRig(t, rigConfig{tcp: withShortTimeWait})
			r.pollFor = heldStateWait // states are held, not raced
			p := r.pair(t, ipv4, d)
			exchange(t, p, d)
			g := r.gateStack(t, p)
			if err := p.stack.Close(); err != nil {
				t.Fatal(err)
			}
			r.waitStack(t, p, tcp.FinWait1)
			if err := p.kernel.Close(); err != nil {
				t.Fatal(err)
			}
			// The kernel sent its FIN without having seen ours: FIN-WAIT-1
			// until our FIN arrives. tcpwave gets the kernel's FIN, which
			// does not ACK its own, and moves to CLOSING.
			t.Logf("kernel: %v", r.waitKernel(t, p, "FIN-WAIT-1"))
			r.waitStack(t, p, tcp.Closing)
			fin := g.heldFIN(t)
			if fin.TCP.Ack == g.kernelFINEnd() {
				t.Fatalf("tcpwave's first FIN %v ACKs the kernel's FIN: the FINs did not cross", fin.TCP.Seq)
			}
			// Our FIN, which does not ACK the kernel's: the kernel moves to
			// CLOSING and ACKs it, which takes tcpwave to TIME_WAIT. Our
			// ACKs of its FIN are still held, so CLOSING lasts.
			g.inject(t, r, fin.raw)
			t.Logf("kernel: %v", r.waitKernel(t, p, "CLOSING"))
			// tcpwave's TIME_WAIT is short: on a busy machine it may be over
			// before a poll of its table, so look for it in the states it
			// went through.
			r.waitStackReached(t, p, tcp.TimeWait)
			// Our ACK of its FIN: the kernel moves to TIME-WAIT.
			g.open(t, r)
			r.waitKernelTimeWait(t, p)
			// tcpwave may have retransmitted its FIN while the gate held it,
			// always at the same sequence number.
			for _, f := range r.rec.segments(p.tuple(), true, wire.FIN, 0) {
				if f.seq != fin.TCP.Seq {
					t.Errorf("tcpwave sent FINs at different sequence numbers: %v and %v", f, fin.TCP.Seq)
				}
			}
			r.waitStack(t, p, tcp.Closed)
			r.checkStackPath(t, p, tcp.Established, tcp.FinWait1, tcp.Closing, tcp.TimeWait, tcp.Closed)
		})
	}
}

// waitStackReached waits until tcpwave's connection has been in state, as
// its recorded state changes tell (not its table, which a short-lived
// state may have left before a poll). It fails the test after r.pollFor.
func (r *rig) waitStackReached(t *testing.T, p *conns, state tcp.State) {
	t.Helper()
	var path []tcp.State
	if !poll(r.pollFor, func() bool {
		path = r.rec.path(p.tuple())
		return contains(path, state)
	}) {
		t.Fatalf("tcpwave connection %v -> %v went through %v in %v, never %v", p.stackEnd, p.kernelEnd, path, r.pollFor, state)
	}
}

// heldStateWait bounds the waits for a state the test holds on purpose
// (by keeping packets from the kernel): generous, since the state lasts
// until the test moves on, whatever the machine's load.
const heldStateWait = 10 * time.Second

// finAckHold drops tcpwave's ACKs of the kernel's FIN until released.
type finAckHold struct {
	mu       sync.Mutex
	fin      kernelFIN
	released bool
	n        int // ACKs dropped
}

// holdKernelFinAcks makes the link drop every bare ACK tcpwave sends for
// the kernel's FIN on p (and any RST on p), as if lost on the wire, until
// release: the kernel stays in LAST-ACK, retransmitting its FIN, until
// then.
func (r *rig) holdKernelFinAcks(t *testing.T, p *conns) *finAckHold {
	t.Helper()
	h := &finAckHold{}
	r.filterConn(t, "holdKernelFinAcks", p, func(out bool, w *wire.Packet, _ []byte) bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		switch {
		case !out:
			h.fin.note(w)
		case h.fin.seen && !h.released && w.TCP.Flags == wire.ACK && len(w.Payload) == 0 && w.TCP.Ack == h.fin.end:
			h.n++
			return true
		case h.fin.seen && !h.released && w.TCP.Flags.Has(wire.RST):
			// On a slow machine tcpwave's short TIME_WAIT may end while the
			// hold lasts, and the kernel's next FIN draw a RST: keep that
			// from the kernel too, or LAST-ACK would end early.
			return true
		}
		return false
	})
	return h
}

// filterConn makes fn the rig's link filter for p's packets: it sees each
// one parsed, out (from tcpwave to the kernel) or not, and drops those it
// returns true for. Every other packet passes.
func (r *rig) filterConn(t *testing.T, what string, p *conns, fn func(out bool, w *wire.Packet, pkt []byte) bool) {
	t.Helper()
	if r.link == nil {
		t.Fatal(what + " needs a rig with a link")
	}
	f := dropFunc(func(dir faulty.Direction, pkt []byte) bool {
		var w wire.Packet
		if wire.ParsePacket(pkt, &w) != nil {
			return false
		}
		src, dst := netip.AddrPortFrom(w.Src, w.TCP.SrcPort), netip.AddrPortFrom(w.Dst, w.TCP.DstPort)
		switch {
		case dir == faulty.Out && src == p.stackEnd && dst == p.kernelEnd:
			return fn(true, &w, pkt)
		case dir == faulty.In && src == p.kernelEnd && dst == p.stackEnd:
			return fn(false, &w, pkt)
		}
		return false
	})
	r.drop.Store(&f)
}

// kernelFIN is the kernel's FIN on a connection, once a filter saw it.
type kernelFIN struct {
	end  uint32 // its sequence number plus one
	seen bool
}

// note records w if it is the kernel's FIN.
func (k *kernelFIN) note(w *wire.Packet) {
	if w.TCP.Flags.Has(wire.FIN) {
		k.end, k.seen = w.TCP.Seq+uint32(len(w.Payload))+1, true
	}
}

// dropped is how many ACKs the hold dropped.
func (h *finAckHold) dropped() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

// release lets tcpwave's ACKs through again.
func (h *finAckHold) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.released = true
}

// heldPacket is a packet the gate kept back, parsed, with its bytes.
type heldPacket struct {
	raw []byte
	wire.Packet
}

// stackGate holds back every packet tcpwave sends on one connection
// until opened, keeping tcpwave's first FIN and its latest ACK of the
// kernel's FIN so that the test can hand them to the kernel when it
// chooses.
type stackGate struct {
	mu     sync.Mutex
	opened bool
	fin    *heldPacket // tcpwave's first FIN
	ack    *heldPacket // tcpwave's latest segment that ACKs the kernel's FIN, without a FIN
	kfin   kernelFIN
}

// gateStack puts a stackGate on p's packets from tcpwave to the kernel.
func (r *rig) gateStack(t *testing.T, p *conns) *stackGate {
	t.Helper()
	g := &stackGate{}
	r.filterConn(t, "gateStack", p, func(out bool, w *wire.Packet, pkt []byte) bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		switch {
		case !out:
			g.kfin.note(w)
		case !g.opened:
			raw := append([]byte(nil), pkt...)
			var held heldPacket
			if wire.ParsePacket(raw, &held.Packet) != nil {
				return true
			}
			held.raw = raw
			switch {
			case w.TCP.Flags.Has(wire.FIN) && g.fin == nil:
				g.fin = &held
			case !w.TCP.Flags.Has(wire.FIN) && g.kfin.seen && w.TCP.Flags.Has(wire.ACK) && w.TCP.Ack == g.kfin.end:
				g.ack = &held
			}
			return true
		}
		return false
	})
	return g
}

// heldFIN returns tcpwave's first FIN, which the gate holds.
func (g *stackGate) heldFIN(t *testing.T) *heldPacket {
	t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.fin == nil {
		t.Fatal("the gate holds no FIN from tcpwave")
	}
	return g.fin
}

// kernelFINEnd is the kernel's FIN's sequence number plus one.
func (g *stackGate) kernelFINEnd() uint32 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.kfin.end
}

// inject hands the kernel a packet tcpwave sent, past the link.
func (g *stackGate) inject(t *testing.T, r *rig, pkt []byte) {
	t.Helper()
	if err := r.dev.WritePacket(pkt); err != nil {
		t.Fatal(err)
	}
}

// open lets tcpwave's packets through again, and hands the kernel the
// latest ACK of its FIN that the gate held.
func (g *stackGate) open(t *testing.T, r *rig) {
	t.Helper()
	g.mu.Lock()
	g.opened = true
	ack := g.ack
	g.mu.Unlock()
	if ack == nil {
		t.Fatal("the gate holds no ACK of the kernel's FIN from tcpwave")
	}
	g.inject(t, r, ack.raw)
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
		// poll looks at least once, however late this goroutine runs: a
		// loaded machine once let the deadline pass before the first look,
		// and an empty path read as tcpwave's FIN first.
		var path []tcp.State
		poll(pollFor, func() bool {
			path = r.rec.path(p.tuple()) // pair made sure it holds ESTABLISHED at least
			last := path[len(path)-1]
			return last == tcp.TimeWait || last == tcp.Closed
		})
		var outcome string
		switch {
		case contains(path, tcp.Closing):
			outcome = "crossed"
			r.checkStackPath(t, p, tcp.Established, tcp.FinWait1, tcp.Closing, tcp.TimeWait)
			r.waitKernelTimeWait(t, p)
		case contains(path, tcp.CloseWait):
			outcome = "kernel-first"
			r.checkStackPath(t, p, tcp.Established, tcp.CloseWait, tcp.LastAck, tcp.Closed)
			r.waitKernelTimeWait(t, p)
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
					// tcpwave's TIME_WAIT is short (and a RST ends it at once):
					// look for it in the recorded states, not the table.
					r.waitStackReached(t, p, tcp.TimeWait)
					r.waitKernel(t, p, "")
					r.waitStack(t, p, tcp.Closed)
					r.checkStackPath(t, p, tcp.Established, tcp.FinWait1, tcp.FinWait2, tcp.TimeWait, tcp.Closed)
				} else {
					r.waitKernelTimeWait(t, p)
					r.waitStack(t, p, tcp.Closed)
					r.checkStackPath(t, p, tcp.Established, tcp.CloseWait, tcp.LastAck, tcp.Closed)
				}
			})
		}
	}
}
