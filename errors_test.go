package tcpwave

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

// TestErrors checks DESIGN.md rule 6 ("Errors speak Go") case by case, on
// an established connection from B (client) to A (server).
func TestErrors(t *testing.T) {
	buf := make([]byte, 100)
	tests := []struct {
		name string
		run  func(t *testing.T, a, b *Stack, client, server *Conn)
	}{
		{"EOF after the peer's FIN", func(t *testing.T, a, b *Stack, client, server *Conn) {
			server.Write([]byte("bye"))
			server.Close()
			got, err := io.ReadAll(client)
			if err != nil || string(got) != "bye" {
				t.Fatalf("ReadAll = %q, %v; want \"bye\", nil", got, err)
			}
			if n, err := client.Read(buf); n != 0 || err != io.EOF {
				t.Fatalf("Read after EOF = %d, %v; want 0, io.EOF (unwrapped)", n, err)
			}
		}},
		{"ECONNRESET after the peer's RST (SetLinger 0)", func(t *testing.T, a, b *Stack, client, server *Conn) {
			if err := server.SetLinger(0); err != nil {
				t.Fatal(err)
			}
			server.Close()
			_, err := client.Read(buf)
			checkOpError(t, err, "read", syscall.ECONNRESET)
			if got := b.Counters().EstabResets; got != 1 {
				t.Errorf("EstabResets = %d, want 1", got)
			}
			_, err = client.Write([]byte("x"))
			checkOpError(t, err, "write", syscall.EPIPE)
		}},
		{"ECONNRESET after close with unread data", func(t *testing.T, a, b *Stack, client, server *Conn) {
			client.Write([]byte("unread"))
			waitFor(t, func() bool { r := a.Connections(); return len(r) > 0 && r[len(r)-1].RecvQ == 6 })
			server.Close()
			_, err := client.Read(buf)
			checkOpError(t, err, "read", syscall.ECONNRESET)
			if got := a.Counters().TCPAbortOnClose; got != 1 {
				t.Errorf("TCPAbortOnClose = %d, want 1", got)
			}
		}},
		{"net.ErrClosed after our Close", func(t *testing.T, a, b *Stack, client, server *Conn) {
			if err := client.Close(); err != nil {
				t.Fatal(err)
			}
			_, err := client.Read(buf)
			checkOpError(t, err, "read", net.ErrClosed)
			_, err = client.Write(buf)
			checkOpError(t, err, "write", net.ErrClosed)
			checkOpError(t, client.Close(), "close", net.ErrClosed)
			checkOpError(t, client.CloseWrite(), "close", net.ErrClosed)
			checkOpError(t, client.SetDeadline(time.Now()), "set", net.ErrClosed)
			checkOpError(t, client.SetNoDelay(true), "set", net.ErrClosed)
			_, err = client.Dup()
			checkOpError(t, err, "dup", net.ErrClosed)
		}},
		{"Close unblocks a blocked Read and Write", func(t *testing.T, a, b *Stack, client, server *Conn) {
			errs := make(chan error, 2)
			go func() { _, err := client.Read(buf); errs <- err }()
			go func() {
				big := make([]byte, 4<<20) // more than both buffers: blocks
				_, err := client.Write(big)
				errs <- err
			}()
			synctest.Wait() // both calls block
			client.Close()
			for range 2 {
				if err := recvErr(t, errs, "a call blocked at Close"); !errors.Is(err, net.ErrClosed) {
					t.Errorf("blocked call returned %v, want net.ErrClosed", err)
				}
			}
		}},
		{"deadline exceeded", func(t *testing.T, a, b *Stack, client, server *Conn) {
			dl := time.Now().Add(20 * time.Millisecond)
			client.SetReadDeadline(dl)
			_, err := client.Read(buf)
			returned := time.Now()
			checkOpError(t, err, "read", os.ErrDeadlineExceeded)
			if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
				t.Errorf("Timeout() is not true for %v", err)
			}
			if returned.Before(dl) {
				t.Errorf("Read returned %v before its deadline", dl.Sub(returned))
			}
			client.SetWriteDeadline(time.Now().Add(-time.Second))
			_, err = client.Write([]byte("x"))
			checkOpError(t, err, "write", os.ErrDeadlineExceeded)
			// Clearing the deadline makes the connection usable again.
			client.SetDeadline(time.Time{})
			server.Write([]byte("ok"))
			if n, err := client.Read(buf); err != nil || string(buf[:n]) != "ok" {
				t.Errorf("Read after clearing the deadline = %q, %v", buf[:n], err)
			}
		}},
		{"EPIPE on write after CloseWrite", func(t *testing.T, a, b *Stack, client, server *Conn) {
			if err := client.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			_, err := client.Write([]byte("x"))
			checkOpError(t, err, "write", syscall.EPIPE)
			if _, err := server.Read(buf); err != io.EOF {
				t.Errorf("server Read = %v, want io.EOF", err)
			}
			// Half-close: the other direction still works.
			server.Write([]byte("still here"))
			if n, err := client.Read(buf); err != nil || string(buf[:n]) != "still here" {
				t.Errorf("client Read = %q, %v", buf[:n], err)
			}
		}},
		{"CloseRead makes Read return EOF", func(t *testing.T, a, b *Stack, client, server *Conn) {
			if err := client.CloseRead(); err != nil {
				t.Fatal(err)
			}
			if _, err := client.Read(buf); err != io.EOF {
				t.Errorf("Read after CloseRead = %v, want io.EOF", err)
			}
			if _, err := client.Write([]byte("x")); err != nil {
				t.Errorf("Write after CloseRead = %v", err)
			}
			if n, err := server.Read(buf); err != nil || string(buf[:n]) != "x" {
				t.Errorf("server Read = %q, %v", buf[:n], err)
			}
		}},
		{"Dup: the FIN waits for the last handle", func(t *testing.T, a, b *Stack, client, server *Conn) {
			d, err := client.Dup()
			if err != nil {
				t.Fatal(err)
			}
			client.Close()
			if _, err := d.Write([]byte("via dup")); err != nil {
				t.Fatalf("Write on the dup = %v", err)
			}
			if n, err := server.Read(buf); err != nil || string(buf[:n]) != "via dup" {
				t.Fatalf("server Read = %q, %v", buf[:n], err)
			}
			server.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
			if _, err := server.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("server Read = %v, want a timeout: no FIN while a handle is open", err)
			}
			server.SetReadDeadline(time.Time{})
			d.Close()
			if _, err := server.Read(buf); err != io.EOF {
				t.Errorf("server Read after the last Close = %v, want io.EOF", err)
			}
		}},
		{"Dup: CloseWrite acts at once for every handle", func(t *testing.T, a, b *Stack, client, server *Conn) {
			d, err := client.Dup()
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if err := d.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			_, err = client.Write([]byte("x"))
			checkOpError(t, err, "write", syscall.EPIPE)
			if _, err := server.Read(buf); err != io.EOF {
				t.Errorf("server Read = %v, want io.EOF", err)
			}
		}},
		{"Dup: a blocked Write on one handle fails when another shuts down", func(t *testing.T, a, b *Stack, client, server *Conn) {
			d, err := client.Dup()
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			errc := make(chan error, 1)
			go func() { _, err := client.Write(make([]byte, 4<<20)); errc <- err }()
			synctest.Wait() // the Write blocks
			d.CloseWrite()
			select {
			case err := <-errc:
				checkOpError(t, err, "write", syscall.EPIPE)
			case <-time.After(5 * time.Second):
				t.Fatal("blocked Write did not fail")
			}
		}},
		{"Stack.Close sends FINs; the peer reads EOF", func(t *testing.T, a, b *Stack, client, server *Conn) {
			client.Write([]byte("last words"))
			done := make(chan error, 1)
			go func() { done <- b.Close() }()
			got, err := io.ReadAll(server)
			if err != nil || string(got) != "last words" {
				t.Fatalf("server ReadAll = %q, %v", got, err)
			}
			server.Close() // lets B's connection finish: B's Close returns
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Close = %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Stack.Close did not return")
			}
			_, err = client.Read(buf)
			checkOpError(t, err, "read", net.ErrClosed)
			if err := client.Close(); err != nil {
				t.Errorf("Conn.Close after Stack.Close = %v, want nil", err)
			}
			_, err = b.Dial("tcp", "10.0.0.1:80")
			checkOpError(t, err, "dial", net.ErrClosed)
			_, err = b.Listen("tcp", ":80")
			checkOpError(t, err, "listen", net.ErrClosed)
			if err := b.Close(); !errors.Is(err, net.ErrClosed) {
				t.Errorf("second Stack.Close = %v, want net.ErrClosed", err)
			}
			if b.Connections() != nil {
				t.Errorf("Connections after Close = %v, want nil", b.Connections())
			}
			if c := b.Counters(); c.ActiveOpens != 1 || c.OutSegs == 0 {
				t.Errorf("Counters after Close = %+v", c)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a, b := hosts(t)
				client, server := connPair(t, a, b)
				defer client.Close()
				defer server.Close()
				tt.run(t, a, b, client, server)
			})
		})
	}
}

