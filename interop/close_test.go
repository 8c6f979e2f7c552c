package interop

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave"
	"github.com/tcpwave/tcpwave/tcp"
)

// closeTimeWait is the TIME_WAIT duration of the close tests: short, so
// that each test also sees TIME_WAIT end.
const closeTimeWait = time.Second

// closeRun is one close test: an established connection whose active
// side closes first.
type closeRun struct {
	t               *testing.T
	active, passive Conn
	akind, pkind    Kind
	// aport and pport are the ports the active and the passive side send
	// through: holding aport keeps the active side's segments back.
	aport, pport *Port
	hosts        map[Kind]Host
	// seen records the states each side was found in, step by step.
	seen []string
}

// expect waits until the active side is in state a and the passive side
// in state p, and records both as the stacks report them.
func (x *closeRun) expect(step string, a, p tcp.State) {
	x.t.Helper()
	ok := poll(func() bool { return x.active.State() == a && x.passive.State() == p })
	got := fmt.Sprintf("%-34s active %-11s passive %s", step+":", x.active.RawState(), x.passive.RawState())
	x.seen = append(x.seen, got)
	if !ok && a == tcp.TimeWait && x.active.State() == tcp.Closed && x.passive.State() == p && x.timeWaitKilled() {
		// On a loaded machine the peer may retransmit its FIN before our
		// ACK reaches it, take the first ACK, close, and answer the second
		// (TIME_WAIT's re-ACK) with a RST that ends TIME_WAIT, as Linux's
		// does with tcp_rfc1337=0.
		x.seen = append(x.seen, "(TIME_WAIT ended early by the peer's RST for its re-ACK)")
		return
	}
	if !ok {
		x.t.Fatalf("%s; want active %v, passive %v", got, a, p)
	}
}

// timeWaitKilled reports whether the active side is tcpwave and a RST
// ended one of its TIME_WAIT records.
func (x *closeRun) timeWaitKilled() bool {
	h, ok := x.hosts[x.akind].(*TCPWaveHost)
	return ok && h.Counters().TWKilled > 0
}

// read expects a Read on c to end with an error wrapping want (io.EOF,
// syscall.ECONNRESET, ...).
func (x *closeRun) read(who string, c Conn, want error) {
	x.t.Helper()
	_, err := c.Read(make([]byte, 64))
	x.seen = append(x.seen, fmt.Sprintf("%-34s %v", who+" reads:", errText(err)))
	if !errors.Is(err, want) {
		x.t.Fatalf("%s: read returned %v, want %v", who, err, want)
	}
}

// resets returns the RSTs a host sent and received.
func resets(h Host) (sent, received uint64) {
	switch h := h.(type) {
	case *TCPWaveHost:
		c := h.Counters()
		return c.OutRsts, c.EstabResets
	case *GVisorHost:
		tc := h.Stack.Stats().TCP
		return tc.ResetsSent.Value(), tc.ResetsReceived.Value()
	}
	return 0, 0
}

// expectResets checks that only the active side sent a RST, exactly one.
func (x *closeRun) expectResets() {
	x.t.Helper()
	as, _ := resets(x.hosts[x.akind])
	ps, pr := resets(x.hosts[x.pkind])
	x.seen = append(x.seen, fmt.Sprintf("%-34s active sent %d, passive sent %d and received %d", "RSTs:", as, ps, pr))
	if as != 1 || ps != 0 {
		x.t.Errorf("RSTs: active sent %d, passive %d; want 1 and 0", as, ps)
	}
	if x.pkind == TCPWave && pr != 1 {
		x.t.Errorf("tcpwave counted %d resets of established connections, want 1", pr)
	}
}

func errText(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, io.EOF):
		return "EOF"
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return fmt.Sprintf("%v (%s)", err, errnoName[errno])
	}
	return err.Error()
}

var errnoName = map[syscall.Errno]string{
	syscall.ECONNRESET: "ECONNRESET", syscall.EPIPE: "EPIPE", syscall.ENOTCONN: "ENOTCONN",
	syscall.ECONNABORTED: "ECONNABORTED",
}

