// Package thirdparty runs third-party Go networking code over simnet, as
// its users would: net/http over HTTP/1.1, HTTP/2 (h2c, with
// golang.org/x/net/http2) and TLS (crypto/tls), and gRPC-go with a unary
// and a streaming call, across lossy links in testing/synctest bubbles.
// It is a module of its own so that importing tcpwave never pulls gRPC
// in; it has no code, only tests.
package thirdparty