// waitFor polls cond for up to five seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not reached in 5s")
}

// TestDialErrors checks Dial's and Listen's errors for bad networks and
// addresses, refused connections and taken ports.
func TestDialErrors(t *testing.T) {
	a, b := hosts(t)
	ln, err := a.Listen("tcp", "10.0.0.1:80")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var unknownNet net.UnknownNetworkError
	var addrErr *net.AddrError
	tests := []struct {
		op, network, address string
		target               any // an errno to match with errors.Is, or a pointer for errors.As
	}{
		{"dial", "udp", "10.0.0.1:80", &unknownNet},
		{"dial", "tcp", "10.0.0.1", &addrErr},       // missing port
		{"dial", "tcp", "10.0.0.1:http", &addrErr},  // no service names
		{"dial", "tcp", "10.0.0.1:70000", &addrErr}, // port out of range
		{"dial", "tcp", "example.com:80", &addrErr}, // no resolver
		{"dial", "tcp", ":80", &addrErr},            // no host to dial
		{"dial", "tcp4", "[fd00::1]:80", &addrErr},  // wrong family
		{"dial", "tcp6", "10.0.0.1:80", &addrErr},   // wrong family
		{"dial", "tcp", "10.0.0.1:81", syscall.ECONNREFUSED},
		{"dial", "tcp", "10.0.0.1:0", syscall.EINVAL},
		{"dial", "tcp6", "[fd00::1]:80", syscall.ENETUNREACH}, // no IPv6 address on B
		{"listen", "tcp", "10.0.0.1:80", syscall.EADDRINUSE},
		{"listen", "tcp", "10.9.9.9:80", syscall.EADDRNOTAVAIL},
		{"listen", "unix", "/tmp/x", &unknownNet},
		{"listen", "tcp", "nonsense", &addrErr},
	}
	for _, tt := range tests {
		var err error
		switch tt.op {
		case "dial":
			var c *Conn
			c, err = b.Dial(tt.network, tt.address)
			if c != nil {
				c.Close()
			}
		case "listen":
			var l *Listener
			l, err = a.Listen(tt.network, tt.address)
			if l != nil {
				l.Close()
			}
		}
		var oe *net.OpError
		if !errors.As(err, &oe) || oe.Op != tt.op || oe.Net != tt.network {
			t.Errorf("%s(%q, %q) = %v; want a *net.OpError for %s", tt.op, tt.network, tt.address, err, tt.op)
			continue
		}
		switch target := tt.target.(type) {
		case syscall.Errno:
			if !errors.Is(err, target) {
				t.Errorf("%s(%q, %q) = %v; want %v", tt.op, tt.network, tt.address, err, target)
			}
		default:
			if !errors.As(err, target) {
				t.Errorf("%s(%q, %q) = %v; want a %T", tt.op, tt.network, tt.address, err, target)
			}
		}
	}
	if got := b.Counters().AttemptFails; got != 1 {
		t.Errorf("AttemptFails = %d, want 1 (the refused dial)", got)
	}
}

