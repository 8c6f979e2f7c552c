package simnet_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tcpwave/tcpwave/simnet"
	"github.com/tcpwave/tcpwave/tcp"
)

// These tests are worked examples of the bugs TCP's edges cause in Go
// programs, each run in a testing/synctest bubble on a simnet network.

// bugNet is the network of these tests: 10 ms each way.
var bugNet = simnet.Options{Seed: 1, Link: simnet.Link{Delay: 10 * time.Millisecond}}

// inBubble runs fn in a synctest bubble on a new bugNet network, closes
// the network, and returns a digest of what became of every packet.
func inBubble(t *testing.T, fn func(t *testing.T, n *simnet.Network)) [32]byte {
	t.Helper()
	var sum [32]byte
	synctest.Test(t, func(t *testing.T) {
		n := simnet.New(bugNet)
		fn(t, n)
		n.Close()
		h := sha256.New()
		for _, e := range n.Events() {
			fmt.Fprintf(h, "%d %v %v %v %q %x\n", e.At, e.From, e.To, e.Seg, e.Fate, e.Headers)
		}
		copy(sum[:], h.Sum(nil))
	})
	return sum
}

// TestBugsRepeat: each of these tests, run 100 times with the same seed,
// sends the same packets at the same virtual instants with the same fates.
func TestBugsRepeat(t *testing.T) {
	for _, b := range []struct {
		name string
		fn   func(*testing.T, *simnet.Network)
	}{
		{"keep-alive race", keepAliveRace}, {"close-wait leak", closeWaitLeak},
		{"proxy/correct", proxyHalfClose(true)}, {"proxy/naive", proxyHalfClose(false)},
		{"vanished peer", vanishedPeer}, {"shutdown, FIN lost", shutdownLostFIN},
	} {
		t.Run(b.name, func(t *testing.T) {
			first := inBubble(t, b.fn)
			for i := range 99 {
				if got := inBubble(t, b.fn); got != first {
					t.Fatalf("run %d differs from the first", i+2)
				}
			}
		})
	}
}

// TestKeepAliveRace: the server closes an idle keep-alive connection just
// as the client sends its next request on it. net/http sends an
// idempotent GET again on a new connection; a POST, which it may not
// repeat, fails.
func TestKeepAliveRace(t *testing.T) { inBubble(t, keepAliveRace) }

func keepAliveRace(t *testing.T, n *simnet.Network) {
	client, server := n.Host("10.0.0.1"), n.Host("10.0.0.2")
	ln, _ := server.Listen("tcp", ":80")
	var conns sync.Map
	srv := &http.Server{
		IdleTimeout: time.Second,
		Handler:     http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }),
		ConnState: func(c net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Store(c.RemoteAddr().String(), true)
			}
		},
	}
	go srv.Serve(ln)
	defer srv.Close()
	tr := &http.Transport{DialContext: client.DialContext}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}

	get := func() (string, error) {
		resp, err := hc.Get("http://10.0.0.2/")
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	if body, err := get(); body != "ok" || err != nil {
		t.Fatalf("first GET: %q, %v", body, err)
	}
	// The server's idle timer started when its response went out, one
	// way (10 ms) before the client had it; the server closes 1 s
	// later and its FIN reaches the client 10 ms after that. Sent 5 ms
	// before that FIN arrives, the next request crosses it on the
	// wire and reaches a closed socket.
	synctest.Wait()
	time.Sleep(time.Second - 5*time.Millisecond)
	if body, err := get(); body != "ok" || err != nil {
		t.Fatalf("GET over a connection the server closed: %q, %v; want a retry on a new connection", body, err)
	}
	if k := count(&conns); k != 2 {
		t.Errorf("the server saw %d connections, want 2 (the GET was retried on a new one)", k)
	}
	synctest.Wait()
	time.Sleep(time.Second - 5*time.Millisecond)
	resp, err := hc.Post("http://10.0.0.2/", "text/plain", strings.NewReader("not idempotent"))
	if err == nil {
		resp.Body.Close()
		t.Fatalf("POST over a connection the server closed succeeded; want an error (net/http does not resend it)")
	}
	t.Logf("POST: %v", err)
}

// count counts the keys of m.
func count(m *sync.Map) int {
	k := 0
	m.Range(func(any, any) bool { k++; return true })
	return k
}

// TestCloseWaitLeak: a handler that never closes its connection leaves
// it in CLOSE_WAIT once the client has closed: Connections finds it.
func TestCloseWaitLeak(t *testing.T) { inBubble(t, closeWaitLeak) }

func closeWaitLeak(t *testing.T, n *simnet.Network) {
	client, server := n.Host("10.0.0.1"), n.Host("10.0.0.2")
	ln, _ := server.Listen("tcp", ":9000")
	defer ln.Close()
	leaked := make(chan net.Conn, 3)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				io.Copy(io.Discard, c) // reads to EOF ... and forgets to close
				leaked <- c
			}()
		}
	}()
	for range 3 {
		c, err := client.Dial("tcp", "10.0.0.2:9000")
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("bye"))
		c.Close()
	}
	time.Sleep(time.Minute)
	if k := states(server)[tcp.CloseWait]; k != 3 {
		t.Fatalf("server states a minute later: %v, want 3 in CLOSE_WAIT", states(server))
	}
	for range 3 {
		(<-leaked).Close()
	}
	time.Sleep(time.Second)
	if k := states(server)[tcp.CloseWait]; k != 0 {
		t.Errorf("after the fix, server states: %v, want no CLOSE_WAIT", states(server))
	}
}

