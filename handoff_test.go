package tcpwave

import (
	"bytes"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/link/pipe"
	"github.com/tcpwave/tcpwave/tcp"
)

// countingEnd is a pipe end that counts which of its ways in and out a
// host uses: the copying ones (WritePacket, WriteGSO, ReadPacket,
// PollPacket) or the ones that hand buffers over (SwapPacket, SwapGSO,
// NextPacket, PollNext).
type countingEnd struct {
	*pipe.End
	copies, swaps atomic.Int64
}

func (e *countingEnd) WritePacket(p []byte) error {
	e.copies.Add(1)
	return e.End.WritePacket(p)
}

func (e *countingEnd) WriteGSO(p []byte, size int) error {
	e.copies.Add(1)
	return e.End.WriteGSO(p, size)
}

func (e *countingEnd) ReadPacket(b []byte) (int, error) {
	e.copies.Add(1)
	return e.End.ReadPacket(b)
}

func (e *countingEnd) PollPacket(b []byte) (int, error) {
	e.copies.Add(1)
	return e.End.PollPacket(b)
}

func (e *countingEnd) SwapPacket(p []byte) ([]byte, error) {
	e.swaps.Add(1)
	return e.End.SwapPacket(p)
}

func (e *countingEnd) SwapGSO(p []byte, size int) ([]byte, error) {
	e.swaps.Add(1)
	return e.End.SwapGSO(p, size)
}

func (e *countingEnd) NextPacket() ([]byte, error) {
	e.swaps.Add(1)
	return e.End.NextPacket()
}

func (e *countingEnd) PollNext() ([]byte, error) {
	e.swaps.Add(1)
	return e.End.PollNext()
}

// TestPipeHandOff: on link/pipe, at a 1500-byte MTU, at 65535 and with
// segmentation offload, a host builds each packet in a buffer the link
// carries as it is and handles each arriving packet in the buffer it came
// in (the link copies nothing), and 4 MiB arrive intact.
func TestPipeHandOff(t *testing.T) {
	tests := []struct {
		name  string
		ends  func() (*pipe.End, *pipe.End)
		mss   uint16
		super bool // the sender's data goes as super-packets
	}{
		{"mtu1500", func() (*pipe.End, *pipe.End) { return pipe.NewEnds(1500, 0) }, 0, false},
		{"mtu65535", func() (*pipe.End, *pipe.End) { return pipe.NewEnds(65535, 0) }, 65495, false},
		{"offload", func() (*pipe.End, *pipe.End) { return pipe.NewOffload(1500, 65535, 0) }, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x, y := tt.ends()
			ea, eb := &countingEnd{End: x}, &countingEnd{End: y}
			var opts []Option
			if tt.mss != 0 {
				opts = append(opts, WithTCP(func(c *tcp.Config) { c.MSS = tt.mss }))
			}
			sa, sb := hostsOn(t, ea, eb, opts...)
			client, server := connPair(t, sa, sb)
			data := make([]byte, 4<<20)
			for i := range data {
				data[i] = byte(i*7 + i>>10)
			}
			transfer(t, client, server, data)
			for _, e := range []*countingEnd{ea, eb} {
				if c, s := e.copies.Load(), e.swaps.Load(); c != 0 || s == 0 {
					t.Errorf("%d copying calls and %d hand-overs on an end; want none and some", c, s)
				}
			}
			if sent, segs := eb.Stats().Sent, sb.Counters().OutSegs; tt.super && sent*4 > segs {
				t.Errorf("%d segments in %d packets: want over 4 a packet", segs, sent)
			}
		})
	}
}

// ownerEnd is a pipe end that checks that a host keeps the hand-over's
// word: once SwapPacket or SwapGSO has taken a packet's buffer, the host
// builds no packet in it until the link gives it back (as the next
// packet's buffer, once the far end has read it).
type ownerEnd struct {
	*pipe.End
	mu     sync.Mutex
	given  map[*byte]bool // the buffers the link holds, by their first byte
	reused int            // packets built in a buffer the link held
}

func (e *ownerEnd) swap(p []byte, send func([]byte) ([]byte, error)) ([]byte, error) {
	key := &p[:cap(p)][0]
	e.mu.Lock()
	if e.given[key] {
		e.reused++
	}
	e.mu.Unlock()
	next, err := send(p)
	e.mu.Lock()
	defer e.mu.Unlock()
	if back := &next[:1][0]; back != key {
		e.given[key] = true // the link kept it
		delete(e.given, back)
	}
	return next, err
}

func (e *ownerEnd) SwapPacket(p []byte) ([]byte, error) { return e.swap(p, e.End.SwapPacket) }

func (e *ownerEnd) SwapGSO(p []byte, size int) ([]byte, error) {
	return e.swap(p, func(p []byte) ([]byte, error) { return e.End.SwapGSO(p, size) })
}

// TestSwapBufferGivenUp: a host builds each packet in the buffer the
// link gave back, never in one the link still holds (queued, or lent to
// the far end's reader), with and without offload.
func TestSwapBufferGivenUp(t *testing.T) {
	for _, tt := range []struct {
		name string
		ends func() (*pipe.End, *pipe.End)
	}{
		{"mtu1500", func() (*pipe.End, *pipe.End) { return pipe.NewEnds(1500, 0) }},
		{"offload", func() (*pipe.End, *pipe.End) { return pipe.NewOffload(1500, 65535, 0) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			x, y := tt.ends()
			ea := &ownerEnd{End: x, given: map[*byte]bool{}}
			eb := &ownerEnd{End: y, given: map[*byte]bool{}}
			sa, sb := hostsOn(t, ea, eb)
			client, server := connPair(t, sa, sb)
			data := bytes.Repeat([]byte("given up"), 128<<10) // 1 MiB
			transfer(t, client, server, data)
			for _, e := range []*ownerEnd{ea, eb} {
				e.mu.Lock()
				if e.reused != 0 || len(e.given) == 0 {
					t.Errorf("%d packets built in a buffer the link held (%d held now); want none (and some held)", e.reused, len(e.given))
				}
				e.mu.Unlock()
			}
		})
	}
}

// TestReaderFirst: a call about to take the host's lock while the reader
// waits for it yields to the reader first, but only readerFirst times:
// a reader that kept waiting (here, a flag left set) delays the call, it
// never blocks it. With no reader waiting, the call does not yield.
func TestReaderFirst(t *testing.T) {
	tests := []struct {
		name    string
		waiting bool
		want    uint64
	}{
		{"reader waiting", true, readerFirst},
		{"reader not waiting", false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, _ := hosts(t)
			a.readerWaits.Store(tt.waiting)
			y0 := a.yields.Load()
			done := make(chan error, 1)
			go func() { done <- a.run(func() {}) }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the call still waits for the lock after 10 s")
			}
			a.readerWaits.Store(false)
			// The host's own goroutines (timers) may take the lock in
			// the meantime and yield too: with the flag set the count is
			// at least readerFirst, and the call's return shows it was
			// bounded; with it clear, nobody yields.
			got := a.yields.Load() - y0
			if tt.waiting && got < tt.want || !tt.waiting && got != 0 {
				t.Errorf("the calls yielded %d times, want %d", got, tt.want)
			}
		})
	}
}
