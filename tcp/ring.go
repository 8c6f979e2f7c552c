package tcp

import "math"

// ring is a byte ring buffer that grows on demand up to max bytes. It holds
// n bytes of committed data starting at head, and may hold bytes written
// beyond them (out-of-order data) that are committed later.
//
// head and used are 32-bit, so that a Conn and its two rings stay small
// (TestConnSize): a ring holds less than ringMaxLen bytes, where a
// socket's buffers are at most 2 GiB (twice the stack's largest rmem_max
// and wmem_max, 1 GiB, as Linux's SO_RCVBUF and SO_SNDBUF double them).
type ring struct {
	buf  []byte
	head uint32 // index of the first committed byte
	used uint32 // bytes from head that hold data: the committed ones and any written beyond them
	n    int    // committed bytes
	max  int    // the most bytes the ring may hold (send-buffer auto-tuning raises it)
}

// ringMaxLen bounds a ring's buffer, whatever its max says: what the
// 32-bit offsets reach, and what an int holds where it is 32 bits wide.
const ringMaxLen = min(math.MaxUint32, math.MaxInt)

// ringMinAlloc is the smallest buffer a ring allocates. It is small, so
// that a connection that moves a few bytes (a request and its answer)
// costs little; a ring that fills doubles, so bulk data soon gets a large
// one.
const ringMinAlloc = 64

func (r *ring) len() int  { return r.n }
func (r *ring) free() int { return min(r.max, ringMaxLen) - r.n }

// reserve makes room for end bytes measured from head.
func (r *ring) reserve(end int) { r.reserveIn(end, 0) }

// reserveIn makes room for end bytes measured from head, doubling the
// buffer up to ceil when that is above max: a ring whose max grows in
// small steps (auto-tuning up to ceil) then copies itself a few times in
// all, not once a step. Only the bytes that hold data move.
func (r *ring) reserveIn(end, ceil int) {
	if end <= len(r.buf) {
		return
	}
	size := max(len(r.buf)*2, ringMinAlloc, end)
	size = min(size, max(r.max, ceil), ringMaxLen)
	nb := make([]byte, size)
	if used := int(r.used); used > 0 {
		k := copy(nb[:used], r.buf[r.head:])
		copy(nb[k:used], r.buf)
	}
	r.buf, r.head = nb, 0
}

// writeAt copies p to offset off from head; the caller guarantees
// off+len(p) <= max. Bytes are not committed.
func (r *ring) writeAt(off int, p []byte) {
	if len(p) == 0 {
		return
	}
	r.reserve(off + len(p))
	i := (int(r.head) + off) % len(r.buf)
	k := copy(r.buf[i:], p)
	copy(r.buf, p[k:])
	r.used = max(r.used, uint32(off+len(p)))
}

// commit adds k bytes written by writeAt to the committed data.
func (r *ring) commit(k int) {
	r.n += k
	r.used = max(r.used, uint32(r.n))
}

// peekAt copies committed bytes starting at offset off into p and returns how
// many it copied.
func (r *ring) peekAt(off int, p []byte) int {
	if off >= r.n {
		return 0
	}
	want := min(len(p), r.n-off)
	i := (int(r.head) + off) % len(r.buf)
	k := copy(p[:want], r.buf[i:])
	if k < want {
		copy(p[k:want], r.buf)
	}
	return want
}

// discard drops k committed bytes from the front. A ring left empty
// starts again at the front of its buffer: a ring whose reader keeps up
// then works in the few cache lines at its front instead of going round
// the whole buffer (megabytes, once auto-tuning has grown it), which
// only the bytes held at once need.
func (r *ring) discard(k int) {
	if k == 0 {
		return
	}
	r.n -= k
	r.used -= uint32(k)
	if r.used == 0 {
		r.head = 0
		return
	}
	r.head = uint32((int(r.head) + k) % len(r.buf))
}

// read copies committed bytes into p and discards them.
func (r *ring) read(p []byte) int {
	k := r.peekAt(0, p)
	r.discard(k)
	return k
}