// closeCases are the ways a connection ends (SCENARIOS.md), each with
// what both sides must go through.
var closeCases = []struct {
	name string
	// serverCloses puts the active side on the server (otherwise the
	// client closes first).
	serverCloses bool
	run          func(x *closeRun)
}{
	{"client-closes-first", false, fourWay},
	{"server-closes-first", true, fourWay},
	{"simultaneous-close", false, func(x *closeRun) {
		// Both FINs leave before either arrives; then the active side's
		// FIN reaches the passive side first, then the other crosses.
		x.aport.Hold()
		x.pport.Hold()
		x.active.Close()
		x.passive.Close()
		x.expect("both closed, FINs held", tcp.FinWait1, tcp.FinWait1)
		x.aport.Release()
		x.expect("active's FIN delivered", tcp.FinWait1, tcp.Closing)
		x.pport.Release()
		x.expect("passive's FIN and ACK delivered", tcp.TimeWait, tcp.TimeWait)
		x.expect("after TIME_WAIT", tcp.Closed, tcp.Closed)
	}},
	{"half-close", false, func(x *closeRun) {
		if err := x.active.CloseWrite(); err != nil {
			x.t.Fatal(err)
		}
		x.expect("active CloseWrite", tcp.FinWait2, tcp.CloseWait)
		x.read("passive", x.passive, io.EOF)
		if _, err := x.active.Write([]byte("x")); !errors.Is(err, syscall.EPIPE) {
			x.t.Errorf("write after CloseWrite: %v, want EPIPE", err)
		}
		// Data still flows back to the half-closed side (less than a
		// receive buffer: bulk data is TestBulk's business).
		const n = 128 << 10
		done := make(chan error, 1)
		go func() { done <- send(x.passive, n, 5) }()
		v := newVerifier(5)
		if got, err := io.CopyN(v, x.active, n); err != nil || v.bad >= 0 {
			x.t.Fatalf("active read %d bytes, %v; first bad byte at %d", got, err, v.bad)
		}
		if err := <-done; err != nil {
			x.t.Fatalf("passive write: %v", err)
		}
		x.seen = append(x.seen, fmt.Sprintf("%-34s %d bytes, intact", "passive sends, active reads:", n))
		x.expect("after the data", tcp.FinWait2, tcp.CloseWait)
		x.passive.Close()
		x.read("active", x.active, io.EOF)
		x.expect("passive closed", tcp.TimeWait, tcp.Closed)
		x.active.Close()
		x.expect("active closed", tcp.TimeWait, tcp.Closed)
		x.expect("after TIME_WAIT", tcp.Closed, tcp.Closed)
	}},
	{"close-with-unread", false, func(x *closeRun) {
		msg := []byte("never read")
		if _, err := x.passive.Write(msg); err != nil {
			x.t.Fatal(err)
		}
		if !poll(func() bool { return x.active.Unread() == len(msg) }) {
			x.t.Fatalf("active side holds %d unread bytes, want %d", x.active.Unread(), len(msg))
		}
		x.active.Close()
		x.expect("active closes with unread data", tcp.Closed, tcp.Closed)
		x.read("passive", x.passive, syscall.ECONNRESET)
		x.expectResets()
	}},
	{"linger-zero", false, func(x *closeRun) {
		if err := x.active.SetLinger(0); err != nil {
			x.t.Fatal(err)
		}
		x.active.Close()
		x.expect("active closes with SO_LINGER 0", tcp.Closed, tcp.Closed)
		x.read("passive", x.passive, syscall.ECONNRESET)
		x.expectResets()
	}},
	{"close-then-data", false, func(x *closeRun) {
		x.active.Close()
		x.expect("active closes", tcp.FinWait2, tcp.CloseWait)
		x.read("passive", x.passive, io.EOF)
		if _, err := x.passive.Write([]byte("too late")); err != nil {
			x.t.Fatalf("passive write: %v", err)
		}
		x.expect("data to the closed side", tcp.Closed, tcp.Closed)
		x.expectResets()
		// Linux (SCENARIOS.md, "RST in CLOSE_WAIT"): the FIN came first,
		// so read returns 0, and write fails with EPIPE.
		_, werr := x.passive.Write([]byte("x"))
		_, rerr := x.passive.Read(make([]byte, 1))
		x.seen = append(x.seen, fmt.Sprintf("%-34s write %s, read %s", "passive after the RST:", errText(werr), errText(rerr)))
		if x.pkind == TCPWave && (!errors.Is(werr, syscall.EPIPE) || rerr != io.EOF) {
			x.t.Errorf("tcpwave after a RST in CLOSE_WAIT: write %v, read %v; want EPIPE and EOF", werr, rerr)
		}
		if werr == nil {
			x.t.Errorf("write after the RST succeeded")
		}
	}},
}

