package conform

import (
	"testing"
	"time"
)

// TestTSClock checks packetdrill's reading of TS values: the first
// outbound TS val is the baseline, later ones are compared on its scale
// within the tolerance (plus the runner's drift), and a script ecr
// becomes the host's value.
func TestTSClock(t *testing.T) {
	type step struct {
		script, actual uint32
		at, nom        time.Duration
		ok             bool
	}
	tests := []struct {
		name  string
		tick  time.Duration
		steps []step
	}{
		{"no tick compares nothing", 0, []step{{100, 5000, 0, 0, true}, {100, 9000, time.Second, time.Second, true}}},
		{"on time", time.Millisecond, []step{{100, 5000, 0, 0, true}, {300, 5200, 200 * time.Millisecond, 200 * time.Millisecond, true}}},
		{"within the tolerance", time.Millisecond, []step{{100, 5000, 0, 0, true}, {300, 5219, 200 * time.Millisecond, 200 * time.Millisecond, true}}},
		{"beyond the tolerance", time.Millisecond, []step{{100, 5000, 0, 0, true}, {300, 5221, 200 * time.Millisecond, 200 * time.Millisecond, false}}},
		{"behind", time.Millisecond, []step{{100, 5000, 0, 0, true}, {300, 5179, 200 * time.Millisecond, 200 * time.Millisecond, false}}},
		{"a late runner's drift", time.Millisecond, []step{{100, 5000, 0, 0, true}, {300, 5250, 250 * time.Millisecond, 200 * time.Millisecond, true}}},
		{"wraps", time.Millisecond, []step{{100, 0xffffff00, 0, 0, true}, {400, 0x0000002c, 300 * time.Millisecond, 300 * time.Millisecond, true}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &tsClock{tick: tc.tick, tol: 20 * time.Millisecond}
			for i, s := range tc.steps {
				c.at, c.nom = s.at, s.nom
				if err := c.observe(s.script, s.actual); (err == nil) != s.ok {
					t.Fatalf("step %d: observe(%d, %d) = %v, want ok %v", i, s.script, s.actual, err, s.ok)
				}
			}
		})
	}
}

// TestTSClockEcr checks what a script's ecr becomes.
func TestTSClockEcr(t *testing.T) {
	c := &tsClock{tick: time.Millisecond, tol: 20 * time.Millisecond}
	if got := c.ecr(100); got != 100 {
		t.Errorf("before any TS val: ecr(100) = %d, want 100", got)
	}
	c.sent(7000)
	c.observe(1000, 7000)
	c.sent(7300)
	if got := c.ecr(1000); got != 7000 {
		t.Errorf("ecr of a value a line wrote = %d, want 7000", got)
	}
	if got := c.ecr(1234); got != 7300 {
		t.Errorf("ecr of an unknown value = %d, want the latest TS val 7300", got)
	}
	if got := c.ecr(0); got != 0 {
		t.Errorf("ecr(0) = %d, want 0", got)
	}
	c.scaled = true
	if got := c.ecr(1234); got != 7234 {
		t.Errorf("scaled ecr(1234) = %d, want 7234", got)
	}
	c.reset()
	if got := c.ecr(1000); got != 7300 {
		t.Errorf("after reset: ecr(1000) = %d, want the latest TS val 7300", got)
	}
}

// TestTSClockWraps checks the TS arithmetic across the uint32 wrap, on
// the script's side, the host's, or both: comparison, the scaled ecr and
// the value reported.
func TestTSClockWraps(t *testing.T) {
	tests := []struct {
		name                   string
		firstScript, firstHost uint32
		script, host           uint32
		ok                     bool
		ecrScript, ecrHost     uint32 // a scaled ecr and what it becomes
		readHost, readOnScript uint32
	}{
		{"script wraps", 0xfffffff0, 5000, 0x000000f0, 5256, true, 0x10, 5032, 5256, 0xf0},
		{"host wraps", 100, 0xffffff00, 356, 0x00000000, true, 110, 0xffffff0a, 0x10, 0x0174},
		{"read and script straddle the wrap", 0xfffffff0, 5000, 0x00000005, 5014, true, 0x10, 5032, 5014, 0xfffffffe},
		{"both wrap", 0xfffffff0, 0xffffff00, 0x000000f0, 0x00000000, true, 0x10, 0xffffff20, 0x1c, 0x010c},
		{"host wraps beyond the tolerance", 100, 0xffffff00, 356, 0x0000001e, false, 110, 0xffffff0a, 0x1e, 0x0182},
		{"host behind across the wrap", 0xfffffff0, 0x00000010, 0x000000f0, 0xfffffff0, false, 0x10, 0x30, 0xfffffff0, 0xffffffd0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &tsClock{tick: time.Millisecond, tol: 20 * time.Millisecond, scaled: true}
			if err := c.observe(tc.firstScript, tc.firstHost); err != nil {
				t.Fatalf("baseline: %v", err)
			}
			if err := c.observe(tc.script, tc.host); (err == nil) != tc.ok {
				t.Errorf("observe(%#x, %#x) = %v, want ok %v", tc.script, tc.host, err, tc.ok)
			}
			if got := c.ecr(tc.ecrScript); got != tc.ecrHost {
				t.Errorf("scaled ecr(%#x) = %#x, want %#x", tc.ecrScript, got, tc.ecrHost)
			}
			if got, ok := c.read(tc.readHost); !ok || got != tc.readOnScript {
				t.Errorf("read(%#x) = %#x, %v, want %#x", tc.readHost, got, ok, tc.readOnScript)
			}
		})
	}
}
