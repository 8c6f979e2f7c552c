package stack

import (
	"testing"
	"time"
	"unsafe"
)

// TestSocketSize holds Socket to 256 bytes: a host may keep a million.
func TestSocketSize(t *testing.T) {
	if n := unsafe.Sizeof(Socket{}); n > 256 {
		t.Errorf("Socket is %d bytes, want at most 256", n)
	}
}

// TestSocketPhases follows sockets through their life cycle and checks
// the phase after each step, with the orphan count and the port.
func TestSocketPhases(t *testing.T) {
	f, a, b := pair(t)
	l := b.st.NewSocket()
	want := func(what string, so *Socket, ph phase) {
		t.Helper()
		if so.phase != ph {
			t.Fatalf("%s: phase %d, want %d", what, so.phase, ph)
		}
	}
	want("new socket", l, phaseIdle)
	if err := l.Bind(ap(addrB, port)); err != nil {
		t.Fatal(err)
	}
	want("bound", l, phaseIdle)
	if err := l.Listen(f.now, 4); err != nil {
		t.Fatal(err)
	}
	want("listening", l, phaseListen)
	c, s := f.connect(a, b, l)
	want("client connected", c, phaseOpen)
	want("server accepted", s, phaseOpen)

	c.Close(f.now) // the client closes first: FIN_WAIT_1, an orphan
	want("client closed", c, phaseOrphan)
	if n := a.st.Orphans(); n != 1 {
		t.Fatalf("%d orphans after close, want 1", n)
	}
	f.run(10 * time.Millisecond) // FIN_WAIT_2; the server is in CLOSE_WAIT
	want("server in CLOSE_WAIT", s, phaseOpen)
	s.Close(f.now)
	f.run(10 * time.Millisecond) // the client's connection is a TIME_WAIT record now
	want("client in TIME_WAIT", c, phaseDone)
	want("server released", s, phaseDone)
	if n := a.st.Orphans(); n != 0 || c.bound || s.bound {
		t.Fatalf("%d orphans, client bound %v, server bound %v; want 0, false, false", n, c.bound, s.bound)
	}

	if err := l.Shutdown(f.now, ShutRD); err != nil {
		t.Fatal(err)
	}
	want("listener shut down", l, phaseIdle)
	if !l.bound {
		t.Fatal("a listener stopped by shutdown(SHUT_RD) lost its port")
	}
	l.Close(f.now)
	want("listener closed", l, phaseIdle)
	if l.bound {
		t.Fatal("a closed socket keeps its port")
	}
}

// TestDetachKeepsBindPort: a connection of a socket bound by bind() that
// is released keeps the port while a handle is open, and lets it go on
// close; the same connection turned into a TIME_WAIT record lets it go at
// once (the record holds it).
func TestDetachKeepsBindPort(t *testing.T) {
	tests := []struct {
		name     string
		why      detachReason
		wantPort bool
	}{
		{"released", detachReleased, true},
		{"TIME_WAIT", detachTimeWait, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, a, b := pair(t)
			l := f.listen(b, port, 4)
			c := a.st.NewSocket()
			if err := c.Bind(ap(addrA, 5000)); err != nil {
				t.Fatal(err)
			}
			if err := c.Connect(f.now, ap(addrB, port)); err != nil {
				t.Fatal(err)
			}
			f.run(10 * time.Millisecond)
			if _, err := l.Accept(); err != nil {
				t.Fatal(err)
			}
			a.st.detach(f.now, c, tt.why)
			if c.phase != phaseDone || c.bound != tt.wantPort || a.st.conns[c.tuple] != nil {
				t.Fatalf("after detach: phase %d, bound %v, in the demux table %v; want %d, %v, false",
					c.phase, c.bound, a.st.conns[c.tuple] != nil, phaseDone, tt.wantPort)
			}
			c.Close(f.now)
			if c.bound || len(a.st.bound[5000]) != 0 {
				t.Fatal("the port is still held after close")
			}
		})
	}
}
