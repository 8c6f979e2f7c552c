package tcp

import "math"

// ring is a byte ring buffer that grows on demand up to max bytes. It holds
// n bytes of committed data starting at head, and may hold bytes written
// beyond them (out-of-order data) that are committed later.
//
// Its storage is a circle of size bytes cut into blocks of ringChunk
// bytes (the last one may be shorter): a small ring is one small block,
// which doubles (a copy of a few KiB at most) until it reaches
// ringChunk; past that, the ring grows by blocks of ringChunk bytes,
// each allocated when a byte is first written to it, and blocks already
// filled stay where they are (their pointers move, their bytes do not).
// A ring never allocates a block it has no byte to put in, and a block,
// once allocated, is reused round after round: a ring cycling through
// what it holds allocates nothing.
//
// head, used, n and size are 32-bit, so that a Conn and its two rings
// stay small (TestConnSize): a ring holds less than ringMaxLen bytes,
// where a socket's buffers are at most 2 GiB (twice the stack's largest
// rmem_max and wmem_max, 1 GiB, as Linux's SO_RCVBUF and SO_SNDBUF
// double them).
type ring struct {
	blk  [][]byte // the circle's blocks in order; nil: not allocated yet
	head uint32   // position in the circle of the first committed byte
	used uint32   // bytes from head that hold data: the committed ones and any written beyond them
	n    uint32   // committed bytes
	size uint32   // bytes in the circle
	max  int      // the most bytes the ring may hold (send-buffer auto-tuning raises it)
}

// ringMaxLen bounds a ring's circle, whatever its max says: what the
// 32-bit offsets reach, and what an int holds where it is 32 bits wide.
const ringMaxLen = min(math.MaxUint32, math.MaxInt)

// ringMinAlloc is the smallest buffer a ring allocates. It is small, so
// that a connection that moves a few bytes (a request and its answer)
// costs little; a ring that fills doubles, so bulk data soon gets a large
// one.
const ringMinAlloc = 64

// ringChunkShift sets ringChunk, the size of a large ring's blocks.
const ringChunkShift = 16

// ringChunk is the size of a large ring's blocks: 64 KiB, a TSO
// super-packet or a jumbo segment, large enough that a copy seldom
// crosses a block and small enough that growth allocates little at once.
const ringChunk = 1 << ringChunkShift

func (r *ring) len() int  { return int(r.n) }
func (r *ring) free() int { return min(r.max, ringMaxLen) - int(r.n) }

// blockLen is the length of block i of a circle of size bytes.
func blockLen(i, size int) int { return min(ringChunk, size-i<<ringChunkShift) }

// locate returns the block and the index in it of the byte at offset off
// from head.
func (r *ring) locate(off int) (blk, i int) {
	p := int(r.head) + off
	if p >= int(r.size) {
		p -= int(r.size)
	}
	return p >> ringChunkShift, p & (ringChunk - 1)
}

// ringFirst is a ring's first storage when it is the smallest: its list
// of one block and the block, in one allocation, so that a connection
// that moves a few bytes allocates once a ring, as when a ring was one
// buffer.
type ringFirst struct {
	blk [1][]byte
	buf [ringMinAlloc]byte
}

// reserve makes room for end bytes measured from head.
func (r *ring) reserve(end int) { r.reserveIn(end, 0) }

// reserveIn makes room for end bytes measured from head, doubling the
// circle up to ceil when that is above max: a ring whose max grows in
// small steps (auto-tuning up to ceil) then lays itself out again a few
// times in all, not once a step. A large ring's new blocks are allocated
// only as bytes are written to them, so doubling its circle costs only a
// longer list of blocks.
func (r *ring) reserveIn(end, ceil int) {
	if end <= int(r.size) {
		return
	}
	size := max(int(r.size)*2, ringMinAlloc, end)
	if size > ringChunk {
		size = (size + ringChunk - 1) &^ (ringChunk - 1)
	}
	size = min(size, max(r.max, ceil), ringMaxLen)
	r.relayout(size)
}

// relayout moves the ring to a circle of size bytes (at least the bytes it
// holds). A block whose bytes keep their place within a block of the same
// length moves by its pointer; the other bytes held are copied (a small
// ring's, and those that wrapped round a circle whose last block is
// short). Spare blocks are kept for the new circle where they fit.
func (r *ring) relayout(size int) {
	if size <= ringChunk { // a small ring, one block before and after
		var nb []byte
		if used := int(r.used); used > 0 {
			nb = make([]byte, size)
			k := copy(nb[:used], r.blk[0][r.head:])
			copy(nb[k:used], r.blk[0])
		}
		if r.blk == nil && size == ringMinAlloc {
			f := new(ringFirst)
			r.blk, r.size = f.blk[:], ringMinAlloc
			r.blk[0] = f.buf[:]
			return
		}
		if r.blk == nil {
			r.blk = make([][]byte, 1)
		}
		r.blk[0], r.head, r.size = nb, 0, uint32(size)
		return
	}
	nblk := (size + ringChunk - 1) >> ringChunkShift
	nb := make([][]byte, nblk)
	head := int(r.head) & (ringChunk - 1)
	// Which old blocks can move whole: every byte held in them lands at the
	// same index of one new block of the same length.
	dest := make([]int, len(r.blk))
	for i := range dest {
		dest[i] = -1 // no bytes held
	}
	r.pieces(head, size, func(off, k, ob, oi, b, i int) {
		switch {
		case dest[ob] == -1 && oi == i && blockLen(ob, int(r.size)) == blockLen(b, size):
			dest[ob] = b
		case dest[ob] != b || oi != i:
			dest[ob] = -2 // copied
		}
	})
	for ob, b := range dest {
		if b >= 0 && nb[b] == nil && r.blk[ob] != nil {
			nb[b], r.blk[ob] = r.blk[ob], nil
		} else if b >= 0 {
			dest[ob] = -2
		}
	}
	// Copy the bytes of the blocks that did not move, then keep the spare
	// blocks in the new circle's empty slots of their length.
	r.pieces(head, size, func(off, k, ob, oi, b, i int) {
		if dest[ob] >= 0 || r.blk[ob] == nil {
			return
		}
		if nb[b] == nil {
			nb[b] = make([]byte, blockLen(b, size))
		}
		copy(nb[b][i:i+k], r.blk[ob][oi:])
	})
	j := 0
	for _, blk := range r.blk {
		if blk == nil {
			continue
		}
		for j < nblk && (nb[j] != nil || blockLen(j, size) != len(blk)) {
			j++
		}
		if j == nblk {
			break
		}
		nb[j] = blk
	}
	r.blk, r.head, r.size = nb, uint32(head), uint32(size)
}

