package interop

import (
	"fmt"
	"io"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave"
	"github.com/tcpwave/tcpwave/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// TestTCPWaveReceiveBufferNotOverrun checks that data a peer sends
// inside the window tcpwave offers never overwrites unread data. gVisor
// sends 2 MiB to a tcpwave connection whose application does not read
// until the transfer stalls; gVisor fills every window it is offered to
// the byte, with 1420-byte segments, which are not a multiple of the
// window scale unit (128 bytes). tcpwave must then hold at most RcvBuf
// plus one scale unit of unread data (the invariant its own
// TestWindowEdgeNeverShrinks states, and the capacity of its receive
// ring), and the bytes read afterwards must be the bytes sent. The log
// shows the right edge each ACK offered.
//
// It fails on tcpwave as of this writing: tcp.(*Conn).advertise keeps
// the old right edge and rounds the window up to the scale unit again
// from each new RCV.NXT, so the edge creeps right by up to 127 bytes per
// ACK (262144, 262264, 262376, ... 262621 bytes beyond the first unread
// byte); checkSeq trims arriving data only to that edge, and
// queueData's ring.writeAt then wraps past the ring's capacity (RcvBuf +
// 128) onto unread bytes, which the application later reads as data.
func TestTCPWaveReceiveBufferNotOverrun(t *testing.T) {
	const size = 2 << 20
	rcvBuf := tcp.DefaultConfig().RcvBuf
	unit := 1 << tcp.DefaultConfig().WScale
	e := newEnv(t, TCPWave, GVisor, Config{})
	e.cport.Capture()
	c, s := e.connect(t, "tcp4")
	deadline(c, s)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := send(s, size, 3); err != nil {
			t.Errorf("gvisor: send: %v", err)
		}
		s.CloseWrite()
	})
	// Wait until the transfer stalls: the unread count stays the same
	// for 100 ms.
	last, since := -1, time.Now()
	if !poll(func() bool {
		if u := c.Unread(); u != last {
			last, since = u, time.Now()
		}
		return time.Since(since) > 100*time.Millisecond
	}) {
		t.Fatal("the transfer never stalled")
	}
	// The edge each ACK advertised, as bytes beyond the first data byte:
	// with nothing read, that byte is still the first unread one.
	var first uint32 // the ACK of the handshake acknowledges the SYN: the first data byte
	maxEdge := 0
	var edges []string // the last ACKs: acknowledged bytes, window, right edge
	for _, seg := range decodeAll(t, e.cport.Captured()) {
		switch {
		case seg.flags&header.TCPFlagAck == 0, seg.flags&header.TCPFlagSyn != 0:
		case first == 0:
			first = seg.ack
			fallthrough
		default:
			edge := int(seg.ack + uint32(seg.win)<<7 - first)
			maxEdge = max(maxEdge, edge)
			edges = append(edges, fmt.Sprintf("ack %d win %d edge %d", seg.ack-first, int(seg.win)<<7, edge))
		}
	}
	limit := rcvBuf + unit // tcp.Conn's ring holds one scale unit beyond RcvBuf
	for _, l := range edges[max(len(edges)-12, 0):] {
		t.Log(l)
	}
	t.Logf("unread %d bytes; largest right edge offered %d bytes beyond the first unread byte; RcvBuf + one scale unit %d", c.Unread(), maxEdge, limit)
	if u := c.Unread(); u > limit {
		t.Errorf("tcpwave holds %d unread bytes in a %d-byte buffer", u, limit)
	}
	v := newVerifier(3)
	n, err := io.Copy(v, c)
	wg.Wait()
	if err != nil || n != size || v.bad >= 0 {
		t.Errorf("read %d bytes (want %d), error %v; first corrupt byte at offset %d", n, size, err, v.bad)
	}
}

// TestTCPWaveBulkAllocations checks DESIGN.md's rule 5 (no allocation
// per segment on the steady-state data path; buffers are rings sized by
// the window) across a 32 MiB one-way transfer between two tcpwave
// stacks: everything allocated, by both stacks, the link and the test,
// must stay under 4 MiB (about 1/8 of a byte per byte carried). It
// failed when the rings were released whenever they drained and regrown
// from a few KiB by doubling, about two bytes allocated per byte carried.
func TestTCPWaveBulkAllocations(t *testing.T) {
	const size = 32 << 20
	// Auto-tuning off: it grows the rings (by doubling, up to RcvBufMax
	// and SndBufMax) as the rate climbs, a one-off cost per connection
	// that this byte count would mistake for per-segment allocation.
	// TestBulkAllocs in the root package counts allocations with it on.
	fixed := tcpwave.WithTCP(func(c *tcp.Config) { c.RcvBufMax, c.SndBufMax = 0, 0 })
	e := newEnv(t, TCPWave, TCPWave, Config{TCPWave: []tcpwave.Option{fixed}})
	c, s := e.connect(t, "tcp4")
	deadline(c, s)
	buf := make([]byte, 64<<10)
	rbuf := make([]byte, 64<<10)
	// Warm up: the first MiB grows the rings to their full size.
	done := make(chan int64, 1)
	go func() {
		n, _ := io.CopyBuffer(io.Discard, s, rbuf)
		done <- n
	}()
	const warm = 16
	for range warm {
		c.Write(buf)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range size / len(buf) {
		if _, err := c.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	c.CloseWrite()
	n := <-done
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d bytes allocated while carrying %d bytes: %.3f per byte", alloc, size, float64(alloc)/size)
	if n != size+warm*int64(len(buf)) {
		t.Fatalf("received %d bytes", n)
	}
	if alloc > 4<<20 {
		t.Errorf("%d bytes allocated for a %d-byte transfer; want under %d", alloc, size, 4<<20)
	}
}
