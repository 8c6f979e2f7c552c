package soak

import (
	"errors"
	"fmt"
	"net/netip"
	"syscall"
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/stack"
	"github.com/tcpwave/tcpwave/tcp"
)

// pair is one connection: a client and, once accepted, its server side.
type pair struct {
	id      int
	plan    pairPlan
	c, s    *side
	key     connKey
	start   clock.Instant
	connErr error // the error connect failed with
	done    bool  // resolved: accepted, failed, or the client is gone
	// prevUse is when an earlier client last used the same 4-tuple
	// (clock.Never if none did).
	prevUse clock.Instant
	// cookiesBefore is how many SYN cookies the server's stack had sent
	// when the client connected; cookie is set if it sent more before the
	// handshake was over: the connection may have been made by a cookie.
	server        *stack.Stack // the server host's stack when the client connected
	cookiesBefore uint64
	cookie        bool
}

// ghosted reports whether the server took a connection on the pair's
// 4-tuple for a ghost a SYN cookie made (see accepted): such a connection
// may impersonate the pair's server, with a FIN of its own after an abort
// or in the middle of the stream.
func (p *pair) ghosted(w *world) bool { return w.ghosts[p.tuple()] }

// side is one application's end of a connection.
type side struct {
	w      *world
	p      *pair
	client bool
	g      *stackGen
	so     *stack.Socket
	conn   *tcp.Conn // so's connection (Close may forget it)
	plan   *sidePlan
	name   string // "client 12 on A", for messages

	outKey, inKey uint64 // the streams written and read
	written, read int

	connected bool
	finished  bool // the application closed its handle (or died)
	crashed   bool // its host crashed under it
	wrShut    bool // write side shut down (or closed)
	finSent   bool // a FIN follows the data written
	eof       bool
	ghost     bool // the EOF came from a ghost (see accepted)
	ready     bool // simultaneous: all written and all read
	err       error
	errOp     string
	quit      string // why the application stopped early by itself

	lastProgress clock.Instant
	lastState    tcp.State
	pausedUntil  clock.Instant // reading pauses until then
	thinkUntil   clock.Instant // writing pauses until then
	pauses       int           // pauses made
	watching     bool          // a watchdog alarm is set
	end          clock.Instant // when the application finished
}

func (w *world) newSide(p *pair, client bool, g *stackGen, so *stack.Socket) *side {
	sd := &side{w: w, p: p, client: client, g: g, so: so, conn: so.Conn(), lastState: tcp.SynSent}
	keyC, keyS := mix(w.seed^uint64(2*p.id)<<1), mix(w.seed^uint64(2*p.id+1)<<1)
	if client {
		sd.plan, sd.outKey, sd.inKey = &p.plan.c, keyC, keyS
		sd.name = fmt.Sprintf("client %d on %s", p.id, g.h.name)
	} else {
		sd.plan, sd.outKey, sd.inKey = &p.plan.s, keyS, keyC
		sd.name = fmt.Sprintf("server of client %d on %s", p.id, g.h.name)
	}
	g.sides = append(g.sides, sd)
	w.bySock[so] = sd
	w.active++
	return sd
}

func (sd *side) peer() *side {
	if sd.client {
		return sd.p.s
	}
	return sd.p.c
}

func (sd *side) peerPlan() *sidePlan {
	if sd.client {
		return &sd.p.plan.s
	}
	return &sd.p.plan.c
}

// running reports whether the application still acts on the connection.
func (sd *side) running() bool { return !sd.finished && !sd.crashed }

// startClient opens client p's connection.
func (w *world) startClient(p *pair) {
	w.started++
	h, to := w.hosts[p.plan.from], w.hosts[p.plan.to]
	so := h.gen.st.NewSocket()
	w.res.Conns++
	if err := so.Connect(w.now(), netip.AddrPortFrom(to.addr, Port)); err != nil {
		if !errors.Is(err, syscall.EADDRNOTAVAIL) {
			w.violate("errors", "client %d on %s: connect returned %v at once", p.id, h.name, err)
			return
		}
		// Every port of a narrow ephemeral range is taken.
		w.record(h.name, "connect", errName(err))
		p.connErr = err
		w.res.Failed++
		w.resolve(p)
		return
	}
	h.gen.connects++
	p.server = to.gen.st
	p.cookiesBefore = p.server.Counters().SyncookiesSent
	p.start = w.now()
	p.key = connKey{client: so.Local(), server: so.Remote(), iss: uint32(so.Conn().ISS())}
	p.prevUse = clock.Never
	if t, ok := w.lastUse[p.tuple()]; ok {
		p.prevUse = t
	}
	w.lastUse[p.tuple()] = p.start
	if w.byKey[p.key] != nil {
		w.violate("errors", "client %d on %s: connection %v>%v with ISN %d already made", p.id, h.name, p.key.client, p.key.server, p.key.iss)
		return
	}
	w.byKey[p.key] = p
	p.c = w.newSide(p, true, h.gen, so)
	p.c.quitLater()
	p.c.step()
}

