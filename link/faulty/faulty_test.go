package faulty

import (
	"encoding/binary"
	"errors"
	"net"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tcpwave/tcpwave/link"
	"github.com/tcpwave/tcpwave/link/pipe"
)

const mtu = 1500

// rig is a faulty link on one end of a pipe: the host side is l, the far
// side (where a TUN device's kernel would be) is far.
func rig(t *testing.T, c Config, queue int) (l *Link, far link.Endpoint) {
	t.Helper()
	near, far := pipe.New(mtu, queue)
	l, err := New(near, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		l.Close()
		far.Close()
	})
	return l, far
}

// packet is packet number i: its number, then filler.
func packet(i int) []byte {
	p := make([]byte, 60)
	binary.BigEndian.PutUint32(p, uint32(i))
	return p
}

// number reads a packet's number.
func number(p []byte) int { return int(binary.BigEndian.Uint32(p)) }

// arrival is a packet read at a time.
type arrival struct {
	n  int
	at time.Time
}

// collect reads packets from ep on a goroutine until ep is closed or
// want packets came, and returns a function that waits for that.
func collect(ep link.Endpoint, want int) func() []arrival {
	done := make(chan []arrival, 1)
	go func() {
		var got []arrival
		buf := make([]byte, mtu)
		for len(got) < want {
			n, err := ep.ReadPacket(buf)
			if err != nil {
				break
			}
			got = append(got, arrival{number(buf[:n]), time.Now()})
		}
		done <- got
	}()
	return func() []arrival { return <-done }
}

// send writes packets 0..n-1 into ep.
func send(t *testing.T, ep link.Endpoint, n int) {
	t.Helper()
	for i := range n {
		if err := ep.WritePacket(packet(i)); err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
	}
}

func numbers(as []arrival) []int {
	var ns []int
	for _, a := range as {
		ns = append(ns, a.n)
	}
	return ns
}

// both runs fn once for each direction, each in a synctest bubble with
// a link of its own: w writes packets that go in direction d, r reads
// them.
func both(t *testing.T, c Config, queue int, fn func(t *testing.T, l *Link, d Direction, w, r link.Endpoint)) {
	for _, d := range []Direction{Out, In} {
		t.Run(d.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l, far := rig(t, c, queue)
				if d == Out {
					fn(t, l, d, l, far)
				} else {
					fn(t, l, d, far, l)
				}
			})
		})
	}
}

// TestZeroConfig: the zero Config passes every packet at once, in order,
// unchanged, both ways.
func TestZeroConfig(t *testing.T) {
	both(t, Config{}, 0, func(t *testing.T, l *Link, d Direction, w, r link.Endpoint) {
		start := time.Now()
		wait := collect(r, 500)
		send(t, w, 500)
		got := wait()
		if !slices.Equal(numbers(got), numbers(seqArrivals(500))) {
			t.Fatalf("got %v", numbers(got))
		}
		if last := got[len(got)-1].at; last != start {
			t.Errorf("packets took %v, want none", last.Sub(start))
		}
		if s := l.Stats(d); s != (Stats{Packets: 500, Delivered: 500}) {
			t.Errorf("stats %+v", s)
		}
	})
}

func seqArrivals(n int) []arrival {
	as := make([]arrival, n)
	for i := range as {
		as[i].n = i
	}
	return as
}

// lossPattern sends n packets out through a link with loss p and seed,
// and returns the numbers of those that arrived, and the stats.
func lossPattern(t *testing.T, seed uint64, p float64, n int) ([]int, Stats) {
	t.Helper()
	var got []int
	var st Stats
	synctest.Test(t, func(t *testing.T) {
		l, far := rig(t, Config{Seed: seed, Loss: p}, n)
		send(t, l, n)
		st = l.Stats(Out)
		got = numbers(collect(far, int(st.Delivered))())
	})
	return got, st
}

