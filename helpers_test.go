package tcpwave

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/link"
	"github.com/tcpwave/tcpwave/link/pipe"
)

var (
	addrA = netip.MustParseAddr("10.0.0.1")
	addrB = netip.MustParseAddr("10.0.0.2")
)

// hosts makes two stacks, A (10.0.0.1) and B (10.0.0.2), joined by a
// pipe, and closes them when the test ends.
func hosts(t testing.TB, opts ...Option) (a, b *Stack) {
	t.Helper()
	ea, eb := pipe.New(1500, 0)
	return hostsOn(t, ea, eb, opts...)
}

// hostsOn is hosts on the two ends of a given link.
func hostsOn(t testing.TB, ea, eb link.Endpoint, opts ...Option) (a, b *Stack) {
	t.Helper()
	a, err := New(ea, []netip.Addr{addrA}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	b, err = New(eb, []netip.Addr{addrB}, opts...)
	if err != nil {
		a.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		closeQuick(a)
		closeQuick(b)
	})
	return a, b
}

// closeQuick closes a stack without waiting long for its connections.
func closeQuick(s *Stack) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	s.CloseContext(ctx)
}

// connPair returns an established connection from B (client) to A
// (server): the client's end and the server's end.
func connPair(t testing.TB, a, b *Stack) (client, server *Conn) {
	t.Helper()
	ln, err := a.Listen("tcp", "10.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type res struct {
		c   *Conn
		err error
	}
	ch := make(chan res, 1)
	ln.SetDeadline(time.Now().Add(10 * time.Second))
	go func() {
		c, err := ln.AcceptConn()
		ch <- res{c, err}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, err = b.DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	return client, r.c
}

// lossy wraps an endpoint; while drop is set, packets in both directions
// are lost, as on a cable that was cut.
type lossy struct {
	link.Endpoint
	drop atomic.Bool
}

func (l *lossy) WritePacket(p []byte) error {
	if l.drop.Load() {
		return nil
	}
	return l.Endpoint.WritePacket(p)
}

func (l *lossy) ReadPacket(buf []byte) (int, error) {
	for {
		n, err := l.Endpoint.ReadPacket(buf)
		if err != nil || !l.drop.Load() {
			return n, err
		}
	}
}

// lossyHosts is hosts with B's endpoint wrapped in a lossy.
func lossyHosts(t testing.TB, opts ...Option) (a, b *Stack, cut *lossy) {
	t.Helper()
	ea, eb := pipe.New(1500, 0)
	cut = &lossy{Endpoint: eb}
	a, err := New(ea, []netip.Addr{addrA}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	b, err = New(cut, []netip.Addr{addrB}, opts...)
	if err != nil {
		a.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		closeQuick(a)
		closeQuick(b)
	})
	return a, b, cut
}

// checkOpError fails unless err is a *net.OpError for op on "tcp" whose
// chain holds target.
func checkOpError(t testing.TB, err error, op string, target error) {
	t.Helper()
	var oe *net.OpError
	if !errors.As(err, &oe) {
		t.Fatalf("error %v (%T) is not a *net.OpError", err, err)
	}
	if oe.Op != op || oe.Net != "tcp" {
		t.Errorf("OpError Op=%q Net=%q, want %q and tcp (%v)", oe.Op, oe.Net, op, err)
	}
	if !errors.Is(err, target) {
		t.Errorf("error %v is not %v", err, target)
	}
}

// states returns the states of a stack's connections as ss names them.
func states(s *Stack) []string {
	var out []string
	for _, r := range s.Connections() {
		out = append(out, r.State.SSName())
	}
	return out
}

// discard reads c to EOF on a goroutine of its own, through a buffer of
// chunk bytes, and sends the byte count (and the error, if not EOF) when
// it is done.
func discard(c net.Conn, chunk int) <-chan readResult {
	done := make(chan readResult, 1)
	go func() {
		n, err := io.CopyBuffer(io.Discard, c, make([]byte, chunk))
		done <- readResult{n, err}
	}()
	return done
}

// readResult is what discard reports.
type readResult struct {
	n   int64
	err error
}

// recvErr waits up to 5 s for what's error on ch and returns it; what
// names the call, for the failure when it does not return.
func recvErr(t testing.TB, ch <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(5 * time.Second):
		t.Fatalf("%s did not return", what)
		return nil
	}
}

// transfer writes data on client, closes its sending side and requires
// server to read exactly data up to the FIN.
func transfer(t testing.TB, client, server *Conn, data []byte) {
	t.Helper()
	done := make(chan []byte, 1)
	go func() {
		got, _ := io.ReadAll(server)
		done <- got
	}()
	if _, err := client.Write(data); err != nil {
		t.Fatalf("write: %v", err)
	}
	client.CloseWrite()
	if got := <-done; !bytes.Equal(got, data) {
		t.Fatalf("received %d bytes, not the %d written", len(got), len(data))
	}
}
