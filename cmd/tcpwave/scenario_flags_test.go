package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/tcpwave/tcpwave/scenario"
)

// result is what one CLI invocation did.
type result struct {
	code           int
	stdout, stderr string
	panicked       string
}

// runCLI runs the CLI with ctx and args; a panic is caught and reported in
// the result, so that a table goes on past it.
func runCLI(t *testing.T, ctx context.Context, stdout io.Writer, args ...string) (res result) {
	t.Helper()
	var out, errb bytes.Buffer
	if stdout == nil {
		stdout = &out
	}
	defer func() {
		if v := recover(); v != nil {
			res.panicked = fmt.Sprintf("%v\n%s", v, debug.Stack())
		}
		res.stdout, res.stderr = out.String(), errb.String()
	}()
	res.code = runContext(ctx, args, stdout, &errb)
	return res
}

// lines splits s into its non-empty lines.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

// The documented network flags can make a scenario impossible: it must
// then FAIL with a one-line reason and exit 1, never panic.
func TestScenarioImpossibleNetworkFails(t *testing.T) {
	tests := [][]string{
		{"lost-fin-1", "--loss", "1"},
		{"simultaneous-close", "--loss", "1"},
		{"time-wait-blocks-bind", "--loss", "1"},
		{"time-wait-reuse", "--loss", "1"},
		{"old-duplicate", "--loss", "1"},
		{"old-duplicate", "--corrupt", "1"},
		{"old-duplicate", "--bandwidth", "1"},
		{"old-duplicate", "--delay", "100s"},
		{"old-duplicate", "--jitter", "30s"},
		{"simultaneous-close", "--corrupt", "1"},
		{"simultaneous-close", "--bandwidth", "1"},
		{"simultaneous-close", "--delay", "100s"},
		{"simultaneous-close", "--jitter", "30s"},
		{"time-wait-reuse", "--jitter", "30s", "--seed", "7"},
		{"handshake", "--corrupt", "1", "--json"},
	}
	for _, args := range tests {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			res := runCLI(t, context.Background(), nil, append([]string{"scenario", "run"}, args...)...)
			if res.panicked != "" {
				t.Fatalf("panic: %s", res.panicked)
			}
			errLines := lines(res.stderr)
			if res.code != 1 || len(errLines) == 0 || !strings.HasPrefix(errLines[0], "FAIL "+args[0]) {
				t.Fatalf("exit %d, stderr %q; want exit 1 and a FAIL %s line with its reason", res.code, res.stderr, args[0])
			}
			if len(errLines[0]) < len("FAIL "+args[0])+10 {
				t.Errorf("FAIL line without a reason: %q", errLines[0])
			}
			if res.stdout == "" {
				t.Errorf("no trace on stdout")
			}
		})
	}
}

// --all on a network that lets nothing through runs to the end: a FAIL
// line per scenario, with its reason, and exit 1.
func TestRunAllImpossibleNetwork(t *testing.T) {
	res := runCLI(t, context.Background(), nil, "scenario", "run", "--all", "--loss", "1")
	if res.panicked != "" {
		t.Fatalf("panic: %s", res.panicked)
	}
	n := len(scenario.Catalog())
	if res.code != 1 || strings.Count(res.stdout, "FAIL  ") != n || !strings.Contains(res.stdout, fmt.Sprintf("0 passed, %d failed", n)) {
		t.Fatalf("exit %d; want exit 1 and %d FAIL lines:\n%s%s", res.code, n, res.stdout, res.stderr)
	}
}

// A write error on --pcap or --html is an error: one line on stderr, exit 1.
func TestOutputWriteErrors(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Fatalf("this test writes to /dev/full: %v", err)
	}
	notADir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notADir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		flag string
	}{
		{[]string{"handshake", "--pcap", "/dev/full"}, "--pcap"},
		{[]string{"lost-ack-4", "--pcap", "/dev/full", "--json"}, "--pcap"},
		{[]string{"handshake", "--pcap", filepath.Join(notADir, "x.pcap")}, "--pcap"},
		{[]string{"handshake", "--html", "/dev/full"}, "--html"},
		{[]string{"handshake", "--html", filepath.Join(notADir, "x.html")}, "--html"},
		{[]string{"--all", "--html", "/dev/full"}, "--html"},
		{[]string{"--all", "--html", notADir}, "--html"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			res := runCLI(t, context.Background(), nil, append([]string{"scenario", "run"}, tt.args...)...)
			errLines := lines(res.stderr)
			if res.code != 1 || len(errLines) != 1 || !strings.HasPrefix(errLines[0], "tcpwave: "+tt.flag+": ") {
				t.Fatalf("exit %d, stderr %q; want exit 1 and one line about %s", res.code, res.stderr, tt.flag)
			}
		})
	}
}

