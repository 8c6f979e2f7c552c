package interop

import (
	"context"
	"io"
	"testing"
	"time"
)

// benchPairs are the pairs the benchmarks compare: each stack against
// itself, joined the same way (a Wire, packets copied, checksums on).
var benchPairs = []struct {
	name string
	kind Kind
}{
	{"tcpwave-tcpwave", TCPWave},
	{"gvisor-gvisor", GVisor},
}

// benchPair starts two hosts of kind k, the server on B, and stops them
// when the benchmark ends.
func benchPair(b *testing.B, k Kind, cfg Config) (client, server Host) {
	b.Helper()
	p, err := NewPair(k, k, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	return p.A, p.B
}

// BenchmarkBulk measures one-way throughput through net.Conn: 64 KiB
// writes from the client, read by a goroutine on the server that
// discards them. An op is one write.
func BenchmarkBulk(b *testing.B) {
	for _, bp := range benchPairs {
		b.Run(bp.name, func(b *testing.B) {
			const chunk = 64 << 10
			client, server := benchPair(b, bp.kind, Config{})
			l, err := server.Listen("tcp4", serverAddr("tcp4", 0))
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			c, s, err := Dial(ctx, client, l)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			defer s.Close()
			done := make(chan int64)
			go func() {
				n, _ := io.CopyBuffer(io.Discard, s, make([]byte, chunk))
				done <- n
			}()
			buf := make([]byte, chunk)
			b.SetBytes(chunk)
			b.ReportAllocs()
			var ops int64
			for b.Loop() {
				if _, err := c.Write(buf); err != nil {
					b.Fatal(err)
				}
				ops++
			}
			c.CloseWrite()
			if n := <-done; n != ops*chunk {
				b.Fatalf("received %d bytes, want %d", n, ops*chunk)
			}
		})
	}
}

// BenchmarkChurn measures a whole connection per op through net.Conn:
// Dial, one byte each way, the client closes first (and keeps TIME_WAIT,
// shortened to 1 s on both stacks so that ports are not exhausted), then
// the server closes on EOF.
func BenchmarkChurn(b *testing.B) {
	for _, bp := range benchPairs {
		b.Run(bp.name, func(b *testing.B) {
			client, server := benchPair(b, bp.kind, Config{TimeWait: time.Second})
			l, err := server.Listen("tcp4", serverAddr("tcp4", 80))
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			go func() {
				buf := make([]byte, 1)
				for {
					c, err := l.AcceptConn()
					if err != nil {
						return
					}
					if _, err := io.ReadFull(c, buf); err == nil {
						c.Write(buf)
					}
					c.Read(buf) // the client's FIN
					c.Close()
				}
			}()
			ctx := context.Background()
			addr := l.Addr().String()
			buf := []byte{'x'}
			b.SetBytes(2)
			b.ReportAllocs()
			for b.Loop() {
				c, err := client.Dial(ctx, "tcp4", addr)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := c.Write(buf); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
		})
	}
}
