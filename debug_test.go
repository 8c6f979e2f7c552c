//go:build tcpwavedebug

package tcpwave

import (
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/link/pipe"
	"github.com/tcpwave/tcpwave/stack"
	"github.com/tcpwave/tcpwave/tcp"
)

// panicOf runs fn and returns what it panicked with, as a string.
func panicOf(fn func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg, _ = r.(string)
			if msg == "" {
				msg = "non-string panic"
			}
		}
	}()
	fn()
	return ""
}

// The debug build's checks fire: a function that needs the host's lock,
// called without it, panics; so does taking the lock inside a callback,
// where it would wait for itself forever.
func TestDebugAssertions(t *testing.T) {
	a, _ := hosts(t)
	tests := []struct {
		name string
		fn   func()
		want string
	}{
		{"now without the lock", func() { a.now() }, "not held"},
		{"wakeLater without the lock", func() { a.wakeLater(nil) }, "not held"},
		{"lock inside a callback", func() {
			if !a.lock() {
				return
			}
			defer a.unlock()
			cb := a.enterCallbacks()
			defer a.leaveCallbacks(cb)
			a.lock() // panics before it blocks
		}, "inside a callback"},
		{"the lock held", func() { a.run(func() { a.now() }) }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := panicOf(tt.fn)
			switch {
			case tt.want == "" && got != "":
				t.Fatalf("panicked: %s", got)
			case !strings.Contains(got, tt.want):
				t.Fatalf("panic %q, want one that says %q", got, tt.want)
			}
		})
	}
}

// lockingCall is a blocked call whose attempt wrongly takes the host's
// lock: the debug build panics in it (recovered here and reported on got)
// instead of deadlocking the host.
type lockingCall struct {
	pending[int]
	s   *Stack
	got chan string
}

func (l *lockingCall) attempt() bool {
	l.got <- panicOf(func() { l.s.lock() })
	return true
}

// A parked call's attempt that takes the lock panics when the host tries
// it (on a segment's arrival, in the reader).
func TestDebugCompleterTakesLock(t *testing.T) {
	a, b := hosts(t)
	client, server := connPair(t, a, b)
	defer client.Close()
	defer server.Close()
	call := &lockingCall{s: b, got: make(chan string, 1)}
	b.run(func() {
		call.ch = make(chan struct{}, 1)
		client.k.wr.c = call
	})
	if _, err := server.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if got := <-call.got; !strings.Contains(got, "inside a callback") {
		t.Fatalf("the attempt's lock: panic %q, want one about a callback", got)
	}
}

// lockingObserver calls its Stack from StateChanged, which runs with the
// host's lock held.
type lockingObserver struct {
	s   atomic.Pointer[Stack]
	got chan string
}

func (o *lockingObserver) PacketSent(clock.Instant, []byte)           {}
func (o *lockingObserver) PacketReceived(clock.Instant, []byte)       {}
func (o *lockingObserver) PacketDropped(clock.Instant, []byte, error) {}
func (o *lockingObserver) StateChanged(clock.Instant, stack.Tuple, tcp.State, tcp.State, string) {
	if s := o.s.Load(); s != nil {
		select {
		case o.got <- panicOf(func() { s.Counters() }):
		default:
		}
	}
}

// An Observer that calls its Stack panics in the debug build.
func TestDebugObserverTakesLock(t *testing.T) {
	obs := &lockingObserver{got: make(chan string, 1)}
	ea, eb := pipe.New(1500, 0)
	a, err := New(ea, []netip.Addr{addrA})
	if err != nil {
		t.Fatal(err)
	}
	defer closeQuick(a)
	b, err := New(eb, []netip.Addr{addrB}, WithObserver(obs)) // the observer on b alone
	if err != nil {
		t.Fatal(err)
	}
	defer closeQuick(b)
	obs.s.Store(b)
	client, server := connPair(t, a, b)
	defer client.Close()
	defer server.Close()
	if got := <-obs.got; !strings.Contains(got, "inside a callback") {
		t.Fatalf("the Observer's call: panic %q, want one about a callback", got)
	}
}