// accepted starts the server side of a connection host h accepted.
func (w *world) accepted(h *host, so *stack.Socket) {
	key := connKey{client: so.Remote(), server: so.Local(), iss: uint32(so.Conn().IRS())}
	p := w.byKey[key]
	w.record(h.name, "accept", "0")
	if (p == nil || p.s != nil) && h.gen.st.Counters().SyncookiesRecv > 0 {
		// A SYN cookie cannot tell a late or duplicated ACK of a
		// connection that is over from the ACK of a handshake, nor the
		// first byte of the stream from one of the next three: Linux
		// (cookie_v4_check) and tcpwave make a connection of such an ACK
		// that no client opened, or with the wrong initial sequence
		// number. The server closes it.
		w.res.Ghosts++
		w.ghosts[[2]netip.AddrPort{key.client, key.server}] = true
		if so.State() != tcp.Closed && so.Conn().RecvQ() > 0 {
			h.gen.abortOnClose++
		}
		so.Close(w.now())
		return
	}
	switch {
	case p == nil:
		w.violate("integrity", "host %s accepted %v>%v (peer ISN %d), which no client opened", h.name, key.server, key.client, key.iss)
		so.Close(w.now())
		return
	case p.s != nil:
		w.violate("integrity", "host %s accepted client %d's connection twice", h.name, p.id)
		so.Close(w.now())
		return
	}
	sd := w.newSide(p, false, h.gen, so)
	p.s = sd
	w.resolve(p)
	sd.connect()
	sd.step()
}

// tuple is the connection's 4-tuple.
func (p *pair) tuple() [2]netip.AddrPort { return [2]netip.AddrPort{p.key.client, p.key.server} }

// resolve notes that client p no longer waits for a server.
func (w *world) resolve(p *pair) {
	if !p.done {
		p.done = true
		w.unresolved--
		w.maybeStopServers()
	}
}

// connect starts the application's part once the handshake is over.
func (sd *side) connect() {
	sd.connected = true
	sd.lastProgress = sd.w.now()
	sd.so.SetNoDelay(sd.plan.noDelay)
	sd.watchAt(sd.lastProgress.Add(sd.w.cfg.Patience))
	if !sd.client {
		sd.quitLater()
	}
}

// quitLater arranges for the side that aborts or closes early to do so;
// a client's clock starts with its connect, so that it may give up in
// SYN_SENT.
func (sd *side) quitLater() {
	m := sd.p.plan.mode
	if !sd.plan.special || m != abort && m != closeEarly {
		return
	}
	sd.w.n.After(sd.plan.quitAfter, func() {
		if sd.running() {
			sd.quit = m.String()
			sd.close(m == abort)
		}
	})
}

// step is the application's reaction to readiness: finish connecting,
// write what it can, read what there is, and end the connection as its
// plan says.
func (sd *side) step() {
	if !sd.running() || sd.w.viol != nil {
		if !sd.crashed {
			sd.closed()
		}
		return
	}
	w, so := sd.w, sd.so
	now := w.now()
	if !sd.connected {
		if !so.Connected() {
			return
		}
		sd.p.cookie = sd.p.server.Counters().SyncookiesSent > sd.p.cookiesBefore
		if err := so.ConnectError(); err != nil {
			sd.connectFailed(err)
			return
		}
		sd.g.established++
		w.res.Established++
		w.record(sd.g.h.name, "connect", "0")
		sd.connect()
	}
	if st := so.State(); st != sd.lastState {
		sd.lastState, sd.lastProgress = st, now
	}
	if !sd.write(now) || !sd.readAll(now) {
		return
	}
	sd.finish()
}

