package tcpwave

import (
	"context"
	"errors"
	"math"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/link/pipe"
	"github.com/tcpwave/tcpwave/stack"
	"github.com/tcpwave/tcpwave/tcp"
	"github.com/tcpwave/tcpwave/wire"
)

// sentLog records the TCP headers a host sends.
type sentLog struct {
	mu   sync.Mutex
	segs []wire.TCPFields
}

func (l *sentLog) PacketSent(_ clock.Instant, pkt []byte) {
	var p wire.Packet
	if wire.ParsePacket(pkt, &p) == nil {
		l.mu.Lock()
		l.segs = append(l.segs, p.TCP)
		l.mu.Unlock()
	}
}
func (l *sentLog) PacketReceived(clock.Instant, []byte)                                  {}
func (l *sentLog) PacketDropped(clock.Instant, []byte, error)                            {}
func (l *sentLog) StateChanged(clock.Instant, stack.Tuple, tcp.State, tcp.State, string) {}

// loggedPair returns a server host and a client host whose sent segments
// log records.
func loggedPair(t *testing.T, log *sentLog) (server, client *Stack) {
	t.Helper()
	ea, eb := pipe.New(1500, 0)
	server, err := New(ea, []netip.Addr{addrA})
	if err != nil {
		t.Fatal(err)
	}
	client, err = New(eb, []netip.Addr{addrB}, WithObserver(log))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		closeQuick(client)
		closeQuick(server)
	})
	return server, client
}

// holdOne listens on 10.0.0.1:80 of s and holds the first connection
// open, reading, until its peer closes; the listener closes when the test
// ends.
func holdOne(t *testing.T, s *Stack) {
	t.Helper()
	ln, err := s.Listen("tcp", "10.0.0.1:80")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		if c, err := ln.Accept(); err == nil {
			defer c.Close()
			c.Read(make([]byte, 1))
		}
	}()
}

// TestDialWithBuffers: SO_RCVBUF set before connect() shapes the
// handshake as on Linux 6.18 (conformance/rcvbuf-connect.pkt): SO_RCVBUF
// 100000 offers 65535 with window scale 1 in the SYN, and the first ACK
// opens the whole buffer, 49640 << 1 = 99280 bytes. Plain Dial offers
// Linux's defaults: 64240 and scale 7, then 502 << 7.
func TestDialWithBuffers(t *testing.T) {
	for _, tt := range []struct {
		name             string
		dc               DialConfig
		synWnd, firstAck uint16
		ws               uint8
	}{
		{"SO_RCVBUF 100000", DialConfig{ReadBuffer: 100000, WriteBuffer: 50000}, 65535, 49640, 1},
		{"defaults", DialConfig{}, 64240, 502, 7},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var log sentLog
			server, client := loggedPair(t, &log)
			holdOne(t, server)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := client.DialWith(ctx, tt.dc, "tcp", "10.0.0.1:80")
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			log.mu.Lock()
			segs := append([]wire.TCPFields(nil), log.segs...)
			log.mu.Unlock()
			if len(segs) < 2 || segs[0].Flags != wire.SYN || segs[1].Flags != wire.ACK {
				t.Fatalf("client sent %+v, want a SYN and an ACK", segs)
			}
			if segs[0].Window != tt.synWnd || segs[0].Options.WScale != tt.ws || segs[1].Window != tt.firstAck {
				t.Errorf("SYN window %d scale %d, first ACK window %d; want %d, %d, %d",
					segs[0].Window, segs[0].Options.WScale, segs[1].Window, tt.synWnd, tt.ws, tt.firstAck)
			}
		})
	}
}

// TestDialWithKeepAlive: keepalive set by DialWith probes a silent
// connection once the idle time has passed; the live peer answers, so
// the connection stays.
func TestDialWithKeepAlive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := hosts(t)
		holdOne(t, a)
		c, err := b.DialWith(context.Background(), DialConfig{KeepAlive: net.KeepAliveConfig{Enable: true, Idle: 2 * time.Second, Interval: time.Second, Count: 3}}, "tcp", "10.0.0.1:80")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if on, p := keepAliveOf(t, b, c); !on || p.Idle != 2*time.Second || p.Interval != time.Second || p.Count != 3 {
			t.Errorf("keepalive %v %+v, want on, 2s, 1s, 3", on, p)
		}
		time.Sleep(5 * time.Second)
		if n := b.Counters().TCPKeepAlive; n == 0 {
			t.Error("no keepalive probe in 5 s of silence with a 2 s idle time")
		}
		if _, err := c.Write([]byte("x")); err != nil {
			t.Errorf("write after answered probes: %v", err)
		}
	})
}