// pieces calls f for each run of the bytes held (used bytes from head)
// that lies in one block of the ring and in one block of a new circle of
// size bytes starting at head nh: the run's offset and length, its block
// and index in the ring, and its block and index in the new circle.
func (r *ring) pieces(nh, size int, f func(off, k, ob, oi, b, i int)) {
	for off := 0; off < int(r.used); {
		ob, oi := r.locate(off)
		p := nh + off
		if p >= size {
			p -= size
		}
		b, i := p>>ringChunkShift, p&(ringChunk-1)
		k := min(int(r.used)-off, blockLen(ob, int(r.size))-oi, blockLen(b, size)-i)
		f(off, k, ob, oi, b, i)
		off += k
	}
}

// writeAt copies p to offset off from head; the caller guarantees
// off+len(p) <= max. Bytes are not committed.
func (r *ring) writeAt(off int, p []byte) {
	if len(p) == 0 {
		return
	}
	end := off + len(p)
	r.reserve(end)
	for len(p) > 0 {
		b, i := r.locate(off)
		if r.blk[b] == nil {
			r.blk[b] = make([]byte, blockLen(b, int(r.size)))
		}
		k := copy(r.blk[b][i:], p)
		p = p[k:]
		off += k
	}
	r.used = max(r.used, uint32(end))
}

// commit adds k bytes written by writeAt to the committed data.
func (r *ring) commit(k int) {
	r.n += uint32(k)
	r.used = max(r.used, r.n)
}

// peekAt copies committed bytes starting at offset off into p and returns how
// many it copied.
func (r *ring) peekAt(off int, p []byte) int {
	if off >= int(r.n) {
		return 0
	}
	want := min(len(p), int(r.n)-off)
	for k := 0; k < want; {
		b, i := r.locate(off + k)
		k += copy(p[k:want], r.blk[b][i:])
	}
	return want
}

// discard drops k committed bytes from the front. A ring left empty
// starts again at the front of the block it ended in (of its buffer,
// when small): a ring whose reader keeps up then works in the few cache
// lines at its front instead of going round the whole circle (megabytes,
// once auto-tuning has grown it), which only the bytes held at once need.
func (r *ring) discard(k int) {
	if k == 0 {
		return
	}
	from := int(r.head)
	r.n -= uint32(k)
	r.used -= uint32(k)
	p := from + k
	if p >= int(r.size) {
		p -= int(r.size)
	}
	r.head = uint32(p)
	if r.used == 0 {
		r.head = uint32((p-1+int(r.size))%int(r.size)) &^ (ringChunk - 1) // the block the last byte read was in
	}
	if len(r.blk) > 1 {
		r.reuse(from, k)
	}
}

// reuse moves the blocks that the k bytes discarded from position from
// left empty to the slots just ahead of the bytes held, where the writer
// goes next (the first of the next few with no block yet): a ring with a standing queue
// then keeps about the blocks its queue needs, and writes into the block
// its reader left last, still in cache, instead of allocating new ones
// all round its circle.
func (r *ring) reuse(from, k int) {
	size := int(r.size)
	for b, n := from>>ringChunkShift, 0; n < len(r.blk) && k > 0; n++ {
		k -= blockLen(b, size) - (from & (ringChunk - 1))
		from = 0
		if k < 0 || r.blk[b] == nil || r.holds(b) {
			break
		}
		e := int(r.head) + int(r.used)
		if e >= size {
			e -= size
		}
		t := (e + ringChunk - 1) >> ringChunkShift % len(r.blk)
		for j := 0; j < reuseAhead && r.blk[t] != nil; j++ {
			t = (t + 1) % len(r.blk)
		}
		if r.blk[t] != nil || r.holds(t) || blockLen(t, size) != len(r.blk[b]) {
			break
		}
		r.blk[t], r.blk[b] = r.blk[b], nil
		b = (b + 1) % len(r.blk)
	}
}

// reuseAhead is how many blocks past the bytes held reuse looks for an
// empty slot: the writer may be a write or two ahead of the reader.
const reuseAhead = 4

// holds reports whether block b holds any of the bytes held.
func (r *ring) holds(b int) bool {
	start, size := b<<ringChunkShift, int(r.size)
	d := start - int(r.head)
	if d < 0 {
		d += size
	}
	return d < int(r.used) || (int(r.head) >= start && int(r.head) < start+blockLen(b, size))
}

// read copies committed bytes into p and discards them.
func (r *ring) read(p []byte) int {
	k := r.peekAt(0, p)
	r.discard(k)
	return k
}
