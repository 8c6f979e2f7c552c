package interop

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/tcpwave/tcpwave"
	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/stack"
	"github.com/tcpwave/tcpwave/tcp"
	"github.com/tcpwave/tcpwave/wire"
)

// recorder is a tcpwave observer that counts packets dropped for a bad
// checksum and records every state change with its reason.
type recorder struct {
	mu           sync.Mutex
	badChecksums int
	changes      []string
}

func (r *recorder) PacketSent(clock.Instant, []byte)     {}
func (r *recorder) PacketReceived(clock.Instant, []byte) {}

func (r *recorder) PacketDropped(_ clock.Instant, _ []byte, err error) {
	if errors.Is(err, wire.ErrBadChecksum) {
		r.mu.Lock()
		r.badChecksums++
		r.mu.Unlock()
	}
}

func (r *recorder) StateChanged(_ clock.Instant, _ stack.Tuple, from, to tcp.State, why string) {
	r.mu.Lock()
	r.changes = append(r.changes, fmt.Sprintf("%v -> %v: %s", from, to, why))
	r.mu.Unlock()
}

func (r *recorder) checksumDrops() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.badChecksums
}

// TestChecksumsVerified corrupts data segments on the wire, in each
// direction, and checks that the receiving stack drops each of them for
// its checksum (tcpwave reports wire.ErrBadChecksum to its observer;
// gVisor counts TCP.ChecksumErrors) and that the sender's retransmission
// repairs the stream: both stacks compute and verify checksums
// themselves.
func TestChecksumsVerified(t *testing.T) {
	const corrupt = 3
	for _, k := range mixed {
		t.Run(string(k.client)+"-sends-to-"+string(k.server), func(t *testing.T) {
			t.Parallel()
			rec := new(recorder)
			e := newEnv(t, k.client, k.server, Config{TCPWave: []tcpwave.Option{tcpwave.WithObserver(rec)}})
			c, s := e.connect(t, "tcp4")
			deadline(c, s)
			e.cport.CorruptNext(corrupt)
			var wg sync.WaitGroup
			// Less than a receive buffer, so that this test does not trip
			// over TestTCPWaveWindowWithinBuffer's bug.
			const size = 192 << 10
			wg.Go(func() { exchange(t, "client", c, size, 7, 0, 0) })
			wg.Go(func() { exchange(t, "server", s, 0, 0, size, 7) })
			wg.Wait()
			if n := e.cport.Stats().Corrupts; n != corrupt {
				t.Fatalf("%d packets corrupted, want %d", n, corrupt)
			}
			var dropped int
			switch h := e.server.(type) {
			case *TCPWaveHost:
				dropped = rec.checksumDrops()
			case *GVisorHost:
				dropped = int(h.Stack.Stats().TCP.ChecksumErrors.Value())
			}
			t.Logf("%s dropped %d segments for their checksum", k.server, dropped)
			if dropped != corrupt {
				t.Errorf("%s dropped %d segments for their checksum, want %d", k.server, dropped, corrupt)
			}
		})
	}
}
