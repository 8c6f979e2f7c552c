package stack

import (
	"bytes"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/tcp"
	"github.com/tcpwave/tcpwave/wire"
)

// floodHeapBound is the most the heap may grow while the listener takes
// 100,000 spoofed SYNs. What a flood may legitimately leave behind is the
// SYN queue: as many half-open connections as the backlog allows (128
// here), of about 1 KiB
// each with their map, port and timer entries, some 150 KiB in all. A
// stack that kept as little as 11 bytes per SYN would need 1.1 MB, over
// the bound: it shows that a cookie costs no state.
const floodHeapBound = 1 << 20

// session is a legitimate client's connection, driven one step at a time
// while the flood goes on: it sends n patterned bytes each way and checks
// them.
type session struct {
	name           string
	client, server *Socket
	up, down       []byte // what the client sends, what the server sends
	sentUp, sentDn int
	gotUp, gotDn   []byte
	buf            []byte
}

func newSession(f *fixture, a, b *node, name string, n int) *session {
	s := &session{name: name, client: f.dial(a, b, port, 0), up: make([]byte, n), down: make([]byte, n), buf: make([]byte, 65536)}
	for i := range n {
		s.up[i], s.down[i] = byte(i*7+i>>8), byte(i*13+i>>9+1)
	}
	return s
}

// step accepts, writes and reads what it can at the fixture's instant.
func (s *session) step(f *fixture, l *Socket) {
	if s.server == nil {
		if so, err := l.Accept(); err == nil {
			if so.Remote() != s.client.Local() {
				f.t.Fatalf("%s: accepted %v, want %v", s.name, so.Remote(), s.client.Local())
			}
			s.server = so
		}
	}
	if s.client.State() == tcp.Established && s.sentUp < len(s.up) {
		k, _ := s.client.Write(f.now, s.up[s.sentUp:])
		s.sentUp += k
	}
	s.gotDn = s.read(f, s.client, s.gotDn)
	if s.server == nil {
		return
	}
	if s.sentDn < len(s.down) {
		k, _ := s.server.Write(f.now, s.down[s.sentDn:])
		s.sentDn += k
	}
	s.gotUp = s.read(f, s.server, s.gotUp)
}

func (s *session) read(f *fixture, so *Socket, got []byte) []byte {
	for {
		k, err := so.Read(f.now, s.buf)
		got = append(got, s.buf[:k]...)
		if k == 0 || err != nil {
			return got
		}
	}
}

func (s *session) done() bool { return len(s.gotUp) == len(s.up) && len(s.gotDn) == len(s.down) }

// check verifies the bytes once the transfer is done.
func (s *session) check(t *testing.T) {
	t.Helper()
	if !s.done() || !bytes.Equal(s.gotUp, s.up) || !bytes.Equal(s.gotDn, s.down) {
		t.Fatalf("%s: %d of %d bytes up, %d of %d down, or corrupted", s.name, len(s.gotUp), len(s.up), len(s.gotDn), len(s.down))
	}
}

