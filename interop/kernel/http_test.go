//go:build linux

package kernel_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/tcp"
)

// net/http over a real wire, both ways: a kernel http.Client against an
// http.Server on a tcpwave Listener, and a tcpwave-dialing http.Client
// against a kernel server. HTTP/1.1 keep-alive rides one connection; an
// HTTP/1.0-style "Connection: close" response has the server close first
// and hold TIME_WAIT.
func TestHTTPKernelClientTCPWaveServer(t *testing.T) {
	r := newRig(t, rigConfig{direct: true})
	ln := r.stackListen(t, ipv4)
	var conns atomic.Int32
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if req.URL.Path == "/close" {
				// HTTP/1.0 style: the body ends where the server closes.
				c, buf, err := w.(http.Hijacker).Hijack()
				if err != nil {
					t.Error(err)
					return
				}
				buf.WriteString("HTTP/1.0 200 OK\r\nConnection: close\r\n\r\n" + strings.Repeat("z", 5000))
				buf.Flush()
				c.Close()
				return
			}
			fmt.Fprintf(w, "tcpwave says %s", req.URL.Path)
		}),
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		},
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	// The kernel's sockets must be made inside the namespace.
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (c net.Conn, err error) {
			err = r.ns.Run(func() error {
				var d net.Dialer
				c, err = d.DialContext(ctx, network, addr)
				return err
			})
			return c, err
		},
		MaxIdleConnsPerHost: 1,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: opTimeout}
	base := "http://" + ln.Addr().String()
	for i := range 20 {
		resp, err := client.Get(fmt.Sprintf("%s/%d", base, i))
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(body) != fmt.Sprintf("tcpwave says /%d", i) {
			t.Fatalf("request %d: %q %v", i, body, err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("20 keep-alive requests took %d connections, want 1", n)
	}
	tr.CloseIdleConnections()

	req, _ := http.NewRequest("GET", base+"/close", nil)
	req.Close = true
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if len(body) != 5000 {
		t.Fatalf("HTTP/1.0 body of %d bytes", len(body))
	}
	// The server (tcpwave) closed first: it holds TIME_WAIT for that
	// connection; the kernel's side is gone.
	port := netip.MustParseAddrPort(ln.Addr().String()).Port()
	deadline := time.Now().Add(pollFor)
	for {
		tw := 0
		for _, row := range r.st.Connections() {
			if row.State == tcp.TimeWait && row.Local.Port() == port {
				tw++
			}
		}
		rows, _ := r.ns.SS(t.Context())
		kernelLeft := 0
		for _, row := range rows {
			if row.Peer.Port() == port && row.State != "TIME-WAIT" {
				kernelLeft++
			}
		}
		kernelTW := 0
		for _, row := range rows {
			if row.Peer.Port() == port && row.State == "TIME-WAIT" {
				kernelTW++
			}
		}
		// The keep-alive connection was closed by the client (the kernel)
		// first, so it sits in the kernel's TIME-WAIT; the HTTP/1.0 one
		// in tcpwave's.
		if tw == 1 && kernelLeft == 0 && kernelTW == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("tcpwave TIME_WAIT %d (want 1), kernel rows not in TIME-WAIT %d (want 0), kernel TIME-WAIT %d (want 1): %v %v",
				tw, kernelLeft, kernelTW, r.st.Connections(), rows)
		}
		time.Sleep(pollEvery)
	}
}

func TestHTTPTCPWaveClientKernelServer(t *testing.T) {
	r := newRig(t, rigConfig{direct: true})
	ln := r.kernelListen(t, ipv4)
	var conns atomic.Int32
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			fmt.Fprintf(w, "kernel says %s", req.URL.Path)
		}),
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		},
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return r.st.DialContext(ctx, network, addr)
		},
		MaxIdleConnsPerHost: 1,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: opTimeout}
	for i := range 20 {
		resp, err := client.Get(fmt.Sprintf("http://%s/%d", ln.Addr(), i))
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(body) != fmt.Sprintf("kernel says /%d", i) {
			t.Fatalf("request %d: %q %v", i, body, err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("20 keep-alive requests took %d connections, want 1", n)
	}
}
