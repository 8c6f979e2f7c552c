package stack

import (
	"errors"
	"net/netip"

	"github.com/tcpwave/tcpwave/tcp"
	"testing"
	"time"
)

// TestBulkPathAllocs: the steady-state bulk data path of two stacks (the
// sender's Write, segment building, PollPacket, the receiver's
// HandlePacket, its ACKs, the sender's ACK processing and Read) makes no
// heap allocation at all, per 64 KiB written and delivered; so does the
// path of stacks on a link with checksum offload, which leave checksums
// partial (Options.PartialChecksum) and take packets as checked
// (HandleCheckedPacket).
func TestBulkPathAllocs(t *testing.T) {
	for _, partial := range []bool{false, true} {
		name := "complete checksums"
		if partial {
			name = "partial checksums"
		}
		t.Run(name, func(t *testing.T) { testBulkPathAllocs(t, partial) })
	}
}

func testBulkPathAllocs(t *testing.T, partial bool) {
	f, a, b := pair(t)
	l := f.listen(b, 80, 8)
	client, server := f.connect(a, b, l)
	a.st.obs, b.st.obs = nil, nil // the recorders keep every packet
	a.st.opts.PartialChecksum, b.st.opts.PartialChecksum = partial, partial
	chunk := make([]byte, 64<<10)
	rbuf := make([]byte, 64<<10)
	pkt := make([]byte, 65536)
	// round writes chunk, moves packets both ways until all of it has
	// been read, and returns the segments the client sent.
	round := func() int {
		sent, off, got := 0, 0, 0
		for steps := 0; got < len(chunk); steps++ {
			if steps > 100_000 {
				t.Fatalf("64 KiB not delivered: %d written, %d read", off, got)
			}
			f.now = f.now.Add(time.Microsecond)
			if off < len(chunk) {
				n, err := client.Write(f.now, chunk[off:])
				if err != nil && n == 0 && !errors.Is(err, tcp.ErrWouldBlock) {
					t.Fatalf("write: %v", err)
				}
				off += n
			}
			for _, p := range [2][2]*node{{a, b}, {b, a}} {
				for {
					k := p[0].st.PollPacket(f.now, pkt)
					if k == 0 {
						break
					}
					if p[0] == a {
						sent++
					}
					if partial {
						p[1].st.HandleCheckedPacket(f.now, pkt[:k])
					} else {
						p[1].st.HandlePacket(f.now, pkt[:k])
					}
				}
				p[0].st.Touched()
			}
			for _, n := range []*node{a, b} {
				if n.st.Deadline() <= f.now {
					n.st.HandleTimeout(f.now)
				}
			}
			n, err := server.Read(f.now, rbuf)
			if err != nil && !errors.Is(err, tcp.ErrWouldBlock) {
				t.Fatalf("read: %v", err)
			}
			got += n
		}
		return sent
	}
	for range 50 { // warm up: windows open, buffers reach their size
		round()
	}
	segs := 0
	allocs := testing.AllocsPerRun(100, func() { segs += round() })
	t.Logf("%.0f segments per 64 KiB, %v allocations", float64(segs)/101, allocs)
	if segs < 101*40 {
		t.Fatalf("%d data segments for 101 rounds of 64 KiB", segs)
	}
	if allocs != 0 {
		t.Errorf("%v allocations per 64 KiB on the steady-state path, want 0", allocs)
	}
}

