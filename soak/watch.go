package soak

import (
	"errors"
	"fmt"
	"io"
	"syscall"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/tcp"
)

// watchAt arranges for the watchdog to look at the side at t.
func (sd *side) watchAt(t clock.Instant) {
	if !sd.watching {
		sd.watching = true
		sd.w.n.At(t, sd.watchdog)
	}
}

// watchdog is the application's patience. A side that made no progress
// for Config.Patience gives up (closes) if its peer has gone away; if its
// peer is alive it waits for the network to heal, and a stall of that
// long on the healed network breaks the liveness invariant.
func (sd *side) watchdog() {
	sd.watching = false
	if !sd.running() || sd.w.viol != nil {
		return
	}
	w := sd.w
	alive, where := w.peerAlive(sd)
	since := sd.lastProgress
	if alive {
		since = max(since, w.heal)
	}
	if due := since.Add(w.cfg.Patience); w.now() < due {
		sd.watchAt(due)
		return
	}
	if alive {
		w.violate("liveness", "%s made no progress since %v (%s); its peer is alive (%s)", sd.name, sd.lastProgress, sd.status(), where)
		return
	}
	sd.quit = "gave up"
	w.res.GaveUp++
	sd.close(false)
}

// peerAlive reports whether sd's peer still holds the connection, and
// where it stands.
func (w *world) peerAlive(sd *side) (bool, string) {
	if peer := sd.peer(); peer != nil {
		if peer.g.dead {
			return false, "its host crashed"
		}
		st := peer.so.State()
		return st != tcp.Closed, peer.status()
	}
	// A client whose server has not accepted it: is the connection still
	// in the server's table?
	h := w.hosts[sd.p.plan.to]
	if h.crashedDuring(sd.p.start, w.now()) {
		return false, "server host crashed"
	}
	for _, r := range h.gen.st.Connections(w.now()) {
		if r.Local == sd.p.key.server && r.Peer == sd.p.key.client && r.State != tcp.Closed {
			return true, "not accepted, " + r.State.String()
		}
	}
	return false, "not in the server's table"
}

// status describes the side for messages.
func (sd *side) status() string {
	s := fmt.Sprintf("%s %v>%v %v, wrote %d/%d, read %d/%d", sd.name, sd.so.Local(), sd.so.Remote(), sd.so.State(), sd.written, sd.plan.bytes, sd.read, sd.peerPlan().bytes)
	switch {
	case sd.crashed:
		s += ", crashed"
	case sd.finished:
		s += ", closed"
	}
	if sd.eof {
		s += ", EOF"
	}
	if sd.err != nil {
		s += ", " + sd.errOp + " " + errName(sd.err)
	}
	if sd.quit != "" {
		s += ", " + sd.quit
	}
	return s
}

// errName names an error as the trace does.
func errName(err error) string {
	if err == nil {
		return "0"
	}
	if err == io.EOF {
		return "EOF"
	}
	var en syscall.Errno
	if errors.As(err, &en) {
		switch en {
		case syscall.ECONNRESET:
			return "ECONNRESET"
		case syscall.ECONNREFUSED:
			return "ECONNREFUSED"
		case syscall.ETIMEDOUT:
			return "ETIMEDOUT"
		case syscall.EPIPE:
			return "EPIPE"
		case syscall.ENOTCONN:
			return "ENOTCONN"
		case syscall.EADDRNOTAVAIL:
			return "EADDRNOTAVAIL"
		}
	}
	return err.Error()
}
