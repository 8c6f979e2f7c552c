package explain

import (
	"hash/maphash"
	"net/netip"
	"time"

	"github.com/tcpwave/tcpwave/tcp"
	"github.com/tcpwave/tcpwave/wire"
)

// A connection handed over while one of its sides still holds TIME_WAIT
// leaves two things behind, so that a new SYN on its 4-tuple within 2MSL
// is still told a reuse (RFC 6191) and the old row still says how its
// TIME_WAIT ended:
//
//   - while fewer than Options.MaxHeld are, the connection itself is held
//     back (not handed over) until its TIME_WAIT is over in capture time,
//     or a new SYN reuses its 4-tuple, or the capture ends: its row then
//     says what happened (the Analyzer's held list). A connection takes
//     about 2.5 KB, so the budget is small by default.
//   - always, once it is handed over, a compact record (recentTW) of the
//     4-tuple, which side holds TIME_WAIT since when, and the sequence
//     numbers and timestamps the RFC 6191 judgement needs; kept until the
//     TIME_WAIT it describes is over in capture time, at most
//     Options.MaxRecent of them, the oldest forgotten first (80 bytes in a
//     ring and about 20 in its index). A new SYN on such a 4-tuple gets
//     the "reuse" finding on its own row, naming the old connection, whose
//     row could only project TIME_WAIT's end (AfterCapture).

// recentTW is what is kept of a connection handed over with TIME_WAIT
// running on a side. Its sides are in key order: 0 is the endpoint
// written first in key (the lower address and port). The 4-tuple is kept
// as a 64-bit hash (maphash, seeded per Analyzer): a new SYN on another
// 4-tuple is taken for a reuse only if the hashes of two 4-tuples
// collide, about once in 2^64 / MaxRecent lookups.
type recentTW struct {
	hash    uint64    // of the 4-tuple's connKey
	id      int       // the old connection's ID
	inc     int32     // and its incarnation
	holds   [2]bool   // the side holds TIME_WAIT
	haveSnd [2]bool   // sndMax is known
	haveTS  [2]bool   // tsVal is known
	sndMax  [2]uint32 // one past the highest sequence number the side sent
	tsVal   [2]uint32 // the last timestamp value the side sent
	entered [2]time.Duration
	twEnd   [2]time.Duration
}

// end is when the last TIME_WAIT r describes is over.
func (r *recentTW) end() time.Duration {
	var e time.Duration
	for i := range r.holds {
		if r.holds[i] {
			e = max(e, r.twEnd[i])
		}
	}
	return e
}

// recentSet is a bounded FIFO of recentTW with an index by 4-tuple.
type recentSet struct {
	seed  maphash.Seed
	index map[uint64]uint64 // hash of the key → the record's sequence number
	buf   []recentTW        // a ring, oldest at head
	head  int
	n     int
	first uint64 // the sequence number of the record at head
	max   int
}

func newRecentSet(max int) recentSet {
	return recentSet{seed: maphash.MakeSeed(), index: make(map[uint64]uint64), max: max}
}

func (s *recentSet) hash(k *connKey) uint64 { return maphash.Bytes(s.seed, k[:]) }

// at returns the record with sequence number seq, or nil once it is gone.
func (s *recentSet) at(seq uint64) *recentTW {
	if seq < s.first || seq >= s.first+uint64(s.n) {
		return nil
	}
	return &s.buf[(s.head+int(seq-s.first))%len(s.buf)]
}

// popOldest forgets the oldest record.
func (s *recentSet) popOldest() {
	r := &s.buf[s.head]
	h := r.hash
	if seq, ok := s.index[h]; ok && seq == s.first {
		delete(s.index, h)
	}
	*r = recentTW{}
	s.head = (s.head + 1) % len(s.buf)
	s.n--
	s.first++
}

// add keeps r, forgetting the oldest record when MaxRecent are kept.
func (s *recentSet) add(r recentTW) {
	if s.max <= 0 {
		return
	}
	if s.n == len(s.buf) {
		if len(s.buf) < s.max { // grow, oldest first
			nb := make([]recentTW, min(s.max, max(64, 2*len(s.buf))))
			for i := 0; i < s.n; i++ {
				nb[i] = s.buf[(s.head+i)%len(s.buf)]
			}
			s.buf, s.head = nb, 0
		} else {
			s.popOldest()
		}
	}
	seq := s.first + uint64(s.n)
	s.buf[(s.head+s.n)%len(s.buf)] = r
	s.n++
	s.index[r.hash] = seq
}

// expire forgets the oldest records while their TIME_WAIT is over at t.
// (Records come in the order their connections were handed over, nearly
// that of their TIME_WAIT's end; one that ends sooner than an older one
// waits for it, and is ignored by take meanwhile.)
func (s *recentSet) expire(t time.Duration) {
	for s.n > 0 && s.buf[s.head].end() <= t {
		s.popOldest()
	}
	if s.n == 0 && len(s.buf) > 64 { // a quiet spell: give the ring back
		s.buf, s.head = nil, 0
		clear(s.index)
	}
}

// take returns, and forgets, the record of key k if a side of it still
// holds TIME_WAIT at t.
func (s *recentSet) take(k connKey, t time.Duration) (recentTW, bool) {
	if s.n == 0 {
		return recentTW{}, false
	}
	h := s.hash(&k)
	seq, ok := s.index[h]
	if !ok {
		return recentTW{}, false
	}
	r := s.at(seq)
	if r == nil || r.hash != h {
		return recentTW{}, false
	}
	delete(s.index, h)
	if r.end() <= t {
		return recentTW{}, false
	}
	return *r, true
}