// Durations are bounded: an absurd or negative one is a usage error on one
// line (then the usage), never a run with an overflowed, negative time.
func TestDurationFlagLimits(t *testing.T) {
	tests := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--time-wait", "2562047h"}, 2, "-time-wait"},
		{[]string{"--time-wait", "2562047h47m16s"}, 2, "-time-wait"},
		{[]string{"--time-wait", "-1ns"}, 2, "-time-wait"},
		{[]string{"--fin-timeout", "9223372036s"}, 2, "-fin-timeout"},
		{[]string{"--delay", "2562047h"}, 2, "-delay"},
		{[]string{"--delay", "-1s"}, 2, "-delay"},
		{[]string{"--jitter", "2000000h"}, 2, "-jitter"},
		{[]string{"--jitter", "soon"}, 2, "-jitter"},
		{[]string{"--time-wait", "24h"}, 1, ""}, // allowed: the run ends with A still in TIME_WAIT
		{[]string{"--fin-timeout", "2m"}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			res := runCLI(t, context.Background(), nil, append([]string{"scenario", "run", "four-way-close"}, tt.args...)...)
			if res.code != tt.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", res.code, tt.code, res.stderr)
			}
			if strings.Contains(res.stdout+res.stderr, "spent -") {
				t.Errorf("a negative duration in the output:\n%s%s", res.stdout, res.stderr)
			}
			if tt.code != 2 {
				return
			}
			first, _, _ := strings.Cut(res.stderr, "\n")
			if !strings.HasPrefix(first, "tcpwave: scenario run: ") || !strings.Contains(first, tt.msg) || !strings.Contains(res.stderr, "usage:") || res.stdout != "" {
				t.Errorf("want a one-line error naming %s, then the usage, on stderr only; stdout %q, stderr:\n%s", tt.msg, res.stdout, res.stderr)
			}
		})
	}
}

// --netstat-at outside the run (negative, or after its 30 minutes of
// virtual time) is a usage error, not a silent nothing.
func TestNetstatAtOutsideRun(t *testing.T) {
	tests := []struct {
		at     string
		code   int
		tables bool
	}{
		{"1000h", 2, false},
		{"30m1s", 2, false},
		{"-1s", 2, false},
		{"1.5s", 0, true},
		{"29m", 0, true}, // after the last event, inside the run: empty tables
	}
	for _, tt := range tests {
		t.Run(tt.at, func(t *testing.T) {
			res := runCLI(t, context.Background(), nil, "scenario", "run", "four-way-close", "--netstat-at", tt.at)
			if res.code != tt.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", res.code, tt.code, res.stderr)
			}
			if got := strings.Contains(res.stdout, "--- connections at"); got != tt.tables {
				t.Fatalf("tables printed: %v, want %v:\n%s", got, tt.tables, res.stdout)
			}
			if tt.code == 2 {
				first, _, _ := strings.Cut(res.stderr, "\n")
				if !strings.Contains(first, "-netstat-at") || !strings.Contains(first, "outside the run") {
					t.Errorf("first line %q does not say the instant is outside the run", first)
				}
			}
		})
	}
}

// --all --json prints one JSON object per scenario, and nothing else.
func TestRunAllJSON(t *testing.T) {
	tests := []struct {
		args []string
		code int
		pass bool
	}{
		{[]string{"--all", "--json"}, 0, true},
		{[]string{"--json", "--all", "--loss", "1"}, 1, false},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			res := runCLI(t, context.Background(), nil, append([]string{"scenario", "run"}, tt.args...)...)
			if res.code != tt.code {
				t.Fatalf("exit %d, want %d:\n%s", res.code, tt.code, res.stderr)
			}
			var names []string
			sc := bufio.NewScanner(strings.NewReader(res.stdout))
			for sc.Scan() {
				var r struct {
					Name   string `json:"name"`
					Pass   *bool  `json:"pass"`
					Reason string `json:"reason"`
				}
				if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
					t.Fatalf("line %q is not JSON: %v", sc.Text(), err)
				}
				if r.Name == "" || r.Pass == nil || *r.Pass != tt.pass || (!*r.Pass && !strings.HasPrefix(r.Reason, r.Name)) {
					t.Errorf("line %s: want name, pass=%v and, on failure, a reason", sc.Text(), tt.pass)
				}
				names = append(names, r.Name)
			}
			var want []string
			for _, s := range scenario.Catalog() {
				want = append(want, s.Name)
			}
			if strings.Join(names, " ") != strings.Join(want, " ") {
				t.Fatalf("scenarios %v, want %v", names, want)
			}
		})
	}
}

