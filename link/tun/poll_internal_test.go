//go:build linux

package tun

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// pollUntil waits for the whole of its time, however fast each poll is:
// the route to a new IPv6 address can take more than a second on a busy
// machine, and counting polls alone gave up after about one.
func TestPollUntil(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name      string
		wait      time.Duration
		readyFrom time.Duration // cond is true from then on; < 0: never
		err       error         // cond's error
		want      string        // "" for success
	}{
		{"ready at once", time.Second, 0, nil, ""},
		{"ready after 1.5 s of cheap polls", 3 * time.Second, 1500 * time.Millisecond, nil, ""},
		{"never ready", 200 * time.Millisecond, -1, nil, "not ready after"},
		{"an error", time.Second, -1, boom, "boom"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			polls := 0
			err := pollUntil(tc.wait, func() (bool, error) {
				polls++
				return tc.readyFrom >= 0 && time.Since(start) >= tc.readyFrom, tc.err
			}, "not ready")
			took := time.Since(start)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("err %v after %v and %d polls, want success", err, took, polls)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("err %v, want %q", err, tc.want)
			case took > tc.wait+time.Second:
				t.Errorf("took %v, more than its %v", took, tc.wait)
			case polls > int(tc.wait/minPollGap)+1:
				t.Errorf("%d polls, more than the bound", polls)
			}
		})
	}
}
