package tcpwave

import (
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/stack"
	"github.com/tcpwave/tcpwave/tcp"
)

// TestBulk sends 16 MiB each way at once, checks SHA-256 digests at both
// ends, and closes cleanly: each side half-closes, reads the peer's EOF,
// and closes; the side that closed first holds TIME_WAIT.
func TestBulk(t *testing.T) {
	const size = 16 << 20
	var tooBig mtuCheck
	a, b := hosts(t, WithObserver(&tooBig))
	client, server := connPair(t, a, b)
	deadline := time.Now().Add(2 * time.Minute)
	client.SetDeadline(deadline)
	server.SetDeadline(deadline)

	// send writes size pseudo-random bytes in uneven chunks, then
	// half-closes; it returns the digest of what it sent.
	send := func(c *Conn, seed uint64) ([32]byte, error) {
		r := rand.New(rand.NewPCG(seed, seed))
		h := sha256.New()
		buf := make([]byte, 100_000)
		for sent := 0; sent < size; {
			n := min(1+r.IntN(len(buf)), size-sent)
			for i := range buf[:n] {
				buf[i] = byte(r.Uint32())
			}
			h.Write(buf[:n])
			if _, err := c.Write(buf[:n]); err != nil {
				return [32]byte{}, err
			}
			sent += n
		}
		return [32]byte(h.Sum(nil)), c.CloseWrite()
	}
	// recv reads until EOF and returns the digest and count.
	recv := func(c *Conn) ([32]byte, int64, error) {
		h := sha256.New()
		n, err := io.CopyBuffer(h, c, make([]byte, 50_000))
		return [32]byte(h.Sum(nil)), n, err
	}

	type result struct {
		sum [32]byte
		n   int64
		err error
	}
	var wg sync.WaitGroup
	var sentC, sentS, gotC, gotS result
	wg.Go(func() { sentC.sum, sentC.err = send(client, 1) })
	wg.Go(func() { sentS.sum, sentS.err = send(server, 2) })
	wg.Go(func() { gotS.sum, gotS.n, gotS.err = recv(server) })
	wg.Go(func() { gotC.sum, gotC.n, gotC.err = recv(client) })
	wg.Wait()
	for _, r := range []result{sentC, sentS, gotC, gotS} {
		if r.err != nil {
			t.Fatal(r.err)
		}
	}
	if gotS.n != size || gotS.sum != sentC.sum {
		t.Errorf("client to server: %d bytes, digest match %v", gotS.n, gotS.sum == sentC.sum)
	}
	if gotC.n != size || gotC.sum != sentS.sum {
		t.Errorf("server to client: %d bytes, digest match %v", gotC.n, gotC.sum == sentS.sum)
	}
	if err := client.Close(); err != nil {
		t.Error(err)
	}
	if err := server.Close(); err != nil {
		t.Error(err)
	}
	// Both FINs were exchanged: whoever's FIN went first holds TIME_WAIT
	// (both may, after a simultaneous close); nothing else is left.
	waitFor(t, func() bool {
		for _, s := range append(states(a), states(b)...) {
			if s != "TIME-WAIT" {
				return false
			}
		}
		return true
	})
	if n := tooBig.n.Load(); n > 0 {
		t.Errorf("%d packets larger than the MTU", n)
	}
	ca, cb := a.Counters(), b.Counters()
	t.Logf("A: %+v", ca)
	t.Logf("B: %+v", cb)
	if ca.OutRsts+cb.OutRsts != 0 || ca.EstabResets+cb.EstabResets != 0 {
		t.Errorf("resets in a clean transfer: A %+v, B %+v", ca, cb)
	}
}

// mtuCheck counts packets sent that are larger than 1500 bytes.
type mtuCheck struct{ n atomic.Int64 }

func (m *mtuCheck) PacketSent(now clock.Instant, pkt []byte) {
	if len(pkt) > 1500 {
		m.n.Add(1)
	}
}
func (m *mtuCheck) PacketReceived(clock.Instant, []byte)                                  {}
func (m *mtuCheck) PacketDropped(clock.Instant, []byte, error)                            {}
func (m *mtuCheck) StateChanged(clock.Instant, stack.Tuple, tcp.State, tcp.State, string) {}
