package tcpwave

import (
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/stack"
	"github.com/tcpwave/tcpwave/tcp"
)

// BenchmarkBulk measures one-way throughput: 64 KiB writes from B to A
// over a pipe with a 1500-byte MTU, read by a goroutine that discards
// them.
func BenchmarkBulk(b *testing.B) {
	sa, sb := hosts(b)
	benchBulk(b, sa, sb)
}

// benchBulk writes 64 KiB per op from B to A, read and discarded on A.
func benchBulk(b *testing.B, sa, sb *Stack) {
	const chunk = 64 << 10
	client, server := connPair(b, sa, sb)
	done := discard(server, chunk)
	buf := make([]byte, chunk)
	b.SetBytes(chunk)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := client.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	client.CloseWrite()
	if r := <-done; r.n != int64(b.N)*chunk {
		b.Fatalf("received %d bytes (%v), want %d", r.n, r.err, int64(b.N)*chunk)
	}
	b.StopTimer()
	client.Close()
	server.Close()
}

// BenchmarkChurn measures a whole connection per op: Dial, one byte each
// way, the client closes first (and keeps TIME_WAIT, shortened to 1s, with
// the widest ephemeral port range, so that ports are not exhausted), then the server closes; the server
// serves each connection on a goroutine of its own, as the side-by-side
// benchmark (interop/cmd/bench) does.
func BenchmarkChurn(b *testing.B) { benchChurn(b, 1) }

// BenchmarkChurn8 is BenchmarkChurn with 8 clients at once.
func BenchmarkChurn8(b *testing.B) { benchChurn(b, 8) }

func benchChurn(b *testing.B, clients int) {
	sa, sb := hosts(b, WithTCP(func(c *tcp.Config) { c.TimeWait = time.Second }),
		WithStackOptions(func(o *stack.Options) { o.EphemeralLow, o.EphemeralHigh = 1024, 65535 }))
	ln, err := sa.Listen("tcp", "10.0.0.1:80")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.AcceptConn()
			if err != nil {
				return
			}
			go func() {
				buf := make([]byte, 1)
				if _, err := io.ReadFull(c, buf); err == nil {
					c.Write(buf)
				}
				c.Read(buf) // the client's FIN
				c.Close()
			}()
		}
	}()
	var next atomic.Int64
	errs := make(chan error, clients)
	b.ReportAllocs()
	b.ResetTimer()
	for range clients {
		go func() {
			buf := []byte{'x'}
			for next.Add(1) <= int64(b.N) {
				c, err := sb.Dial("tcp", "10.0.0.1:80")
				if err != nil {
					errs <- err
					return
				}
				if _, err := c.Write(buf); err != nil {
					errs <- err
					return
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					errs <- err
					return
				}
				c.Close()
			}
			errs <- nil
		}()
	}
	for range clients {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
}
