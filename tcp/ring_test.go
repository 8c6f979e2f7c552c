package tcp

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestRingSmallFirstBuffer(t *testing.T) {
	r := ring{max: 1 << 20}
	r.writeAt(0, []byte{'x'})
	r.commit(1)
	if r.capacity() > ringMinAlloc {
		t.Errorf("one byte got a %d-byte buffer, want at most %d", r.capacity(), ringMinAlloc)
	}
	// Growing keeps the data, wrapped or not.
	r.discard(1)
	want := bytes.Repeat([]byte("0123456789"), 1000)
	for i := 0; i < len(want); i += 7 {
		p := want[i:min(i+7, len(want))]
		r.writeAt(r.len(), p)
		r.commit(len(p))
	}
	got := make([]byte, len(want)+1)
	if n := r.read(got); !bytes.Equal(got[:n], want) {
		t.Errorf("read back %d bytes that differ from the %d written", n, len(want))
	}
}

// TestRingDrainedStartsAtFront: a ring emptied by its reader writes the
// next bytes at the front of its buffer, not where the last ones ended;
// one that still holds bytes beyond the committed ones (out of order)
// keeps them where they are until they are committed and read.
func TestRingDrainedStartsAtFront(t *testing.T) {
	tests := []struct {
		name      string
		ooo       bool // a run is held beyond the committed bytes when they are read
		wantFront bool
	}{
		{"drained", false, true},
		{"out-of-order bytes held", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ring{max: 1 << 16}
			r.reserve(4096) // more than the bytes written: no wrap brings the start back to 0
			r.writeAt(0, bytes.Repeat([]byte{'a'}, 1000))
			r.commit(1000)
			if tt.ooo {
				r.writeAt(1500, []byte("later"))
			}
			got := make([]byte, 2000)
			if n := r.read(got); n != 1000 {
				t.Fatalf("read %d bytes, want 1000", n)
			}
			if front := r.head == 0; front != tt.wantFront {
				t.Fatalf("after the read the ring starts at %d of its buffer; at the front: %v, want %v", r.head, front, tt.wantFront)
			}
			if !tt.ooo {
				return
			}
			r.writeAt(0, bytes.Repeat([]byte{'b'}, 500)) // the hole before the run
			r.commit(505)
			if n := r.read(got); string(got[:n]) != strings.Repeat("b", 500)+"later" {
				t.Errorf("read %q after filling the hole", got[:n])
			}
			if r.head != 0 {
				t.Errorf("drained at last, the ring starts at %d, want 0", r.head)
			}
		})
	}
}

// TestRingGrowKeepsHeldBytes: a ring that grows keeps the bytes it
// holds, committed or not and wrapped round its end or not, and moves
// only those.
func TestRingGrowKeepsHeldBytes(t *testing.T) {
	r := ring{max: 1 << 20}
	r.reserve(100)
	size := int(r.size)
	// Wrap: fill, read most, write again past the end.
	r.writeAt(0, bytes.Repeat([]byte{'x'}, size))
	r.commit(size)
	r.read(make([]byte, size-10))
	r.writeAt(r.len(), []byte("0123456789"))
	r.commit(10)
	r.writeAt(r.len()+5, []byte("ooo")) // beyond the committed bytes, wrapped
	held := r.used
	r.writeAt(r.len()+size, []byte("!")) // grows the buffer
	if int(r.size) <= size {
		t.Fatalf("the buffer did not grow: %d bytes", r.size)
	}
	r.writeAt(r.len(), []byte("ABCDE"))
	r.commit(5 + 3)
	got := make([]byte, 64)
	if n := r.read(got); string(got[:n]) != "xxxxxxxxxx0123456789ABCDEooo" {
		t.Errorf("read %q after the growth", got[:n])
	}
	if held != 10+10+5+3 {
		t.Errorf("held %d bytes before the growth, want 28", held)
	}
}

// TestRingFreeBounded: a ring whose max is beyond what its 32-bit
// offsets reach (a buffer set above 4 GiB through WithBuffers) offers
// only what they reach.
func TestRingFreeBounded(t *testing.T) {
	for _, max := range []int{0, 1, ringMaxLen - 1, ringMaxLen, math.MaxInt} {
		r := ring{max: max}
		if got, want := r.free(), min(max, ringMaxLen); got != want {
			t.Errorf("max %d: free %d, want %d", max, got, want)
		}
	}
}