// finish ends the connection when the mode says it is time.
func (sd *side) finish() {
	all := sd.written == sd.plan.bytes && sd.read == sd.peerPlan().bytes
	switch sd.p.plan.mode {
	case closeFirst:
		if sd.plan.special && all || !sd.plan.special && sd.eof && sd.written == sd.plan.bytes {
			sd.close(false)
		}
	case simultaneous:
		if sd.eof && sd.written == sd.plan.bytes {
			sd.close(false) // the peer closed first after all
			return
		}
		if !all || sd.ready {
			return
		}
		sd.ready = true
		if peer := sd.peer(); peer != nil && peer.ready && peer.running() {
			sd.w.n.After(0, func() {
				for _, x := range []*side{sd, peer} {
					if x.running() {
						x.close(false)
					}
				}
			})
		}
	default:
		if sd.wrShut && sd.eof {
			sd.close(false)
		}
	}
}

// close closes the application's handle: with linger0, SO_LINGER {on, 0}
// first (an abort).
func (sd *side) close(linger0 bool) {
	w, so := sd.w, sd.so
	st := so.State()
	if st != tcp.Closed { // as Linux __tcp_close counts: unread data first
		switch {
		case sd.conn.RecvQ() > 0:
			sd.g.abortOnClose++
		case linger0:
			sd.g.abortOnLinger++
		case !sd.wrShut:
			sd.finSent = st == tcp.Established || st == tcp.CloseWait
		}
	}
	call := "close"
	if linger0 {
		so.SetLinger(true, 0)
		call = "close(SO_LINGER 0)"
	}
	so.Close(w.now())
	w.record(sd.g.h.name, call, "0")
	sd.wrShut = true
	sd.stop()
}

// stop notes that the application is done with the connection.
func (sd *side) stop() {
	sd.finished = true
	sd.end = sd.w.now()
	sd.w.active--
	if sd.client {
		sd.w.lastUse[sd.p.tuple()] = sd.end
	}
	sd.closed()
}

// closed resolves a client whose application is done once its
// connection is gone too: until then a server may still accept it.
func (sd *side) closed() {
	if sd.client && sd.finished && sd.so.State() == tcp.Closed {
		sd.w.resolve(sd.p)
	}
}

// die is the end of an application whose host crashed.
func (sd *side) die() {
	sd.crashed = true
	sd.end = sd.w.now()
	sd.w.active--
	if sd.client {
		sd.w.lastUse[sd.p.tuple()] = sd.end
		sd.w.resolve(sd.p)
	}
}

// connectFailed ends a client whose connect failed.
func (sd *side) connectFailed(err error) {
	w, p := sd.w, sd.p
	p.connErr, sd.err, sd.errOp = err, err, "connect"
	sd.g.connectFails++
	w.res.Failed++
	w.record(sd.g.h.name, "connect", errName(err))
	switch {
	case errors.Is(err, syscall.ETIMEDOUT):
	case errors.Is(err, syscall.ECONNREFUSED):
		// A refusal needs a closed listener, or an earlier attempt on the
		// same 4-tuple whose SYN_RCVD the new SYN met: Linux
		// (tcp_check_req) and tcpwave answer it with RST.
		to := w.hosts[p.plan.to]
		if !to.listenerDown(p.start, w.now()) && !(p.prevUse != clock.Never && p.start.Sub(p.prevUse) < 2*time.Minute) {
			w.violate("errors", "%s %v>%v: connect refused at %v, but host %s listened all along since %v", sd.name, sd.so.Local(), sd.so.Remote(), w.now(), to.name, p.start)
		}
	default:
		w.violate("errors", "%s: connect failed with %v", sd.name, err)
	}
	sd.so.Close(w.now())
	sd.stop()
}

// fail ends the application on an error from a call.
func (sd *side) fail(op string, err error) {
	w := sd.w
	sd.err, sd.errOp = err, op
	w.res.Errors++
	w.record(sd.g.h.name, op, errName(err))
	if !expectedErr(err) {
		w.violate("errors", "%s: %s failed with %v", sd.name, op, err)
	}
	sd.close(false)
}

// expectedErr reports whether err is one a connection may end with.
func expectedErr(err error) bool {
	for _, e := range []error{syscall.ECONNRESET, syscall.ETIMEDOUT, syscall.EPIPE, syscall.ENOTCONN} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
