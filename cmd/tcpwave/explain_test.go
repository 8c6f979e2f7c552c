package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tcpwave/tcpwave/explain"
)

// scenarioPcap writes scenario name's capture with `scenario run NAME
// --pcap FILE` and returns the file's path.
func scenarioPcap(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".pcap")
	var out, errOut bytes.Buffer
	if code := run([]string{"scenario", "run", name, "--pcap", path}, &out, &errOut); code != 0 {
		t.Fatalf("scenario run %s: exit %d: %s", name, code, errOut.String())
	}
	return path
}

// explainRun runs `tcpwave explain ARGS...` with stdin and returns the exit
// status and outputs.
func explainRun(t *testing.T, stdin []byte, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := explainCmd(context.Background(), args, bytes.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

// rows returns the table rows of out (the lines after the header that
// start with an ID).
func rows(out string) []string {
	var r []string
	for _, l := range strings.Split(out, "\n")[1:] {
		if f := strings.Fields(l); len(f) > 1 && f[0][0] >= '1' && f[0][0] <= '9' && strings.Contains(f[1], ":") {
			r = append(r, l)
		}
	}
	return r
}

func TestExplainTable(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		args     []string
		want     []string // substrings of the output
	}{
		{"four-way-close", nil, []string{"10.0.0.1:58556", "10.0.0.2:80", "four-way", "TIME_WAIT     CLOSED", "time-wait", "1 connections (1 shown)"}},
		{"lost-ack-4", []string{"-v"}, []string{"fin-retransmitted", "was lost beyond the capture point", "ACKed the retransmitted FIN again"}},
		{"three-way-close", nil, []string{"three-way"}},
		{"simultaneous-close", nil, []string{"simultaneous", "TIME_WAIT     TIME_WAIT"}},
		{"half-close", []string{"-v"}, []string{"half-close", "went on sending 10 bytes"}},
		{"close-with-unread", []string{"-v"}, []string{"rst", "close() with unread data"}},
		{"linger-zero", []string{"-v"}, []string{"SO_LINGER"}},
		{"rst-closed-port", []string{"-v"}, []string{"refused", "nothing listens"}},
		{"fin-wait-2-timeout", []string{"-v"}, []string{"left FIN_WAIT_2 after 1m0s"}},
		{"no-time-wait", []string{"-v"}, []string{"no longer held TIME_WAIT"}},
		{"time-wait-reuse", []string{"-v"}, []string{"4-tuple reused within 2MSL", "RFC 6191"}},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			path := scenarioPcap(t, tc.scenario)
			code, out, errOut := explainRun(t, nil, append(tc.args, path)...)
			if code != 0 || errOut != "" {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			if !strings.HasPrefix(out, "  ID  CLIENT") {
				t.Errorf("no header:\n%s", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// The flags may follow the file, and stdin is read for -.
func TestExplainStdinAndJSON(t *testing.T) {
	data, err := os.ReadFile(scenarioPcap(t, "lost-ack-2"))
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := explainRun(t, data, "-", "--json")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1 {
		t.Fatalf("%d JSON lines, want 1:\n%s", len(lines), out)
	}
	var c struct {
		Close  string `json:"close"`
		Client struct {
			Final  string `json:"final"`
			States []struct {
				TUS      int64 `json:"t_us"`
				From, To string
				Why      string
				Inferred bool
			} `json:"states"`
		} `json:"client"`
		Server   struct{ Final string } `json:"server"`
		Findings []struct{ Kind, Text string }
	}
	if err := json.Unmarshal([]byte(lines[0]), &c); err != nil {
		t.Fatal(err)
	}
	if c.Close != "four-way" || c.Client.Final != "TIME_WAIT" || c.Server.Final != "CLOSED" {
		t.Errorf("close %q, finals %q %q", c.Close, c.Client.Final, c.Server.Final)
	}
	if len(c.Client.States) != 6 || !c.Client.States[3].Inferred || c.Client.States[3].To != "FIN_WAIT_2" || c.Client.States[3].TUS != 1201500 {
		t.Errorf("client states %+v: want FIN_WAIT_2 at 1.2015 s, when the second ACK was sent (the first was lost)", c.Client.States)
	}
	found := false
	for _, f := range c.Findings {
		found = found || f.Kind == "fin-retransmitted" && strings.Contains(f.Text, "lost beyond the capture point")
	}
	if !found {
		t.Errorf("no finding of the lost ACK: %+v", c.Findings)
	}
}

func TestExplainOnly(t *testing.T) {
	path := scenarioPcap(t, "fin-wait-2-timeout") // one connection reset, one four-way close
	for _, tc := range []struct {
		only string
		n    int
	}{{"rst", 1}, {"four-way", 1}, {"time-wait", 1}, {"rst,four-way", 2}, {"close-wait", 0}, {"fin-wait-2-timeout", 1}, {"last-ack", 2}, {" rst , four-way ", 2}} {
		code, out, errOut := explainRun(t, nil, "--only", tc.only, path)
		if code != 0 || errOut != "" {
			t.Fatalf("--only %s: exit %d, stderr %q", tc.only, code, errOut)
		}
		if got := len(rows(out)); got != tc.n {
			t.Errorf("--only %s: %d rows, want %d:\n%s", tc.only, got, tc.n, out)
		}
	}
}

func TestExplainErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.pcap")
	os.WriteFile(empty, nil, 0o644)
	garbage := filepath.Join(dir, "garbage.pcap")
	os.WriteFile(garbage, bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 100), 0o644)
	good, err := os.ReadFile(scenarioPcap(t, "four-way-close"))
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.pcap")
	os.WriteFile(cut, good[:len(good)-7], 0o644)
	for _, tc := range []struct {
		name string
		args []string
		code int
		err  string
	}{
		{"no file", nil, 2, "give one capture file"},
		{"two files", []string{empty, garbage}, 2, "give one capture file"},
		{"bad filter", []string{"--only", "nonsense", empty}, 2, `unknown filter "nonsense"`},
		{"empty filter", []string{"--only", "", empty}, 2, `unknown filter ""`},
		{"trailing comma", []string{"--only", "rst,", empty}, 2, `unknown filter ""`},
		{"filter in another case", []string{"--only", "RST", empty}, 2, `unknown filter "RST"`},
		{"missing", []string{filepath.Join(dir, "nope.pcap")}, 1, "no such file"},
		{"directory", []string{dir}, 1, "is a directory"},
		{"empty", []string{empty}, 1, "the input is empty"},
		{"garbage", []string{garbage}, 1, "not a pcap or pcapng capture"},
		{"truncated", []string{cut}, 1, "capture truncated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := explainRun(t, nil, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
			first, _, _ := strings.Cut(errOut, "\n")
			if !strings.Contains(first, tc.err) {
				t.Errorf("stderr's first line %q lacks %q", first, tc.err)
			}
			if tc.code == 1 && strings.Count(errOut, "\n") != 1 {
				t.Errorf("stderr is not one line: %q", errOut)
			}
			if tc.name == "truncated" && len(rows(out)) != 1 {
				t.Errorf("a truncated capture still shows what it holds:\n%s", out)
			}
			if tc.name != "truncated" && out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
		})
	}
	code, out, _ := explainRun(t, nil, "-h")
	if code != 0 || !strings.Contains(out, "usage: tcpwave explain") {
		t.Errorf("-h: exit %d\n%s", code, out)
	}
	for _, f := range explain.Filters() { // the usage documents every filter
		if !strings.Contains(out, " "+f+"\n") && !strings.Contains(out, " "+f+" ") {
			t.Errorf("-h does not document --only %s", f)
		}
	}
}

// TestExplainConn: --conn draws one connection's ladder with the states
// the scenario's own ladder shows, marked inferred, and --html writes the
// scenarios' page; bad selections are errors.
func TestExplainConn(t *testing.T) {
	pcap := scenarioPcap(t, "simultaneous-close")
	code, out, errOut := explainRun(t, nil, "--conn", "1", pcap)
	if code != 0 {
		t.Fatalf("--conn 1: exit %d: %s", code, errOut)
	}
	for _, want := range []string{"FIN_WAIT_1 -> CLOSING", "CLOSING -> TIME_WAIT", "(inferred)", "F. 1:1(0)"} {
		if !strings.Contains(out, want) {
			t.Errorf("ladder lacks %q:\n%s", want, out)
		}
	}
	_, table, _ := explainRun(t, nil, pcap)
	f := strings.Fields(rows(table)[0])
	code, byAddr, _ := explainRun(t, nil, "--conn", f[2]+"-"+f[1], pcap) // either order
	if code != 0 || byAddr != out {
		t.Errorf("--conn %s-%s: exit %d, same ladder as --conn 1: %v", f[2], f[1], code, byAddr == out)
	}
	html := filepath.Join(t.TempDir(), "conn.html")
	if code, _, errOut := explainRun(t, nil, "--conn", "1", "--html", html, pcap); code != 0 {
		t.Fatalf("--html: exit %d: %s", code, errOut)
	}
	page, err := os.ReadFile(html)
	if err != nil || !strings.Contains(string(page), `data-edge="FIN_WAIT_1&gt;CLOSING"`) && !strings.Contains(string(page), `data-edge="FIN_WAIT_1>CLOSING"`) {
		t.Errorf("HTML page (%v) lacks the FIN_WAIT_1 to CLOSING transition", err)
	}
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"--conn", "0", pcap}, exitUsage},
		{[]string{"--conn", "x", pcap}, exitUsage},
		{[]string{"--html", html, pcap}, exitUsage},
		{[]string{"--conn", "9", pcap}, exitFail},
	} {
		if code, _, errOut := explainRun(t, nil, tc.args...); code != tc.code || strings.Count(strings.TrimSpace(errOut), "\n") > 0 && tc.code == exitFail {
			t.Errorf("explain %v: exit %d (want %d): %s", tc.args, code, tc.code, errOut)
		}
	}
}