// heapInUse is the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestSynFlood: 100,000 spoofed SYNs from as many address:port pairs, one
// every 10 µs, to a listener with Linux's defaults (tcp_syncookies=1)
// and a backlog of 127 (a SYN queue of 128). Its replies go nowhere. The SYN queue fills
// and never holds more than its limit; every other SYN is answered with a
// cookie and forgotten, so the heap stays within floodHeapBound; nothing
// is dropped. A real client connects through a cookie and moves 256 KiB
// each way while the flood is on, again through a cookie just after it,
// and through the SYN queue once the flood's half-open connections have
// timed out.
func TestSynFlood(t *testing.T) {
	const (
		n     = 100_000
		gap   = 10 * time.Microsecond
		limit = 128 // the SYN queue: one more than the backlog
		size  = 256 << 10
	)
	f, a, b := pair(t)
	f.nolog = true
	a.st.obs, b.st.obs = nil, nil // the fixture's recorders keep every packet: the test's memory, not the stacks'

	l := f.listen(b, port, limit-1)
	src := [4]byte{198, 18, 0, 0} // RFC 2544's benchmarking range
	syn := wire.Packet{Dst: addrB, TCP: wire.TCPFields{DstPort: port, Flags: wire.SYN, Window: 64240}}
	raw := make([]byte, 128)

	base := heapInUse()
	start := time.Now()
	var during *session
	duringDone := false
	var normal, maxQueue int
	var peak uint64
	for i := range n {
		f.runUntil(f.now.Add(gap))
		src[1], src[2], src[3] = 18+byte(i>>16), byte(i>>8), byte(i)
		syn.Src = netip.AddrFrom4(src)
		syn.TCP.SrcPort = uint16(1024 + i%60000)
		syn.TCP.Seq = uint32(i) * 2654435761
		syn.TCP.Options = wire.Options{MSS: 1460}
		if i%2 == 1 { // half of them as Linux clients: timestamps, SACK, scale
			syn.TCP.Options = synOpts
		}
		k, err := wire.EncodePacket(raw, &syn, 64, uint16(i))
		if err != nil {
			t.Fatal(err)
		}
		before := l.synRcvd
		b.st.HandlePacket(f.now, raw[:k])
		if l.synRcvd > before {
			normal++
		}
		maxQueue = max(maxQueue, l.synRcvd)
		if l.synRcvd > limit || len(b.st.conns) > limit+1 { // the half-open ones and the client's
			t.Fatalf("SYN %d: %d half-open connections, %d in all; limit %d", i, l.synRcvd, len(b.st.conns), limit)
		}
		switch {
		case i == n/2:
			during = newSession(f, a, b, "during the flood", size)
		case during != nil:
			during.step(f, l)
			if during.done() {
				// Checked and closed while the flood is on, so that
				// its buffers do not count in the heap below.
				during.check(t)
				during.client.Close(f.now)
				during.server.Close(f.now)
				during, duringDone = nil, true
			}
		}
		if i == n-1 {
			peak = heapInUse()
		}
	}
	f.run(time.Millisecond)
	elapsed := time.Since(start)
	if !duringDone {
		t.Fatalf("the transfer during the flood did not finish while the flood was on")
	}
	c := b.st.Counters()
	if maxQueue != limit || c.SyncookiesSent != n-uint64(normal)+1 || c.SyncookiesRecv != 1 || c.ListenDrops != 0 || c.ListenOverflows != 0 {
		t.Errorf("SYN queue peak %d (limit %d), %d SYNs queued; SyncookiesSent %d Recv %d ListenDrops %d Overflows %d; want the queue full, %d cookies (the rest and the client's), 1 returned, no drops",
			maxQueue, limit, normal, c.SyncookiesSent, c.SyncookiesRecv, c.ListenDrops, c.ListenOverflows, n-normal+1)
	}
	growth := int64(peak) - int64(base)
	t.Logf("%d SYNs in %v (%.0f SYNs/s wall); %d queued, %d cookies; heap %d KiB before, %d KiB at the end of the flood (%+d KiB, bound %d KiB)",
		n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(), normal, c.SyncookiesSent, base>>10, peak>>10, growth>>10, floodHeapBound>>10)
	if growth > floodHeapBound {
		t.Errorf("heap grew %d bytes during the flood, bound %d", growth, floodHeapBound)
	}

	// Just after: the queue is still full of the flood's half-open
	// connections, so the client goes through a cookie again.
	after := newSession(f, a, b, "just after the flood", size)
	for deadline := f.now.Add(5 * time.Second); !after.done() && f.now < deadline; {
		f.run(time.Millisecond)
		after.step(f, l)
	}
	after.check(t)
	if c := b.st.Counters(); c.SyncookiesRecv != 2 {
		t.Errorf("SyncookiesRecv %d after the second client, want 2", c.SyncookiesRecv)
	}
	// Once the half-open connections have given up (tcp_synack_retries:
	// 63 s), a SYN takes the SYN queue again.
	f.run(70 * time.Second)
	if l.synRcvd != 0 {
		t.Fatalf("%d half-open connections left after 70 s", l.synRcvd)
	}
	sent := b.st.Counters().SyncookiesSent
	later := newSession(f, a, b, "after the SYN queue drained", size)
	for deadline := f.now.Add(5 * time.Second); !later.done() && f.now < deadline; {
		f.run(time.Millisecond)
		later.step(f, l)
	}
	later.check(t)
	if c := b.st.Counters(); c.SyncookiesSent != sent || c.PassiveOpens != 3 || c.AttemptFails != 0 {
		t.Errorf("SyncookiesSent %d (was %d), PassiveOpens %d, AttemptFails %d; want no new cookie, 3 passive opens, no failed attempt",
			c.SyncookiesSent, sent, c.PassiveOpens, c.AttemptFails)
	}
	if end := heapInUse(); int64(end)-int64(base) > floodHeapBound {
		t.Errorf("heap %d KiB after the flood's connections timed out, %d KiB before it", end>>10, base>>10)
	}
}

// TestTouchedForgetsSockets: the array Touched handed out is cleared when
// it is taken back, so that it keeps no closed socket, and the buffers of
// its connection, alive.
func TestTouchedForgetsSockets(t *testing.T) {
	f, a, b := pair(t)
	client, _ := opened(t, f, a, b)
	client.Write(f.now, []byte("x"))
	a.st.HandlePacket(f.now, build(t, segment(client.Remote(), client.Local(), wire.RST, uint32(client.Conn().RcvNxt()), 0, "")))
	drain(t, a.st, f.now)
	first := a.st.Touched()
	if len(first) == 0 {
		t.Fatal("the reset connection was not touched")
	}
	a.st.Touched()
	for i, so := range first {
		if so != nil {
			t.Errorf("entry %d still holds %v after the next Touched", i, so.tuple)
		}
	}
}