// capacity returns the bytes of storage the ring has allocated: what
// len(r.buf) was when a ring was one buffer.
func (r *ring) capacity() int {
	k := 0
	for _, b := range r.blk {
		k += len(b)
	}
	return k
}

// ringModel is the reference for ring: the bytes written, as a plain
// slice indexed from the ring's head, with which of them were written.
type ringModel struct {
	data    []byte
	written []byte // 1: written
	n       int    // committed
}

func (m *ringModel) writeAt(off int, p []byte) {
	if end := off + len(p); end > len(m.data) {
		m.data = append(m.data, make([]byte, end-len(m.data))...)
		m.written = append(m.written, make([]byte, end-len(m.written))...)
	}
	copy(m.data[off:], p)
	copy(m.written[off:], bytes.Repeat([]byte{1}, len(p)))
}

// committable returns how many bytes past the committed ones were written
// without a gap.
func (m *ringModel) committable() int {
	if k := bytes.IndexByte(m.written[m.n:], 0); k >= 0 {
		return k
	}
	return len(m.written) - m.n
}

func (m *ringModel) discard(k int) {
	m.data, m.written, m.n = m.data[k:], m.written[k:], m.n-k
}

// checkRing compares the ring with the model: every committed byte at
// every offset, the lengths, and the storage bound.
func checkRing(t *testing.T, step int, r *ring, m *ringModel, limit int) {
	t.Helper()
	if r.len() != m.n || int(r.used) != len(m.data) {
		t.Fatalf("step %d: len %d used %d, want %d and %d", step, r.len(), r.used, m.n, len(m.data))
	}
	if c := r.capacity(); c > int(r.size) || int(r.size) > max(limit, 0) {
		t.Fatalf("step %d: %d bytes allocated for a circle of %d, limit %d", step, c, r.size, limit)
	}
	got := make([]byte, m.n+1)
	if k := r.peekAt(0, got); k != m.n || !bytes.Equal(got[:k], m.data[:m.n]) {
		t.Fatalf("step %d: peek of all %d committed bytes gave %d that differ", step, m.n, k)
	}
}

// TestRingAcrossBlocks: writes and peeks that straddle one, two and many
// blocks, with the ring wrapped round its circle, out-of-order bytes far
// ahead, and the ring drained to empty and filled again, read back what
// was written.
func TestRingAcrossBlocks(t *testing.T) {
	const c = ringChunk
	type op struct {
		write, commit, discard int // bytes at the end of what is held (write), committed, dropped
		ahead                  int // a write this far beyond what is held
		raise                  int // max raised to this first, as auto-tuning does
	}
	tests := []struct {
		name string
		max  int
		ops  []op
	}{
		{"one block, straddled", 4 * c, []op{{write: c - 10, commit: c - 10}, {write: 20, commit: 20}, {discard: c}}},
		{"two blocks at once", 4 * c, []op{{write: 100, commit: 100}, {write: 2*c + 50, commit: 2*c + 50}}},
		{"many blocks at once", 16 * c, []op{{write: 7, commit: 7}, {write: 11*c + 3, commit: 11*c + 3}, {discard: 5*c + 1}}},
		{"wrap round a full circle", 3 * c, []op{
			{write: 3 * c, commit: 3 * c}, {discard: 2*c + 17}, {write: 2 * c, commit: 2 * c}, {discard: 1}, {write: 1, commit: 1}}},
		{"grow while wrapped, head mid-block", 8 * c, []op{
			{write: 2 * c, commit: 2 * c}, {discard: c + 5}, {write: c + 5, commit: c + 5}, {write: 3 * c, commit: 3 * c}}},
		{"grow while wrapped, short last block", 2*c + 1000, []op{
			{write: 2*c + 1000, commit: 2*c + 1000}, {discard: 2 * c}, {write: 2 * c, commit: 2 * c},
			{discard: c}, {raise: 6 * c, write: 2 * c, commit: 2 * c}, {discard: 2*c + 3}}},
		{"grow while wrapped, short last block, a part-filled block", 2*c + 1000, []op{
			{write: 2*c + 1000, commit: 2*c + 1000}, {discard: 2 * c}, {write: c + 5000, commit: c + 5000},
			{raise: 6 * c, write: c, commit: c}}},
		{"out of order far ahead, then the hole", 32 * c, []op{
			{write: 10, commit: 10}, {ahead: 20*c + 3, write: 0}, {write: 20*c + 3, commit: 20*c + 3}}},
		{"drain to empty and refill", 4 * c, []op{
			{write: 3*c + 9, commit: 3*c + 9}, {discard: 3*c + 9}, {write: 2 * c, commit: 2 * c}, {discard: 2 * c}, {write: 5, commit: 5}}},
		{"small to large, wrapped", 4 * c, []op{{write: 60, commit: 60}, {discard: 50}, {write: 40, commit: 40}, {write: c, commit: c}}},
		{"max 1", 1, []op{{write: 1, commit: 1}, {discard: 1}, {write: 1, commit: 1}}},
		{"max huge", math.MaxInt, []op{{write: 3*c + 1, commit: 3*c + 1}, {discard: c}, {write: 5 * c, commit: 5 * c}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ring{max: tt.max}
			var m ringModel
			next := 0
			gen := func(k int) []byte {
				p := make([]byte, k)
				for i := range p {
					p[i] = byte(next*7 + next>>8)
					next++
				}
				return p
			}
			limit := tt.max
			for i, o := range tt.ops {
				if o.raise > 0 {
					r.max, limit = o.raise, o.raise
				}
				if o.ahead > 0 {
					p := gen(5)
					r.writeAt(len(m.data)+o.ahead, p)
					m.writeAt(len(m.data)+o.ahead, p)
				}
				if o.write > 0 {
					p := gen(o.write)
					r.writeAt(m.n, p)
					m.writeAt(m.n, p)
				}
				if o.commit > 0 {
					k := m.committable()
					r.commit(k)
					m.n += k
				}
				if o.discard > 0 {
					r.discard(o.discard)
					m.discard(o.discard)
				}
				checkRing(t, i, &r, &m, limit)
			}
		})
	}
	// max 0: nothing to hold, nothing allocated.
	r := ring{max: 0}
	r.writeAt(0, nil)
	if r.free() != 0 || r.capacity() != 0 || r.peekAt(0, make([]byte, 1)) != 0 {
		t.Errorf("max 0: free %d, capacity %d", r.free(), r.capacity())
	}
}

