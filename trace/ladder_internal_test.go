package trace

import (
	"testing"
	"time"
)

func TestShortDur(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0ms"},
		{time.Microsecond, "0.001ms"},
		{250 * time.Microsecond, "0.25ms"},
		{500 * time.Microsecond, "0.5ms"},
		{1500 * time.Microsecond, "1.5ms"},
		{120 * time.Millisecond, "120ms"},
		{1500 * time.Millisecond, "1.5s"},
	} {
		if got := shortDur(c.d); got != c.want {
			t.Errorf("shortDur(%v) = %q, want %q", c.d, got, c.want)
		}
	}
}
