package soak

import (
	"errors"
	"fmt"
	"strings"
	"syscall"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/tcp"
)

// check runs the end-of-run invariants, once every timer has fired.
func (w *world) check() {
	for _, p := range w.pairs {
		if w.checkPair(p); w.viol != nil {
			return
		}
	}
	for _, h := range w.hosts {
		if w.checkStack(h); w.viol != nil {
			return
		}
	}
	var out uint64
	for _, g := range w.gens {
		out += g.st.Counters().OutSegs
	}
	if out != w.onWire {
		w.violate("counters", "the stacks counted %d segments sent (OutSegs), the wire saw %d", out, w.onWire)
	}
}

// checkPair checks what both applications of a connection got.
func (w *world) checkPair(p *pair) {
	c, s := p.c, p.s
	switch {
	case c == nil && p.connErr != nil:
		return // no port to connect from
	case c == nil:
		w.violate("closed", "client %d never started", p.id)
		return
	case !c.finished && !c.crashed:
		w.violate("closed", "%s never finished (%s)", c.name, c.status())
		return
	case s != nil && !s.finished && !s.crashed:
		w.violate("closed", "%s never finished (%s)", s.name, s.status())
		return
	case !c.connected && s != nil:
		w.violate("integrity", "%s was accepted, but its connect never succeeded (%s)", c.name, c.status())
		return
	}
	for _, x := range []*side{c, s} {
		if x != nil && x.quit != "" && x.quit != "gave up" {
			w.res.Quit++
		}
	}
	switch {
	case !c.connected:
		return
	case s == nil:
		// The server's host may have crashed with the connection in its
		// accept queue: the client's data was ACKed and it is not told.
		// Or a SYN cookie made the connection wrongly (see accepted).
		if !gone(c) && !p.ghosted(w) && !w.hosts[p.plan.to].crashedDuring(p.start, clock.Never) {
			w.violate("completeness", "%s connected, its server never accepted it, and it was told of no error (%s)", c.name, c.status())
		}
		return
	}
	up := w.checkDirection(c, s)
	down := w.checkDirection(s, c)
	if w.viol != nil {
		return
	}
	if up && down {
		w.res.Complete++
	}
	w.checkClean(p)
}

// checkDirection checks the bytes W wrote and R read, and reports whether
// all of them arrived.
func (w *world) checkDirection(wr, rd *side) bool {
	switch {
	case rd.ghost:
		return false // a ghost's FIN ended the stream (see accepted)
	case rd.eof:
		return true // checked when the EOF came: every byte, then a FIN
	case rd.read == wr.plan.bytes && wr.written == wr.plan.bytes:
		return true // closed after reading all, without waiting for EOF
	case rd.crashed, rd.err != nil, rd.quit == abort.String(), rd.quit == closeEarly.String():
		return false // the reader died, was told of an error, or stopped reading by itself
	case rd.quit == "gave up" && gone(wr):
		return false // the writer went away; the reader gave up waiting
	}
	w.violate("completeness", "%s stopped after %d of the %d bytes its peer wrote, without EOF or an error (%s; peer: %s)",
		rd.name, rd.read, wr.written, rd.status(), wr.status())
	return false
}

// gone reports whether sd's end of the connection ended abnormally: its
// host crashed, its application aborted or was told of an error, or the
// connection it had closed was reset or timed out.
func gone(sd *side) bool {
	return sd.g.dead || sd.err != nil || sd.quit != "" || sd.connErr() != nil
}

// connErr is the error the connection itself holds, which nobody read
// when the application had closed it already.
func (sd *side) connErr() error {
	if sd.conn == nil {
		return nil
	}
	return sd.conn.Err()
}

