package pipe

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"
)

func TestCopiesAndOrder(t *testing.T) {
	a, b := NewEnds(1500, 8)
	pkt := []byte("hello")
	if err := a.WritePacket(pkt); err != nil {
		t.Fatal(err)
	}
	pkt[0] = 'J' // the link holds its own copy
	if err := a.WritePacket([]byte("second")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	for _, want := range []string{"hello", "second"} {
		n, err := b.ReadPacket(buf)
		if err != nil || string(buf[:n]) != want {
			t.Fatalf("ReadPacket = %q, %v; want %q", buf[:n], err, want)
		}
	}
	if s := a.Stats(); s.Sent != 2 || s.Dropped != 0 {
		t.Errorf("a.Stats() = %+v", s)
	}
	if s := b.Stats(); s.Received != 2 {
		t.Errorf("b.Stats() = %+v", s)
	}
}

func TestQueueFullDrops(t *testing.T) {
	a, b := NewEnds(100, 4)
	for i := range 10 {
		if err := a.WritePacket([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if s := a.Stats(); s.Sent != 4 || s.Dropped != 6 {
		t.Fatalf("Stats = %+v, want 4 sent and 6 dropped", s)
	}
	buf := make([]byte, 100)
	for i := range 4 {
		n, err := b.ReadPacket(buf)
		if err != nil || n != 1 || buf[0] != byte(i) {
			t.Fatalf("packet %d: %v %v", i, buf[:n], err)
		}
	}
}

func TestErrors(t *testing.T) {
	a, b := NewEnds(100, 4)
	if a.MTU() != 100 {
		t.Errorf("MTU = %d", a.MTU())
	}
	if err := a.WritePacket(make([]byte, 101)); err == nil {
		t.Error("WritePacket of 101 bytes on a 100-byte MTU succeeded")
	}
	a.WritePacket(make([]byte, 50))
	n, err := b.ReadPacket(make([]byte, 10))
	if err == nil || n != 10 {
		t.Errorf("short ReadPacket = %d, %v; want 10 and an error", n, err)
	}
	done := make(chan error)
	go func() {
		_, err := b.ReadPacket(make([]byte, 100))
		done <- err
	}()
	time.Sleep(10 * time.Millisecond)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("ReadPacket after Close = %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ReadPacket did not return after Close")
	}
	if err := b.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Close = %v", err)
	}
	if err := b.WritePacket([]byte{1}); !errors.Is(err, net.ErrClosed) {
		t.Errorf("WritePacket after Close = %v", err)
	}
	// a's peer is gone: its packets are dropped, not refused.
	if err := a.WritePacket([]byte{1}); err != nil {
		t.Errorf("WritePacket to a closed peer = %v", err)
	}
	if s := a.Stats(); s.Dropped != 1 {
		t.Errorf("Dropped = %d, want 1", s.Dropped)
	}
}

func TestConcurrent(t *testing.T) {
	a, b := New(1500, 64)
	const writers, each = 4, 500
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			p := bytes.Repeat([]byte{byte(w)}, 1000)
			for range each {
				for {
					before := a.(*End).Stats().Dropped
					if err := a.WritePacket(p); err != nil {
						t.Error(err)
						return
					}
					if a.(*End).Stats().Dropped == before {
						break
					}
					time.Sleep(time.Microsecond) // dropped (maybe ours): back off
				}
			}
		})
	}
	got := 0
	buf := make([]byte, 1500)
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		for {
			n, err := b.ReadPacket(buf)
			if err != nil {
				return
			}
			if n != 1000 || !bytes.Equal(buf[:n], bytes.Repeat(buf[:1], 1000)) {
				t.Errorf("corrupt packet")
			}
			got++
		}
	}()
	wg.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for b.(*End).Stats().Received < a.(*End).Stats().Sent && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	b.Close()
	<-readDone
	if s := a.(*End).Stats(); uint64(got) != s.Sent || s.Sent < writers*each {
		t.Errorf("read %d packets, stats %+v", got, s)
	}
}

