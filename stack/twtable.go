package stack

import (
	"crypto/sha256"
	"encoding/binary"
	"math/bits"
	"net/netip"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/seq"
	"github.com/tcpwave/tcpwave/tcp"
)

// twRec is one TIME_WAIT record as the table stores it: 56 bytes and no
// pointer, so that a million of them are one flat allocation the garbage
// collector does not scan. The local address is an index into
// Options.Addrs (a TIME_WAIT connection's local address is always one of
// the host's); the peer's address is kept in its 16-byte form, its family
// being the local address's.
type twRec struct {
	remote            [16]byte
	expire            clock.Instant
	rcvNxt, sndNxt    seq.Value
	tsRecent, lastOOW uint32 // TS.Recent; tcp.TWRecord.LastOOWAck (the TS offset is the tuple's hash, tsOffset)
	prev, next        uint32 // neighbours in expiry order (slot 0 is the list's head)
	lport, rport      uint16
	wnd               uint16
	meta              uint16 // local address index << twLocalShift | twTSOK | twReuseAddr | twReusePort | twConnectPort
}

// The flags in twRec.meta.
const (
	twTSOK      = 1 << 0
	twReuseAddr = 1 << 1
	twReusePort = 1 << 2
	// twConnectPort marks a record whose port connect() took by itself
	// (Socket.connectPort): other connect() sockets may share it.
	twConnectPort = 1 << 3
	twLocalShift  = 4
	// maxAddrs is the most local addresses a stack may have: the index
	// must fit in twRec.meta above the flags.
	maxAddrs = 1 << (16 - twLocalShift)
)

func (r *twRec) local() uint16 { return r.meta >> twLocalShift }

// bindFlags are the record's SO_REUSEADDR and SO_REUSEPORT bits.
func (r *twRec) bindFlags() uint8 { return uint8(r.meta & (twReuseAddr | twReusePort)) }

// tcpRecord is the record in package tcp's form, for tcp.TWRecord's
// rules, with its timestamp offset.
func (r *twRec) tcpRecord(tsOffset uint32) tcp.TWRecord {
	return tcp.TWRecord{
		RcvNxt: r.rcvNxt, SndNxt: r.sndNxt,
		TSOK: r.meta&twTSOK != 0, TSRecent: r.tsRecent, TSOffset: tsOffset,
		Wnd: r.wnd, Expire: r.expire, LastOOWAck: r.lastOOW,
	}
}

// setTCPRecord stores what tcp.TWRecord's rules may change.
func (r *twRec) setTCPRecord(tw *tcp.TWRecord) {
	r.rcvNxt, r.sndNxt = tw.RcvNxt, tw.SndNxt
	r.tsRecent, r.lastOOW, r.wnd, r.expire = tw.TSRecent, tw.LastOOWAck, tw.Wnd, tw.Expire
	r.meta &^= twTSOK
	if tw.TSOK {
		r.meta |= twTSOK
	}
}

// twKey is a TIME_WAIT record's 4-tuple in the table's form.
type twKey struct {
	remote       [16]byte
	local        uint16 // index into Options.Addrs
	lport, rport uint16
}

// twHold is what the bind rules need to know of the records holding a
// port: their local address and their SO_REUSEADDR and SO_REUSEPORT bits.
type twHold struct {
	port  uint16
	local uint16
	flags uint8
}

// twChunk is the number of records in one chunk of the table's slab.
const twChunk = 1 << twChunkBits

const twChunkBits = 10

