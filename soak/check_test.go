package soak

import (
	"net/netip"
	"syscall"
	"testing"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/stack"
)

// fakePair is a connection between two fake applications, with nothing
// run: for feeding the checks streams and endings by hand.
func fakePair(t *testing.T) (*world, *pair) {
	t.Helper()
	cfg := DefaultConfig()
	w := &world{seed: 9, cfg: &cfg, scratch: make([]byte, 64<<10)}
	for i, name := range []string{"A", "B"} {
		addr := netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)})
		st, err := stack.New(stack.DefaultOptions(addr), nil)
		if err != nil {
			t.Fatal(err)
		}
		h := &host{w: w, name: name, addr: addr}
		h.gen = &stackGen{h: h, st: st}
		w.hosts = append(w.hosts, h)
	}
	p := &pair{plan: pairPlan{from: 0, to: 1, c: sidePlan{bytes: 100}, s: sidePlan{bytes: 50}}}
	w.bySock, w.lastUse = make(map[*stack.Socket]*side), make(map[[2]netip.AddrPort]clock.Instant)
	p.prevUse = clock.Never
	p.c = w.newSide(p, true, w.hosts[0].gen, w.hosts[0].gen.st.NewSocket())
	p.s = w.newSide(p, false, w.hosts[1].gen, w.hosts[1].gen.st.NewSocket())
	for _, sd := range []*side{p.c, p.s} {
		sd.connected, sd.finished = true, true
	}
	return w, p
}

// The checks catch each way a byte stream or its ending can be wrong, and
// accept the endings that are right.
func TestChecks(t *testing.T) {
	stream := func(key uint64, n int) []byte {
		b := make([]byte, n)
		fill(key, 0, b)
		return b
	}
	tests := []struct {
		name string
		run  func(w *world, c, s *side) // plays the connection and runs a check
		want string                     // the invariant broken, "" for none
	}{
		{"intact stream", func(w *world, c, s *side) {
			c.written = 100
			s.check(stream(c.outKey, 100))
		}, ""},
		{"flipped bit", func(w *world, c, s *side) {
			c.written = 100
			b := stream(c.outKey, 100)
			b[57] ^= 0x10
			s.check(b)
		}, "integrity"},
		{"another connection's bytes", func(w *world, c, s *side) {
			c.written = 100
			s.check(stream(s.outKey, 100))
		}, "integrity"},
		{"bytes never written", func(w *world, c, s *side) {
			c.written = 60
			s.check(stream(c.outKey, 100))
		}, "integrity"},
		{"EOF after everything and a FIN", func(w *world, c, s *side) {
			c.written, c.finSent, s.read = 100, true, 100
			s.checkEOF()
		}, ""},
		{"EOF too early", func(w *world, c, s *side) {
			c.written, c.finSent, s.read = 100, true, 99
			s.checkEOF()
		}, "eof"},
		{"EOF without a FIN", func(w *world, c, s *side) {
			c.written, s.read = 100, 100
			s.checkEOF()
		}, "eof"},
		{"reader stops short with no error", func(w *world, c, s *side) {
			c.written, s.read = 100, 40
			w.checkDirection(c, s)
		}, "completeness"},
		{"reader stops short on ECONNRESET", func(w *world, c, s *side) {
			c.written, s.read, s.err = 100, 40, syscall.ECONNRESET
			w.checkDirection(c, s)
		}, ""},
		{"reader gives up on a writer that aborted", func(w *world, c, s *side) {
			c.written, s.read, c.quit, s.quit = 100, 40, "abort", "gave up"
			w.checkDirection(c, s)
		}, ""},
		{"reader gives up on a writer that ended cleanly", func(w *world, c, s *side) {
			c.written, s.read, s.quit = 100, 40, "gave up"
			w.checkDirection(c, s)
		}, "completeness"},
		{"reset that nobody caused", func(w *world, c, s *side) {
			c.err, c.errOp = syscall.ECONNRESET, "read"
			w.checkClean(c.p)
		}, "errors"},
		{"reset after the peer aborted", func(w *world, c, s *side) {
			c.err, c.errOp, s.quit = syscall.ECONNRESET, "read", "abort"
			w.checkClean(c.p)
		}, ""},
		{"reset of a connection a SYN cookie made", func(w *world, c, s *side) {
			c.err, c.errOp, c.p.cookie = syscall.ECONNRESET, "read", true
			w.checkClean(c.p)
		}, ""},
		{"EOF from a server that never accepted", func(w *world, c, s *side) {
			c.p.s = nil
			c.checkEOF()
		}, "eof"},
		{"EOF from a ghost a SYN cookie made", func(w *world, c, s *side) {
			c.p.s = nil
			w.ghosts = map[[2]netip.AddrPort]bool{c.p.tuple(): true}
			c.checkEOF()
		}, ""},
		{"EOF from a ghost after the server aborted", func(w *world, c, s *side) {
			s.written, s.quit = 100, "abort"
			w.ghosts = map[[2]netip.AddrPort]bool{c.p.tuple(): true}
			c.checkEOF()
		}, ""},
		{"reset after a timeout", func(w *world, c, s *side) {
			c.err, c.errOp, s.err = syscall.ECONNRESET, "read", syscall.ETIMEDOUT
			w.checkClean(c.p)
		}, ""},
		{"reset after the server's host crashed", func(w *world, c, s *side) {
			c.err, c.errOp = syscall.ECONNRESET, "read"
			w.hosts[1].crashes = append(w.hosts[1].crashes, 5)
			w.checkClean(c.p)
		}, ""},
		{"refusal with the listener up", func(w *world, c, s *side) {
			c.p.s = nil
			c.finished, w.active = false, 1
			c.connectFailed(syscall.ECONNREFUSED)
		}, "errors"},
		{"refusal just after another attempt on the same 4-tuple", func(w *world, c, s *side) {
			c.p.s = nil
			c.finished, w.active = false, 1
			c.p.start, c.p.prevUse = 10e9, 9e9
			c.connectFailed(syscall.ECONNREFUSED)
		}, ""},
		{"refusal while the listener was down", func(w *world, c, s *side) {
			c.p.s = nil
			c.finished, w.active = false, 1
			w.hosts[1].down = append(w.hosts[1].down, span{0, 1})
			c.connectFailed(syscall.ECONNREFUSED)
		}, ""},
		{"client accepted by no server and told nothing", func(w *world, c, s *side) {
			c.p.s = nil
			w.checkPair(c.p)
		}, "completeness"},
		{"client accepted by no server whose host crashed", func(w *world, c, s *side) {
			c.p.s = nil
			w.hosts[1].crashes = append(w.hosts[1].crashes, 5)
			w.checkPair(c.p)
		}, ""},
		{"server accepted a connection whose connect failed", func(w *world, c, s *side) {
			c.connected, c.err, c.p.connErr = false, syscall.ETIMEDOUT, syscall.ETIMEDOUT
			w.checkPair(c.p)
		}, "integrity"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, p := fakePair(t)
			tc.run(w, p.c, p.s)
			switch {
			case tc.want == "" && w.viol != nil:
				t.Fatalf("unexpected violation: %v", w.viol)
			case tc.want != "" && w.viol == nil:
				t.Fatalf("no violation, want %s", tc.want)
			case tc.want != "" && w.viol.Invariant != tc.want:
				t.Fatalf("got %v, want a %s violation", w.viol, tc.want)
			}
		})
	}
}
