package scenario

import (
	"crypto/sha256"
	"errors"
	"hash"
	"io"
	"math/rand/v2"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/sim"
	"github.com/tcpwave/tcpwave/stack"
)

// pump is one side of a bulk transfer: it writes size bytes from a seeded
// PRNG, reads everything the peer sends, and shuts down its write side when
// done; it closes once the peer's EOF has arrived.
type pump struct {
	t        *testing.T
	so       *stack.Socket
	src      *rand.ChaCha8
	left     int
	pending  []byte
	sent     hash.Hash
	recv     hash.Hash
	got      int
	eof      bool
	shut     bool
	closed   bool
	wbuf     []byte
	rbuf     []byte
	finished func()
}

func newPump(t *testing.T, so *stack.Socket, seed byte, size int) *pump {
	var key [32]byte
	key[0] = seed
	return &pump{t: t, so: so, src: rand.NewChaCha8(key), left: size, sent: sha256.New(), recv: sha256.New(),
		wbuf: make([]byte, 64<<10), rbuf: make([]byte, 64<<10)}
}

func (p *pump) step(h *sim.Host) {
	now := h.Now()
	for !p.shut {
		if len(p.pending) == 0 {
			if p.left == 0 {
				if err := p.so.Shutdown(now, stack.ShutWR); err != nil {
					p.t.Errorf("%s shutdown: %v", h.Name, err)
				}
				p.shut = true
				break
			}
			n := min(p.left, len(p.wbuf))
			p.src.Read(p.wbuf[:n])
			p.sent.Write(p.wbuf[:n])
			p.pending = p.wbuf[:n]
			p.left -= n
		}
		n, err := p.so.Write(now, p.pending)
		p.pending = p.pending[n:]
		if errors.Is(err, syscall.EAGAIN) {
			break
		}
		if err != nil {
			p.t.Errorf("%s write: %v", h.Name, err)
			return
		}
	}
	for !p.eof {
		n, err := p.so.Read(now, p.rbuf)
		p.recv.Write(p.rbuf[:n])
		p.got += n
		if errors.Is(err, syscall.EAGAIN) {
			break
		}
		if err == io.EOF {
			p.eof = true
			break
		}
		if err != nil {
			p.t.Errorf("%s read: %v", h.Name, err)
			return
		}
	}
	if p.eof && p.shut && !p.closed {
		p.closed = true
		p.so.Close(now)
		if p.finished != nil {
			p.finished()
		}
	}
}

// TestBulkLossyBothWays moves 64 MiB each way over a network that loses 5%,
// duplicates 2% and reorders 2% of packets, checks SHA-256 at both ends,
// and closes cleanly: both sides reach CLOSED or TIME_WAIT and, after the
// last timer, nothing is left.
func TestBulkLossyBothWays(t *testing.T) {
	const size = 64 << 20
	n, err := sim.New(42, sim.LinkConfig{Delay: 5 * time.Millisecond, Jitter: time.Millisecond,
		Bandwidth: 1e9, Loss: 0.05, Dup: 0.02, Reorder: 0.02}, nil)
	if err != nil {
		t.Fatal(err)
	}
	opts := stack.DefaultOptions()
	opts.TCP.RcvBuf, opts.TCP.SndBuf = 1<<20, 1<<20
	a, _ := n.AddHost("A", AddrA, opts)
	b, _ := n.AddHost("B", AddrB, opts)

	l := b.Stack.NewSocket()
	if err := l.Bind(netip.AddrPortFrom(AddrB, Port)); err != nil {
		t.Fatal(err)
	}
	if err := l.Listen(n.Now(), 8); err != nil {
		t.Fatal(err)
	}
	var pa, pb *pump
	done := 0
	var finishedAt clock.Instant
	c := a.Stack.NewSocket()
	if err := c.Connect(0, netip.AddrPortFrom(AddrB, Port)); err != nil {
		t.Fatal(err)
	}
	pa = newPump(t, c, 1, size)
	pa.finished = func() { done++; finishedAt = a.Now() }
	a.OnReady = func(so *stack.Socket) {
		if so == c && c.Connected() {
			pa.step(a)
		}
	}
	b.OnReady = func(so *stack.Socket) {
		switch {
		case so == l && l.Acceptable() && pb == nil:
			s, err := l.Accept()
			if err != nil {
				t.Fatal(err)
			}
			pb = newPump(t, s, 2, size)
			pb.finished = func() { done++; finishedAt = max(finishedAt, b.Now()); l.Close(b.Now()) }
			pb.step(b)
		case pb != nil && so == pb.so:
			pb.step(b)
		}
	}
	start := time.Now()
	if err := n.RunUntil(3600 * 1e9); err != nil {
		t.Fatal(err)
	}
	if pb == nil || done != 2 {
		t.Fatalf("transfer did not finish by %v (A got %d, B got %d bytes)", n.Now(), pa.got, pbGot(pb))
	}
	if pa.got != size || pb.got != size {
		t.Fatalf("A received %d, B received %d bytes, want %d each", pa.got, pb.got, size)
	}
	if string(pa.sent.Sum(nil)) != string(pb.recv.Sum(nil)) || string(pb.sent.Sum(nil)) != string(pa.recv.Sum(nil)) {
		t.Fatal("SHA-256 mismatch")
	}
	for _, h := range []*sim.Host{a, b} {
		if rows := h.Stack.Connections(n.Now()); len(rows) != 0 {
			t.Fatalf("host %s still holds %v after the last timer", h.Name, rows)
		}
	}
	ca, cb := a.Stack.Counters(), b.Stack.Counters()
	if ca.RetransSegs == 0 || cb.RetransSegs == 0 {
		t.Fatalf("no retransmissions under 5%% loss? A %d, B %d", ca.RetransSegs, cb.RetransSegs)
	}
	t.Logf("64 MiB each way: virtual %v, wall %v, retransmitted A %d B %d, segments out A %d B %d",
		finishedAt, time.Since(start).Round(time.Millisecond), ca.RetransSegs, cb.RetransSegs, ca.OutSegs, cb.OutSegs)
}

func pbGot(p *pump) int {
	if p == nil {
		return 0
	}
	return p.got
}