// fourWay is the four-way close with each transient state held long
// enough to be seen: the passive side's ACK of the FIN is held back
// (FIN_WAIT_1), then the active side's last ACK (LAST_ACK).
func fourWay(x *closeRun) {
	x.expect("established", tcp.Established, tcp.Established)
	x.pport.Hold()
	x.active.Close()
	x.expect("active closed, ACK held", tcp.FinWait1, tcp.CloseWait)
	x.pport.Release()
	x.expect("ACK of the FIN delivered", tcp.FinWait2, tcp.CloseWait)
	x.read("passive", x.passive, io.EOF)
	x.aport.Hold()
	x.passive.Close()
	x.expect("passive closed, last ACK held", tcp.TimeWait, tcp.LastAck)
	x.aport.Release()
	x.expect("last ACK delivered", tcp.TimeWait, tcp.Closed)
	x.expect("after TIME_WAIT", tcp.Closed, tcp.Closed)
}

// TestClose runs every close variant with each stack as the side that
// closes first, over IPv4 and IPv6, checking the states of both sides at
// each step: tcpwave's from Stack.Connections, gVisor's from its
// endpoint's state. Run with -v to see the states observed.
func TestClose(t *testing.T) {
	for _, cc := range closeCases {
		for _, closer := range []Kind{TCPWave, GVisor} {
			for _, network := range networks {
				t.Run(fmt.Sprintf("%s/%s-closes/%s", cc.name, closer, network), func(t *testing.T) {
					t.Parallel()
					other := GVisor
					if closer == GVisor {
						other = TCPWave
					}
					client, server := closer, other
					if cc.serverCloses {
						client, server = other, closer
					}
					rec := new(recorder)
					e := newEnv(t, client, server, Config{TimeWait: closeTimeWait, TCPWave: []tcpwave.Option{tcpwave.WithObserver(rec)}})
					c, s := e.connect(t, network)
					deadline(c, s)
					x := &closeRun{t: t, active: c, passive: s, akind: client, pkind: server, aport: e.cport, pport: e.sport,
						hosts: map[Kind]Host{client: e.client, server: e.server}}
					if cc.serverCloses {
						x.active, x.passive, x.akind, x.pkind, x.aport, x.pport = s, c, server, client, e.sport, e.cport
					}
					defer func() {
						t.Logf("active %s, passive %s:\n\t%s", x.akind, x.pkind, strings.Join(x.seen, "\n\t"))
						rec.mu.Lock()
						t.Logf("tcpwave's state changes:\n\t%s", strings.Join(rec.changes, "\n\t"))
						rec.mu.Unlock()
					}()
					cc.run(x)
					// Nothing is left behind: no connection, no TIME_WAIT record.
					if tw, ok := x.hosts[TCPWave].(*TCPWaveHost); ok && !t.Failed() {
						if rows := tw.Stack.Connections(); len(rows) != 0 {
							t.Errorf("tcpwave keeps %d rows after the close: %+v", len(rows), rows)
						}
					}
				})
			}
		}
	}
}
