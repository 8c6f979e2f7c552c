package simnet_test

import (
	"io"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tcpwave/tcpwave/simnet"
)

// TestReadmeExample is the test the README shows: an HTTP GET across a
// lossy link with the server's first FIN lost, in virtual time.
func TestReadmeExample(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := simnet.New(simnet.Options{Seed: 1, Link: simnet.Link{Delay: 20 * time.Millisecond, Loss: 0.01}})
		defer n.Close()
		client, server := n.Host("10.0.0.1"), n.Host("10.0.0.2")
		ln, _ := server.Listen("tcp", ":80")
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hi") })}
		go srv.Serve(ln)
		defer srv.Close()
		n.Drop(simnet.Rule{From: server, Match: simnet.FIN, Count: 1}) // the server's first FIN is lost
		hc := &http.Client{Transport: &http.Transport{DialContext: client.DialContext, DisableKeepAlives: true}}
		resp, err := hc.Get("http://10.0.0.2/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "hi" {
			t.Fatalf("body %q", body)
		}
	})
}
