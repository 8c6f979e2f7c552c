// Package clock defines Instant, a point in (virtual or real) time measured in
// nanoseconds from an arbitrary origin. Nothing here reads a clock: callers
// pass time in, which is what lets the simulator run a 60 s TIME_WAIT in
// microseconds of wall time.
package clock

import "time"

// Instant is a point in time, in nanoseconds since an origin chosen by the
// driver (zero for the simulator, process start for a real host).
type Instant int64

// Never is an Instant later than any real deadline.
const Never Instant = 1<<63 - 1

// Add returns i advanced by d, saturating at Never.
func (i Instant) Add(d time.Duration) Instant {
	if i == Never || (d > 0 && i > Never-Instant(d)) {
		return Never
	}
	return i + Instant(d)
}

// Sub returns the duration i - j.
func (i Instant) Sub(j Instant) time.Duration { return time.Duration(i - j) }

// Before reports whether i is earlier than j.
func (i Instant) Before(j Instant) bool { return i < j }

// Micros returns i in microseconds.
func (i Instant) Micros() int64 { return int64(i) / 1000 }

// Millis returns i in milliseconds.
func (i Instant) Millis() int64 { return int64(i) / 1e6 }

// String formats i as seconds with microsecond precision, e.g. "1.250000s".
func (i Instant) String() string {
	if i == Never {
		return "never"
	}
	us := i.Micros()
	sign := ""
	if us < 0 {
		sign, us = "-", -us
	}
	return sign + itoa(us/1e6) + "." + pad6(us%1e6) + "s"
}

func itoa(v int64) string {
	if v == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for v > 0 {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return string(b[i:])
}

func pad6(v int64) string {
	s := itoa(v)
	for len(s) < 6 {
		s = "0" + s
	}
	return s
}

// Min returns the earlier of a and b.
func Min(a, b Instant) Instant {
	if a < b {
		return a
	}
	return b
}
