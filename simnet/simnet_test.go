package simnet_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tcpwave/tcpwave/simnet"
	"github.com/tcpwave/tcpwave/tcp"
)

// echoServer accepts connections on ln and echoes each until EOF, then
// closes it; it returns when ln is closed.
func echoServer(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			io.Copy(c, c)
			c.Close()
		}()
	}
}

// dialEcho starts an echo server on port 7 of b and dials it from a.
func dialEcho(t *testing.T, a, b *simnet.Host) net.Conn {
	t.Helper()
	ln, err := b.Listen("tcp", ":7")
	if err != nil {
		t.Fatal(err)
	}
	go echoServer(ln)
	c, err := a.Dial("tcp", b.Addr().String()+":7")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestDelay: the handshake takes one round trip of the link's delay, in
// twoHosts returns a network made with opts, closed when the test ends,
// and its hosts 10.0.0.1 and 10.0.0.2.
func twoHosts(t *testing.T, opts simnet.Options) (n *simnet.Network, a, b *simnet.Host) {
	t.Helper()
	n = simnet.New(opts)
	t.Cleanup(func() { n.Close() })
	return n, n.Host("10.0.0.1"), n.Host("10.0.0.2")
}

// virtual time, and data comes back intact.
func TestDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, a, b := twoHosts(t, simnet.Options{Seed: 1, Link: simnet.Link{Delay: 25 * time.Millisecond}})
		ln, err := b.Listen("tcp", ":7")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go echoServer(ln)
		start := time.Now()
		c, err := a.Dial("tcp", "10.0.0.2:7")
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 50*time.Millisecond {
			t.Errorf("Dial took %v, want one round trip, 50ms", d)
		}
		msg := bytes.Repeat([]byte("tcpwave "), 1000)
		go c.Write(msg)
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("echo: %v, equal %v", err, bytes.Equal(got, msg))
		}
		c.Close()
	})
}

// run makes one lossy exchange and returns the network's events.
func run(t *testing.T, seed uint64) []simnet.Event {
	t.Helper()
	var events []simnet.Event
	synctest.Test(t, func(t *testing.T) {
		n := simnet.New(simnet.Options{Seed: seed, Link: simnet.Link{Delay: 5 * time.Millisecond, Jitter: time.Millisecond, Loss: 0.05}})
		a, b := n.Host("10.0.0.1"), n.Host("10.0.0.2")
		ln, err := b.Listen("tcp", ":7")
		if err != nil {
			t.Fatal(err)
		}
		go echoServer(ln)
		for i := range 3 {
			c, err := a.Dial("tcp", "10.0.0.2:7")
			if err != nil {
				t.Fatal(err)
			}
			msg := bytes.Repeat([]byte{byte(i)}, 100_000)
			go func() {
				c.Write(msg)
				c.(interface{ CloseWrite() error }).CloseWrite()
			}()
			got, err := io.ReadAll(c)
			if err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("connection %d: %d bytes, %v", i, len(got), err)
			}
			c.Close()
		}
		ln.Close()
		n.Close()
		events = n.Events()
	})
	return events
}

// TestDeterministic: the same seed gives the same packets, at the same
// instants, with the same fates; another seed does not.
func TestDeterministic(t *testing.T) {
	first := run(t, 7)
	lost := 0
	for _, e := range first {
		if e.Fate != "" {
			lost++
		}
	}
	if lost == 0 {
		t.Fatalf("%d events, none lost: the 5%% loss did nothing", len(first))
	}
	for i := range 3 {
		again := run(t, 7)
		if d := diff(first, again); d != "" {
			t.Fatalf("run %d with the same seed differs: %s", i+2, d)
		}
	}
	if diff(first, run(t, 8)) == "" {
		t.Error("seeds 7 and 8 gave the same run")
	}
}

// diff describes the first difference between two event lists.
func diff(a, b []simnet.Event) string {
	for i := range min(len(a), len(b)) {
		x, y := a[i], b[i]
		if x.At != y.At || x.Seg != y.Seg || x.Fate != y.Fate || !bytes.Equal(x.Headers, y.Headers) {
			return fmt.Sprintf("event %d: %v %v %q vs %v %v %q", i, x.At, x.Seg, x.Fate, y.At, y.Seg, y.Fate)
		}
	}
	if len(a) != len(b) {
		return fmt.Sprintf("%d events vs %d", len(a), len(b))
	}
	return ""
}

