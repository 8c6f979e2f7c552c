package soak

import "testing"

// Pieces of a stream filled at any offsets join into the whole stream, and
// mismatch finds exactly the bytes that differ.
func TestStream(t *testing.T) {
	whole := make([]byte, 100)
	fill(7, 0, whole)
	for _, tc := range []struct{ off, n int }{{0, 1}, {1, 7}, {3, 20}, {8, 8}, {13, 87}, {99, 1}} {
		part := make([]byte, tc.n)
		fill(7, tc.off, part)
		if string(part) != string(whole[tc.off:tc.off+tc.n]) {
			t.Errorf("fill(7, %d, %d bytes) differs from the whole stream", tc.off, tc.n)
		}
	}
	scratch := make([]byte, 100)
	if i := mismatch(7, 0, whole, scratch); i != -1 {
		t.Fatalf("mismatch on the stream itself at %d", i)
	}
	tests := []struct {
		name string
		key  uint64
		off  int
		edit func(p []byte)
		want int
	}{
		{"flipped bit", 7, 0, func(p []byte) { p[42] ^= 4 }, 42},
		{"other key", 8, 0, func([]byte) {}, 0},
		{"shifted by one byte", 7, 1, func([]byte) {}, 0},
		{"duplicated byte", 7, 0, func(p []byte) { copy(p[11:], p[10:]) }, 11},
	}
	for _, tc := range tests {
		p := append([]byte(nil), whole...)
		tc.edit(p)
		if got := mismatch(tc.key, tc.off, p, scratch); got != tc.want {
			t.Errorf("%s: mismatch at %d, want %d", tc.name, got, tc.want)
		}
	}
}
