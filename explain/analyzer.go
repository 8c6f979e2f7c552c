package explain

import (
	"container/list"
	"net/netip"
	"sort"
	"time"

	"github.com/tcpwave/tcpwave/wire"
)

// Options tune the reconstruction. The zero value means Linux's defaults.
type Options struct {
	// TimeWait is how long the side that closed first holds TIME_WAIT
	// (Linux TCP_TIMEWAIT_LEN: 60 s).
	TimeWait time.Duration
	// FinTimeout is how long an orphaned connection stays in FIN_WAIT_2
	// (Linux tcp_fin_timeout: 60 s).
	FinTimeout time.Duration
	// Idle is how long a connection must be quiet before it is settled:
	// handed to the caller when it is over, set aside when it is idle
	// (default: 60 s of capture time). A capture's memory grows with the
	// connections active within Idle of each other, not with its length.
	Idle time.Duration
	// Linger is how long a connection that is over (both sides closed,
	// or one in TIME_WAIT) is kept for late segments — a FIN sent again
	// because its last ACK was lost — before it is handed over (default
	// 5 s of capture time). One with TIME_WAIT running is then held back
	// (MaxHeld) or handed over with TIME_WAIT's end projected.
	Linger time.Duration
	// MaxConns bounds the connections held at once (default 1,000,000):
	// past it the least recently seen are handed over early.
	MaxConns int
	// Reuse lets the Analyzer reuse a connection's memory once emit has
	// returned: emit must then keep neither the *Conn nor its slices (copy
	// what it needs). It saves an allocation per connection.
	Reuse bool
	// MaxSegments bounds the segments a Conn keeps for its ladder
	// (default 64; negative: none); control segments are kept first.
	MaxSegments int
	// MaxHeld bounds the connections over but with TIME_WAIT still
	// running that are held back after Linger, until their TIME_WAIT is
	// over in capture time, a new SYN reuses their 4-tuple (their row then
	// says TIME_WAIT was cut short) or the capture ends (default 256,
	// about 2.5 KB each; negative: none). Past it the longest held is
	// handed over, its TIME_WAIT's end projected. See recent.go.
	MaxHeld int
	// MaxRecent bounds the 4-tuples remembered, in a compact record of
	// about 90 bytes, after their connection was handed over with
	// TIME_WAIT running, until that TIME_WAIT is over in capture time
	// (default 32,768, more than the 28,232 ports of Linux's default
	// ephemeral range, so the TIME_WAITs of one client address towards one
	// service; negative: none): a new SYN on one within 2MSL is told a
	// reuse. Past it the oldest are forgotten.
	MaxRecent int
}

func (o Options) withDefaults() Options {
	if o.TimeWait <= 0 {
		o.TimeWait = 60 * time.Second
	}
	if o.FinTimeout <= 0 {
		o.FinTimeout = 60 * time.Second
	}
	if o.Idle <= 0 {
		o.Idle = 60 * time.Second
	}
	if o.Linger <= 0 {
		o.Linger = 5 * time.Second
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 1_000_000
	}
	if o.MaxSegments == 0 {
		o.MaxSegments = 64
	}
	if o.MaxHeld == 0 {
		o.MaxHeld = 256
	}
	if o.MaxRecent == 0 {
		o.MaxRecent = 32768
	}
	return o
}

// connKey is a 4-tuple with its two endpoints in a fixed order, as bytes
// (16 of address, 2 of port, each; IPv4 as IPv4-mapped), so that the map
// holds no pointer for the collector to scan and hashes little.
type connKey [36]byte

func keyOf(src, dst netip.AddrPort) connKey {
	if src.Compare(dst) > 0 {
		src, dst = dst, src
	}
	var k connKey
	a, b := src.Addr().As16(), dst.Addr().As16()
	copy(k[0:16], a[:])
	k[16], k[17] = byte(src.Port()>>8), byte(src.Port())
	copy(k[18:34], b[:])
	k[34], k[35] = byte(dst.Port()>>8), byte(dst.Port())
	return k
}

// Analyzer reconstructs connections from TCP segments fed in capture
// order and hands each one to its emit function once it is over (or at
// Finish). It keeps no payload and a bounded record per connection.
type Analyzer struct {
	opt     Options
	emit    func(*Conn)
	conns   map[connKey]*conn
	active  *list.List    // of *conn still open, least recently seen first
	closing *list.List    // of *conn that are over, least recently seen first
	held    *list.List    // of *conn over but in TIME_WAIT, held back after Linger, least recently seen first
	recent  recentSet     // 4-tuples handed over in TIME_WAIT
	twGuard map[*conn]int // connections that reused a recorded 4-tuple whose server may still answer from TIME_WAIT: the old ID
	base    time.Time
	based   bool
	last    time.Duration
	nextID  int
	// Conns counts the connections handed over so far.
	Conns int
	// Duplicates counts the segments skipped as captured twice.
	Duplicates int
	free       []*conn // records to reuse (Options.Reuse)
}