// TestDropNextFIN: a rule drops exactly the server's first FIN; the
// server sends it again after its RTO and the client still reads EOF.
func TestDropNextFIN(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n, a, b := twoHosts(t, simnet.Options{Seed: 1, Link: simnet.Link{Delay: 10 * time.Millisecond}})
		ln, _ := b.Listen("tcp", ":80")
		defer ln.Close()
		go func() {
			c, err := ln.Accept()
			if err == nil {
				c.Close()
			}
		}()
		f := n.Drop(simnet.Rule{From: b, Match: simnet.FIN, Count: 1})
		c, err := a.Dial("tcp", "10.0.0.2:80")
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("Read: %v, want EOF", err)
		}
		if d := time.Since(start); d < 200*time.Millisecond {
			t.Errorf("EOF after %v: the FIN was not lost (RTO is at least 200 ms)", d)
		}
		if f.Dropped() != 1 {
			t.Errorf("the rule dropped %d packets, want 1", f.Dropped())
		}
		c.Close()
	})
}

// TestPartitionAndCrash: a partition holds a connection's data back until
// it heals; a crashed host's peer, writing after the restart, gets a
// RST (the half-open connection); a crashed host refuses calls.
func TestPartitionAndCrash(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n, a, b := twoHosts(t, simnet.Options{Seed: 1, Link: simnet.Link{Delay: time.Millisecond}})
		c := dialEcho(t, a, b)
		n.Partition(a, b, 5*time.Second)
		start := time.Now()
		c.Write([]byte("x"))
		if _, err := c.Read(make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < 5*time.Second {
			t.Errorf("echo through a 5 s partition took %v", d)
		}
		b.Crash()
		if _, err := b.Listen("tcp", ":8"); !errors.Is(err, simnet.ErrHostDown) {
			t.Errorf("Listen on a crashed host: %v, want ErrHostDown", err)
		}
		if err := b.Restart(); err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("y"))
		_, err := c.Read(make([]byte, 1))
		var op *net.OpError
		if !errors.As(err, &op) || !errors.Is(err, errConnReset) {
			t.Errorf("Read after the peer crashed and came back: %v, want a reset", err)
		}
		c.Close()
	})
}

// TestTimeWaitIsVirtual: a client's connection sits in TIME_WAIT for the
// full 60 s, which costs no wall time, then is gone.
func TestTimeWaitIsVirtual(t *testing.T) {
	wall := time.Now()
	synctest.Test(t, func(t *testing.T) {
		_, a, b := twoHosts(t, simnet.Options{Seed: 1})
		dialEcho(t, a, b).Close()
		time.Sleep(time.Second)
		if st := states(a); st[tcp.TimeWait] != 1 {
			t.Fatalf("client's states after close: %v, want one TIME_WAIT", st)
		}
		time.Sleep(60 * time.Second)
		if st := states(a); st[tcp.TimeWait] != 0 {
			t.Fatalf("client's states 61 s after close: %v, want no TIME_WAIT", st)
		}
	})
	if d := time.Since(wall); d > 10*time.Second {
		t.Errorf("61 virtual seconds took %v of wall time", d)
	}
}

// states counts a host's connections by state.
func states(h *simnet.Host) map[tcp.State]int {
	m := map[tcp.State]int{}
	for _, c := range h.Connections() {
		m[c.State]++
	}
	return m
}

// TestBadUse: a bad address and a closed network are errors.
func TestBadUse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := simnet.New(simnet.Options{})
		if _, err := n.AddHost("not an address"); err == nil {
			t.Error("AddHost with a bad address: no error")
		}
		if _, err := n.Host("10.0.0.9").DialContext(context.Background(), "tcp", "10.0.0.1:1"); err == nil {
			t.Error("Dial to a host that does not exist: no error")
		}
		n.Close()
		if _, err := n.AddHost("10.0.0.1"); err == nil {
			t.Error("AddHost on a closed network: no error")
		}
		if err := n.Close(); err == nil {
			t.Error("second Close: no error")
		}
	})
}

// errConnReset is what a read gets after a RST.
var errConnReset = syscall.ECONNRESET