// TestRingModel runs random operations on a ring and on a plain slice
// and compares them after each: writes in and beyond the committed bytes
// of random lengths (out-of-order ones far ahead), commits, peeks at
// random offsets, discards, and a max that grows as auto-tuning raises
// it.
func TestRingModel(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 99))
			maxes := []int{1, 100, ringChunk - 1, ringChunk, ringChunk + 1, 3*ringChunk + 777, 8 * ringChunk}
			r := ring{max: maxes[rng.IntN(len(maxes))]}
			ceil := 0
			if seed%2 == 1 {
				ceil = r.max + rng.IntN(4*ringChunk)
			}
			var m ringModel
			lengths := []int{1, 3, 1460, ringChunk - 1, ringChunk, ringChunk + 1, 2*ringChunk + 5}
			for step := range 250 {
				room := r.max - len(m.data)
				switch rng.IntN(8) {
				case 0, 1, 2: // append and commit, as a sender's Write
					k := min(lengths[rng.IntN(len(lengths))], r.max-m.n)
					if k <= 0 || m.n != len(m.data) {
						continue
					}
					p := randBytes(rng, k)
					r.reserveIn(m.n+k, ceil)
					r.writeAt(m.n, p)
					r.commit(k)
					m.writeAt(m.n, p)
					m.n += k
				case 3: // out of order
					if room <= 0 {
						continue
					}
					off := m.n + rng.IntN(r.max-m.n)
					k := min(1+rng.IntN(3000), r.max-off)
					p := randBytes(rng, k)
					r.writeAt(off, p)
					m.writeAt(off, p)
				case 4: // fill the hole and commit what is in order
					if m.n < len(m.data) {
						k := 1 + rng.IntN(len(m.data)-m.n)
						p := randBytes(rng, k)
						r.writeAt(m.n, p)
						m.writeAt(m.n, p)
					}
					k := m.committable()
					r.commit(k)
					m.n += k
				case 5: // read some
					k := rng.IntN(m.n + 1)
					got := make([]byte, k)
					if n := r.read(got); n != k || !bytes.Equal(got, m.data[:k]) {
						t.Fatalf("step %d: read %d bytes, want %d and the model's", step, n, k)
					}
					m.discard(k)
				case 6: // peek at a random offset, as a retransmission
					off := rng.IntN(m.n + 1)
					got := make([]byte, rng.IntN(ringChunk+100))
					k := r.peekAt(off, got)
					if want := min(len(got), max(m.n-off, 0)); k != want || !bytes.Equal(got[:k], m.data[off:off+k]) {
						t.Fatalf("step %d: peek of %d at %d gave %d bytes, want %d and the model's", step, len(got), off, k, want)
					}
				case 7: // max grows
					r.max += rng.IntN(2 * ringChunk)
				}
				if step%8 == 0 { // all bytes now and then: reads and peeks check theirs
					checkRing(t, step, &r, &m, max(r.max, ceil))
				}
			}
			checkRing(t, -1, &r, &m, max(r.max, ceil))
		})
	}
}