// maxFree bounds the records kept for reuse.
const maxFree = 1024

// recycle keeps c, handed over and forgotten, for reuse.
func (a *Analyzer) recycle(c *conn) {
	if !a.opt.Reuse || len(a.free) >= maxFree {
		return
	}
	*c = conn{}
	a.free = append(a.free, c)
}

// NewAnalyzer returns an Analyzer that hands every finished connection to
// emit.
func NewAnalyzer(opt Options, emit func(*Conn)) *Analyzer {
	opt = opt.withDefaults()
	return &Analyzer{opt: opt, emit: emit, conns: make(map[connKey]*conn), active: list.New(), closing: list.New(), held: list.New(),
		recent: newRecentSet(opt.MaxRecent)}
}

// Add feeds one segment. Segments must come in capture order; a segment
// whose time goes backwards a little (several interfaces) is taken as is.
func (a *Analyzer) Add(p *Packet) {
	if !a.based {
		a.base, a.based = p.T, true
	}
	t := p.T.Sub(a.base)
	if t > a.last {
		a.last = t
	}
	a.sweep(t)
	k := keyOf(p.Src, p.Dst)
	c := a.conns[k]
	f := p.TCP.Flags
	if c != nil && f&(wire.SYN|wire.ACK|wire.RST) == wire.SYN && c.newIncarnation(p) {
		old := c
		c = a.newConn(p, t)
		c.Incarnation = old.Incarnation + 1
		c.prev = old
		old.reusedAt(t, p)
		a.detach(old)
		a.conns[k] = c
	}
	if c == nil {
		if len(a.conns) >= a.opt.MaxConns {
			a.shed(t)
		}
		if c = a.reuseRecent(k, p, t); c == nil {
			c = a.newConn(p, t)
		}
		a.conns[k] = c
	}
	c.lastSeen = t
	from := Client
	if p.Src != c.Addr[Client] {
		from = Server
	}
	if c.duplicate(from, t, p) {
		a.Duplicates++
		return
	}
	if len(a.twGuard) > 0 && a.oldSegment(c, from, p) {
		return
	}
	if c.prev != nil && c.routeToPrev(from, p) {
		old := c.prev
		pf := Client // the sides of the old incarnation may be the other way round
		if p.Src != old.Addr[Client] {
			pf = Server
		}
		old.lastSeen = t
		old.segment(t, pf, p)
	} else {
		c.segment(t, from, p)
	}
	if c.prev != nil && c.ep[Server].haveISN {
		c.prev.resolveEnd(t)
		c.prev.reopened(c.lastSYN, c.Addr[Server])
		old := c.prev
		a.settle(old, t, false)
		c.prev = nil
		a.recycle(old)
	}
	over := c.overSoon()
	switch {
	case c.elem != nil && c.heldList:
		a.detach(c)
		c.elem, c.closingList = a.closing.PushBack(c), true
		if !over {
			a.detach(c)
			c.elem, c.closingList = a.active.PushBack(c), false
		}
	case c.elem != nil && c.closingList == over && over:
		a.closing.MoveToBack(c.elem)
	case c.elem != nil && c.closingList == over:
		a.active.MoveToBack(c.elem)
	default:
		a.detach(c)
		if over {
			c.elem, c.closingList = a.closing.PushBack(c), true
		} else {
			c.elem, c.closingList = a.active.PushBack(c), false
		}
	}
}

// newConn starts a connection record for the segment p at t.
func (a *Analyzer) newConn(p *Packet, t time.Duration) *conn {
	a.nextID++
	var c *conn
	if n := len(a.free); n > 0 {
		c, a.free = a.free[n-1], a.free[:n-1]
		c.opt = &a.opt
	} else {
		c = &conn{opt: &a.opt}
	}
	c.ID = a.nextID
	c.Incarnation = 1
	c.Start = t
	f := p.TCP.Flags
	client, server := p.Src, p.Dst
	switch {
	case f&(wire.SYN|wire.ACK) == wire.SYN|wire.ACK:
		client, server = p.Dst, p.Src
		c.MidStream = true
	case f&(wire.SYN|wire.ACK|wire.RST) == wire.SYN:
	default:
		c.MidStream = true
		if p.Src.Port() < p.Dst.Port() { // the lower port is most likely the service
			client, server = p.Dst, p.Src
		}
	}
	c.Addr = [2]netip.AddrPort{client, server}
	return c
}