// twTable holds a stack's TIME_WAIT records: a slab of fixed-size
// records, kept dense (slots 1..n; a removed record's slot takes the last
// one), in chunks so that growing never copies more than one chunk; a
// doubly linked list through the slots in expiry order; an
// open-addressing hash index (linear probing, backward-shift deletion)
// from 4-tuple to slot, keyed by a secret so that peers cannot aim at one
// bucket; and counts of the records holding each port (twPorts), and of
// those with another local address than the first or with reuse bits, by
// address and bits, for bind(2). Every operation is O(1) (amortized over
// the index's doubling), the expiry queue included: all records wait the
// same time, so a new or restarted record goes to the tail. The table
// gives its memory back as it empties.
type twTable struct {
	chunks [][]twRec // slot i is chunks[i>>twChunkBits][i&(twChunk-1)]; slot 0 heads the list
	n      int       // live records, in slots 1..n
	index  []uint32  // slots, 0 for an empty bucket; its length is a power of two
	k0, k1 uint64    // hash keys
	ports  twPorts
	// bindPorts counts, per port, the records that hold it through
	// bind() or listen() (no twConnectPort): connect() does not take it.
	bindPorts twPorts
	holds     map[twHold]uint32 // the records of other kinds than the first address without reuse bits
}

// twPorts counts the TIME_WAIT records holding each local port: 256
// pages of 256 counters, a page made when one of its ports is first held
// and dropped when its last is let go, so that counting a record in or
// out is two array steps, not a map update, and an empty table keeps no
// page.
type twPorts struct {
	pages [256]*twPortPage
	n     int // ports held
}

// twPortPage is the counters of 256 ports and how many are not zero.
type twPortPage struct {
	count [256]uint32
	used  int
}

// get returns the number of records holding port.
func (p *twPorts) get(port uint16) uint32 {
	if pg := p.pages[port>>8]; pg != nil {
		return pg.count[port&0xff]
	}
	return 0
}

// add adds d (+1 or -1) to port's count.
func (p *twPorts) add(port uint16, d int) {
	pg := p.pages[port>>8]
	if pg == nil {
		pg = new(twPortPage)
		p.pages[port>>8] = pg
	}
	c := &pg.count[port&0xff]
	was := *c
	*c += uint32(d)
	switch {
	case was == 0:
		pg.used++
		p.n++
	case *c == 0:
		pg.used--
		p.n--
		if pg.used == 0 {
			p.pages[port>>8] = nil
		}
	}
}

// len returns the number of ports held.
func (p *twPorts) len() int { return p.n }

func newTWTable(key [16]byte) twTable {
	h := sha256.Sum256(append([]byte("tcpwave TIME_WAIT index "), key[:]...))
	return twTable{
		k0:    binary.LittleEndian.Uint64(h[0:8]),
		k1:    binary.LittleEndian.Uint64(h[8:16]) | 1,
		holds: make(map[twHold]uint32),
	}
}

// len returns the number of records.
func (t *twTable) len() int { return t.n }

// empty reports whether the table holds no record and no port.
func (t *twTable) empty() bool { return t.n == 0 && t.ports.len() == 0 && len(t.holds) == 0 }

// at returns slot i.
func (t *twTable) at(i uint32) *twRec { return &t.chunks[i>>twChunkBits][i&(twChunk-1)] }

// first returns the slot of the record that expires first, or 0.
func (t *twTable) first() uint32 {
	if t.n == 0 {
		return 0
	}
	return t.at(0).next
}

// keyOf is the table's key for a record.
func (r *twRec) key() twKey {
	return twKey{remote: r.remote, local: r.local(), lport: r.lport, rport: r.rport}
}

func (t *twTable) hash(k *twKey) uint64 {
	a := binary.LittleEndian.Uint64(k.remote[0:8]) ^ t.k0
	b := binary.LittleEndian.Uint64(k.remote[8:16]) ^ t.k1
	c := uint64(k.local)<<32 | uint64(k.lport)<<16 | uint64(k.rport)
	return mix(mix(a, b)^c, t.k1)
}

// mix folds the 128-bit product of a and b (wyhash's mum).
func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// find returns the slot of the record for k, or 0.
func (t *twTable) find(k *twKey) uint32 {
	if t.n == 0 {
		return 0
	}
	mask := uint64(len(t.index) - 1)
	for b := t.hash(k) & mask; ; b = (b + 1) & mask {
		i := t.index[b]
		if i == 0 {
			return 0
		}
		if t.at(i).key() == *k {
			return i
		}
	}
}