// proxy accepts one connection on ln, dials backend and splices them.
// The correct proxy passes a half-close on (CloseWrite); the naive one
// copies both ways and closes only when both copies end.
func proxy(ln net.Listener, h *simnet.Host, backend string, correct bool) {
	c, err := ln.Accept()
	if err != nil {
		return
	}
	defer c.Close()
	b, err := h.Dial("tcp", backend)
	if err != nil {
		return
	}
	defer b.Close()
	var wg sync.WaitGroup
	pipe := func(dst, src net.Conn) {
		defer wg.Done()
		io.Copy(dst, src)
		if correct {
			dst.(interface{ CloseWrite() error }).CloseWrite()
		}
	}
	wg.Add(2)
	go pipe(b, c)
	go pipe(c, b)
	wg.Wait()
}

// TestProxyHalfClose: a client sends a request and half-closes; the
// backend answers after reading to EOF. Through a proxy that passes the
// half-close on, the answer comes; through a naive io.Copy proxy the
// backend never sees EOF and the client waits until its deadline.
func TestProxyHalfClose(t *testing.T) {
	t.Run("correct", func(t *testing.T) { inBubble(t, proxyHalfClose(true)) })
	t.Run("naive", func(t *testing.T) { inBubble(t, proxyHalfClose(false)) })
}

// proxyHalfClose is TestProxyHalfClose through the correct or the naive
// proxy.
func proxyHalfClose(correct bool) func(t *testing.T, n *simnet.Network) {
	return func(t *testing.T, n *simnet.Network) {
		client, mid, backend := n.Host("10.0.0.1"), n.Host("10.0.0.2"), n.Host("10.0.0.3")
		bl, _ := backend.Listen("tcp", ":80")
		defer bl.Close()
		go func() {
			c, err := bl.Accept()
			if err != nil {
				return
			}
			req, _ := io.ReadAll(c) // the request ends at the client's FIN
			c.Write(bytes.ToUpper(req))
			c.Close()
		}()
		pl, _ := mid.Listen("tcp", ":80")
		defer pl.Close()
		go proxy(pl, mid, "10.0.0.3:80", correct)
		c, err := client.Dial("tcp", "10.0.0.2:80")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Write([]byte("hello"))
		c.(interface{ CloseWrite() error }).CloseWrite()
		got, err := io.ReadAll(c)
		switch {
		case correct && (err != nil || string(got) != "HELLO"):
			t.Errorf("through the correct proxy: %q, %v; want HELLO", got, err)
		case !correct && !errors.Is(err, context.DeadlineExceeded) && !isTimeout(err):
			t.Errorf("through the naive proxy: %q, %v; want the deadline to pass", got, err)
		}
	}
}

// isTimeout reports whether err is a deadline's.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestVanishedPeer: the server's machine vanishes (no FIN, no RST) while
// the client waits for a reply. Without keepalive or a deadline the
// client waits forever (two virtual hours here); with keepalive (10 s
// idle, 5 s between 3 probes) Read fails about 25 s later.
func TestVanishedPeer(t *testing.T) { inBubble(t, vanishedPeer) }

func vanishedPeer(t *testing.T, n *simnet.Network) {
	client, server := n.Host("10.0.0.1"), n.Host("10.0.0.2")
	ln, _ := server.Listen("tcp", ":80")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go io.Copy(io.Discard, c) // never answers
		}
	}()
	plain, err := client.Dial("tcp", "10.0.0.2:80")
	if err != nil {
		t.Fatal(err)
	}
	alive, err := client.Dial("tcp", "10.0.0.2:80")
	if err != nil {
		t.Fatal(err)
	}
	alive.(interface {
		SetKeepAliveConfig(net.KeepAliveConfig) error
	}).SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: 10 * time.Second, Interval: 5 * time.Second, Count: 3})
	synctest.Wait()
	server.Crash()
	start := time.Now()
	plainDone := make(chan error, 1)
	go func() {
		_, err := plain.Read(make([]byte, 1))
		plainDone <- err
	}()
	_, err = alive.Read(make([]byte, 1))
	if d := time.Since(start); !errors.Is(err, syscall.ETIMEDOUT) || d < 20*time.Second || d > 30*time.Second {
		t.Errorf("with keepalive: Read returned %v after %v; want ETIMEDOUT after about 25 s", err, d)
	}
	time.Sleep(2 * time.Hour)
	select {
	case err := <-plainDone:
		t.Errorf("without keepalive: Read returned %v; want it still waiting", err)
	default:
	}
	plain.Close() // ends the Read
	if err := <-plainDone; err == nil {
		t.Error("Read on a closed connection: no error")
	}
	alive.Close()
}

// TestShutdownLostFIN: http.Server.Shutdown lets an in-flight request
// finish, then closes the connection; the server's FIN is lost, sent
// again after its retransmission timeout, and the client still gets the
// whole response and then EOF.
func TestShutdownLostFIN(t *testing.T) { inBubble(t, shutdownLostFIN) }

func shutdownLostFIN(t *testing.T, n *simnet.Network) {
	client, server := n.Host("10.0.0.1"), n.Host("10.0.0.2")
	ln, _ := server.Listen("tcp", ":80")
	inHandler := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(inHandler)
		time.Sleep(500 * time.Millisecond) // in flight during Shutdown
		io.WriteString(w, "done")
	})}
	go srv.Serve(ln)
	fin := n.Drop(simnet.Rule{From: server, Match: simnet.FIN, Count: 1})
	c, err := client.Dial("tcp", "10.0.0.2:80")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	<-inHandler
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(context.Background()) }()
	resp, err := io.ReadAll(c) // the response, then EOF
	if err != nil || !strings.HasSuffix(string(resp), "done") {
		t.Fatalf("client read %q, %v; want the response, then EOF", resp, err)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if fin.Dropped() != 1 {
		t.Errorf("the fault dropped %d FINs, want 1", fin.Dropped())
	}
}
