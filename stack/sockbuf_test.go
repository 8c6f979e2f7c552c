package stack

import (
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/tcp"
	"github.com/tcpwave/tcpwave/wire"
)

// SO_RCVBUF and SO_SNDBUF on a socket: set before listen(), the listener's
// children inherit them (their SYN-ACK offers a window and scale from the
// listener's buffer, as Linux 6.18 does: conformance/rcvbuf-listen.pkt);
// set before connect(), the SYN carries them; set on a connection, they
// apply to it. getsockopt's value is twice the one set.
func TestSocketBuffers(t *testing.T) {
	tests := []struct {
		name             string
		listenRcv        int // SO_RCVBUF on the listener, 0 for none
		dialRcv, dialSnd int // on the client before connect
		synWin           uint16
		synScale         uint8
		synAckWin        uint16
		synAckScale      uint8
		childRcv         int // the accepted socket's SO_RCVBUF as getsockopt shows it
		clientSnd        int // bytes one Write takes on the client
	}{
		{name: "defaults", synWin: 64240, synScale: 7, synAckWin: 65160, synAckScale: 7, clientSnd: 100000},
		{name: "listener 20000", listenRcv: 20000, synWin: 64240, synScale: 7, synAckWin: 18824, synAckScale: 0, childRcv: 40000, clientSnd: 100000},
		{name: "client 100000 and SO_SNDBUF 3000", dialRcv: 100000, dialSnd: 3000, synWin: 65535, synScale: 1, synAckWin: 65160, synAckScale: 7, clientSnd: 6000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, a, b := pair(t)
			l := f.listen(b, 80, 8, func(so *Socket) {
				if tt.listenRcv > 0 {
					so.SetRcvBuf(f.now, tt.listenRcv)
				}
			})
			c := a.st.NewSocket()
			if tt.dialRcv > 0 {
				c.SetRcvBuf(f.now, tt.dialRcv)
			}
			if tt.dialSnd > 0 {
				c.SetSndBuf(f.now, tt.dialSnd)
			}
			start := f.now
			if err := c.Connect(f.now, l.Local()); err != nil {
				t.Fatal(err)
			}
			f.run(10 * time.Millisecond)
			srv, err := l.Accept()
			if err != nil {
				t.Fatalf("accept: %v", err)
			}
			var syn, synAck *wire.Packet
			for _, p := range f.since(start) {
				switch {
				case p.p.TCP.Flags == wire.SYN:
					syn = &p.p
				case p.p.TCP.Flags == wire.SYN|wire.ACK:
					synAck = &p.p
				}
			}
			if syn == nil || synAck == nil {
				t.Fatalf("no SYN or SYN-ACK on the wire")
			}
			if syn.TCP.Window != tt.synWin || syn.TCP.Options.WScale != tt.synScale {
				t.Errorf("SYN win %d wscale %d, want %d and %d", syn.TCP.Window, syn.TCP.Options.WScale, tt.synWin, tt.synScale)
			}
			if synAck.TCP.Window != tt.synAckWin || synAck.TCP.Options.WScale != tt.synAckScale {
				t.Errorf("SYN-ACK win %d wscale %d, want %d and %d", synAck.TCP.Window, synAck.TCP.Options.WScale, tt.synAckWin, tt.synAckScale)
			}
			if got := srv.RcvBuf(); got != tt.childRcv {
				t.Errorf("accepted socket's SO_RCVBUF %d, want %d", got, tt.childRcv)
			}
			if tt.listenRcv > 0 && !srv.Conn().RcvBufLocked() {
				t.Errorf("accepted socket's receive buffer is not locked")
			}
			if n, _ := c.Write(f.now, make([]byte, 100000)); n != tt.clientSnd {
				t.Errorf("Write took %d bytes, want %d", n, tt.clientSnd)
			}
		})
	}
}

// SO_RCVBUF set on an established connection stops its receive-buffer
// auto-tuning and shrinks it; getsockopt shows the doubled value.
func TestSocketRcvBufEstablished(t *testing.T) {
	f, a, b := pair(t)
	l := f.listen(b, 80, 8)
	_, srv := f.connect(a, b, l)
	srv.SetRcvBuf(f.now, 5000)
	if got := srv.RcvBuf(); got != 10000 {
		t.Errorf("SO_RCVBUF %d, want 10000", got)
	}
	if got := srv.Conn().RcvBuf(); got != 10000 {
		t.Errorf("receive buffer %d bytes, want 10000 (sk_rcvbuf: the window is Linux's share of it)", got)
	}
	if !srv.Conn().RcvBufLocked() {
		t.Errorf("receive buffer not locked")
	}
	srv.SetSndBuf(f.now, 1)
	if got := srv.SndBuf(); got != tcp.SockMinSndBuf {
		t.Errorf("SO_SNDBUF %d, want the floor %d", got, tcp.SockMinSndBuf)
	}
}
