// Package seq implements 32-bit TCP sequence-number arithmetic (RFC 9293
// §3.4): comparisons are made modulo 2^32, so they stay correct across the wrap.
package seq

// Value is a TCP sequence or acknowledgment number.
type Value uint32

// Size is a length in sequence space.
type Size uint32

// LessThan reports whether v comes before w in sequence space.
func (v Value) LessThan(w Value) bool { return int32(v-w) < 0 }

// LessEq reports whether v comes before w or equals it.
func (v Value) LessEq(w Value) bool { return int32(v-w) <= 0 }

// GreaterThan reports whether v comes after w.
func (v Value) GreaterThan(w Value) bool { return int32(v-w) > 0 }

// GreaterEq reports whether v comes after w or equals it.
func (v Value) GreaterEq(w Value) bool { return int32(v-w) >= 0 }

// Add returns v advanced by n.
func (v Value) Add(n Size) Value { return v + Value(n) }

// Sub returns the distance from w to v (v - w), assuming w <= v.
func (v Value) Sub(w Value) Size { return Size(v - w) }

// InRange reports whether v lies in [lo, hi).
func (v Value) InRange(lo, hi Value) bool { return lo.LessEq(v) && v.LessThan(hi) }

// InWindow reports whether v lies in [first, first+size).
func (v Value) InWindow(first Value, size Size) bool {
	return v.Sub(first) < size && first.LessEq(v)
}

// Max returns the later of a and b.
func Max(a, b Value) Value {
	if a.GreaterThan(b) {
		return a
	}
	return b
}

// Min returns the earlier of a and b.
func Min(a, b Value) Value {
	if a.LessThan(b) {
		return a
	}
	return b
}