// bucketOf returns the index bucket that holds slot i.
func (t *twTable) bucketOf(i uint32) uint64 {
	k := t.at(i).key()
	mask := uint64(len(t.index) - 1)
	b := t.hash(&k) & mask
	for t.index[b] != i {
		b = (b + 1) & mask
	}
	return b
}

func (t *twTable) indexInsert(i uint32) {
	k := t.at(i).key()
	mask := uint64(len(t.index) - 1)
	b := t.hash(&k) & mask
	for t.index[b] != 0 {
		b = (b + 1) & mask
	}
	t.index[b] = i
}

// indexDelete empties bucket b and shifts back the entries after it that
// would no longer be found (Knuth's Algorithm R).
func (t *twTable) indexDelete(b uint64) {
	mask := uint64(len(t.index) - 1)
	for {
		t.index[b] = 0
		j := b
		for {
			j = (j + 1) & mask
			i := t.index[j]
			if i == 0 {
				return
			}
			k := t.at(i).key()
			home := t.hash(&k) & mask
			// The entry at j stays unless its home is cyclically outside (b, j].
			if (b < j && b < home && home <= j) || (b > j && (b < home || home <= j)) {
				continue
			}
			t.index[b] = i
			b = j
			break
		}
	}
}

// resize rebuilds the index with size buckets.
func (t *twTable) resize(size int) {
	t.index = make([]uint32, size)
	for i := 1; i <= t.n; i++ {
		t.indexInsert(uint32(i))
	}
}

// add stores a record for its 4-tuple, which must not have one, and
// queues it for expiry.
func (t *twTable) add(r *twRec) {
	if t.chunks == nil {
		t.chunks = [][]twRec{make([]twRec, 1, 8)} // slot 0: the list's head
	}
	slot := uint32(t.n + 1)
	c := int(slot >> twChunkBits)
	if c == len(t.chunks) {
		t.chunks = append(t.chunks, make([]twRec, 0, twChunk))
	}
	ch := t.chunks[c]
	if len(ch) == cap(ch) { // only chunk 0 grows; the others are made whole
		nc := make([]twRec, len(ch), min(2*cap(ch), twChunk))
		copy(nc, ch)
		ch = nc
	}
	t.chunks[c] = append(ch, *r)
	t.n++
	if len(t.index) == 0 || t.n*4 > len(t.index)*3 {
		t.resize(max(2*len(t.index), 16))
	} else {
		t.indexInsert(slot)
	}
	t.link(slot)
	t.hold(t.at(slot), 1)
}

// link puts slot in expiry order, searching from the tail: a new or
// restarted record expires last (all wait the same time), so this is
// O(1) but for records whose TIME_WAIT differs.
func (t *twTable) link(slot uint32) {
	r := t.at(slot)
	p := t.at(0).prev
	for p != 0 && t.at(p).expire > r.expire {
		p = t.at(p).prev
	}
	pr := t.at(p)
	r.prev, r.next = p, pr.next
	t.at(pr.next).prev = slot
	pr.next = slot
}

func (t *twTable) unlink(slot uint32) {
	r := t.at(slot)
	t.at(r.prev).next = r.next
	t.at(r.next).prev = r.prev
}

// restart moves a record whose expiry changed to its place in the queue.
func (t *twTable) restart(slot uint32) {
	t.unlink(slot)
	t.link(slot)
}

// remove forgets the record in slot. The last record moves into the
// slot, so slot numbers are valid only until the next remove.
func (t *twTable) remove(slot uint32) {
	r := t.at(slot)
	t.hold(r, -1)
	t.unlink(slot)
	t.indexDelete(t.bucketOf(slot))
	last := uint32(t.n)
	if slot != last {
		t.index[t.bucketOf(last)] = slot
		lr := t.at(last)
		*r = *lr
		t.at(r.prev).next = slot
		t.at(r.next).prev = slot
	}
	c := int(last >> twChunkBits)
	t.chunks[c] = t.chunks[c][:len(t.chunks[c])-1]
	t.n--
	if len(t.index) > 64 && t.n*8 < len(t.index) {
		t.resize(len(t.index) / 2)
	}
	// Give memory back as the table empties, keeping one empty chunk past
	// the last one in use against churn at a chunk boundary.
	for k := len(t.chunks); k >= 3 && len(t.chunks[k-1]) == 0 && len(t.chunks[k-2]) == 0; k-- {
		t.chunks[k-1] = nil
		t.chunks = t.chunks[:k-1]
	}
	if t.n == 0 && (len(t.chunks) > 1 || cap(t.chunks[0]) > 64) {
		t.chunks = nil // empty: keep no more than a small table
	}
}