func TestDialContextCanceled(t *testing.T) {
	a, b, cut := lossyHosts(t)
	_ = a
	cut.drop.Store(true) // SYNs go nowhere
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := b.DialContext(ctx, "tcp", "10.0.0.1:80")
	checkOpError(t, err, "dial", context.DeadlineExceeded)
	if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Errorf("Timeout() is not true for %v", err)
	}
	if s := states(b); len(s) != 0 {
		t.Errorf("connections after the canceled dial: %v, want none", s)
	}
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	_, err = b.DialContext(ctx, "tcp", "10.0.0.1:80")
	checkOpError(t, err, "dial", context.Canceled)
}

func TestListener(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := hosts(t)
		ln, err := a.Listen("tcp", ":0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().(*net.TCPAddr)
		if addr.Port < 32768 || !addr.IP.Equal(net.IPv4zero) {
			t.Errorf("Addr = %v, want 0.0.0.0 and an ephemeral port", addr)
		}
		ln.SetDeadline(time.Now().Add(20 * time.Millisecond))
		_, err = ln.Accept()
		checkOpError(t, err, "accept", os.ErrDeadlineExceeded)
		ln.SetDeadline(time.Time{})

		c, err := b.Dial("tcp", netJoin("10.0.0.1", addr.Port))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if s.LocalAddr().String() != c.RemoteAddr().String() || s.RemoteAddr().String() != c.LocalAddr().String() {
			t.Errorf("addresses: server %v<-%v, client %v->%v", s.LocalAddr(), s.RemoteAddr(), c.LocalAddr(), c.RemoteAddr())
		}

		errc := make(chan error, 1)
		go func() { _, err := ln.Accept(); errc <- err }()
		synctest.Wait() // the Accept blocks
		if err := ln.Close(); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-errc:
			checkOpError(t, err, "accept", net.ErrClosed)
		case <-time.After(5 * time.Second):
			t.Fatal("Accept did not return after Close")
		}
		checkOpError(t, ln.Close(), "close", net.ErrClosed)
		// The accepted connection lives on.
		c.Write([]byte("hi"))
		buf := make([]byte, 2)
		if _, err := io.ReadFull(s, buf); err != nil {
			t.Errorf("Read on an accepted connection after the listener closed: %v", err)
		}
		// The port is free again (no connection of a listener holds it alone).
		if slices.Contains(states(a), "LISTEN") {
			t.Errorf("still listening: %v", states(a))
		}
	})
}

