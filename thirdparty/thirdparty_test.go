package thirdparty_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tcpwave/tcpwave/simnet"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// lossy is the link of these tests: 20 ms each way, 2% of packets lost.
var lossy = simnet.Link{Delay: 20 * time.Millisecond, Loss: 0.02}

// pair makes a network, closed when the test ends, with a client host
// and a server host listening on port.
func pair(t *testing.T, seed uint64, port string) (n *simnet.Network, client *simnet.Host, ln net.Listener) {
	t.Helper()
	n = simnet.New(simnet.Options{Seed: seed, Link: lossy})
	t.Cleanup(func() { n.Close() })
	client, server := n.Host("10.0.0.1"), n.Host("10.0.0.2")
	ln, err := server.Listen("tcp", ":"+port)
	if err != nil {
		t.Fatal(err)
	}
	return n, client, ln
}

// lostSome fails the test unless the link lost packets: the run must
// have crossed losses to show anything.
func lostSome(t *testing.T, n *simnet.Network) {
	t.Helper()
	for _, e := range n.Events() {
		if e.Fate != "" {
			return
		}
	}
	t.Errorf("the lossy link lost none of %d packets", len(n.Events()))
}

// body is a response large enough to cross many lost packets.
var body = strings.Repeat("tcpwave over a lossy link\n", 4000)

var handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintf(w, "%s %s\n%s", r.Proto, r.URL.Path, body)
})

// get fetches url with hc and checks the protocol and the body.
func get(t *testing.T, hc *http.Client, url, proto string) {
	t.Helper()
	for i := range 20 {
		resp, err := hc.Get(fmt.Sprintf("%s/%d", url, i))
		if err != nil {
			t.Fatalf("GET %d: %v", i, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := fmt.Sprintf("%s /%d\n%s", proto, i, body)
		if err != nil || string(b) != want {
			t.Fatalf("GET %d: %d bytes, %v; want %d bytes over %s", i, len(b), err, len(want), proto)
		}
	}
}

// TestHTTP1: net/http's client and server, keep-alive, over the lossy link.
func TestHTTP1(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n, client, ln := pair(t, 1, "80")
		srv := &http.Server{Handler: handler}
		go srv.Serve(ln)
		defer srv.Close()
		tr := &http.Transport{DialContext: client.DialContext}
		defer tr.CloseIdleConnections()
		get(t, &http.Client{Transport: tr}, "http://10.0.0.2", "HTTP/1.1")
		lostSome(t, n)
	})
}

// TestHTTP2Cleartext: HTTP/2 without TLS (h2c, golang.org/x/net/http2).
func TestHTTP2Cleartext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n, client, ln := pair(t, 2, "80")
		srv := &http.Server{Handler: h2c.NewHandler(handler, &http2.Server{})}
		go srv.Serve(ln)
		defer srv.Close()
		tr := &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			return client.DialContext(ctx, network, addr)
		}}
		defer tr.CloseIdleConnections()
		get(t, &http.Client{Transport: tr}, "http://10.0.0.2", "HTTP/2.0")
		lostSome(t, n)
	})
}

// selfSigned returns a certificate for 10.0.0.2 and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "simnet"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("10.0.0.2")},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// TestHTTPSAndHTTP2: net/http over crypto/tls, which negotiates HTTP/2.
func TestHTTPSAndHTTP2(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n, client, ln := pair(t, 3, "443")
		cert, pool := selfSigned(t)
		srv := &http.Server{Handler: handler, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
		go srv.ServeTLS(ln, "", "")
		defer srv.Close()
		tr := &http.Transport{DialContext: client.DialContext, TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
		defer tr.CloseIdleConnections()
		get(t, &http.Client{Transport: tr}, "https://10.0.0.2", "HTTP/2.0")
		lostSome(t, n)
	})
}

// rawCodec passes gRPC messages as bytes, so the tests need no protobuf
// code.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *v.(*[]byte), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*v.(*[]byte) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "raw" }

// echoService is a gRPC service with a unary method that upper-cases its
// request and a bidirectional stream that upper-cases each message.
var echoService = grpc.ServiceDesc{
	ServiceName: "simnet.Echo",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{MethodName: "Unary", Handler: func(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
		var in []byte
		if err := dec(&in); err != nil {
			return nil, err
		}
		out := bytes.ToUpper(in)
		return &out, nil
	}}},
	Streams: []grpc.StreamDesc{{StreamName: "Stream", ServerStreams: true, ClientStreams: true, Handler: func(_ any, s grpc.ServerStream) error {
		for {
			var in []byte
			if err := s.RecvMsg(&in); err == io.EOF {
				return nil
			} else if err != nil {
				return err
			}
			out := bytes.ToUpper(in)
			if err := s.SendMsg(&out); err != nil {
				return err
			}
		}
	}}},
}

// TestGRPC: gRPC-go, a unary call and a bidirectional stream, across the
// lossy link.
func TestGRPC(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n, client, ln := pair(t, 4, "50051")
		gs := grpc.NewServer(grpc.ForceServerCodec(rawCodec{}))
		gs.RegisterService(&echoService, struct{}{})
		go gs.Serve(ln)
		defer gs.Stop()
		cc, err := grpc.NewClient("passthrough:///10.0.0.2:50051",
			grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) { return client.DialContext(ctx, "tcp", addr) }),
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		in := []byte(strings.Repeat("unary ", 10000))
		var out []byte
		if err := cc.Invoke(ctx, "/simnet.Echo/Unary", &in, &out); err != nil || !bytes.Equal(out, bytes.ToUpper(in)) {
			t.Fatalf("unary: %d bytes, %v", len(out), err)
		}
		st, err := cc.NewStream(ctx, &echoService.Streams[0], "/simnet.Echo/Stream")
		if err != nil {
			t.Fatal(err)
		}
		for i := range 50 {
			msg := []byte(fmt.Sprintf("message %d %s", i, strings.Repeat("x", 2000)))
			if err := st.SendMsg(&msg); err != nil {
				t.Fatalf("send %d: %v", i, err)
			}
			var got []byte
			if err := st.RecvMsg(&got); err != nil || !bytes.Equal(got, bytes.ToUpper(msg)) {
				t.Fatalf("receive %d: %q, %v", i, got, err)
			}
		}
		if err := st.CloseSend(); err != nil {
			t.Fatal(err)
		}
		var extra []byte
		if err := st.RecvMsg(&extra); err != io.EOF {
			t.Fatalf("after CloseSend: %v, want EOF", err)
		}
		lostSome(t, n)
	})
}
