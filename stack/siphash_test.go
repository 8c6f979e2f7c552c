package stack

import (
	"crypto/sha256"
	"net/netip"
	"testing"
)

// TestSipHashVectors checks sum64 against the reference outputs of the
// SipHash paper's test vectors (key 00 01 .. 0f, message 00 01 .. of
// each length): its appendix gives the 15-byte one, and the reference
// implementation's vectors.h the others used here.
func TestSipHashVectors(t *testing.T) {
	var key [16]byte
	for i := range key {
		key[i] = byte(i)
	}
	k := newSipKey(key)
	msg := make([]byte, 64)
	for i := range msg {
		msg[i] = byte(i)
	}
	tests := []struct {
		n    int
		want uint64
	}{
		{0, 0x726fdb47dd0e0e31},
		{1, 0x74f839c593dc67fd},
		{7, 0xab0200f58b01d137},
		{8, 0x93f5f5799a932462},
		{15, 0xa129ca6149be45e5},
		{16, 0x3f2acc7f57c29bdb},
		{63, 0x958a324ceb064572},
	}
	for _, tt := range tests {
		if got := k.sum64(msg[:tt.n]); got != tt.want {
			t.Errorf("SipHash-2-4 of %d bytes = %#016x, want %#016x", tt.n, got, tt.want)
		}
	}
}

// TestSipHashKeyed shows that the key matters: the same message under two
// keys, and two messages under one key, hash apart.
func TestSipHashKeyed(t *testing.T) {
	a, b := newSipKey([16]byte{1}), newSipKey([16]byte{2})
	msg := []byte("10.0.0.1:80 10.0.0.2:40000")
	if a.sum64(msg) == b.sum64(msg) {
		t.Error("two keys gave the same hash")
	}
	if a.sum64(msg) == a.sum64(msg[1:]) {
		t.Error("two messages gave the same hash")
	}
}

// BenchmarkTupleHash compares the tuple hash with SHA-256 of the same
// bytes, which it replaced.
func BenchmarkTupleHash(b *testing.B) {
	s, _ := newStack(b)
	tu := Tuple{Local: netip.MustParseAddrPort("10.0.0.1:80"), Remote: netip.MustParseAddrPort("10.0.0.2:40000")}
	b.Run("siphash", func(b *testing.B) {
		for b.Loop() {
			s.hash32(tu, 0)
		}
	})
	b.Run("sha256", func(b *testing.B) {
		var buf [53]byte
		for b.Loop() {
			sha256.Sum256(buf[:])
		}
	})
}

func BenchmarkSum64(b *testing.B) {
	k := newSipKey([16]byte{1})
	var msg [41]byte
	for b.Loop() {
		k.sum64(msg[:])
	}
}