func TestReusePort(t *testing.T) {
	a, _ := hosts(t)
	lc := ListenConfig{ReusePort: true}
	l1, err := a.ListenWith(lc, "tcp", "10.0.0.1:8080")
	if err != nil {
		t.Fatal(err)
	}
	defer l1.Close()
	l2, err := a.ListenWith(lc, "tcp", "10.0.0.1:8080")
	if err != nil {
		t.Fatalf("second SO_REUSEPORT listener: %v", err)
	}
	defer l2.Close()
	_, err = a.ListenWith(ListenConfig{}, "tcp", "10.0.0.1:8080")
	checkOpError(t, err, "listen", syscall.EADDRINUSE)
}

func netJoin(host string, port int) string {
	return net.JoinHostPort(host, itoa(port))
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// TestListenAfterTimeWait checks SO_REUSEADDR, which Listen sets as
// package net does: a server that closed first holds TIME_WAIT on its
// port, and a new listener may still bind it; without SO_REUSEADDR it
// may not (Linux inet_bind_conflict).
func TestListenAfterTimeWait(t *testing.T) {
	a, b := hosts(t)
	ln, err := a.Listen("tcp", "10.0.0.1:80")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Close() // the server closes first
		}
	}()
	c, err := b.Dial("tcp", "10.0.0.1:80")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("Read = %v, want io.EOF", err)
	}
	c.Close()
	ln.Close()
	waitFor(t, func() bool { return slices.Equal(states(a), []string{"TIME-WAIT"}) })
	_, err = a.ListenWith(ListenConfig{}, "tcp", "10.0.0.1:80")
	checkOpError(t, err, "listen", syscall.EADDRINUSE)
	ln, err = a.Listen("tcp", "10.0.0.1:80")
	if err != nil {
		t.Fatalf("Listen over TIME_WAIT with SO_REUSEADDR: %v", err)
	}
	ln.Close()
}