// TestLossSeeded: the share lost is about Loss, and the same seed loses
// the same packets.
func TestLossSeeded(t *testing.T) {
	const n, p = 4000, 0.25
	a, st := lossPattern(t, 1, p, n)
	if st.Packets != n || st.Lost+st.Delivered != n || int(st.Delivered) != len(a) {
		t.Fatalf("stats %+v, %d arrived", st, len(a))
	}
	if f := float64(st.Lost) / n; f < p-0.03 || f > p+0.03 {
		t.Errorf("lost %.3f of the packets, want about %v", f, p)
	}
	if !slices.IsSorted(a) {
		t.Error("loss alone reordered packets")
	}
	b, _ := lossPattern(t, 1, p, n)
	if !slices.Equal(a, b) {
		t.Error("the same seed lost different packets")
	}
	c, _ := lossPattern(t, 2, p, n)
	if slices.Equal(a, c) {
		t.Error("seeds 1 and 2 lost the same packets")
	}
	all, st := lossPattern(t, 1, 1, 100)
	if len(all) != 0 || st.Lost != 100 {
		t.Errorf("Loss 1 passed %d packets", len(all))
	}
}

// TestDelay: every packet arrives exactly Delay after it was sent, in
// order, both ways.
func TestDelay(t *testing.T) {
	const delay = 5 * time.Millisecond
	both(t, Config{Delay: delay}, 0, func(t *testing.T, l *Link, d Direction, w, r link.Endpoint) {
		wait := collect(r, 20)
		var sent []time.Time
		for i := range 20 {
			sent = append(sent, time.Now())
			if err := w.WritePacket(packet(i)); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Duration(i%3) * time.Millisecond) // some together, some apart
		}
		got := wait()
		for i, a := range got {
			if a.n != i || a.at.Sub(sent[i]) != delay {
				t.Errorf("packet %d: number %d after %v, want %d after %v", i, a.n, a.at.Sub(sent[i]), i, delay)
			}
		}
		if s := l.Stats(d); s.Delayed != 20 || s.Delivered != 20 {
			t.Errorf("stats %+v", s)
		}
	})
}

// TestReorder: with Reorder, that share of packets goes at once and
// overtakes the delayed ones; nothing is lost, and each group keeps its
// order.
func TestReorder(t *testing.T) {
	const n, delay = 400, 10 * time.Millisecond
	both(t, Config{Seed: 7, Delay: delay, Reorder: 0.1}, 0, func(t *testing.T, l *Link, d Direction, w, r link.Endpoint) {
		start := time.Now()
		wait := collect(r, n)
		send(t, w, n)
		got := wait()
		if len(got) != n {
			t.Fatalf("%d packets arrived, want %d", len(got), n)
		}
		var early, late []int
		for _, a := range got {
			switch a.at.Sub(start) {
			case 0:
				early = append(early, a.n)
			case delay:
				late = append(late, a.n)
			default:
				t.Fatalf("packet %d after %v", a.n, a.at.Sub(start))
			}
		}
		s := l.Stats(d)
		if len(early) != int(s.Reordered) || len(late) != int(s.Delayed) {
			t.Errorf("%d early, %d late; stats %+v", len(early), len(late), s)
		}
		if f := float64(len(early)) / n; f < 0.06 || f > 0.14 {
			t.Errorf("%.3f of the packets overtook, want about 0.1", f)
		}
		if !slices.IsSorted(early) || !slices.IsSorted(late) {
			t.Error("a group lost its order")
		}
		if slices.IsSorted(numbers(got)) {
			t.Error("no packet overtook another")
		}
	})
}

// TestLimit: a direction holds at most Limit packets; the rest are
// dropped as overflow.
func TestLimit(t *testing.T) {
	both(t, Config{Delay: time.Second, Limit: 10}, 0, func(t *testing.T, l *Link, d Direction, w, r link.Endpoint) {
		wait := collect(r, 10)
		send(t, w, 25)
		synctest.Wait()
		if s := l.Stats(d); s.Delayed != 10 || s.Overflow != 15 {
			t.Errorf("stats %+v, want 10 delayed and 15 overflows", s)
		}
		if got := numbers(wait()); !slices.Equal(got, numbers(seqArrivals(10))) {
			t.Errorf("got %v, want the first 10", got)
		}
		// Once they have gone on, there is room again.
		wait = collect(r, 1)
		send(t, w, 1)
		if got := wait(); len(got) != 1 {
			t.Errorf("after the queue drained: %v", got)
		}
	})
}

