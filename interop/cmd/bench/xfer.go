package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/tcpwave/tcpwave/interop"
)

// The xfer workloads time whole transfers from the connection's start:
// for each size, a new connection is dialled, the client writes that many
// bytes of random data in 64 KiB writes and half-closes, and the server
// reads to EOF, checking every byte against what was sent. The clock runs
// from the Dial to the server's EOF, handshake, slow start and
// verification included; nothing is warmed up. Each workload names an
// MTU and a link: "shared" is the interop.Link both stacks run on in the
// other workloads; "native" is each stack's own in-memory link
// (interop.NewNativePair: link/pipe for tcpwave, gVisor's channel
// endpoints for gVisor), the link its users would pick.

// xferPattern is the data every xfer writes: random bytes from a fixed
// seed, repeated. Its length is not a multiple of the write size, so
// each write starts at a different place in it.
var xferPattern = func() []byte {
	b := make([]byte, 1<<20+13)
	rand.NewChaCha8([32]byte{'x', 'f', 'e', 'r'}).Read(b)
	return b
}()

// xferMetrics are the rows of an xfer workload named name.
func xferMetrics(name string) []metric {
	return []metric{
		{name + "/64KiB", "ms", true},
		{name + "/1MiB", "ms", true},
		{name + "/16MiB", "ms", true},
		{name, "Gbit/s", false}, // the big transfer: 2 GiB
		{name + "/cpu", "CPU s/GiB", true},
	}
}

// xferWorkload is the xfer workload of an MTU on a native or shared
// link.
func xferWorkload(mtu int, native bool) *workload {
	kind := "shared"
	if native {
		kind = "native"
	}
	name := fmt.Sprintf("xfer-%d-%s", mtu, kind)
	return &workload{
		name:    name,
		metrics: xferMetrics(name),
		run: func(ctx context.Context, k interop.Kind, sz sizes, _ int) ([]float64, error) {
			var p *interop.Pair
			var err error
			if native {
				p, err = interop.NewNativePair(k, mtu, interop.Config{})
			} else {
				p, _, err = newPair(k, interop.LinkConfig{MTU: mtu}, interop.Config{})
			}
			if err != nil {
				return nil, err
			}
			defer p.Close()
			return xferAll(ctx, p, sz.xfer, sz.xferBig)
		},
	}
}

// xferAll makes the transfers of one run on p, and returns the rows of
// xferMetrics.
func xferAll(ctx context.Context, p *interop.Pair, sizes [3]int64, big int64) ([]float64, error) {
	ln, err := p.B.Listen("tcp4", serverAddr(5002))
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	var out []float64
	for _, n := range sizes {
		d, err := xfer(ctx, p, ln, n)
		if err != nil {
			return nil, fmt.Errorf("%d bytes: %w", n, err)
		}
		out = append(out, float64(d.Microseconds())/1000)
	}
	cpu0 := cpuTime()
	d, err := xfer(ctx, p, ln, big)
	if err != nil {
		return nil, fmt.Errorf("%d bytes: %w", big, err)
	}
	cpu := cpuTime() - cpu0
	out = append(out, float64(big)*8/d.Seconds()/1e9, cpu.Seconds()/(float64(big)/(1<<30)))
	return out, nil
}

// xfer moves n bytes of xferPattern from p.A to ln on p.B on a new
// connection and returns the time from the Dial to the server's EOF.
func xfer(ctx context.Context, p *interop.Pair, ln interop.Listener, n int64) (time.Duration, error) {
	start := time.Now()
	c, s, err := interop.Dial(ctx, p.A, ln)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	defer s.Close()
	limit := start.Add(connTimeout + time.Duration(n/(10<<20))*time.Second) // at least 10 MiB/s
	c.SetDeadline(limit)
	s.SetDeadline(limit)
	wrote := make(chan error, 1)
	go func() { wrote <- xferWrite(c, n) }()
	got, err := xferRead(s)
	elapsed := time.Since(start)
	if err != nil {
		// The writer may be blocked on a window the server no longer
		// opens: closing its end wakes it now, not at the deadline, and
		// the read's error is the one that says what went wrong.
		c.Close()
		<-wrote
		return 0, fmt.Errorf("read after %d bytes: %w", got, err)
	}
	switch werr := <-wrote; {
	case werr != nil:
		return 0, fmt.Errorf("write: %w", werr)
	case got != n:
		return 0, fmt.Errorf("received %d bytes, want %d", got, n)
	}
	return elapsed, nil
}

// halfCloser is a connection that can shut down its sending side:
// interop.Conn, *net.TCPConn.
type halfCloser interface {
	io.Writer
	Close() error
	CloseWrite() error
}

// xferWrite writes n bytes of xferPattern to c in writes of up to 64 KiB
// and half-closes.
func xferWrite(c halfCloser, n int64) error {
	var off int64
	for off < n {
		at := int(off % int64(len(xferPattern)))
		k := min(int64(chunk), n-off, int64(len(xferPattern)-at))
		if _, err := c.Write(xferPattern[at : at+int(k)]); err != nil {
			c.Close()
			return err
		}
		off += k
	}
	return c.CloseWrite()
}

// errCorrupt says received data differs from what was sent.
var errCorrupt = errors.New("data differs from what was sent")

// xferRead reads c to EOF, comparing every byte with xferPattern at its
// offset in the stream, and returns how many bytes came.
func xferRead(c io.Reader) (int64, error) {
	buf := make([]byte, chunk)
	var off int64
	for {
		k, err := c.Read(buf)
		for got := buf[:k]; len(got) > 0; {
			at := int(off % int64(len(xferPattern)))
			m := min(len(got), len(xferPattern)-at)
			if !bytes.Equal(got[:m], xferPattern[at:at+m]) {
				return off, fmt.Errorf("at offset %d or after: %w", off, errCorrupt)
			}
			got, off = got[m:], off+int64(m)
		}
		if err == io.EOF {
			return off, nil
		}
		if err != nil {
			return off, err
		}
	}
}
