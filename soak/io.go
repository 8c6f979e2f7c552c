package soak

import (
	"errors"
	"io"
	"syscall"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/stack"
	"github.com/tcpwave/tcpwave/tcp"
)

// write writes until the plan's bytes are written or the buffer is full,
// then shuts the write side down if the mode says so. It reports whether
// the application goes on.
func (sd *side) write(now clock.Instant) bool {
	if sd.wrShut || now < sd.thinkUntil {
		return true
	}
	for sd.written < sd.plan.bytes {
		k := min(sd.plan.writeChunk, sd.plan.bytes-sd.written)
		buf := sd.w.wbuf[:k]
		fill(sd.outKey, sd.written, buf)
		n, err := sd.so.Write(now, buf)
		if n > 0 {
			sd.written += n
			sd.lastProgress = now
		}
		if errors.Is(err, syscall.EAGAIN) {
			return true
		}
		if err != nil {
			sd.fail("write", err)
			return false
		}
		if sd.written < sd.plan.bytes && sd.pauses < sd.plan.pauses && sd.plan.think > 0 && sd.w.rng.Float64() < sd.plan.think {
			sd.pauses++
			d := drawPause(sd.w.rng)
			sd.thinkUntil = now.Add(d)
			sd.w.n.After(d, sd.step)
			return true
		}
	}
	if sd.p.plan.mode == closeFirst || sd.p.plan.mode == simultaneous {
		return true // these close without shutting down first
	}
	st := sd.so.State()
	err := sd.so.Shutdown(now, stack.ShutWR)
	sd.wrShut = true
	sd.w.record(sd.g.h.name, "shutdown(SHUT_WR)", errName(err))
	if err != nil {
		sd.fail("shutdown", err)
		return false
	}
	sd.finSent = st == tcp.Established || st == tcp.CloseWait
	return true
}

// readAll reads until there is nothing more, checking every byte. It
// reports whether the application goes on.
func (sd *side) readAll(now clock.Instant) bool {
	if sd.eof || now < sd.pausedUntil {
		return true
	}
	w := sd.w
	got := false
	for {
		n, err := sd.so.Read(now, w.rbuf[:sd.plan.readChunk])
		if n > 0 {
			if !sd.check(w.rbuf[:n]) {
				return false
			}
			sd.read += n
			w.res.Bytes += int64(n)
			sd.lastProgress, got = now, true
		}
		switch {
		case err == nil:
			continue
		case errors.Is(err, syscall.EAGAIN):
		case err == io.EOF:
			sd.eof = true
			sd.lastProgress = now
			w.record(sd.g.h.name, "read", "EOF")
			if !sd.checkEOF() {
				return false
			}
		default:
			sd.fail("read", err)
			return false
		}
		break
	}
	if got && !sd.eof && sd.pauses < sd.plan.pauses && sd.plan.pause > 0 && w.rng.Float64() < sd.plan.pause {
		sd.pauses++
		d := drawPause(w.rng)
		sd.pausedUntil = now.Add(d)
		w.n.After(d, sd.step)
	}
	return true
}

// check verifies bytes just read: they must be the next bytes of the
// peer's stream, and the peer must have written them.
func (sd *side) check(p []byte) bool {
	w, peer := sd.w, sd.peer()
	switch {
	case peer == nil:
		w.violate("integrity", "%s read %d bytes from a server that never accepted it", sd.name, len(p))
	case sd.read+len(p) > peer.written:
		w.violate("integrity", "%s read bytes %d..%d, but its peer wrote only %d", sd.name, sd.read, sd.read+len(p), peer.written)
	default:
		i := mismatch(sd.inKey, sd.read, p, w.scratch)
		if i < 0 {
			return true
		}
		want := w.scratch[i]
		w.violate("integrity", "%s read byte %d as %#02x, its peer wrote %#02x", sd.name, sd.read+i, p[i], want)
	}
	return false
}

// checkEOF verifies an EOF: the peer sent its FIN after everything it
// wrote, and everything has been read.
func (sd *side) checkEOF() bool {
	w, peer := sd.w, sd.peer()
	switch {
	case sd.p.ghosted(w) && (peer == nil || !peer.finSent || sd.read != peer.written):
		sd.ghost = true // the FIN of a ghost (see accepted)
		return true
	case peer == nil:
		w.violate("eof", "%s got EOF from a server that never accepted it (%s)", sd.name, sd.status())
	case !peer.finSent:
		w.violate("eof", "%s got EOF after %d bytes, but its peer never sent a FIN (peer: %s)", sd.name, sd.read, peer.status())
	case sd.read != peer.written:
		w.violate("eof", "%s got EOF after %d bytes, its peer wrote %d", sd.name, sd.read, peer.written)
	default:
		return true
	}
	return false
}
