package tcpwave

import (
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tcpwave/tcpwave/wire"
)

// scriptLink is a link whose far end is the test: it injects packets with
// inject and takes what the host wrote with take. It notes how many
// packets the host wrote under each hold of its lock (WritePacket runs
// with the lock held), so a test sees the longest run one flush wrote.
type scriptLink struct {
	in     chan []byte
	closed chan struct{}
	once   sync.Once
	host   *Stack // set before the first packet is injected

	// Guarded by the host's lock (WritePacket's caller holds it).
	hold, run, maxRun int
	// Guarded by mu.
	mu  sync.Mutex
	out [][]byte
}

func newScriptLink() *scriptLink {
	return &scriptLink{in: make(chan []byte, 64), closed: make(chan struct{})}
}

func (l *scriptLink) MTU() int { return 1500 }

func (l *scriptLink) WritePacket(p []byte) error {
	if h := int(l.host.holds); h != l.hold {
		l.hold, l.run = h, 0
	}
	l.run++
	l.maxRun = max(l.maxRun, l.run)
	l.mu.Lock()
	l.out = append(l.out, slices.Clone(p))
	l.mu.Unlock()
	return nil
}

func (l *scriptLink) ReadPacket(buf []byte) (int, error) {
	select {
	case p := <-l.in:
		return copy(buf, p), nil
	case <-l.closed:
		return 0, net.ErrClosed
	}
}

func (l *scriptLink) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

// inject hands the host a packet built from p.
func (l *scriptLink) inject(t *testing.T, p wire.Packet) {
	t.Helper()
	buf := make([]byte, 1500)
	n, err := wire.EncodePacket(buf, &p, 64, 1)
	if err != nil {
		t.Fatalf("EncodePacket: %v", err)
	}
	l.in <- buf[:n]
}

// take returns, parsed, the packets written since the last call.
func (l *scriptLink) take(t *testing.T) []wire.Packet {
	t.Helper()
	l.mu.Lock()
	raw := l.out
	l.out = nil
	l.mu.Unlock()
	ps := make([]wire.Packet, len(raw))
	for i, b := range raw {
		if err := wire.ParsePacket(b, &ps[i]); err != nil {
			t.Fatalf("the host wrote a malformed packet: %v", err)
		}
	}
	return ps
}

// settle lets the host finish what it has to do now: every goroutine of
// the bubble blocks, and timers due at once (a flush that ran out of its
// budget) fire.
func settle() {
	for range 4 {
		synctest.Wait()
		time.Sleep(time.Nanosecond)
	}
	synctest.Wait()
}

// A hostile peer cannot make one flush write more than flushBudget
// packets, however much the stack has to send: it announces MSS 1 with
// timestamps (48-byte floor, 36 bytes of room), leaves three out-of-order
// pieces so that every segment carries three SACK blocks (8 bytes of
// room), opens a 1 GiB window, and for ten rounds ACKs every segment on its
// own, so that slow start doubles the flight of tiny segments at each
// round while the application has megabytes to send; then one ACK covers
// the whole flight. Without the budget, the flush after that ACK wrote
// every segment the window allowed (46,084) with the lock held. The data
// keeps flowing past the budget: the host's timer writes the rest.
func TestFlushBudgetHostilePeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lk := newScriptLink()
		host, err := New(lk, []netip.Addr{addrB})
		if err != nil {
			t.Fatal(err)
		}
		lk.host = host
		defer closeQuick(host)
		ln, err := host.Listen("tcp", "10.0.0.2:80")
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write(make([]byte, 4<<20)) // ends with the host
		}()

		const irs = 1000
		peer := func(flags wire.Flags, sq, ack uint32, payload int, o wire.Options) wire.Packet {
			return wire.Packet{
				Src: addrA, Dst: addrB,
				TCP: wire.TCPFields{
					SrcPort: 4000, DstPort: 80, Seq: sq, Ack: ack, Flags: flags, Window: 65535, Options: o,
				},
				Payload: make([]byte, payload),
			}
		}
		lk.inject(t, peer(wire.SYN, irs, 0, 0, wire.Options{
			MSS: 1, HasWScale: true, WScale: 14, SACKPermitted: true, HasTimestamp: true, TSVal: 1,
		}))
		settle()
		out := lk.take(t)
		if len(out) != 1 || out[0].TCP.Flags != wire.SYN|wire.ACK {
			t.Fatalf("the host answered the SYN with %d packets, want its SYN-ACK", len(out))
		}
		iss := out[0].TCP.Seq
		ts := func() wire.Options { return wire.Options{HasTimestamp: true, TSVal: 2} }
		lk.inject(t, peer(wire.ACK, irs+1, iss+1, 0, ts()))
		for _, off := range []uint32{16, 48, 80} {
			lk.inject(t, peer(wire.ACK, irs+1+off, iss+1, 8, ts()))
		}

		// Each round the peer ACKs every segment on its own, which grows
		// the congestion window by a segment each (slow start); in the last
		// round one ACK covers the whole flight, and the next flush has
		// the whole window to fill with 8-byte segments.
		const rounds = 10
		sndMax, total := iss+1, 0
		for round := range rounds + 1 {
			settle()
			ps := lk.take(t)
			for _, p := range ps {
				end := p.TCP.Seq + uint32(len(p.Payload))
				if int32(end-sndMax) > 0 {
					sndMax = end
				}
				total += len(p.Payload)
				if round < rounds && len(p.Payload) > 0 {
					lk.inject(t, peer(wire.ACK, irs+1, end, 0, ts()))
				}
			}
			if round == rounds {
				lk.inject(t, peer(wire.ACK, irs+1, sndMax, 0, ts()))
			}
		}
		// The flight that ACK freed goes out in flushes of at most
		// flushBudget packets each, one after the other.
		freed := 0
		for {
			settle()
			n := len(lk.take(t))
			if n == 0 {
				break
			}
			freed += n
		}
		t.Logf("%d payload bytes sent before the last ACK, %d packets after it, at most %d under one hold of the lock", total, freed, lk.maxRun)
		if lk.maxRun > flushBudget {
			t.Errorf("one hold of the lock wrote %d packets, more than flushBudget (%d)", lk.maxRun, flushBudget)
		}
		if freed < 8*flushBudget {
			t.Errorf("the last ACK freed %d packets, want at least %d: the rest must go out after the budget", freed, 8*flushBudget)
		}
	})
}
