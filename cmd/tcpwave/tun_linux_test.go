//go:build linux

package main

import (
	"bytes"
	"context"
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

	"github.com/tcpwave/tcpwave/internal/netns"
	"github.com/tcpwave/tcpwave/link/tun"
	"github.com/tcpwave/tcpwave/tcp"
	"github.com/tcpwave/tcpwave/trace"
)

// eventually polls cond every 5 ms for up to 5 s.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last seen:\n%s", what, state)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func netstatOut(t *testing.T, control string) string {
	t.Helper()
	var out, errb bytes.Buffer
	run([]string{"netstat", "--control", control}, &out, &errb)
	return out.String() + errb.String()
}

// A kernel client in a namespace talks to `tcpwave tun serve --echo`; both
// `ss` and `tcpwave netstat` show the connection, and after the kernel
// closes first the kernel holds TIME-WAIT and tcpwave has forgotten it.
func TestTunServeEcho(t *testing.T) {
	ns := netns.NewT(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	control := filepath.Join(t.TempDir(), "tcpwave.sock")
	page := filepath.Join(t.TempDir(), "serve.html")
	var out, errb syncBuffer
	done := make(chan int, 1)
	go ns.Run(func() error {
		done <- runContext(ctx, []string{"tun", "serve", "--dev", "tw0", "--addr", "10.9.0.2:7", "--control", control, "--events", "--html", page}, &out, &errb)
		return nil
	})
	eventually(t, "the listener", func() (bool, string) {
		s := netstatOut(t, control)
		return strings.Contains(s, "LISTEN") && strings.Contains(s, "10.9.0.2:7"), s + errb.String()
	})
	err := ns.Run(func() error {
		c, err := net.DialTimeout("tcp", "10.9.0.2:7", 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte("hello tcpwave")); err != nil {
			return err
		}
		buf := make([]byte, 13)
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hello tcpwave" {
			return fmt.Errorf("echo read %q: %v", buf, err)
		}
		local := c.LocalAddr().String()
		eventually(t, "ESTAB on both sides", func() (bool, string) {
			tw := netstatOut(t, control)
			rows, _ := ns.SS(t.Context())
			kernelEstab := false
			for _, r := range rows {
				if r.State == "ESTAB" && r.Local.String() == local {
					kernelEstab = true
				}
			}
			return kernelEstab && strings.Contains(tw, "ESTAB") && strings.Contains(tw, local), fmt.Sprint(tw, rows)
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The kernel closed first: it holds TIME-WAIT (about 60 s, Linux's
	// TCP_TIMEWAIT_LEN); tcpwave went CLOSE_WAIT, LAST_ACK, CLOSED.
	eventually(t, "kernel TIME-WAIT and tcpwave's row gone", func() (bool, string) {
		rows, _ := ns.SS(t.Context())
		tw := false
		for _, r := range rows {
			if r.State == "TIME-WAIT" && r.Peer.String() == "10.9.0.2:7" && strings.Contains(r.Timer, "timewait") {
				tw = true
			}
		}
		table := netstatOut(t, control)
		return tw && !strings.Contains(table, "ESTAB") && !strings.Contains(table, "LAST-ACK"), fmt.Sprint(rows, table)
	})
	for _, want := range []string{`"to":"CLOSE_WAIT"`, `"to":"LAST_ACK"`, `"seg":"F. `} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("--events output lacks %s", want)
		}
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("tun serve exited %d: %s", code, errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("tun serve did not stop")
	}
	if !strings.Contains(out.String(), "tcpwave echo server on 10.9.0.2:7") {
		t.Errorf("banner missing: %q", out.String())
	}
	// --html: the conversation as a page, the kernel's side inferred.
	html, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	// Handshake (3), data and its echo with ACKs, and the close (4).
	if n := strings.Count(string(html), `<g class="seg side`); n < 9 {
		t.Errorf("the page has %d segment arrows, want at least 9", n)
	}
	for _, want := range []string{"Linux kernel", "LAST_ACK", "CLOSE_WAIT"} {
		if !strings.Contains(string(html), want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}

// `tcpwave tun dial` talks to a kernel server in the namespace.
func TestTunDial(t *testing.T) {
	ns := netns.NewT(t)
	ln := kernelListener(t, ns)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		b, _ := io.ReadAll(c)
		fmt.Fprintf(c, "kernel got %q", b)
	}()
	var out, errb syncBuffer
	control := filepath.Join(t.TempDir(), "tcpwave.sock")
	code := -1
	if err := ns.Run(func() error {
		code = runContext(t.Context(), []string{"tun", "dial", "--dev", "tw1", "--to", "10.9.0.1:8080", "--send", "hi kernel", "--control", control}, &out, &errb)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if code != 0 || out.String() != `kernel got "hi kernel"` {
		t.Fatalf("exit %d, output %q, stderr %q", code, out.String(), errb.String())
	}
}

// tun dial stops at once when its context ends (SIGINT, SIGTERM), even
// while the server it dialed neither answers nor closes.
func TestTunDialInterrupted(t *testing.T) {
	ns := netns.NewT(t)
	ln := kernelListener(t, ns)
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- c // held open, silent, until the test ends
		}
	}()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out, errb syncBuffer
	done := make(chan int, 1)
	go ns.Run(func() error {
		done <- runContext(ctx, []string{"tun", "dial", "--dev", "tw8", "--to", "10.9.0.1:8080", "--send", "hi", "--control", filepath.Join(t.TempDir(), "c.sock")}, &out, &errb)
		return nil
	})
	select {
	case c := <-accepted:
		defer c.Close()
		// Once "hi" and the FIN are in, tun dial waits for an answer.
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if b, err := io.ReadAll(c); string(b) != "hi" || err != nil {
			t.Fatalf("the kernel read %q, %v; want hi and EOF", b, err)
		}
	case code := <-done:
		t.Fatalf("tun dial exited %d before the kernel accepted: %s", code, errb.String())
	case <-time.After(10 * time.Second):
		t.Fatal("the kernel accepted no connection")
	}
	cancel()
	select {
	case code := <-done:
		if code != 1 || !strings.Contains(errb.String(), "interrupted") {
			t.Errorf("exit %d, stderr %q; want 1 and interrupted", code, errb.String())
		}
	case <-time.After(10 * time.Second):
		// The old code never returned; it should take about a second
		// (its close timeout), more on a loaded machine under -race.
		t.Fatal("tun dial still running 10 s after its context ended")
	}
}

func TestTunAndNetstatUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string // in the one-line error
	}{
		{[]string{"tun"}, "no command"},
		{[]string{"tun", "bogus"}, "unknown command \"bogus\""},
		{[]string{"tun", "serve", "--echo", "--discard"}, "not both"},
		{[]string{"tun", "serve", "--addr", "nonsense"}, "--addr"},
		{[]string{"tun", "serve", "--addr", ":0"}, "--addr"},
		{[]string{"tun", "serve", "--addr", "0.0.0.0:7"}, "unicast address"},
		{[]string{"tun", "serve", "--addr", "10.9.0.2:0"}, "needs a port"},
		{[]string{"tun", "serve", "--addr", "10.9.0.1:7"}, "the kernel's own address"},
		{[]string{"tun", "serve", "--addr", "224.0.0.1:7"}, "unicast address"},
		{[]string{"tun", "serve", "--mtu", "0"}, "--mtu 0"},
		{[]string{"tun", "serve", "--mtu", "70000"}, "--mtu 70000"},
		{[]string{"tun", "serve", "--dev", ""}, "needs a name"},
		{[]string{"tun", "serve", "--dev", "a-name-far-too-long"}, "at most 15 bytes"},
		{[]string{"tun", "serve", "--dev", "a/b"}, "not a valid device name"},
		{[]string{"tun", "serve", "--kernel-addr", "10.9.0.1"}, "--kernel-addr"},
		{[]string{"tun", "serve", "extra"}, "unexpected argument"},
		{[]string{"tun", "serve", "--bogus"}, "bogus"},
		{[]string{"tun", "dial"}, "--to IP:PORT is required"},
		{[]string{"tun", "dial", "--to", "10.9.0.1:0"}, "want a unicast address and a port"},
		{[]string{"tun", "dial", "--to", "10.9.0.2:80"}, "tcpwave's own address"},
		{[]string{"tun", "dial", "--to", "10.9.0.1:80", "--addr", "10.9.0.1"}, "the kernel's own address"},
		{[]string{"tun", "dial", "--to", "10.9.0.1:80", "--mtu", "-1"}, "--mtu -1"},
		{[]string{"netstat", "extra"}, "unexpected argument"},
	} {
		var out, errb bytes.Buffer
		code := run(tc.args, &out, &errb)
		first, rest, _ := strings.Cut(errb.String(), "\n")
		if code != 2 || out.Len() != 0 || !strings.Contains(first, tc.msg) || !strings.HasPrefix(rest, "usage: ") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2, a one-line error with %q and the usage on stderr", tc.args, code, out.String(), errb.String(), tc.msg)
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"netstat", "--control", filepath.Join(t.TempDir(), "none.sock")}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "tun serve") {
		t.Errorf("netstat without a server: exit %d, %q", code, errb.String())
	}
}

// A write error on the --html page (here, a full disk) is a one-line
// error and exit status 1.
func TestTunHTMLWriteError(t *testing.T) {
	f := tunFlags{html: "/dev/full", live: &liveEvents{host: "T", peer: "K", rec: &trace.Recorder{}}}
	f.live.emit(trace.Event{Kind: trace.KindState, From: tcp.Listen, To: tcp.SynRcvd, Why: "test"})
	var errb bytes.Buffer
	if code := f.finish(&errb, "test"); code != 1 || strings.Count(errb.String(), "\n") != 1 || !strings.Contains(errb.String(), "no space left") {
		t.Errorf("exit %d, stderr %q; want 1 and one line that says the disk is full", code, errb.String())
	}
}

// A device another process holds is busy, not a matter of permissions:
// tun dial says so.
func TestTunDeviceBusy(t *testing.T) {
	ns := netns.NewT(t)
	dev, err := tun.Setup(ns, tun.Config{Name: "tw7"})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	var out, errb bytes.Buffer
	var code int
	err = ns.Run(func() error {
		code = run([]string{"tun", "dial", "--dev", "tw7", "--to", "10.9.0.1:80", "--control", filepath.Join(t.TempDir(), "c.sock")}, &out, &errb)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if msg := errb.String(); code != 1 || !strings.Contains(msg, "device busy") || !strings.Contains(msg, "give another --dev") || strings.Contains(msg, "root") || strings.Count(msg, "\n") != 1 {
		t.Errorf("exit %d, stderr %q; want 1 and one line that says the device is busy", code, msg)
	}
}

// kernelListener is a kernel socket listening on port 8080 in ns, closed
// when the test ends.
func kernelListener(t *testing.T, ns *netns.NS) net.Listener {
	t.Helper()
	var ln net.Listener
	if err := ns.Run(func() (err error) {
		ln, err = net.Listen("tcp", "0.0.0.0:8080")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// `tun serve` opens its device with offload (IFF_VNET_HDR, which the
// kernel shows in the device's tun_flags) unless --offload=false, and its
// banner says which.
func TestTunServeOffload(t *testing.T) {
	const vnetHdr = 0x4000 // IFF_VNET_HDR
	tests := []struct {
		name   string
		args   []string
		want   bool
		banner string
	}{
		{"default", nil, true, "offload on"},
		{"--offload=false", []string{"--offload=false"}, false, "offload off"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ns := netns.NewT(t)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			var out, errb syncBuffer
			done := make(chan int, 1)
			args := append([]string{"tun", "serve", "--dev", "tw0", "--discard", "--control", filepath.Join(t.TempDir(), "c.sock")}, tc.args...)
			go ns.Run(func() error {
				done <- runContext(ctx, args, &out, &errb)
				return nil
			})
			eventually(t, "the banner", func() (bool, string) {
				return strings.Contains(out.String(), "server on"), out.String() + errb.String()
			})
			if !strings.Contains(out.String(), tc.banner) {
				t.Errorf("banner %q, want %q", out.String(), tc.banner)
			}
			b, err := ns.Exec(t.Context(), "cat", "/sys/class/net/tw0/tun_flags")
			if err != nil {
				t.Fatalf("tun_flags: %v: %s", err, b)
			}
			var flags uint64
			if _, err := fmt.Sscanf(strings.TrimSpace(string(b)), "0x%x", &flags); err != nil {
				t.Fatalf("tun_flags %q: %v", b, err)
			}
			if got := flags&vnetHdr != 0; got != tc.want {
				t.Errorf("tun_flags %#x: IFF_VNET_HDR %v, want %v", flags, got, tc.want)
			}
			cancel()
			select {
			case code := <-done:
				if code != 0 || errb.String() != "" {
					t.Errorf("tun serve exited %d, stderr %q", code, errb.String())
				}
			case <-time.After(10 * time.Second):
				t.Fatal("tun serve did not stop")
			}
		})
	}
}

// On a kernel that refuses offload, tun serve and tun dial say so in one
// line and go on with a device without it.
func TestTunOffloadRefused(t *testing.T) {
	ns := netns.NewT(t)
	var tried []bool
	f := tunFlags{dev: "tw0", mtu: tun.DefaultMTU, kernel: "10.9.0.1/24", offload: true,
		setup: func(c tun.Config) (*tun.Device, error) {
			tried = append(tried, c.Offload)
			if c.Offload {
				return nil, fmt.Errorf("link/tun: %q: %w: TUNSETOFFLOAD: %w", c.Name, tun.ErrNoOffload, syscall.EINVAL)
			}
			return tun.Setup(nil, c)
		}}
	var errb bytes.Buffer
	err := ns.Run(func() error {
		st, err := f.open(netip.MustParseAddr("10.9.0.2"), &errb)
		if err != nil {
			return err
		}
		return st.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
	msg := errb.String()
	if fmt.Sprint(tried) != "[true false]" || f.offloaded {
		t.Errorf("setups with offload %v, offloaded %v; want [true false] and false", tried, f.offloaded)
	}
	if strings.Count(msg, "\n") != 1 || !strings.Contains(msg, "refused offload on tw0 (invalid argument); going on without it") {
		t.Errorf("stderr %q, want one line saying offload was refused", msg)
	}
}
