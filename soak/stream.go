package soak

import "encoding/binary"

// A stream is the bytes one side writes on a connection: byte i of the
// stream with key k is a function of (k, i) alone, so a reader checks
// every byte it gets against its offset without storing what was sent, and
// a byte from another connection, another offset or a flipped bit shows.

// mix is SplitMix64's finalizer.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// fill writes the stream key's bytes [off, off+len(p)) into p.
func fill(key uint64, off int, p []byte) {
	var w [8]byte
	i := 0
	for i < len(p) {
		o := off + i
		binary.LittleEndian.PutUint64(w[:], mix(key^uint64(o>>3)))
		i += copy(p[i:], w[o&7:])
	}
}

// mismatch returns the index of the first byte of p that is not the
// stream's byte at off+index, or -1. scratch must be at least as long as p.
func mismatch(key uint64, off int, p, scratch []byte) int {
	want := scratch[:len(p)]
	fill(key, off, want)
	for i := range p {
		if p[i] != want[i] {
			return i
		}
	}
	return -1
}