// TestLifecycleAllocs pins the heap allocations of one whole connection
// lifecycle between two stacks, as the churn rows of the bench run it:
// connect, accept, one byte each way, the client closes first and keeps
// TIME_WAIT (1 s here, expired before the next lifecycle), the server
// closes. Each side's loss state (taken at its first byte of data: RACK's
// send log) comes from the stack's LossCache once a connection has
// finished: a lifecycle made 2 more allocations (2 × 320 bytes) when each
// connection allocated its own.
func TestLifecycleAllocs(t *testing.T) {
	// 2 sockets, 2 connections, 4 ring buffers, the listener's accept
	// queue (emptied by each Accept), the client's port in the bind table
	// and in the TIME_WAIT ports (each freed when the port is).
	const want = 11
	f, a, b := pair(t, func(o *Options) { o.TCP.TimeWait = time.Second })
	a.st.obs, b.st.obs = nil, nil // the recorders keep every packet
	l := f.listen(b, 80, 8)
	pkt := make([]byte, 65536)
	buf := make([]byte, 1)
	// move exchanges packets both ways until neither stack has any left,
	// then fires the timers due by then.
	move := func() {
		for range 100 {
			moved := false
			for _, p := range [2][2]*node{{a, b}, {b, a}} {
				for {
					k := p[0].st.PollPacket(f.now, pkt)
					if k == 0 {
						break
					}
					moved = true
					p[1].st.HandlePacket(f.now, pkt[:k])
				}
				p[0].st.Touched()
			}
			for _, n := range []*node{a, b} {
				if n.st.Deadline() <= f.now {
					n.st.HandleTimeout(f.now)
					moved = true
				}
			}
			if !moved {
				return
			}
		}
		t.Fatal("the stacks did not settle in 100 rounds")
	}
	lifecycle := func() {
		c := a.st.NewSocket()
		if err := c.Connect(f.now, netip.AddrPortFrom(addrB, 80)); err != nil {
			t.Fatalf("connect: %v", err)
		}
		move()
		s, err := l.Accept()
		if err != nil {
			t.Fatalf("accept: %v", err)
		}
		for _, p := range [2][2]*Socket{{c, s}, {s, c}} {
			if _, err := p[0].Write(f.now, buf); err != nil {
				t.Fatalf("write: %v", err)
			}
			move()
			if n, err := p[1].Read(f.now, buf); n != 1 {
				t.Fatalf("read = %d, %v, want the byte", n, err)
			}
		}
		c.Close(f.now)
		move()
		s.Close(f.now)
		move()
		f.now = f.now.Add(2 * time.Second) // TIME_WAIT and the last timers are over
		move()
		for _, n := range []*node{a, b} {
			if len(n.st.conns) != 0 || n.st.tw.len() != 0 {
				t.Fatalf("a lifecycle left connections on %s: %v", n.name, n.st.Connections(f.now))
			}
		}
	}
	for range 10 { // warm up: the tables, queues and caches reach their size
		lifecycle()
	}
	if allocs := testing.AllocsPerRun(100, lifecycle); allocs > want {
		t.Errorf("a connection's lifecycle made %v allocations, want at most %d (loss states are reused)", allocs, want)
	}
	for _, n := range []*node{a, b} {
		if k := n.st.losses.Len(); k != 1 {
			t.Errorf("%s keeps %d loss states between lifecycles, want 1", n.name, k)
		}
	}
}

// TestLossStateRecycled: whichever way a connection leaves the stack's
// tables (detach), its loss state, if it took one, goes back to the
// stack's cache once, and a connection the stack has forgotten takes none
// again when its user still calls it (a Write after the reset); the
// stack's next connection takes the cached one.
func TestLossStateRecycled(t *testing.T) {
	tests := []struct {
		name string
		opts []opt
		end  func(f *fixture, c, s *Socket) // the client c's and the server s's end
		tw   int                            // TIME_WAIT records A keeps once it is over
	}{
		{name: "TIME_WAIT record", tw: 1,
			end: func(f *fixture, c, s *Socket) { f.closeBoth(c, s) }},
		{name: "TIME_WAIT table full", tw: 0,
			opts: []opt{func(o *Options) { o.MaxTimeWait = 0 }},
			end:  func(f *fixture, c, s *Socket) { f.closeBoth(c, s) }},
		{name: "reset by the peer", tw: 0,
			end: func(f *fixture, c, s *Socket) {
				s.SetLinger(true, 0)
				s.Close(f.now)
				f.run(10 * time.Millisecond)
				if _, err := c.Write(f.now, []byte{'x'}); err == nil {
					f.t.Errorf("write after the reset succeeded")
				}
				f.run(10 * time.Millisecond)
				c.Close(f.now)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, a, b := pair(t, tt.opts...)
			l := f.listen(b, 80, 8)
			exchange := func(c, s *Socket) {
				t.Helper()
				buf := []byte{'x'}
				for _, p := range [2][2]*Socket{{c, s}, {s, c}} {
					if _, err := p[0].Write(f.now, buf); err != nil {
						t.Fatalf("write: %v", err)
					}
					f.run(50 * time.Millisecond)
					if n, err := p[1].Read(f.now, buf); n != 1 {
						t.Fatalf("read = %d, %v, want the byte", n, err)
					}
				}
			}
			c, s := f.connect(a, b, l)
			exchange(c, s) // each side takes a loss state
			tt.end(f, c, s)
			f.run(100 * time.Millisecond)
			if n := a.st.tw.len(); n != tt.tw {
				t.Fatalf("A keeps %d TIME_WAIT records, want %d", n, tt.tw)
			}
			if len(a.st.conns) != 0 || len(b.st.conns) != 0 {
				t.Fatalf("connections left: %v %v", a.st.Connections(f.now), b.st.Connections(f.now))
			}
			if ka, kb := a.st.losses.Len(), b.st.losses.Len(); ka != 1 || kb != 1 {
				t.Fatalf("loss states cached: A %d, B %d; want one each", ka, kb)
			}
			c2, s2 := f.connect(a, b, l)
			exchange(c2, s2)
			if ka, kb := a.st.losses.Len(), b.st.losses.Len(); ka != 0 || kb != 0 {
				t.Errorf("after a new connection's data, loss states cached: A %d, B %d; want none (taken again)", ka, kb)
			}
		})
	}
}