// randBytes returns k bytes from rng.
func randBytes(rng *rand.Rand, k int) []byte {
	p := make([]byte, k+7)
	for i := 0; i < k; i += 8 {
		binary.LittleEndian.PutUint64(p[i:], rng.Uint64())
	}
	return p[:k]
}

// TestRingGrowMovesNoBytes: a large ring that grows keeps its blocks, and
// the bytes in them where they are: the block holding the head is the same
// memory after the growth.
func TestRingGrowMovesNoBytes(t *testing.T) {
	r := ring{max: 64 * ringChunk}
	p := make([]byte, ringChunk)
	r.writeAt(0, p)
	r.writeAt(ringChunk, p)
	r.commit(2 * ringChunk)
	r.discard(ringChunk + 100) // the head is in block 1
	b, _ := r.locate(0)
	first := &r.blk[b][0]
	size := r.size
	r.writeAt(r.len(), make([]byte, 5*ringChunk))
	if r.size <= size {
		t.Fatalf("the circle did not grow: %d bytes", r.size)
	}
	if b, _ := r.locate(0); &r.blk[b][0] != first {
		t.Errorf("the block holding the head was copied when the ring grew")
	}
}

// TestRingCycleAllocatesNothing: a ring that goes round and round its
// circle, holding a standing queue as a slow reader leaves one, allocates
// nothing once it has grown, and keeps only the blocks its queue needs;
// so does a ring whose reader keeps up.
func TestRingCycleAllocatesNothing(t *testing.T) {
	for _, standing := range []int{0, 4*ringChunk + 123} {
		r := ring{max: 64 * ringChunk}
		p := make([]byte, 60000)
		got := make([]byte, 60000)
		cycle := func() {
			for range 20 {
				r.writeAt(r.len(), p)
				r.commit(len(p))
				if r.len() > standing {
					r.read(got)
				}
			}
		}
		cycle() // warm-up: the ring grows
		if a := testing.AllocsPerRun(5, cycle); a != 0 {
			t.Errorf("standing queue %d: %.1f allocations a cycle after warm-up, want 0", standing, a)
		}
		// The blocks the reader empties go ahead of the writer: the ring
		// keeps the blocks its queue needs and one or two more, not one
		// for every slot of its circle.
		if c, want := r.capacity(), (standing+len(p))/ringChunk+3; c > want*ringChunk {
			t.Errorf("standing queue %d: %d blocks allocated in a circle of %d, want at most %d", standing, c/ringChunk, int(r.size)/ringChunk, want)
		}
	}
}

// BenchmarkRingGrow fills a fresh ring to 16 MiB in 64 KiB writes, as a
// connection's first bulk transfer grows its buffers from nothing.
func BenchmarkRingGrow(b *testing.B) {
	p := make([]byte, 64<<10)
	b.SetBytes(16 << 20)
	for b.Loop() {
		r := ring{max: 16 << 20}
		for r.len() < 16<<20 {
			r.writeAt(r.len(), p)
			r.commit(len(p))
		}
	}
}

// BenchmarkRingStanding moves 64 KiB through a ring that holds a standing
// queue of 3.7 MiB, as a receiver whose reader fell behind once.
func BenchmarkRingStanding(b *testing.B) {
	p := make([]byte, 64<<10)
	got := make([]byte, 64<<10)
	r := ring{max: 6 << 20}
	for r.len() < 3700<<10 {
		r.writeAt(r.len(), p)
		r.commit(len(p))
	}
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		r.writeAt(r.len(), p)
		r.commit(len(p))
		r.read(got)
	}
}