// checkClean checks that a connection nobody disturbed ended without an
// error: no crash of either host once it started, no abort, early close
// or giving up, and no timeout on either side. A reset or EPIPE there has
// no cause.
func (w *world) checkClean(p *pair) {
	c, s := p.c, p.s
	if p.cookie || p.ghosted(w) {
		// A segment that overtakes the ACK returning a SYN cookie fails
		// the cookie check and draws a RST (Linux cookie_v4_check, then
		// tcp_rcv_state_process in LISTEN): a reset with no other cause.
		return
	}
	if w.hosts[p.plan.from].crashedDuring(p.start, clock.Never) || w.hosts[p.plan.to].crashedDuring(p.start, clock.Never) {
		return
	}
	for _, x := range []*side{c, s} {
		if x.crashed || x.quit != "" || errors.Is(x.err, syscall.ETIMEDOUT) || errors.Is(x.connErr(), syscall.ETIMEDOUT) {
			return
		}
	}
	for _, x := range []*side{c, s} {
		if x.err != nil {
			w.violate("errors", "%s: %s failed with %s on a %s connection that nobody aborted, closed early or crashed and that never timed out (%s; peer: %s)",
				x.name, x.errOp, errName(x.err), p.plan.mode, x.status(), x.peer().status())
			return
		}
	}
}

// checkStack checks a host's stack after the last timer: nothing left,
// every connection its applications had CLOSED, counters consistent.
func (w *world) checkStack(h *host) {
	st := h.gen.st
	if rows := st.Connections(w.now()); len(rows) > 0 || !st.Idle() {
		var b strings.Builder
		for i, r := range rows {
			if i == 5 {
				b.WriteString(" ...")
				break
			}
			fmt.Fprintf(&b, " [%v %v>%v timer %s]", r.State, r.Local, r.Peer, r.Timer)
		}
		w.violate("closed", "host %s is not idle after the last timer: %d sockets%s", h.name, len(rows), b.String())
		return
	}
	if d := st.Deadline(); d != clock.Never {
		w.violate("closed", "host %s still has a timer at %v", h.name, d)
		return
	}
	if n := st.Orphans(); n != 0 {
		w.violate("closed", "host %s still counts %d orphaned connections", h.name, n)
		return
	}
	for _, sd := range h.gen.sides {
		if st := sd.so.State(); st != tcp.Closed {
			w.violate("closed", "%s ended in %v", sd.name, st)
			return
		}
	}
	w.checkCounters(h.gen, "at the end")
}

// checkCounters compares a stack's MIB counters with what its
// applications saw.
func (w *world) checkCounters(g *stackGen, when string) {
	c := g.st.Counters()
	queued := uint64(0) // established, waiting for accept
	for _, r := range g.st.Connections(w.now()) {
		if r.State == tcp.Listen {
			queued += uint64(r.RecvQ)
		}
	}
	var what string
	switch {
	case c.ActiveOpens != g.connects:
		what = fmt.Sprintf("ActiveOpens %d, but its clients made %d connects", c.ActiveOpens, g.connects)
	case c.PassiveOpens != g.accepted+queued:
		what = fmt.Sprintf("PassiveOpens %d, but its servers accepted %d connections and %d wait to be", c.PassiveOpens, g.accepted, queued)
	case c.TCPAbortOnLinger != g.abortOnLinger:
		what = fmt.Sprintf("TCPAbortOnLinger %d, but its applications closed %d connections with SO_LINGER 0", c.TCPAbortOnLinger, g.abortOnLinger)
	case c.TCPAbortOnClose != g.abortOnClose:
		what = fmt.Sprintf("TCPAbortOnClose %d, but its applications closed %d connections with unread data", c.TCPAbortOnClose, g.abortOnClose)
	case c.AttemptFails < g.connectFails:
		what = fmt.Sprintf("AttemptFails %d, but %d of its connects failed", c.AttemptFails, g.connectFails)
	case c.EstabResets > g.established+c.PassiveOpens:
		what = fmt.Sprintf("EstabResets %d, more than the %d connections established", c.EstabResets, g.established+c.PassiveOpens)
	case c.TWKilled+c.TWRecycled > c.TW:
		what = fmt.Sprintf("TWKilled %d + TWRecycled %d, more than the %d TIME_WAIT entries", c.TWKilled, c.TWRecycled, c.TW)
	case c.TCPAbortOnMemory != 0:
		what = fmt.Sprintf("TCPAbortOnMemory %d, but no host holds anywhere near MaxOrphans orphans", c.TCPAbortOnMemory)
	case c.RetransSegs > c.OutSegs:
		what = fmt.Sprintf("RetransSegs %d, more than OutSegs %d", c.RetransSegs, c.OutSegs)
	default:
		return
	}
	w.violate("counters", "host %s (stack from %v) %s: %s", g.h.name, g.born, when, what)
}