// keySide returns the index in key order of a connection's side s.
func keySide(c *conn, s Side) int { return keySideOf(c.Addr[s], c.Addr[s.other()]) }

// rememberTW records c, whose 4-tuple is k, about to be handed over at
// t, if a side of it holds TIME_WAIT beyond t.
func (a *Analyzer) rememberTW(c *conn, k connKey, t time.Duration) {
	var r recentTW
	any := false
	for s := Client; s <= Server; s++ {
		e := &c.ep[s]
		i := keySide(c, s)
		r.haveSnd[i], r.sndMax[i] = e.haveSnd, e.sndMax
		r.haveTS[i], r.tsVal[i] = e.haveTS, e.tsVal
		if e.known && e.state == tcp.TimeWait && e.twEnd > t {
			r.holds[i], r.entered[i], r.twEnd[i] = true, e.entered, e.twEnd
			any = true
		}
	}
	if !any {
		return
	}
	r.hash, r.id, r.inc = a.recent.hash(&k), c.ID, int32(c.Incarnation)
	a.recent.add(r)
}

// reusedRecent notes on c, the new connection the SYN p opened at t, that
// its 4-tuple was in TIME_WAIT in the connection r, handed over before:
// the finding reusedAt gives the old connection when it is still held.
func (c *conn) reusedRecent(r *recentTW, t time.Duration, p *Packet) {
	first := p.Src.Compare(p.Dst) < 0 // the sender is side 0 in key order
	sender := 1
	if first {
		sender = 0
	}
	for i := range r.holds {
		if !r.holds[i] || t >= r.twEnd[i] {
			continue
		}
		holder := p.Src
		if i != sender {
			holder = p.Dst
		}
		how := "its ISN is higher"
		o := &p.TCP.Options
		switch {
		case i == sender:
			how = "the TIME_WAIT holder itself connected again (Linux tcp_tw_reuse, which needs newer timestamps)"
		case !r.haveSnd[sender] || seqGE(p.TCP.Seq, r.sndMax[sender]):
		case o.HasTimestamp && r.haveTS[sender] && int32(o.TSVal-r.tsVal[sender]) > 0:
			how = "its ISN is not higher, its timestamp is newer"
		case o.HasTimestamp && r.haveTS[sender]:
			how = "neither its ISN nor its timestamp is higher: Linux keeps TIME_WAIT and answers with an ACK"
		default:
			how = "its ISN is not higher (and no timestamps to compare)"
		}
		c.note(t, "reuse", "4-tuple reused within 2MSL: a new SYN came %v after %s entered TIME_WAIT in connection %d (handed over before, its TIME_WAIT's end projected); %s (RFC 6191)", round(t-r.entered[i]), holder, r.id, how)
	}
}

// reuseRecent starts the connection for the SYN p at t when its 4-tuple k
// is remembered in TIME_WAIT, or returns nil.
func (a *Analyzer) reuseRecent(k connKey, p *Packet, t time.Duration) *conn {
	if p.TCP.Flags&(wire.SYN|wire.ACK|wire.RST) != wire.SYN {
		return nil
	}
	r, ok := a.recent.take(k, t)
	if !ok {
		return nil
	}
	c := a.newConn(p, t)
	c.Incarnation = int(r.inc) + 1
	c.reusedRecent(&r, t, p)
	if receiver := 1 - keySideOf(p.Src, p.Dst); r.holds[receiver] {
		if a.twGuard == nil {
			a.twGuard = make(map[*conn]int)
		}
		a.twGuard[c] = r.id
	}
	return c
}

// keySideOf returns the index in key order of src in a 4-tuple with dst.
func keySideOf(src, dst netip.AddrPort) int {
	if src.Compare(dst) > 0 {
		return 1
	}
	return 0
}

// oldSegment reports whether p, from side from of c, a connection that
// reused a 4-tuple remembered in TIME_WAIT at its server, belongs to the
// old connection (handed over, so the segment is not counted): while the
// server has not answered the new SYN with a SYN-ACK, a segment from it
// without SYN (its TIME_WAIT's ACK) and a RST from the client answering
// it, as routeToPrev tells them when the old connection is still held.
func (a *Analyzer) oldSegment(c *conn, from Side, p *Packet) bool {
	id, ok := a.twGuard[c]
	if !ok {
		return false
	}
	if c.ep[Server].haveISN {
		delete(a.twGuard, c)
		return false
	}
	f := p.TCP.Flags
	switch {
	case from == Server && !f.Has(wire.SYN):
		if !f.Has(wire.RST) {
			c.note(c.lastSeen, "time-wait-ack", "%s in TIME_WAIT (connection %d) answered the new SYN with an ACK for the old connection (Linux tcp_timewait_state_process)", c.name(Server), id)
		}
		return true
	case from == Client && f.Has(wire.RST) && !f.Has(wire.SYN):
		return true
	}
	return false
}

// twRunning reports whether a side of c holds TIME_WAIT beyond t.
func twRunning(c *conn, t time.Duration) bool {
	for s := Client; s <= Server; s++ {
		if e := &c.ep[s]; e.known && e.state == tcp.TimeWait && e.twEnd > t {
			return true
		}
	}
	return false
}
