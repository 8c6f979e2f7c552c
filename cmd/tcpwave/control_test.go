//go:build unix

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/stack"
	"github.com/tcpwave/tcpwave/tcp"
)

// serveTable starts a control socket at path that answers with n rows.
func serveTable(t *testing.T, path string, n int) (func(), error) {
	t.Helper()
	rows := make([]stack.ConnInfo, n)
	for i := range rows {
		rows[i] = stack.ConnInfo{State: tcp.Established, Local: netip.MustParseAddrPort("10.9.0.2:7"), Peer: netip.AddrPortFrom(netip.MustParseAddr("10.9.0.1"), uint16(10000+i))}
	}
	stop, err := serveControl(t.Context(), path, func() []stack.ConnInfo { return rows }, func() stack.Counters { return stack.Counters{} })
	if err == nil {
		t.Cleanup(stop)
	}
	return stop, err
}

// staleSocket leaves a unix socket file at path that nobody listens on, as
// a killed server does.
func staleSocket(t *testing.T, path string) {
	t.Helper()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
}

// netstatAt runs `tcpwave netstat` with args and returns its status and
// output.
func netstatAt(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := runContext(context.Background(), append([]string{"netstat"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

// The control socket takes its path only when nothing is there or a stale
// socket is: a regular file, a directory or another server's live socket
// are refused and left as they were.
func TestControlClaim(t *testing.T) {
	tests := []struct {
		name string
		make func(t *testing.T, path string)
		msg  string // "" for success
	}{
		{"nothing there", func(*testing.T, string) {}, ""},
		{"a stale socket", staleSocket, ""},
		{"a regular file", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("precious"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, "not a socket"},
		{"an empty directory", func(t *testing.T, path string) {
			if err := os.Mkdir(path, 0o755); err != nil {
				t.Fatal(err)
			}
		}, "not a socket"},
		{"a live server", func(t *testing.T, path string) {
			if _, err := serveTable(t, path, 1); err != nil {
				t.Fatal(err)
			}
		}, "another tcpwave process is serving on it"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.sock")
			tc.make(t, path)
			before, _ := os.Lstat(path)
			stop, err := serveTable(t, path, 1)
			if tc.msg == "" {
				if err != nil {
					t.Fatalf("serveControl: %v", err)
				}
				if code, out, errs := netstatAt("--control", path); code != 0 || !strings.Contains(out, "ESTAB") {
					t.Errorf("netstat: exit %d, %q %q", code, out, errs)
				}
				stop()
				if _, err := os.Lstat(path); !os.IsNotExist(err) {
					t.Errorf("after stop, %s is still there: %v", path, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.msg) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("serveControl = %v, want a one-line error saying %q", err, tc.msg)
			}
			after, err := os.Lstat(path)
			if err != nil || !os.SameFile(before, after) {
				t.Errorf("%s was replaced or removed: %v", path, err)
			}
			if b, err := os.ReadFile(path); err == nil && string(b) != "precious" {
				t.Errorf("the file now holds %q", b)
			}
			if tc.name == "a live server" {
				if code, out, errs := netstatAt("--control", path); code != 0 || !strings.Contains(out, "ESTAB") {
					t.Errorf("the first server no longer answers: exit %d, %q %q", code, out, errs)
				}
			}
		})
	}
}

// stop removes the socket only while it is the one serveControl made.
func TestControlStopLeavesOthers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.sock")
	stop, err := serveTable(t, path, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("someone else's"), 0o644); err != nil {
		t.Fatal(err)
	}
	stop()
	if b, err := os.ReadFile(path); err != nil || string(b) != "someone else's" {
		t.Errorf("stop removed or changed a file it did not make: %q, %v", b, err)
	}
}

// Clients that connect and say nothing hold no one else up: each client
// has its own goroutine and deadline.
func TestControlSilentClients(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.sock")
	if _, err := serveTable(t, path, 1); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	start := time.Now()
	code, out, errs := netstatAt("--control", path)
	if took := time.Since(start); code != 0 || !strings.Contains(out, "ESTAB") || took > 400*time.Millisecond {
		t.Errorf("netstat behind three silent clients: exit %d after %v, %q %q; want the table at once", code, took, out, errs)
	}
}

// slowWriter is a stdout that takes its time over each write (and has no
// ReadFrom for io.Copy to use instead).
type slowWriter struct {
	buf   bytes.Buffer
	delay time.Duration
}

func (w *slowWriter) Write(p []byte) (int, error) {
	time.Sleep(w.delay)
	return w.buf.Write(p)
}

// The control socket's deadline bounds the exchange on the socket, not the
// writes to a slow stdout.
func TestControlSlowStdout(t *testing.T) {
	defer func(d time.Duration) { controlTimeout = d }(controlTimeout)
	controlTimeout = 2 * time.Second
	path := filepath.Join(t.TempDir(), "c.sock")
	if _, err := serveTable(t, path, 1000); err != nil { // 80 kB: three reads of 32 kB
		t.Fatal(err)
	}
	w := &slowWriter{delay: time.Second}
	if err := askControl(t.Context(), path, reqNetstat, w); err != nil {
		t.Fatalf("askControl with a slow stdout: %v", err)
	}
	if n := strings.Count(w.buf.String(), "ESTAB"); n != 1000 {
		t.Errorf("%d rows, want 1000", n)
	}
}

// netstat and nstat without --control find the one live server of this
// namespace among the default sockets, and say so when there is none or
// more than one.
func TestControlFind(t *testing.T) {
	defer func(d string) { controlDir = d }(controlDir)
	controlDir = t.TempDir()
	sock := func(pid int) string {
		return filepath.Join(controlDir, fmt.Sprintf("%s%d.sock", controlPrefix(), pid))
	}
	staleSocket(t, sock(1))
	if err := os.WriteFile(sock(2), nil, 0o644); err != nil { // not a socket
		t.Fatal(err)
	}
	code, _, errs := netstatAt()
	if code != 1 || !strings.Contains(errs, "no `tcpwave tun serve` or `tun dial` is running in this network namespace") {
		t.Errorf("no server: exit %d, %q", code, errs)
	}
	if _, err := serveTable(t, sock(3), 1); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := netstatAt(); code != 0 || !strings.Contains(out, "ESTAB") {
		t.Errorf("one server: exit %d, %q %q", code, out, errs)
	}
	var out, errb bytes.Buffer
	if code := runContext(context.Background(), []string{"nstat", "-z"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "#kernel\n") {
		t.Errorf("nstat, one server: exit %d, %q %q", code, out.String(), errb.String())
	}
	if _, err := serveTable(t, sock(4), 1); err != nil {
		t.Fatal(err)
	}
	code, _, errs = netstatAt()
	if code != 1 || !strings.Contains(errs, "2 tcpwave processes run in this network namespace; choose one with --control") ||
		!strings.Contains(errs, sock(3)) || !strings.Contains(errs, sock(4)) {
		t.Errorf("two servers: exit %d, %q", code, errs)
	}
	if !strings.HasPrefix(defaultControl(), controlDir+"/"+controlPrefix()) || !strings.HasSuffix(defaultControl(), fmt.Sprintf("-%d.sock", os.Getpid())) {
		t.Errorf("defaultControl() = %s, want it in %s, named for the namespace and the process", defaultControl(), controlDir)
	}
}

// TestNetstatInfo: netstat -i asks for the table with ss -i's line under
// each established connection; plain netstat has none.
func TestNetstatInfo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ctl.sock")
	if _, err := serveTable(t, path, 2); err != nil {
		t.Fatal(err)
	}
	code, out, errs := netstatAt("--control", path, "-i")
	if code != 0 {
		t.Fatalf("netstat -i: exit %d, %q %q", code, out, errs)
	}
	if n := strings.Count(out, "\n\t"); n != 2 || !strings.Contains(out, " rto:") {
		t.Errorf("netstat -i: %d info lines, want 2:\n%s", n, out)
	}
	if _, plain, _ := netstatAt("--control", path); strings.Contains(plain, "\t") {
		t.Errorf("plain netstat has info lines:\n%s", plain)
	}
}

// TestControlRequests: the control socket's request line at its edges:
// none, each known request with or without its newline (or with a
// CRLF), an unknown or garbage one (the table), and one longer than the
// server reads (answered, but the server closes with bytes unread, and
// Linux then resets the client's read after the answer).
func TestControlRequests(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ctl.sock")
	if _, err := serveTable(t, path, 1); err != nil {
		t.Fatal(err)
	}
	const (
		table = "table"
		info  = "table with info lines"
		nstat = "nstat"
	)
	for _, tc := range []struct {
		name, req, want string
		mayReset        bool
	}{
		{"none", "", table, false},
		{"netstat", "netstat\n", table, false},
		{"netstat -i", "netstat -i\n", info, false},
		{"netstat -i, CRLF", "netstat -i\r\n", info, false},
		{"netstat -i, no newline", "netstat -i", info, false},
		{"netstat -i, padded", "  netstat -i  \n", info, false},
		{"nstat", "nstat\n", nstat, false},
		{"nstat, no newline", "nstat", nstat, false},
		{"upper case", "NSTAT\n", table, false},
		{"netstat  -i, two spaces", "netstat  -i\n", table, false},
		{"netstat -i -i", "netstat -i -i\n", table, false},
		{"garbage", "\x00\xff\x01garbage\n", table, false},
		{"two lines", "netstat\nnstat\n", table, false},
		{"longer than read", strings.Repeat("x", 200) + "\n", table, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.WriteString(c, tc.req); err != nil {
				t.Fatal(err)
			}
			if err := c.(*net.UnixConn).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			answer, err := io.ReadAll(c)
			if err != nil && !(tc.mayReset && errors.Is(err, syscall.ECONNRESET)) {
				t.Fatalf("reading the answer: %v (after %q)", err, answer)
			}
			got := table
			switch a := string(answer); {
			case strings.HasPrefix(a, "#kernel\n"):
				got = nstat
			case strings.Contains(a, "\n\t"):
				got = info
			case !strings.HasPrefix(a, "State "):
				got = "something else"
			}
			if got != tc.want {
				t.Errorf("request %q answered with %s, want %s:\n%s", tc.req, got, tc.want, answer)
			}
		})
	}
}
