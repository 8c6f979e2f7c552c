//go:build unix

package tcpwave

import (
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/tcp"
)

// TestIdleAfterChurn: a host that had many connections and closed them
// all is idle. Its next deadline is in the future (TIME_WAIT's expiry),
// its timer wakes it at most a few times a second, and over 10 s the
// process's CPU time is under 1% of the wall time. After a burst of about
// 150 connections closed, a stale deadline in the timing wheel once made
// the idle host re-arm its timer for "now" forever and burn a core.
//
// The process's CPU time is the whole test binary's (getrusage): no other
// test of this package runs meanwhile (none is parallel), and load from
// other processes can only lower it.
func TestIdleAfterChurn(t *testing.T) {
	tests := []struct {
		conns   int
		idle    time.Duration
		measure bool // the CPU time of the idle stretch
	}{
		{conns: 1000, idle: 2 * time.Second},
		{conns: 5000, idle: 10 * time.Second, measure: true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d", tt.conns), func(t *testing.T) {
			a, b := hosts(t)
			churn(t, a, b, tt.conns)
			// Collect the churn's garbage and return it to the OS now, so
			// that the runtime's background scavenger (which may take up
			// to 1% of a CPU) has nothing left to do while we measure.
			debug.FreeOSMemory()
			holdsA, holdsB := holds(a), holds(b)
			cpu0 := cpuTime(t)
			start := time.Now()
			time.Sleep(tt.idle)
			cpu := cpuTime(t) - cpu0
			wall := time.Since(start)
			wakes := (holds(a) - holdsA) + (holds(b) - holdsB)
			for _, h := range []struct {
				name string
				s    *Stack
			}{{"server", a}, {"client", b}} {
				var now, d clock.Instant
				if err := h.s.run(func() { now, d = h.s.now(), h.s.st.Deadline() }); err != nil {
					t.Fatal(err)
				}
				if d <= now {
					t.Errorf("%s: idle, its deadline %v is not after now %v", h.name, d, now)
				}
			}
			if max := uint64(3 * wall / time.Second); wakes > max {
				t.Errorf("the idle hosts woke %d times in %v (at most %d expected)", wakes, wall, max)
			}
			t.Logf("%d connections closed; idle for %v: %d wake-ups, CPU %v", tt.conns, wall.Round(time.Millisecond), wakes, cpu)
			if tt.measure && cpu > wall/100 {
				t.Errorf("CPU %v over %v idle: more than 1%%", cpu, wall.Round(time.Millisecond))
			}
		})
	}
}

// churn opens n connections from b to a in waves of 250 open at once,
// each carrying a few bytes each way, and closes each wave at once (the
// client first), so that the FINs' retransmission timers crowd the timing
// wheel; then it waits until the server has only its listener left and
// the client only TIME_WAIT records. (Not always n of them: on a loaded
// machine a FIN retransmitted late can reach a client already in
// TIME_WAIT after the server closed, and the server's RST for the ACK
// that answers it ends that record, as on Linux with tcp_rfc1337=0.)
func churn(t *testing.T, a, b *Stack, n int) {
	t.Helper()
	ln, err := a.Listen("tcp", "10.0.0.1:80")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				io.Copy(c, c)
				c.Close()
			}()
		}
	}()
	const wave = 250
	for first := 0; first < n; first += wave {
		k := min(wave, n-first)
		conns := make([]net.Conn, k)
		errs := make([]error, k)
		var wg sync.WaitGroup
		for i := range k {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := b.Dial("tcp", "10.0.0.1:80")
				if err != nil {
					errs[i] = fmt.Errorf("dial %d: %w", first+i, err)
					return
				}
				conns[i] = c
				buf := make([]byte, 5)
				if _, err = c.Write([]byte("hello")); err == nil {
					_, err = io.ReadFull(c, buf)
				}
				if err != nil {
					errs[i] = fmt.Errorf("connection %d: %w", first+i, err)
				}
			}()
		}
		wg.Wait()
		for _, c := range conns {
			if c != nil {
				wg.Add(1)
				go func() { defer wg.Done(); c.Close() }()
			}
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		open := 0
		for _, c := range a.Connections() {
			if c.State != tcp.Listen {
				open++
			}
		}
		tw := 0
		for _, c := range b.Connections() {
			if c.State != tcp.TimeWait {
				open++
			} else {
				tw++
			}
		}
		if open == 0 && tw > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s, %d connections not closed, %d of %d in TIME_WAIT", open, tw, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// holds is the number of times the host's lock was taken.
func holds(s *Stack) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.holds
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(fmt.Errorf("getrusage: %w", err))
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
