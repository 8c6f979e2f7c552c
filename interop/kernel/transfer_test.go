//go:build linux

package kernel_test

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"
)

// tcpConn is what tcpwave's Conn and the kernel's net.TCPConn have in
// common.
type tcpConn interface {
	net.Conn
	CloseWrite() error
	CloseRead() error
}

// side is one end of a connection.
type side int

const (
	stackSide  side = iota // tcpwave
	kernelSide             // the Linux kernel
)

func (s side) String() string {
	if s == stackSide {
		return "tcpwave"
	}
	return "kernel"
}

// end returns the connection's end on side s.
func (p *conns) end(s side) tcpConn {
	if s == stackSide {
		return p.stack
	}
	return p.kernel
}

// sendStream writes size bytes of the pseudo-random stream seed gives to
// w, in chunks of uneven sizes, and returns the stream's SHA-256.
func sendStream(w io.Writer, size int64, seed uint64) ([32]byte, error) {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	src := rand.NewChaCha8(key)
	sizes := rand.New(rand.NewPCG(seed, ^seed))
	h := sha256.New()
	buf := make([]byte, 256<<10)
	for sent := int64(0); sent < size; {
		n := int(min(int64(1+sizes.IntN(len(buf))), size-sent))
		src.Read(buf[:n])
		h.Write(buf[:n])
		if _, err := w.Write(buf[:n]); err != nil {
			return [32]byte{}, fmt.Errorf("after %d bytes: %w", sent, err)
		}
		sent += int64(n)
	}
	return [32]byte(h.Sum(nil)), nil
}

// recvStream reads r to EOF and returns the SHA-256 and length of what
// it read.
func recvStream(r io.Reader) ([32]byte, int64, error) {
	h := sha256.New()
	n, err := io.CopyBuffer(h, r, make([]byte, 128<<10))
	return [32]byte(h.Sum(nil)), n, err
}

// flow is one direction's data: its size and the digests at both ends.
type flow struct {
	from      side
	size      int64
	sent, got [32]byte
	n         int64
}

// transfer sends toSecond bytes from first's end of p to the other end
// and toFirst bytes back, at the same time, and closes the connection
// cleanly, first's side first:
//   - first writes its data and half-closes (its FIN follows the data),
//     and reads until EOF;
//   - the other side reads until EOF and writes its own data, then closes;
//   - first closes once it has read the other's EOF.
//
// So first's FIN is always the first, and first ends in TIME_WAIT. Every
// call is bounded by deadline. transfer fails the test unless every byte
// arrived with the digest it was sent with, and returns both flows.
func transfer(t *testing.T, p *conns, first side, toSecond, toFirst int64, deadline time.Time) [2]flow {
	t.Helper()
	a, b := p.end(first), p.end(1-first)
	a.SetDeadline(deadline)
	b.SetDeadline(deadline)
	flows := [2]flow{{from: first, size: toSecond}, {from: 1 - first, size: toFirst}}
	errs := make([]error, 4)
	start := time.Now()
	var wg sync.WaitGroup
	var aRead, bDone sync.WaitGroup
	aRead.Add(1)
	bDone.Add(2)
	wg.Go(func() { // first: write, then half-close
		f := &flows[0]
		var err error
		if f.sent, err = sendStream(a, f.size, uint64(f.size)^uint64(f.from)); err != nil {
			errs[0] = fmt.Errorf("%v write: %w", f.from, err)
			return
		}
		if err := a.CloseWrite(); err != nil {
			errs[0] = fmt.Errorf("%v CloseWrite: %w", f.from, err)
			return
		}
		aRead.Wait()
		if err := a.Close(); err != nil {
			errs[0] = fmt.Errorf("%v Close: %w", f.from, err)
		}
	})
	wg.Go(func() { // first: read to EOF
		defer aRead.Done()
		f := &flows[1]
		var err error
		if f.got, f.n, err = recvStream(a); err != nil {
			errs[1] = fmt.Errorf("%v read: %w", first, err)
		}
	})
	wg.Go(func() { // second: write
		defer bDone.Done()
		f := &flows[1]
		var err error
		if f.sent, err = sendStream(b, f.size, uint64(f.size)^uint64(f.from)); err != nil {
			errs[2] = fmt.Errorf("%v write: %w", f.from, err)
		}
	})
	wg.Go(func() { // second: read to EOF, then close once written
		defer bDone.Done()
		f := &flows[0]
		var err error
		if f.got, f.n, err = recvStream(b); err != nil {
			errs[3] = fmt.Errorf("%v read: %w", 1-first, err)
		}
	})
	bDone.Wait()
	errB := b.Close()
	wg.Wait()
	elapsed := time.Since(start)
	if err := errors.Join(append(errs, errB)...); err != nil {
		t.Fatal(err)
	}
	for _, f := range flows {
		if f.n != f.size || f.got != f.sent {
			t.Errorf("%v to %v: %d bytes of %d arrived; SHA-256 %x, sent %x", f.from, 1-f.from, f.n, f.size, f.got, f.sent)
			continue
		}
		t.Logf("%v to %v: %d MiB in %v (%.0f Mbit/s), SHA-256 %x...", f.from, 1-f.from, f.size>>20,
			elapsed.Round(time.Millisecond), float64(f.size)*8/elapsed.Seconds()/1e6, f.got[:8])
	}
	if t.Failed() {
		t.FailNow()
	}
	return flows
}