// The rule for the whole CLI: an explicit -h or --help prints the usage on
// stdout and exits 0; bad usage prints a one-line error and the usage on
// stderr and exits 2.
func TestHelpAndUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		code int
	}{
		{[]string{"-h"}, 0},
		{[]string{"--help"}, 0},
		{[]string{"scenario", "-h"}, 0},
		{[]string{"scenario", "--help"}, 0},
		{[]string{"scenario", "list", "-h"}, 0},
		{[]string{"scenario", "list", "--help"}, 0},
		{[]string{"scenario", "run", "-h"}, 0},
		{[]string{"scenario", "run", "--help"}, 0},
		{[]string{"scenario", "run", "four-way-close", "-h"}, 0},
		{[]string{}, 2},
		{[]string{"bogus"}, 2},
		{[]string{"--bogus"}, 2},
		{[]string{"scenario"}, 2},
		{[]string{"scenario", "bogus"}, 2},
		{[]string{"scenario", "list", "extra"}, 2},
		{[]string{"scenario", "list", "--bogus"}, 2},
		{[]string{"scenario", "run"}, 2},
		{[]string{"scenario", "run", "--bogus"}, 2},
		{[]string{"scenario", "run", "no-such"}, 2},
		{[]string{"scenario", "run", "handshake", "four-way-close"}, 2},
		{[]string{"scenario", "run", "--all", "--pcap", "x.pcap"}, 2},
		{[]string{"scenario", "run", "--all", "--netstat-at", "1s"}, 2},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			res := runCLI(t, context.Background(), nil, tt.args...)
			if res.code != tt.code {
				t.Fatalf("exit %d, want %d; stdout %q stderr %q", res.code, tt.code, res.stdout, res.stderr)
			}
			if tt.code == 0 {
				if !strings.HasPrefix(res.stdout, "usage:") || res.stderr != "" {
					t.Fatalf("want the usage on stdout only; stdout %q stderr %q", res.stdout, res.stderr)
				}
				return
			}
			errLines := lines(res.stderr)
			if res.stdout != "" || len(errLines) < 2 || !strings.HasPrefix(errLines[0], "tcpwave: ") || !strings.HasPrefix(errLines[1], "usage:") {
				t.Fatalf("want a one-line error and the usage on stderr only; stdout %q stderr %q", res.stdout, res.stderr)
			}
		})
	}
}

// cancelAfter is a writer that cancels a context after n writes.
type cancelAfter struct {
	bytes.Buffer
	n      int
	cancel context.CancelFunc
}

func (w *cancelAfter) Write(p []byte) (int, error) {
	if w.n--; w.n == 0 {
		w.cancel()
	}
	return w.Buffer.Write(p)
}

// --all stops at once when its context ends (Ctrl-C, SIGTERM): it says
// how far it got on stderr and exits 1.
func TestRunAllStopsWhenCancelled(t *testing.T) {
	total := len(scenario.Catalog())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := runCLI(t, ctx, nil, "scenario", "run", "--all")
	if res.code != 1 || strings.Contains(res.stdout, "PASS") || !strings.Contains(res.stderr, fmt.Sprintf("interrupted after 0 of %d", total)) {
		t.Fatalf("cancelled before the start: exit %d\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}

	// Cancelled as the first result is printed: nothing more runs.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	w := &cancelAfter{n: 1, cancel: cancel}
	res = runCLI(t, ctx, w, "scenario", "run", "--all", "--json")
	got := lines(w.String())
	if res.code != 1 || len(got) != 1 || !strings.Contains(res.stderr, fmt.Sprintf("interrupted after 1 of %d", total)) {
		t.Fatalf("cancelled after one: exit %d, %d results\nstdout:\n%s\nstderr:\n%s", res.code, len(got), w.String(), res.stderr)
	}

	// One scenario: the run stops and fails.
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	res = runCLI(t, ctx, nil, "scenario", "run", "four-way-close")
	if res.code != 1 || !strings.Contains(res.stderr, context.Canceled.Error()) {
		t.Fatalf("one scenario, cancelled: exit %d, stderr %q", res.code, res.stderr)
	}
}
