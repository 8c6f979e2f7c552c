package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// soakRun runs the CLI with args and returns its exit status and output.
func soakRun(t *testing.T, ctx context.Context, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := runContext(ctx, append([]string{"soak"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

// A range of passing seeds prints only the total; -v prints a line per
// seed, in seed order whatever the number of workers.
func TestSoakRange(t *testing.T) {
	code, out, errs := soakRun(t, context.Background(), "--seeds", "4", "--from", "10", "--clients", "10")
	if code != 0 || out != "4 seeds, 0 failures\n" || errs != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q; want 0 and only the total", code, out, errs)
	}
	code, out, _ = soakRun(t, context.Background(), "--seeds", "5", "--from", "3", "--clients", "5", "--workers", "3", "-v")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if code != 0 || len(lines) != 6 || lines[5] != "5 seeds, 0 failures" {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for i, l := range lines[:5] {
		if want := fmt.Sprintf("seed %d: ok: ", 3+i); !strings.HasPrefix(l, want) {
			t.Errorf("line %d is %q, want it to start %q", i, l, want)
		}
	}
}

// Failing seeds get one line each, "seed S: <invariant> at T: ...", in
// seed order, and the exit status is 1.
func TestSoakFailures(t *testing.T) {
	code, out, _ := soakRun(t, context.Background(), "--seeds", "3", "--from", "7", "--clients", "5", "--max-steps", "50")
	line := regexp.MustCompile(`^seed (\d+): bound at [0-9.]+s: more than 50 steps`)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if code != 1 || len(lines) != 4 || lines[3] != "3 seeds, 3 failures" {
		t.Fatalf("exit %d, want 1 with three failures:\n%s", code, out)
	}
	for i, l := range lines[:3] {
		m := line.FindStringSubmatch(l)
		if m == nil || m[1] != fmt.Sprint(7+i) {
			t.Errorf("line %d is %q, want seed %d's step bound", i, l, 7+i)
		}
	}
}

// --seed replays one seed: as a ladder, as JSON Lines, and as an HTML page.
func TestSoakReplay(t *testing.T) {
	code, out, errs := soakRun(t, context.Background(), "--seed", "7", "--clients", "4", "--hosts", "2", "--trace")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"t(s)  A", "SYN_SENT -> ESTABLISHED", "TIME_WAIT -> CLOSED", "seed 7: ok: 2 hosts, 4 connections", "\n1 seeds, 0 failures\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("replay lacks %q:\n%s", want, out)
		}
	}
	code, out, errs = soakRun(t, context.Background(), "--seed", "7", "--clients", "4", "--json")
	if code != 0 || errs != "" {
		t.Fatalf("exit %d: %s", code, errs)
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	n := 0
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		n++
	}
	if n < 100 {
		t.Fatalf("only %d JSON lines", n)
	}
	path := filepath.Join(t.TempDir(), "seed.html")
	if code, _, errs := soakRun(t, context.Background(), "--seed", "7", "--clients", "4", "--hosts", "2", "--html", path); code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	page, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<svg", "soak seed 7", "PASS"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("page lacks %q", want)
		}
	}
}

// A replayed failing seed says why and exits 1.
func TestSoakReplayFailure(t *testing.T) {
	code, out, _ := soakRun(t, context.Background(), "--seed", "3", "--clients", "4", "--max-steps", "50")
	if code != 1 || !strings.Contains(out, "seed 3: bound at ") || !strings.HasSuffix(out, "1 seeds, 1 failures\n") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

// An interrupted soak reports the seeds that ran and fails.
func TestSoakInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	code, out, errs := soakRun(t, ctx, "--seeds", "1000")
	if code != 1 || out != "0 seeds, 0 failures\n" || !strings.Contains(errs, "interrupted after 0 of 1000 seeds") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

// A soak stops soon after its context ends, in the middle of its seeds.
func TestSoakStopsOnCancel(t *testing.T) {
	for _, args := range [][]string{
		{"--seeds", "8", "--clients", "100000", "--workers", "2"},
		{"--seed", "1", "--clients", "100000"},
	} {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(200*time.Millisecond, cancel)
		start := time.Now()
		code, out, errs := soakRun(t, ctx, args...)
		cancel()
		if took := time.Since(start); took > 10*time.Second || code != 1 {
			t.Errorf("%q: exit %d after %v, want 1 soon after 200ms\nstdout %q\nstderr %q", args, code, took, out, errs)
		}
		if !strings.Contains(errs, "interrupted") && !strings.Contains(errs, "context canceled") {
			t.Errorf("%q: stderr %q does not say it was interrupted", args, errs)
		}
	}
}

func TestSoakBadFlags(t *testing.T) {
	tests := [][]string{
		{"--seeds", "0"},
		{"--seeds", "x"},
		{"--hosts", "5"},
		{"--clients", "-1"},
		{"--workers", "0"},
		{"--no-such-flag"},
		{"extra"},
		{"--trace"},
		{"--html", "x.html"},
		{"--seed", "1", "--trace", "--json"},
		{"--from", "18446744073709551615", "--seeds", "2"},
		{"--loss", "1.5"},
		{"--partition", "0s"},
		{"--clients", "1000000000000"},
		{"--clients", "100001"},
		{"--seeds", "1000000000000"},
		{"--workers", "1000000"},
		{"--max-bytes", "1099511627776"},
		{"--crashes", "1000000000"},
	}
	for _, args := range tests {
		code, out, errs := soakRun(t, context.Background(), args...)
		if code != 2 || out != "" || !strings.HasPrefix(errs, "tcpwave soak: ") || !strings.Contains(errs, "\nusage: tcpwave soak") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2, a one-line error and the usage on stderr only", args, code, out, errs)
		}
	}
	for _, h := range []string{"-h", "--help"} {
		if code, out, errs := soakRun(t, context.Background(), h); code != 0 || !strings.HasPrefix(out, "usage: tcpwave soak") || errs != "" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want 0 and the usage on stdout", h, code, out, errs)
		}
	}
}
