package simnet_test

import (
	"flag"
	"io"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tcpwave/tcpwave/simnet"
	"github.com/tcpwave/tcpwave/tcp"
)

var requests = flag.Int("simnet.requests", 1000, "requests TestHTTPLoad makes (10000 for the issue's measurement)")

// TestHTTPLoad: many HTTP requests, a new connection each (so each
// leaves a 60 s TIME_WAIT on the client), over a link losing 1% of
// packets each way, in a synctest bubble. Every request must succeed and
// every TIME_WAIT must be held; the wall time is logged (go test -run
// TestHTTPLoad -v ./simnet -args -simnet.requests=10000).
func TestHTTPLoad(t *testing.T) {
	wall := time.Now()
	var virtual time.Duration
	synctest.Test(t, func(t *testing.T) {
		n := simnet.New(simnet.Options{Seed: 3, Link: simnet.Link{Delay: 5 * time.Millisecond, Loss: 0.01},
			TCP: func(c *tcp.Config) { c.TimeWait = 60 * time.Second }})
		defer n.Close()
		client, server := n.Host("10.0.0.1"), n.Host("10.0.0.2")
		ln, _ := server.Listen("tcp", ":80")
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })}
		go srv.Serve(ln)
		defer srv.Close()
		tr := &http.Transport{DialContext: client.DialContext, DisableKeepAlives: true}
		hc := &http.Client{Transport: tr}
		start := time.Now()
		for i := range *requests {
			resp, err := hc.Get("http://10.0.0.2/")
			if err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || string(body) != "ok" {
				t.Fatalf("request %d: %q, %v", i, body, err)
			}
		}
		virtual = time.Since(start)
		time.Sleep(time.Second)
		tw := states(client)[tcp.TimeWait] + states(server)[tcp.TimeWait]
		if tw == 0 {
			t.Errorf("no TIME_WAIT after %d connections closed", *requests)
		}
		lost := 0
		for _, e := range n.Events() {
			if e.Fate != "" {
				lost++
			}
		}
		if lost == 0 {
			t.Errorf("the 1%% loss lost nothing")
		}
		t.Logf("%d requests, %d packets lost, %d TIME_WAIT records", *requests, lost, tw)
	})
	t.Logf("%d requests: %v virtual, %v wall", *requests, virtual.Round(time.Millisecond), time.Since(wall).Round(time.Millisecond))
}