func TestOffload(t *testing.T) {
	a, b := NewOffload(1500, 65535, 8)
	if a.GSOMaxSize() != 65535 || b.GSOMaxSize() != 65535 {
		t.Fatalf("GSOMaxSize = %d, %d; want 65535", a.GSOMaxSize(), b.GSOMaxSize())
	}
	big := bytes.Repeat([]byte{7}, 40_000)
	if err := a.WritePacket(big); !errors.Is(err, errTooLong) {
		t.Errorf("WritePacket of 40,000 bytes: %v, want the MTU error", err)
	}
	if err := a.WriteGSO(big, 0); err == nil {
		t.Errorf("WriteGSO with segment size 0: no error")
	}
	if err := a.WriteGSO(make([]byte, 65536), 1448); !errors.Is(err, errTooLong) {
		t.Errorf("WriteGSO of 65,536 bytes: %v, want too long", err)
	}
	if err := a.WriteGSO(big, 1448); err != nil {
		t.Fatalf("WriteGSO: %v", err)
	}
	buf := make([]byte, 65535)
	n, err := b.ReadPacket(buf)
	if err != nil || !bytes.Equal(buf[:n], big) {
		t.Fatalf("ReadPacket = %d bytes, %v; want the 40,000-byte super-packet whole", n, err)
	}
	plain, _ := NewEnds(1500, 8)
	if plain.GSOMaxSize() != 0 {
		t.Errorf("a plain pipe offers GSO %d", plain.GSOMaxSize())
	}
	if err := plain.WriteGSO(big, 1448); !errors.Is(err, errTooLong) {
		t.Errorf("WriteGSO on a plain pipe: %v, want the MTU error", err)
	}
}

func TestPollPacket(t *testing.T) {
	a, b := NewEnds(1500, 8)
	buf := make([]byte, 1500)
	if n, err := b.PollPacket(buf); n != 0 || err != nil {
		t.Fatalf("PollPacket on an empty queue = %d, %v; want 0, nil", n, err)
	}
	a.WritePacket([]byte("one"))
	a.WritePacket([]byte("two"))
	for _, want := range []string{"one", "two"} {
		n, err := b.PollPacket(buf)
		if err != nil || string(buf[:n]) != want {
			t.Fatalf("PollPacket = %q, %v; want %q", buf[:n], err, want)
		}
	}
	if n, err := b.PollPacket(buf); n != 0 || err != nil {
		t.Fatalf("PollPacket after the queue emptied = %d, %v; want 0, nil", n, err)
	}
	if s := b.Stats(); s.Received != 2 {
		t.Errorf("b.Stats() = %+v, want 2 received", s)
	}
	a.WritePacket([]byte("longer than four"))
	if n, err := b.PollPacket(buf[:4]); n != 4 || !errors.Is(err, errShortBuffer) {
		t.Errorf("PollPacket into a short buffer = %d, %v; want 4, %v", n, err, errShortBuffer)
	}
	b.Close()
	if _, err := b.PollPacket(buf); !errors.Is(err, net.ErrClosed) {
		t.Errorf("PollPacket after Close = %v, want net.ErrClosed", err)
	}
}

