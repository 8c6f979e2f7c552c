//go:build linux

package netns

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// fakeTB records what require asks of a test. Like testing.T, its Skipf
// and Fatalf end the calling goroutine.
type fakeTB struct {
	testing.TB // nil: calling anything not overridden panics
	skipped    string
	failed     string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Skipf(format string, args ...any) {
	f.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// runRequire calls require on its own goroutine, as the test runner
// would, and returns the fake's record and whether require returned.
func runRequire(cs []check, ci string) (f *fakeTB, returned bool) {
	f = &fakeTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		require(f, cs, ci)
		returned = true
	}()
	<-done
	return f, returned
}

func TestRequire(t *testing.T) {
	ok := check{"present", func() error { return nil }}
	bad := check{"frobnicator", func() error { return errors.New("not installed") }}
	for _, tc := range []struct {
		name       string
		cs         []check
		ci         string
		skip, fail bool
	}{
		{"all present", []check{ok, ok}, "", false, false},
		{"all present in CI", []check{ok}, "true", false, false},
		{"missing skips", []check{ok, bad}, "", true, false},
		{"missing skips when CI=false", []check{bad}, "false", true, false},
		{"missing skips when CI is not a boolean", []check{bad}, "maybe", true, false},
		{"missing fails when CI=true", []check{ok, bad}, "true", false, true},
		{"missing fails when CI=1", []check{bad}, "1", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, returned := runRequire(tc.cs, tc.ci)
			if returned != (!tc.skip && !tc.fail) || (f.skipped != "") != tc.skip || (f.failed != "") != tc.fail {
				t.Fatalf("returned=%v skipped=%q failed=%q; want skip %v, fail %v",
					returned, f.skipped, f.failed, tc.skip, tc.fail)
			}
			msg := f.skipped + f.failed
			if msg != "" && !strings.Contains(msg, "frobnicator (not installed)") {
				t.Errorf("message %q does not name what is missing", msg)
			}
		})
	}
}

// TestRequireEnv checks that Require reads $CI: with a check forced to
// fail, CI=true turns the skip into a failure.
func TestRequireEnv(t *testing.T) {
	saved := checks
	t.Cleanup(func() { checks = saved })
	checks = []check{{"frobnicator", func() error { return errors.New("not installed") }}}
	for ci, wantFail := range map[string]bool{"true": true, "": false} {
		t.Setenv("CI", ci)
		f := &fakeTB{}
		done := make(chan struct{})
		go func() {
			defer close(done)
			Require(f)
		}()
		<-done
		if (f.failed != "") != wantFail || (f.skipped != "") == wantFail {
			t.Errorf("CI=%q: skipped=%q failed=%q", ci, f.skipped, f.failed)
		}
	}
}

func TestMissingCaps(t *testing.T) {
	const sys, net = 1 << 21, 1 << 12
	for _, tc := range []struct {
		eff  uint64
		want string
	}{
		{sys | net, ""},
		{0x1ffffffffff, ""},
		{net, "CAP_SYS_ADMIN"},
		{sys, "CAP_NET_ADMIN"},
		{0, "CAP_SYS_ADMIN and CAP_NET_ADMIN"},
	} {
		err := missingCaps(tc.eff)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.HasSuffix(err.Error(), tc.want)) {
			t.Errorf("missingCaps(%#x) = %v, want %q", tc.eff, err, tc.want)
		}
	}
}