// hold adds d to the counts of the records holding the record's port.
// The commonest kind, the first address without reuse bits, is counted
// only in ports: its count is the port's less those of the other kinds.
func (t *twTable) hold(r *twRec, d int) {
	t.ports.add(r.lport, d)
	if r.meta&twConnectPort == 0 {
		t.bindPorts.add(r.lport, d)
	}
	if r.local() == 0 && r.bindFlags() == 0 {
		return
	}
	h := twHold{port: r.lport, local: r.local(), flags: r.bindFlags()}
	if n := t.holds[h] + uint32(d); n == 0 {
		delete(t.holds, h)
	} else {
		t.holds[h] = n
	}
}

// holdsPort reports whether any record holds port.
func (t *twTable) holdsPort(port uint16) bool { return t.ports.get(port) != 0 }

// holding returns the number of records of kind h holding h.port.
func (t *twTable) holding(h twHold, nAddrs int) uint32 {
	if h.local != 0 || h.flags != 0 {
		return t.holds[h]
	}
	n := t.ports.get(h.port)
	if len(t.holds) == 0 {
		return n
	}
	for li := range nAddrs {
		for fl := uint8(0); fl <= twReuseAddr|twReusePort; fl += twReuseAddr {
			if li != 0 || fl != 0 {
				n -= t.holds[twHold{port: h.port, local: uint16(li), flags: fl}]
			}
		}
	}
	return n
}

// --- the stack's side: tuples and addresses ---

// twKeyOf returns the table's key for a 4-tuple, or false if the local
// address is not the host's (no record can have it).
func (s *Stack) twKeyOf(tu Tuple) (twKey, bool) {
	li, ok := s.localIndex(tu.Local.Addr())
	if !ok {
		return twKey{}, false
	}
	return twKey{remote: tu.Remote.Addr().As16(), local: li, lport: tu.Local.Port(), rport: tu.Remote.Port()}, true
}

// localIndex returns a's index in Options.Addrs.
func (s *Stack) localIndex(a netip.Addr) (uint16, bool) {
	for i, x := range s.opts.Addrs {
		if x == a {
			return uint16(i), true
		}
	}
	return 0, false
}

// findTimeWait returns the slot of the TIME_WAIT record for a 4-tuple, or 0.
func (s *Stack) findTimeWait(tu Tuple) uint32 {
	k, ok := s.twKeyOf(tu)
	if !ok {
		return 0
	}
	return s.tw.find(&k)
}

// twTuple returns the 4-tuple of the record in slot i.
func (s *Stack) twTuple(i uint32) Tuple {
	r := s.tw.at(i)
	la := s.opts.Addrs[r.local()]
	ra := netip.AddrFrom16(r.remote)
	if la.Is4() {
		ra = ra.Unmap()
	}
	return Tuple{Local: netip.AddrPortFrom(la, r.lport), Remote: netip.AddrPortFrom(ra, r.rport)}
}

// twHolders lists, for bind(2), the kinds of TIME_WAIT records holding
// port: each local address with its reuse bits.
func (s *Stack) twHolders(port uint16, fn func(h holder)) {
	if !s.tw.holdsPort(port) {
		return
	}
	for li := range s.opts.Addrs {
		for fl := uint8(0); fl <= twReuseAddr|twReusePort; fl += twReuseAddr {
			if s.tw.holding(twHold{port: port, local: uint16(li), flags: fl}, len(s.opts.Addrs)) != 0 {
				fn(holder{addr: s.opts.Addrs[li], reuseAddr: fl&twReuseAddr != 0, reusePort: fl&twReusePort != 0})
			}
		}
	}
}