// BenchmarkPingPong bounces a 60-byte packet between two goroutines, one
// per end, as a request and its answer cross a link: an op is a round
// trip, two packets and two wake-ups.
func BenchmarkPingPong(b *testing.B) {
	x, y := NewEnds(1500, 0)
	defer x.Close()
	defer y.Close()
	go func() {
		buf := make([]byte, 1500)
		for {
			n, err := y.ReadPacket(buf)
			if err != nil {
				return
			}
			y.WritePacket(buf[:n])
		}
	}()
	pkt := make([]byte, 60)
	buf := make([]byte, 1500)
	b.ReportAllocs()
	for b.Loop() {
		x.WritePacket(pkt)
		if _, err := x.ReadPacket(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStream sends 1500-byte packets one way to a reader that takes
// them in batches (ReadPacket, then PollPacket until empty); an op is a
// packet.
func BenchmarkStream(b *testing.B) {
	x, y := NewEnds(1500, 0)
	defer x.Close()
	got := make(chan int)
	go func() {
		buf := make([]byte, 1500)
		n := 0
		for {
			if _, err := y.ReadPacket(buf); err != nil {
				got <- n
				return
			}
			n++
			for {
				k, err := y.PollPacket(buf)
				if k == 0 || err != nil {
					break
				}
				n++
			}
		}
	}()
	pkt := make([]byte, 1500)
	b.SetBytes(1500)
	b.ReportAllocs()
	for b.Loop() {
		for x.WritePacket(pkt); x.Stats().Dropped > 0; x.dropped.Store(0) {
			time.Sleep(time.Microsecond) // the queue is full: let the reader catch up
			x.WritePacket(pkt)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for y.Stats().Received < x.Stats().Sent && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	y.Close()
	if n := <-got; uint64(n) != x.Stats().Sent {
		b.Fatalf("read %d packets of %d sent", n, x.Stats().Sent)
	}
}

// TestSwapAndLend: SwapPacket queues the caller's own buffer and gives a
// free one back; NextPacket hands the reader that same buffer, and the
// next read returns it to the free list, from which a later SwapPacket
// gives it out again. Nothing is copied on the way.
func TestSwapAndLend(t *testing.T) {
	a, b := NewEnds(1500, 8)
	if a.BufferSize() != 1500 {
		t.Fatalf("BufferSize = %d, want 1500", a.BufferSize())
	}
	mine := make([]byte, 1500)
	copy(mine, "hello")
	next, err := a.SwapPacket(mine[:5])
	if err != nil {
		t.Fatal(err)
	}
	if len(next) != 1500 || &next[0] == &mine[0] {
		t.Fatalf("SwapPacket gave back %d bytes (the caller's own: %v); want a free buffer of 1500", len(next), &next[0] == &mine[0])
	}
	p, err := b.NextPacket()
	if err != nil || string(p) != "hello" {
		t.Fatalf("NextPacket = %q, %v; want hello", p, err)
	}
	if &p[0] != &mine[0] {
		t.Error("NextPacket copied the packet; want the buffer it was sent in")
	}
	if p, err := b.PollNext(); p != nil || err != nil {
		t.Fatalf("PollNext on an empty queue = %q, %v; want nil, nil", p, err)
	}
	// The read above took mine back: it is the next free buffer.
	copy(next, "again")
	again, err := a.SwapPacket(next[:5])
	if err != nil {
		t.Fatal(err)
	}
	if &again[0] != &mine[0] {
		t.Error("SwapPacket did not give out the buffer the reader returned")
	}
	if p, err := b.PollNext(); string(p) != "again" || err != nil || &p[0] != &next[0] {
		t.Fatalf("PollNext = %q, %v; want again, in the buffer it was sent in", p, err)
	}
	if s := a.Stats(); s.Sent != 2 || s.Dropped != 0 {
		t.Errorf("a.Stats() = %+v, want 2 sent", s)
	}
	if s := b.Stats(); s.Received != 2 {
		t.Errorf("b.Stats() = %+v, want 2 received", s)
	}
}

// TestSwapKeepsOwnBuffer: when the link does not keep the packet's
// buffer (a full queue, a closed peer, an error, a buffer too short to
// keep) SwapPacket gives the caller's own back, whole.
func TestSwapKeepsOwnBuffer(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(a, b *End)
		size    int // the caller's buffer
		n       int // the packet's length
		wantErr error
		sent    uint64
		dropped uint64
	}{
		{name: "full queue", setup: func(a, b *End) {
			a.WritePacket([]byte{1})
			a.WritePacket([]byte{2})
		}, size: 100, n: 10, sent: 2, dropped: 1},
		{name: "peer closed", setup: func(a, b *End) { b.Close() }, size: 100, n: 10, dropped: 1},
		{name: "closed", setup: func(a, b *End) { a.Close() }, size: 100, n: 10, wantErr: net.ErrClosed},
		{name: "too long", size: 200, n: 101, wantErr: errTooLong},
		{name: "short buffer copied", size: 50, n: 10, sent: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := NewEnds(100, 2)
			if tt.setup != nil {
				tt.setup(a, b)
			}
			mine := make([]byte, tt.size)
			got, err := a.SwapPacket(mine[:tt.n])
			if !errors.Is(err, tt.wantErr) || (err != nil) != (tt.wantErr != nil) {
				t.Fatalf("SwapPacket = %v, want %v", err, tt.wantErr)
			}
			if len(got) != tt.size || &got[0] != &mine[0] {
				t.Errorf("SwapPacket gave back %d bytes (own: %v); want the caller's %d", len(got), &got[0] == &mine[0], tt.size)
			}
			if s := a.Stats(); s.Sent != tt.sent || s.Dropped != tt.dropped {
				t.Errorf("Stats = %+v, want %d sent and %d dropped", s, tt.sent, tt.dropped)
			}
		})
	}
	// The short buffer's packet went as a copy.
	a, b := NewEnds(100, 2)
	mine := []byte("short")
	a.SwapPacket(mine)
	mine[0] = 'X'
	if p, err := b.NextPacket(); string(p) != "short" || err != nil {
		t.Errorf("NextPacket = %q, %v; want short, copied when sent", p, err)
	}
}

// TestSwapGSO: a super-packet swaps like a packet on an offload link, up
// to the largest super-packet; the segment size must be positive.
func TestSwapGSO(t *testing.T) {
	a, b := NewOffload(1500, 65535, 4)
	if a.BufferSize() != 65535 {
		t.Fatalf("BufferSize = %d, want 65535", a.BufferSize())
	}
	buf := make([]byte, 65535)
	next, err := a.SwapGSO(buf[:60000], 1448)
	if err != nil || len(next) != 65535 {
		t.Fatalf("SwapGSO = %d bytes, %v; want a free buffer of 65535", len(next), err)
	}
	if p, err := b.NextPacket(); len(p) != 60000 || err != nil || &p[0] != &buf[0] {
		t.Fatalf("NextPacket = %d bytes, %v; want 60000 in the buffer sent", len(p), err)
	}
	if got, err := a.SwapGSO(next[:100], 0); err == nil || &got[0] != &next[0] {
		t.Errorf("SwapGSO with segment size 0 = %v; want an error and the caller's buffer back", err)
	}
	if _, err := a.SwapPacket(next[:1501]); !errors.Is(err, errTooLong) {
		t.Errorf("SwapPacket over the MTU = %v, want %v", err, errTooLong)
	}
}

// TestLendClosed: NextPacket and PollNext fail after Close, and a
// NextPacket waiting when the end closes returns.
func TestLendClosed(t *testing.T) {
	_, b := NewEnds(100, 2)
	done := make(chan error)
	go func() {
		_, err := b.NextPacket()
		done <- err
	}()
	time.Sleep(10 * time.Millisecond)
	b.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("NextPacket when closed = %v, want net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("NextPacket did not return after Close")
	}
	if _, err := b.PollNext(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("PollNext after Close = %v, want net.ErrClosed", err)
	}
	if _, err := b.NextPacket(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("NextPacket after Close = %v, want net.ErrClosed", err)
	}
}

// TestSwapLendConcurrent streams packets one way with SwapPacket and
// NextPacket/PollNext, each packet filled with its own number: a buffer
// given out again while lent (or queued) would show another number, and
// a data race under -race.
func TestSwapLendConcurrent(t *testing.T) {
	const n = 20000
	a, b := NewEnds(1500, 16)
	got := make(chan error, 1)
	go func() {
		want := byte(0)
		for k := 0; k < n; {
			p, err := b.NextPacket()
			for err == nil && p != nil {
				for _, c := range p {
					if c != want {
						got <- fmt.Errorf("packet %d holds %d", k, c)
						return
					}
				}
				want++
				k++
				p, err = b.PollNext()
			}
			if err != nil {
				got <- err
				return
			}
		}
		got <- nil
	}()
	buf := make([]byte, 1500)
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; i < n; {
		select {
		case err := <-got:
			t.Fatalf("reader stopped after %d packets sent: %v", i, err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d packets sent in 30 s", i)
		}
		pkt := buf[:100+i%1400]
		for j := range pkt {
			pkt[j] = byte(i)
		}
		next, err := a.SwapPacket(pkt)
		if err != nil {
			t.Fatal(err)
		}
		if s := a.Stats(); s.Sent == uint64(i+1) {
			i++
		} else {
			time.Sleep(10 * time.Microsecond) // a full queue: send it again
		}
		buf = next
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("reader stuck")
	}
}