// keepAliveOf returns c's keepalive settings as its socket has them.
func keepAliveOf(t *testing.T, s *Stack, c *Conn) (on bool, p tcp.KeepAliveParams) {
	t.Helper()
	s.run(func() { on, p = c.k.so.KeepAlive() })
	return on, p
}

// TestDialWithBadOptions: options Linux refuses fail the dial with EINVAL
// before any packet is sent.
func TestDialWithBadOptions(t *testing.T) {
	_, b := hosts(t)
	for _, dc := range []DialConfig{
		{UserTimeout: -time.Second},
		{KeepAlive: net.KeepAliveConfig{Enable: true, Count: 1000}},
	} {
		_, err := b.DialWith(context.Background(), dc, "tcp", "10.0.0.1:80")
		if !errors.Is(err, syscall.EINVAL) {
			t.Errorf("DialWith(%+v): %v, want EINVAL", dc, err)
		}
	}
	if n := b.Counters().OutSegs; n != 0 {
		t.Errorf("%d segments sent for refused options", n)
	}
}

// TestDialWithBufferEdges: ReadBuffer and WriteBuffer at 0 and below set
// nothing; 1 sets Linux's least buffer; the largest int is capped at twice
// the stack's maximum (212992 by default) without overflow. UserTimeout
// at 0, 1 ns and its largest value is taken. Each dial completes.
func TestDialWithBufferEdges(t *testing.T) {
	const maxBuf = 2 * 212992
	for _, tt := range []struct {
		name        string
		buf         int
		rcv, snd    int // the socket's sk_rcvbuf and sk_sndbuf, 0: not set
		userTimeout time.Duration
	}{
		{"zero", 0, 0, 0, 0},
		{"negative", -1, 0, 0, 0},
		{"least", 1, tcp.SockMinRcvBuf, tcp.SockMinSndBuf, 1},
		{"max", math.MaxInt, maxBuf, maxBuf, math.MaxInt64},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a, b := hosts(t)
				holdOne(t, a)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				c, err := b.DialWith(ctx, DialConfig{ReadBuffer: tt.buf, WriteBuffer: tt.buf, UserTimeout: tt.userTimeout}, "tcp", "10.0.0.1:80")
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				var rcv, snd int
				b.run(func() { rcv, snd = c.k.so.RcvBuf(), c.k.so.SndBuf() })
				if rcv != tt.rcv || snd != tt.snd {
					t.Errorf("SO_RCVBUF %d, SO_SNDBUF %d; want %d, %d", rcv, snd, tt.rcv, tt.snd)
				}
				if _, err := c.Write([]byte("x")); err != nil {
					t.Errorf("write: %v", err)
				}
			})
		})
	}
}

// TestListenConfigBufferEdges: ListenConfig's ReadBuffer and WriteBuffer
// at 0 and below set nothing on the listener; 1 sets Linux's least
// buffer; the largest int is capped at twice the stack's maximum.
func TestListenConfigBufferEdges(t *testing.T) {
	const maxBuf = 2 * 212992
	for _, tt := range []struct {
		buf      int
		rcv, snd int // the listener's sk_rcvbuf and sk_sndbuf, 0: not set
	}{
		{0, 0, 0},
		{-1, 0, 0},
		{1, tcp.SockMinRcvBuf, tcp.SockMinSndBuf},
		{math.MaxInt, maxBuf, maxBuf},
	} {
		a, _ := hosts(t)
		ln, err := a.ListenWith(ListenConfig{ReadBuffer: tt.buf, WriteBuffer: tt.buf}, "tcp", "10.0.0.1:80")
		if err != nil {
			t.Fatalf("buffers %d: %v", tt.buf, err)
		}
		var rcv, snd int
		a.run(func() { rcv, snd = ln.k.so.RcvBuf(), ln.k.so.SndBuf() })
		if rcv != tt.rcv || snd != tt.snd {
			t.Errorf("buffers %d: SO_RCVBUF %d, SO_SNDBUF %d; want %d, %d", tt.buf, rcv, snd, tt.rcv, tt.snd)
		}
		ln.Close()
	}
}
