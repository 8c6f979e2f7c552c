package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/stack"
	"github.com/tcpwave/tcpwave/tcp"
)

// nstatLine is one counter as nstat prints it (TestWriteNstat pins the
// layout).
func nstatLine(name string, v int) string { return fmt.Sprintf("%-32s%-16d%6.1f\n", name, v, 0.0) }

// TestScenarioNstat: scenario run --nstat ends with each host's counters
// in nstat's layout, zeros left out.
func TestScenarioNstat(t *testing.T) {
	for _, tt := range []struct {
		scenario string
		a, b     []string // counters each host must show
		notA     []string // counters host A must not show
	}{
		{"four-way-close",
			[]string{nstatLine("TcpActiveOpens", 1), nstatLine("TcpExtTW", 1)},
			[]string{nstatLine("TcpPassiveOpens", 1)},
			[]string{"TcpEstabResets", "TcpOutRsts"}},
		{"rst-closed-port",
			[]string{nstatLine("TcpActiveOpens", 1), nstatLine("TcpAttemptFails", 1)},
			[]string{nstatLine("TcpOutRsts", 2)},
			[]string{"TcpExtTW"}},
		{"close-with-unread",
			[]string{nstatLine("TcpExtTCPAbortOnClose", 1), nstatLine("TcpEstabResets", 1), nstatLine("TcpOutRsts", 1)},
			[]string{nstatLine("TcpEstabResets", 1)},
			[]string{"TcpExtTCPAbortOnData", "TcpExtTW"}},
		{"linger-zero",
			[]string{nstatLine("TcpExtTCPAbortOnData", 1), nstatLine("TcpOutRsts", 1)},
			[]string{nstatLine("TcpEstabResets", 1)},
			[]string{"TcpExtTCPAbortOnClose", "TcpExtTW"}},
		{"time-wait-reuse",
			[]string{nstatLine("TcpActiveOpens", 2)},
			[]string{nstatLine("TcpPassiveOpens", 2), nstatLine("TcpExtTWRecycled", 1)},
			nil},
	} {
		t.Run(tt.scenario, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run([]string{"scenario", "run", tt.scenario, "--nstat"}, &out, &errb); code != 0 {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			_, counters, ok := strings.Cut(out.String(), "\n--- counters at the end (nstat) ---\n")
			if !ok {
				t.Fatalf("no counters:\n%s", out.String())
			}
			a, b, ok := strings.Cut(strings.TrimPrefix(counters, "host A:\n"), "host B:\n")
			if !ok || !strings.HasPrefix(a, "#kernel\n") || !strings.HasPrefix(b, "#kernel\n") {
				t.Fatalf("want host A's and host B's nstat tables:\n%s", counters)
			}
			for _, w := range tt.a {
				if !strings.Contains(a, w) {
					t.Errorf("host A lacks %q:\n%s", w, a)
				}
			}
			for _, w := range tt.b {
				if !strings.Contains(b, w) {
					t.Errorf("host B lacks %q:\n%s", w, b)
				}
			}
			for _, w := range tt.notA {
				if strings.Contains(a, w) {
					t.Errorf("host A shows %s:\n%s", w, a)
				}
			}
			if strings.Contains(counters, " 0     ") {
				t.Errorf("a zero counter is shown:\n%s", counters)
			}
		})
	}
	var out, errb bytes.Buffer
	for _, args := range [][]string{{"four-way-close"}, {"four-way-close", "--nstat", "--json"}} {
		out.Reset()
		if code := run(append([]string{"scenario", "run"}, args...), &out, &errb); code != 0 || strings.Contains(out.String(), "#kernel") {
			t.Errorf("%q: exit %d, counters printed: %v", args, code, strings.Contains(out.String(), "#kernel"))
		}
	}
}

// controlServer starts a control socket that answers with a fixed table
// and fixed counters.
func controlServer(t *testing.T, c stack.Counters) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c.sock")
	rows := []stack.ConnInfo{{State: tcp.Established, Local: netip.MustParseAddrPort("10.9.0.2:7"), Peer: netip.MustParseAddrPort("10.9.0.1:40000")}}
	stop, err := serveControl(t.Context(), path, func() []stack.ConnInfo { return rows }, func() stack.Counters { return c })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return path
}

// TestNstatControl: `tcpwave nstat` reads a running process's counters
// over the control socket and prints them as nstat does; `tcpwave netstat`
// still gets the connection table over the same socket, and so does a
// client that sends no request at all.
func TestNstatControl(t *testing.T) {
	path := controlServer(t, stack.Counters{ActiveOpens: 12, InSegs: 1234567, SyncookiesSent: 3})
	for _, tt := range []struct {
		name string
		args []string
		want string // the whole output, or with contains a part of it
		all  bool
	}{
		{"nstat: nonzero counters, in nstat's layout", []string{"nstat", "--control", path},
			"#kernel\n" + nstatLine("TcpActiveOpens", 12) + nstatLine("TcpInSegs", 1234567) + nstatLine("TcpExtSyncookiesSent", 3), true},
		{"nstat -z: the zeros too", []string{"nstat", "-z", "--control", path},
			nstatLine("TcpPassiveOpens", 0), false},
		{"netstat: the connection table, as before", []string{"netstat", "--control", path},
			"10.9.0.1:40000", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(tt.args, &out, &errb); code != 0 {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			if tt.all && out.String() != tt.want || !strings.Contains(out.String(), tt.want) {
				t.Errorf("output:\n%s\nwant %q", out.String(), tt.want)
			}
		})
	}
	t.Run("a client that sends nothing gets the table", func(t *testing.T) {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		b, err := io.ReadAll(c)
		if err != nil || !strings.Contains(string(b), "ESTAB") {
			t.Errorf("read %q, %v; want the table", b, err)
		}
	})
	t.Run("the zeros take nstat -z's full list", func(t *testing.T) {
		var out, errb bytes.Buffer
		run([]string{"nstat", "-z", "--control", path}, &out, &errb)
		if n := strings.Count(out.String(), "\n"); n != 1+len(new(stack.Counters).NstatRows()) {
			t.Errorf("%d lines, want the header and every counter:\n%s", n, out.String())
		}
	})
}

// TestNstatBadUsage: bad arguments exit 2, no process exits 1, each with a
// message.
func TestNstatBadUsage(t *testing.T) {
	for _, tt := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"nstat", "extra"}, 2, "usage"},
		{[]string{"nstat", "--bogus"}, 2, "bogus"},
		{[]string{"nstat", "--control", filepath.Join(t.TempDir(), "none.sock")}, 1, "tun serve"},
	} {
		var out, errb bytes.Buffer
		if code := runContext(context.Background(), tt.args, &out, &errb); code != tt.code || !strings.Contains(errb.String(), tt.msg) {
			t.Errorf("%q: exit %d, %q; want %d and a message with %q", tt.args, code, errb.String(), tt.code, tt.msg)
		}
	}
}

// TestWriteNstat: the layout is nstat's "%-32s%-16llu%6.1f".
func TestWriteNstat(t *testing.T) {
	var b bytes.Buffer
	if err := writeNstat(&b, stack.Counters{TCPTimeWaitOverflow: 7}, false); err != nil {
		t.Fatal(err)
	}
	want := "#kernel\nTcpExtTCPTimeWaitOverflow       7                  0.0\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}
