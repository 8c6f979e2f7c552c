package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// TestConformCmdIPVersion: --ip_version runs the scripts that name no
// family in IPv4 (the default), IPv6 or both; a script's own
// --ip_version wins.
func TestConformCmdIPVersion(t *testing.T) {
	dir := writeScripts(t, map[string]string{"a-pass.pkt": passScript, "pinned.pkt": "--ip_version=ipv4\n" + passScript})
	a, pinned := filepath.Join(dir, "a-pass.pkt"), filepath.Join(dir, "pinned.pkt")
	tests := []struct {
		name    string
		args    []string
		status  int
		want    []string
		notWant []string
	}{
		{"default ipv4", []string{a}, 0, []string{"PASS a-pass.pkt (tcpwave) ", "1 of 1 runs passed"}, []string{"ipv6"}},
		{"ipv6", []string{"--ip_version", "ipv6", a}, 0, []string{"PASS a-pass.pkt (tcpwave, ipv6)", "1 of 1 runs passed"}, []string{"(tcpwave) "}},
		{"both", []string{"--ip_version", "both", a}, 0, []string{"PASS a-pass.pkt (tcpwave) ", "PASS a-pass.pkt (tcpwave, ipv6)", "2 of 2 runs passed"}, nil},
		{"a pinned script keeps its family", []string{"--ip_version", "ipv6", pinned}, 0, []string{"PASS pinned.pkt (tcpwave) ", "1 of 1 runs passed"}, []string{"ipv6"}},
		{"json", []string{"--ip_version", "ipv6", "--json", a}, 0, []string{`"ip_version":"ipv6"`}, nil},
		{"bad family", []string{"--ip_version", "ipv5", a}, 2, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			status := run(append([]string{"conform", "--backend", "tcpwave"}, tc.args...), &out, &errb)
			if status != tc.status {
				t.Errorf("status %d, want %d\nstdout:\n%s\nstderr:\n%s", status, tc.status, out.String(), errb.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(out.String(), w) {
					t.Errorf("output has %q:\n%s", w, out.String())
				}
			}
		})
	}
}
