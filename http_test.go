package tcpwave

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/tcp"
)

// httpPair serves handler with net/http on a tcpwave listener on A and
// returns a client that dials through tcpwave from B, plus a count of the
// connections the server accepted.
func httpPair(t *testing.T, handler http.Handler) (a, b *Stack, c *http.Client, base string, conns *atomic.Int32) {
	t.Helper()
	a, b = hosts(t)
	ln, err := a.Listen("tcp", "10.0.0.1:80")
	if err != nil {
		t.Fatal(err)
	}
	conns = new(atomic.Int32)
	srv := &http.Server{Handler: handler, ConnState: func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return b.DialContext(ctx, network, addr)
		},
		MaxIdleConnsPerHost: 1,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return a, b, &http.Client{Transport: tr, Timeout: 10 * time.Second}, "http://10.0.0.1:80", conns
}

// HTTP/1.1 keep-alive: many requests ride one tcpwave connection.
func TestHTTPKeepAlive(t *testing.T) {
	_, _, c, base, conns := httpPair(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", r.URL.Path)
	}))
	for i := range 50 {
		resp, err := c.Get(fmt.Sprintf("%s/%d", base, i))
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(body) != fmt.Sprintf("hello /%d", i) {
			t.Fatalf("request %d: %q, %v", i, body, err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("the server accepted %d connections for 50 keep-alive requests, want 1", n)
	}
}

// HTTP/1.0-style "Connection: close": the server closes first, so the
// server's side ends in TIME_WAIT and the client's is gone (SCENARIOS.md
// server-active-close).
func TestHTTPConnectionCloseServerHoldsTimeWait(t *testing.T) {
	a, b, c, base, _ := httpPair(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// An HTTP/1.0 response without Content-Length: the body ends
		// where the server closes, so the server is sure to close first.
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		buf.WriteString("HTTP/1.0 200 OK\r\nConnection: close\r\n\r\n" + strings.Repeat("x", 10000))
		buf.Flush()
		conn.Close()
	}))
	req, _ := http.NewRequest("GET", base+"/", nil)
	req.Close = true
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if len(body) != 10000 {
		t.Fatalf("body of %d bytes", len(body))
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		var serverTW, clientRows int
		for _, r := range a.Connections() {
			if r.State == tcp.TimeWait && r.Local.Port() == 80 {
				serverTW++
			}
		}
		for _, r := range b.Connections() {
			if r.Peer.Port() == 80 {
				clientRows++
			}
		}
		if serverTW == 1 && clientRows == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("server TIME_WAIT rows %d (want 1), client rows %d (want 0): A %v B %v", serverTW, clientRows, a.Connections(), b.Connections())
		}
		time.Sleep(5 * time.Millisecond)
	}
}