// TestDrop: Config.Drop drops what it picks, before any random choice.
func TestDrop(t *testing.T) {
	var asked [2]int
	drop := func(d Direction, p []byte) bool {
		asked[d]++
		return number(p)%3 == 0
	}
	both(t, Config{Drop: drop}, 0, func(t *testing.T, l *Link, d Direction, w, r link.Endpoint) {
		wait := collect(r, 6)
		send(t, w, 9)
		if got := numbers(wait()); !slices.Equal(got, []int{1, 2, 4, 5, 7, 8}) {
			t.Errorf("got %v", got)
		}
		if s := l.Stats(d); s.Dropped != 3 || s.Delivered != 6 || asked[d] != 9 {
			t.Errorf("stats %+v, Drop asked %d times", s, asked[d])
		}
	})
}

// TestClose: Close wakes a blocked ReadPacket, closes the inner endpoint,
// drops what is held, and ends the link's goroutines.
func TestClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		near, far := pipe.New(mtu, 0)
		l, err := New(near, Config{Delay: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer far.Close()
		read := make(chan error, 1)
		go func() {
			_, err := l.ReadPacket(make([]byte, mtu))
			read <- err
		}()
		farGot := collect(far, 1)
		send(t, l, 3) // held for a second
		synctest.Wait()
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-read; !errors.Is(err, net.ErrClosed) {
			t.Errorf("blocked ReadPacket after Close: %v", err)
		}
		if _, err := near.ReadPacket(make([]byte, mtu)); !errors.Is(err, net.ErrClosed) {
			t.Errorf("inner endpoint after Close: %v, want it closed", err)
		}
		if err := l.WritePacket(packet(0)); !errors.Is(err, net.ErrClosed) {
			t.Errorf("WritePacket after Close: %v", err)
		}
		if err := l.Close(); !errors.Is(err, net.ErrClosed) {
			t.Errorf("second Close: %v", err)
		}
		time.Sleep(2 * time.Second)
		far.Close()
		if got := farGot(); len(got) != 0 {
			t.Errorf("held packets went on after Close: %v", got)
		}
		// synctest.Test fails if a goroutine of the bubble is left.
	})
}

// TestInnerClosed: when the inner endpoint closes under the link,
// ReadPacket reports it.
func TestInnerClosed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, far := rig(t, Config{}, 0)
		wait := collect(l, 1)
		l.inner.Close()
		if got := wait(); len(got) != 0 {
			t.Errorf("read %v", got)
		}
		if _, err := l.ReadPacket(make([]byte, mtu)); !errors.Is(err, net.ErrClosed) {
			t.Errorf("ReadPacket: %v", err)
		}
		_ = far
	})
}

// TestErrors: bad configurations and oversized packets.
func TestErrors(t *testing.T) {
	for _, c := range []Config{
		{Loss: -0.1}, {Loss: 1.5}, {Reorder: 2, Delay: 1}, {Reorder: 0.1},
		{Delay: -1}, {Limit: -1},
	} {
		near, _ := pipe.New(mtu, 0)
		if l, err := New(near, c); err == nil {
			l.Close()
			t.Errorf("New with %+v succeeded", c)
		}
	}
	if _, err := New(nil, Config{}); err == nil {
		t.Error("New with a nil endpoint succeeded")
	}
	synctest.Test(t, func(t *testing.T) {
		l, _ := rig(t, Config{}, 0)
		if l.MTU() != mtu {
			t.Errorf("MTU %d", l.MTU())
		}
		if err := l.WritePacket(make([]byte, mtu+1)); err == nil {
			t.Error("WritePacket of a packet larger than the MTU succeeded")
		}
	})
}