// detach takes c out of its list.
func (a *Analyzer) detach(c *conn) {
	if c.elem != nil {
		if c.heldList {
			a.held.Remove(c.elem)
			c.elem, c.heldList = nil, false
			return
		}
		if c.closingList {
			a.closing.Remove(c.elem)
		} else {
			a.active.Remove(c.elem)
		}
		c.elem = nil
	}
}

// sweep hands over the connections over and quiet for longer than Linger,
// and settles those quiet for longer than Idle, at time t.
func (a *Analyzer) sweep(t time.Duration) {
	a.recent.expire(t)
	for e := a.held.Front(); e != nil; e = a.held.Front() {
		c := e.Value.(*conn)
		if t-c.lastSeen < a.opt.TimeWait && twRunning(c, t) {
			break
		}
		a.dropHeld(c, t)
	}
	for e := a.closing.Front(); e != nil; e = a.closing.Front() {
		c := e.Value.(*conn)
		if t-c.lastSeen <= a.opt.Linger {
			break
		}
		if a.opt.MaxHeld > 0 && twRunning(c, t) { // (in a list, c is its 4-tuple's latest connection)
			a.hold(c, t)
			continue
		}
		a.drop(c, t)
	}
	for e := a.active.Front(); e != nil; e = a.active.Front() {
		c := e.Value.(*conn)
		if t-c.lastSeen <= a.opt.Idle {
			return
		}
		a.detach(c)
		c.quiesce()
		if c.over() || c.dormant() {
			a.drop(c, t)
		}
	}
}

// drop hands c over and forgets it, remembering its 4-tuple if it is
// in TIME_WAIT.
func (a *Analyzer) drop(c *conn, t time.Duration) {
	a.dropAt(c, t, t)
}

// dropAt hands c over at capture time at (what its row says) and forgets
// it at t.
func (a *Analyzer) dropAt(c *conn, t, at time.Duration) {
	a.detach(c)
	k := c.key()
	mine := a.conns[k] == c
	if mine && !c.emitted {
		a.rememberTW(c, k, t)
	}
	a.settle(c, at, false)
	if mine {
		delete(a.conns, k)
	}
	a.recycle(c)
}

// hold keeps c, over and quiet for Linger with TIME_WAIT running at t,
// until its TIME_WAIT is over or a new SYN reuses its 4-tuple: the
// longest held is handed over when MaxHeld are.
func (a *Analyzer) hold(c *conn, t time.Duration) {
	a.detach(c)
	if a.held.Len() >= a.opt.MaxHeld {
		a.dropHeld(a.held.Front().Value.(*conn), t)
	}
	c.elem, c.heldList = a.held.PushBack(c), true
}

// dropHeld hands over c, held in TIME_WAIT, at t: its row is what it was
// when it was over and quiet for Linger (TIME_WAIT's end projected).
func (a *Analyzer) dropHeld(c *conn, t time.Duration) {
	a.dropAt(c, t, min(t, c.lastSeen+a.opt.Linger))
}

// shed hands over the least recently seen connections until fewer than
// MaxConns are held: what is over first, then what is open.
func (a *Analyzer) shed(t time.Duration) {
	for len(a.conns) >= a.opt.MaxConns {
		e := a.closing.Front()
		if e == nil {
			e = a.held.Front()
		}
		if e == nil {
			e = a.active.Front()
		}
		if e == nil {
			for _, c := range a.conns { // only parked connections are left
				c.quiesce()
				a.drop(c, t)
				break
			}
			continue
		}
		c := e.Value.(*conn)
		if c.heldList {
			a.dropHeld(c, t)
			continue
		}
		c.quiesce()
		a.drop(c, t)
	}
}

// settle finishes c at capture time now and hands it over.
func (a *Analyzer) settle(c *conn, now time.Duration, atEnd bool) {
	if c.emitted {
		return
	}
	delete(a.twGuard, c)
	if old := c.prev; old != nil {
		a.settle(old, now, atEnd)
		c.prev = nil
		a.recycle(old)
	}
	c.finish(now, a.last, atEnd)
	c.emitted = true
	a.Conns++
	if a.emit != nil {
		a.emit(&c.Conn)
	}
}

// Finish hands over every connection still held, in order of their first
// packet, as the capture ends.
func (a *Analyzer) Finish() {
	rest := make([]*conn, 0, len(a.conns))
	for _, c := range a.conns {
		rest = append(rest, c)
	}
	sort.Slice(rest, func(i, j int) bool {
		pi, pj := rest[i].firstID(), rest[j].firstID()
		return pi < pj
	})
	for _, c := range rest {
		a.settle(c, a.last, true)
	}
	a.conns = make(map[connKey]*conn)
	a.active.Init()
	a.closing.Init()
	a.held.Init()
}
