package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const passScript = `0 < S 0:0(0) win 65535 <mss 1460,sackOK,nop,nop,nop,wscale 7>
+0 > R. 0:0(0) ack 1 win 0
`

const failScript = `0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 < S 0:0(0) win 65535 <mss 1460,sackOK,nop,nop,nop,wscale 7>
+0 > S. 0:0(0) ack 2 <mss 1460,nop,nop,sackOK,nop,wscale 7>
`

// writeScripts makes a directory with the given scripts.
func writeScripts(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestConformCmd(t *testing.T) {
	dir := writeScripts(t, map[string]string{"a-pass.pkt": passScript, "b-fail.pkt": failScript})
	known := filepath.Join(dir, "KNOWN.md")
	if err := os.WriteFile(known, []byte("| `b-fail.pkt` | 5 | x | y | z |\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	knownPass := filepath.Join(dir, "KNOWN-PASS.md")
	if err := os.WriteFile(knownPass, []byte("| `a-pass.pkt` | 1 | x | y | z |\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   []string
		status int
		want   []string
	}{
		{"a passing script", []string{"--backend", "tcpwave", filepath.Join(dir, "a-pass.pkt")}, 0,
			[]string{"PASS a-pass.pkt (tcpwave)", "1 of 1 runs passed"}},
		{"a directory with a failure", []string{"--backend", "tcpwave", dir}, 1,
			[]string{"PASS a-pass.pkt (tcpwave)", "FAIL b-fail.pkt (tcpwave) line 5: +0 > S. 0:0(0) ack 2",
				"ack 1, want 2", "expected: > S. 0:0(0) ack 2", "actual:   > S. 0:0(0) ack 1", "1 of 2 runs passed"}},
		{"a known difference", []string{"--backend", "tcpwave", "--known", known, dir}, 0,
			[]string{"XFAIL (known difference) b-fail.pkt (tcpwave) line 5", "2 of 2 runs passed"}},
		{"a stale known difference", []string{"--backend", "tcpwave", "--known", knownPass, filepath.Join(dir, "a-pass.pkt")}, 1,
			[]string{"XPASS (listed as a known difference, but passes: remove it from the list) a-pass.pkt"}},
		{"trace", []string{"--backend", "tcpwave", "--trace", filepath.Join(dir, "a-pass.pkt")}, 0,
			[]string{"< 0 < S 0:0(0) win 65535", "> R. 0:0(0) ack 1 win 0"}},
		{"no script", []string{"--backend", "tcpwave"}, 2, nil},
		{"bad backend", []string{"--backend", "bsd", dir}, 2, nil},
		{"missing file", []string{"--backend", "tcpwave", filepath.Join(dir, "nope.pkt")}, 2, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			status := run(append([]string{"conform"}, tc.args...), &out, &errb)
			if status != tc.status {
				t.Errorf("status %d, want %d\nstdout:\n%s\nstderr:\n%s", status, tc.status, out.String(), errb.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

func TestConformCmdJSON(t *testing.T) {
	dir := writeScripts(t, map[string]string{"a-pass.pkt": passScript, "b-fail.pkt": failScript, "c-bad.pkt": "0 frob(1) = 0\n"})
	var out, errb bytes.Buffer
	if status := run([]string{"conform", "--backend", "tcpwave", "--json", dir}, &out, &errb); status != 1 {
		t.Fatalf("status %d, want 1; stderr %s", status, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3:\n%s", len(lines), out.String())
	}
	type result struct {
		Script, Backend, Status, Error, Expected, Actual string
		Pass                                             bool
		Line                                             int
	}
	var got []result
	for _, l := range lines {
		var r result
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		got = append(got, r)
	}
	if !got[0].Pass || got[0].Status != "PASS" || got[0].Backend != "tcpwave" {
		t.Errorf("first %+v", got[0])
	}
	if got[1].Pass || got[1].Status != "FAIL" || got[1].Line != 5 || !strings.Contains(got[1].Actual, "ack 1") {
		t.Errorf("second %+v", got[1])
	}
	if got[2].Pass || !strings.Contains(got[2].Error, "c-bad.pkt:1: unsupported system call") {
		t.Errorf("third %+v", got[2])
	}
}

// --tcp_ts_tick_usecs compares the host's TS val in scripts whose header
// does not set it: a script with a wrong value passes without the flag and
// fails with it; a header's value wins over the flag.
func TestConformCmdTSTick(t *testing.T) {
	const script = `--tolerance_usecs=20000
%s0    socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0   bind(3, ..., ...) = 0
+0   listen(3, 1) = 0
+0   < S 0:0(0) win 65535 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>
+0   > S. 0:0(0) ack 1 <mss 1460,sackOK,TS val 1000 ecr 100,nop,wscale 7>
+.01 < . 1:1(0) ack 1 win 502 <nop,nop,TS val 110 ecr 1000>
+0   accept(3, ..., ...) = 4
+.2  write(4, ..., 10) = 10
+0   > P. 1:11(10) ack 1 <nop,nop,TS val 1100 ecr 110>
`
	dir := writeScripts(t, map[string]string{
		"plain.pkt":  fmt.Sprintf(script, ""),
		"header.pkt": fmt.Sprintf(script, "--tcp_ts_tick_usecs=0\n"),
	})
	tests := []struct {
		args   []string
		status int
	}{
		{[]string{"plain.pkt"}, 0},
		{[]string{"--tcp_ts_tick_usecs", "1000", "plain.pkt"}, 1},
		{[]string{"--tcp_ts_tick_usecs", "1000", "header.pkt"}, 0},
		{[]string{"--tcp_ts_tick_usecs", "2000000", "plain.pkt"}, 2},
		{[]string{"--tcp_ts_tick_usecs", "1000000", "header.pkt"}, 0},
		{[]string{"--tcp_ts_tick_usecs", "1000001", "plain.pkt"}, 2},
		{[]string{"--tcp_ts_tick_usecs", "-1", "plain.pkt"}, 2},
		{[]string{"--tcp_ts_tick_usecs", "x", "plain.pkt"}, 2},
		{[]string{"--tcp_ts_tick_usecs", "99999999999999999999", "plain.pkt"}, 2},
	}
	for _, tc := range tests {
		args := append([]string{"conform", "--backend", "tcpwave"}, tc.args...)
		args[len(args)-1] = filepath.Join(dir, args[len(args)-1])
		var out, errb bytes.Buffer
		if status := run(args, &out, &errb); status != tc.status {
			t.Errorf("%v: status %d, want %d\n%s%s", tc.args, status, tc.status, out.String(), errb.String())
		}
	}
}
