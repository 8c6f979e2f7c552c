package clock

import (
	"testing"
	"time"
)

func TestInstant(t *testing.T) {
	tests := []struct {
		i    Instant
		want string
	}{
		{0, "0.000000s"},
		{Instant(1250 * time.Millisecond), "1.250000s"},
		{Instant(60*time.Second + 7*time.Microsecond), "60.000007s"},
		{Never, "never"},
		{Instant(-5 * time.Microsecond), "-0.000005s"},
	}
	for _, tt := range tests {
		if got := tt.i.String(); got != tt.want {
			t.Errorf("String(%d) = %q, want %q", int64(tt.i), got, tt.want)
		}
	}
	if got := Never.Add(time.Second); got != Never {
		t.Errorf("Never.Add = %v", got)
	}
	if got := (Never - 10).Add(time.Second); got != Never {
		t.Errorf("saturating Add = %v", got)
	}
	a := Instant(0).Add(3 * time.Second)
	if a.Sub(Instant(time.Second)) != 2*time.Second || !Instant(1).Before(a) || Min(a, 1) != 1 {
		t.Error("Add/Sub/Before/Min")
	}
	if a.Millis() != 3000 || a.Micros() != 3e6 {
		t.Error("Millis/Micros")
	}
}
