package main

import (
	"bytes"
	"encoding/json"
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
