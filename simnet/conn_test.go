package simnet_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tcpwave/tcpwave/simnet"
)

// TestResetConn: the network resets a connection as a middlebox would:
// both ends read ECONNRESET. A connection it has not seen is refused.
func TestResetConn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n, a, b := twoHosts(t, simnet.Options{Seed: 1, Link: simnet.Link{Delay: 5 * time.Millisecond}})
		ln, _ := b.Listen("tcp", ":80")
		defer ln.Close()
		accepted := make(chan net.Conn, 1)
		go func() {
			c, err := ln.Accept()
			if err == nil {
				accepted <- c
			}
		}()
		c, err := a.Dial("tcp", "10.0.0.2:80")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		s := <-accepted
		defer s.Close()
		c.Write([]byte("ping"))
		if _, err := io.ReadFull(s, make([]byte, 4)); err != nil {
			t.Fatal(err)
		}
		if err := n.ResetConn(c); err != nil {
			t.Fatal(err)
		}
		for name, conn := range map[string]net.Conn{"client": c, "server": s} {
			if _, err := conn.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("%s read after ResetConn: %v, want ECONNRESET", name, err)
			}
		}
		if err := n.ResetConn(fakeConn{}); !errors.Is(err, simnet.ErrUnknownConn) {
			t.Errorf("ResetConn of a connection never seen: %v, want ErrUnknownConn", err)
		}
	})
}

// fakeConn has the addresses of a connection that never existed.
type fakeConn struct{}

func (fakeConn) LocalAddr() net.Addr {
	return &net.TCPAddr{IP: net.ParseIP("10.0.0.1"), Port: 1111}
}
func (fakeConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.ParseIP("10.0.0.2"), Port: 2222}
}

// addrConn is a connection with the addresses of the test's choosing.
type addrConn struct{ l, r net.Addr }

func (c addrConn) LocalAddr() net.Addr  { return c.l }
func (c addrConn) RemoteAddr() net.Addr { return c.r }

// TestResetConnOdd: ResetConn of something that is not a TCP connection
// the network has seen fails, and sends nothing.
func TestResetConnOdd(t *testing.T) {
	tcpAddr := &net.TCPAddr{IP: net.ParseIP("10.0.0.1"), Port: 1}
	var nilTCP *net.TCPAddr
	tests := []struct {
		name    string
		c       addrConn
		unknown bool // ErrUnknownConn; else another error
	}{
		{"nil addresses", addrConn{}, false},
		{"UDP", addrConn{&net.UDPAddr{IP: net.ParseIP("10.0.0.1"), Port: 1}, tcpAddr}, false},
		{"one TCP", addrConn{tcpAddr, nil}, false},
		{"nil TCP addresses", addrConn{nilTCP, nilTCP}, true},
		{"never seen", addrConn{tcpAddr, &net.TCPAddr{IP: net.ParseIP("10.0.0.2"), Port: 2}}, true},
		{"to itself", addrConn{tcpAddr, tcpAddr}, true},
	}
	n := simnet.New(simnet.Options{})
	defer n.Close()
	for _, tt := range tests {
		err := n.ResetConn(tt.c)
		if err == nil || errors.Is(err, simnet.ErrUnknownConn) != tt.unknown {
			t.Errorf("%s: ResetConn: %v, want ErrUnknownConn %v", tt.name, err, tt.unknown)
		}
	}
	if ev := n.Events(); len(ev) != 0 {
		t.Errorf("%d packets for refused resets", len(ev))
	}
}

// TestPauseReads: while the server's application does not read, the
// client's writes fill both buffers and block; once it reads again,
// every byte arrives.
func TestPauseReads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, a, b := twoHosts(t, simnet.Options{Seed: 1, Link: simnet.Link{Delay: 5 * time.Millisecond}})
		ln, _ := b.Listen("tcp", ":80")
		defer ln.Close()
		got := make(chan []byte, 1)
		b.PauseReads()
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			data, _ := io.ReadAll(c)
			got <- data
			c.Close()
		}()
		c, err := a.Dial("tcp", "10.0.0.2:80")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		msg := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB
		c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		k, err := c.Write(msg)
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() || k == 0 || k >= len(msg) {
			t.Fatalf("Write while the peer does not read: %d bytes, %v; want part of it, then the deadline", k, err)
		}
		queued := 0
		for _, ci := range b.Connections() {
			queued += ci.RecvQ
		}
		if queued == 0 {
			t.Errorf("the paused server holds no unread data")
		}
		b.ResumeReads()
		c.SetWriteDeadline(time.Time{})
		if _, err := c.Write(msg[k:]); err != nil {
			t.Fatal(err)
		}
		c.(*simnet.Conn).CloseWrite()
		if data := <-got; !bytes.Equal(data, msg) {
			t.Errorf("the server read %d bytes, want %d, equal: %v", len(data), len(msg), bytes.Equal(data, msg))
		}
	})
}
