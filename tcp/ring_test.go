package tcp

import (
	"bytes"
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
	for _, max := range []int{0, 1, ringMaxLen - 1, ringMaxLen, 1 << 40} {
		r := ring{max: max}
		if got, want := r.free(), min(max, ringMaxLen); got != want {
			t.Errorf("max %d: free %d, want %d", max, got, want)
		}
	}
}