// TestExplainConnSelectors: --conn at 0, negative, out of range and
// garbage, and --html at paths it cannot write, each give one line that
// names the problem and their exit status; nothing is written to stdout.
func TestExplainConnSelectors(t *testing.T) {
	pcap := scenarioPcap(t, "simultaneous-close")
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		code int
		text string
	}{
		{"zero", []string{"--conn", "0", pcap}, exitUsage, "start at 1, not 0"},
		{"negative", []string{"--conn", "-1", pcap}, exitUsage, "start at 1, not -1"},
		{"too large for an int", []string{"--conn", "99999999999999999999999", pcap}, exitUsage, "neither a number nor"},
		{"padded number", []string{"--conn", " 1", pcap}, exitUsage, "neither a number nor"},
		{"garbage", []string{"--conn", "x", pcap}, exitUsage, `"x" is neither a number nor ADDR:PORT-ADDR:PORT`},
		{"garbage both sides", []string{"--conn", "a-b", pcap}, exitUsage, `"a"`},
		{"garbage server", []string{"--conn", "10.0.0.1:1-b", pcap}, exitUsage, `"b"`},
		{"no server", []string{"--conn", "10.0.0.1:1-", pcap}, exitUsage, `""`},
		{"no port", []string{"--conn", "10.0.0.1-10.0.0.2", pcap}, exitUsage, "10.0.0.1"},
		{"not in the capture", []string{"--conn", "2", pcap}, exitFail, "no connection 2 in"},
		{"endpoints not in the capture", []string{"--conn", "[fd00::1]:1-[fd00::2]:2", pcap}, exitFail, "no connection [fd00::1]:1-[fd00::2]:2 in"},
		{"html in a missing directory", []string{"--conn", "1", "--html", filepath.Join(dir, "nope", "c.html"), pcap}, exitFail, "no such file or directory"},
		{"html at a directory", []string{"--conn", "1", "--html", dir, pcap}, exitFail, "is a directory"},
		{"missing capture", []string{"--conn", "1", filepath.Join(dir, "nope.pcap")}, exitFail, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := explainRun(t, nil, tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.text) || strings.Count(errOut, "\n") != 1 || out != "" {
				t.Errorf("explain %q: exit %d (want %d), stderr %q (want one line with %q), stdout %q", tc.args, code, tc.code, errOut, tc.text, out)
			}
		})
	}
}
