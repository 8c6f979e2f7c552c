//go:build linux

package kernel_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave"
	"github.com/tcpwave/tcpwave/link/pipe"
	"github.com/tcpwave/tcpwave/tcp"
)

// ringCap is the most unread data a tcpwave connection can hold before
// its receive buffer is tuned: its receive ring is RcvBuf plus one
// window-scale unit (tcp.Conn sets rcvBuf.max so), with Linux's defaults
// (RcvBuf 256 KiB, wscale 7).
var ringCap = tcp.DefaultConfig().RcvBuf + 1<<7

// tunedMax is the auto-tuning bound TestSlowReader sets: below the 4 MiB
// it sends, so that a buffer grown past it would show.
const tunedMax = 1 << 20

// randomBytes returns n pseudo-random bytes, the same on every call.
func randomBytes(n int) []byte {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], 42)
	b := make([]byte, n)
	rand.NewChaCha8(key).Read(b)
	return b
}

// TestSlowReader: the kernel sends 4 MiB to a tcpwave connection whose
// application reads quickly but stops for stallTime after every 512 KiB,
// so that the window fills and closes eight times. tcpwave must never
// take in more than its receive ring holds, and must deliver every byte
// as sent: with a fixed receive buffer (auto-tuning off, as SO_RCVBUF
// makes it on Linux) the ring is RcvBuf; with auto-tuning, which grows the
// buffer while the reader keeps up, it is at most RcvBufMax (1 MiB here).
//
// This fails before the fix of tcp.(*Conn).advertise (see
// TestWindowCreepPipe): while the reader reads, many ACKs keep the
// window's right edge (it would move by less than an MSS) and round the
// window up to the scale unit, which moves the edge right without space
// behind it; at the next stall the kernel fills the window it was
// offered, and the ring overwrites unread data.
func TestSlowReader(t *testing.T) {
	type mode struct {
		name  string
		tune  func(*tcp.Config)
		bound int
	}
	modes := []mode{
		{"fixed", func(c *tcp.Config) { c.RcvBufMax = 0 }, ringCap},
		{"tuned", func(c *tcp.Config) { c.RcvBufMax = tunedMax }, tunedMax + 1<<7},
	}
	for _, m := range modes {
		for _, d := range dialers {
			testSlowReader(t, m.name+"/"+d.String(), d, m.tune, m.bound)
		}
	}
}

func testSlowReader(t *testing.T, name string, d dialer, tune func(*tcp.Config), ringCap int) {
	const size, every, stallTime = 4 << 20, 512 << 10, 200 * time.Millisecond
	t.Run(name, func(t *testing.T) {
		t.Parallel()
		r := newRig(t, rigConfig{direct: true, tcp: tune})
		p := r.pair(t, ipv4, d)
		want := randomBytes(size)
		werr := make(chan error, 1)
		go func() {
			p.kernel.SetWriteDeadline(time.Now().Add(opTimeout))
			_, err := p.kernel.Write(want)
			if err == nil {
				err = p.kernel.CloseWrite()
			}
			werr <- err
		}()
		got := make([]byte, 0, size)
		most := 0
		p.stack.SetReadDeadline(time.Now().Add(opTimeout))
		for next := every; ; {
			n, err := p.stack.Read(got[len(got):min(len(got)+64<<10, cap(got))])
			got = got[:len(got)+n]
			if err == io.EOF || len(got) == cap(got) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) >= next {
				next += every
				time.Sleep(stallTime)
				row, _ := r.stackRow(p)
				most = max(most, row.RecvQ)
			}
		}
		if rest, err := readAll(p.stack); len(rest) != 0 || err != nil {
			t.Errorf("after %d bytes: %d more, %v; want EOF", len(got), len(rest), err)
		}
		if err := <-werr; err != nil {
			t.Fatal(err)
		}
		t.Logf("tcpwave held up to %d unread bytes (ring %d)", most, ringCap)
		if most > ringCap {
			t.Errorf("tcpwave took in %d bytes, more than its receive ring holds (%d)", most, ringCap)
		}
		checkSame(t, got, want)
	})
}

// fillTime is how long TestWindowCreepPipe leaves its window closed:
// long enough for the sender's persist timer (RTO, at least 200 ms,
// doubling) to probe it a few times.
const fillTime = 1500 * time.Millisecond

// maxRecvQ watches recvQ every 20 ms for fillTime, and returns the most
// it showed.
func maxRecvQ(recvQ func() int) int {
	most := 0
	for end := time.Now().Add(fillTime); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		most = max(most, recvQ())
	}
	return most
}

// checkSame reports where got first differs from want.
func checkSame(t *testing.T, got, want []byte) {
	t.Helper()
	if bytes.Equal(got, want) {
		return
	}
	i := 0
	for i < min(len(got), len(want)) && got[i] == want[i] {
		i++
	}
	t.Errorf("read %d bytes of %d; they differ from byte %d on", len(got), len(want), i)
	if i < len(got) {
		if j := bytes.Index(want, got[i:min(i+64, len(got))]); j >= 0 {
			t.Errorf("byte %d on is what was sent %d bytes later", i, j-i)
		}
	}
}

// TestWindowCreepPipe shows the bug behind TestSlowReader between two
// tcpwave stacks on an in-memory pipe, with no kernel and no root: the
// server does not read, and the client fills the window it is offered.
//
// tcp.(*Conn).advertise keeps the window's right edge when it would
// otherwise move left, and then rounds the window up to a multiple of
// the scale unit (128 bytes with wscale 7) "never down"; it sets rcvAdv
// to rcvNxt plus that rounded window. The next time, the edge kept is
// that rounded one, measured from a new rcvNxt and rounded up again: with
// 1448-byte segments (not a multiple of 128) each ACK moves the edge
// right by up to 127 bytes although no space was freed. The peer fills
// what it is offered, checkSeq accepts it (it is inside rcvAdv), and
// queueData writes it into the ring beyond its capacity (RcvBuf + 128),
// where ring.writeAt wraps over the oldest unread bytes.
func TestWindowCreepPipe(t *testing.T) {
	ea, eb := pipe.New(1500, 0)
	a, err := tcpwave.New(ea, []netip.Addr{netip.MustParseAddr("10.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	b, err := tcpwave.New(eb, []netip.Addr{netip.MustParseAddr("10.0.0.2")})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*tcpwave.Stack{a, b} {
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			s.CloseContext(ctx)
		})
	}
	ln, err := a.Listen("tcp", "10.0.0.1:80")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), opTimeout)
	defer cancel()
	client, err := b.DialContext(ctx, "tcp", "10.0.0.1:80")
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ln.SetDeadline(time.Now().Add(opTimeout))
	server, err := ln.AcceptConn()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	want := randomBytes(2 << 20)
	werr := make(chan error, 1)
	go func() {
		client.SetWriteDeadline(time.Now().Add(opTimeout))
		_, err := client.Write(want)
		if err == nil {
			err = client.CloseWrite()
		}
		werr <- err
	}()
	last := maxRecvQ(func() int {
		for _, x := range a.Connections() {
			if x.State == tcp.Established {
				return x.RecvQ
			}
		}
		return 0
	})
	t.Logf("the server held up to %d unread bytes (ring %d)", last, ringCap)
	if last > ringCap {
		t.Errorf("the server took in %d bytes, more than its receive ring holds (%d)", last, ringCap)
	}
	server.SetReadDeadline(time.Now().Add(opTimeout))
	got, err := io.ReadAll(server)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	checkSame(t, got, want)
}
