package simnet

import (
	"errors"
	"net"
	"net/netip"
	"sync"

	"github.com/tcpwave/tcpwave"
	"github.com/tcpwave/tcpwave/wire"
)

// Conn is a connection of a simnet host: a *tcpwave.Conn (so CloseWrite,
// SetKeepAliveConfig, SetLinger, ... are there) whose Read waits while
// its host's application is paused (Host.PauseReads).
type Conn struct {
	*tcpwave.Conn
	h *Host
}

// Read reads as tcpwave.Conn's Read does, once the host's application
// reads again (Host.ResumeReads).
func (c *Conn) Read(b []byte) (int, error) {
	c.h.readGate().wait()
	return c.Conn.Read(b)
}

// listener wraps a host's listener so that Accept returns *Conn.
type listener struct {
	*tcpwave.Listener
	h *Host
}

// Accept waits for a connection.
func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.AcceptConn()
	if err != nil {
		return nil, err
	}
	return &Conn{Conn: c, h: l.h}, nil
}

// gate is open or shut; wait returns once it is open.
type gate struct {
	mu   sync.Mutex
	open chan struct{} // closed while the gate is open
}

func newGate() *gate {
	g := &gate{open: make(chan struct{})}
	close(g.open)
	return g
}

// wait returns when the gate is open.
func (g *gate) wait() {
	g.mu.Lock()
	ch := g.open
	g.mu.Unlock()
	<-ch
}

// set opens or shuts the gate.
func (g *gate) set(open bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
		if !open {
			g.open = make(chan struct{})
		}
	default:
		if open {
			close(g.open)
		}
	}
}

// readGate returns the host's gate for reads.
func (h *Host) readGate() *gate {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.reads == nil {
		h.reads = newGate()
	}
	return h.reads
}

// PauseReads stops the host's application from reading: every Read on
// the host's connections waits (deadlines included) until ResumeReads.
// The data keeps coming until the receive buffer is full; then the host
// offers a zero window and the peer probes it, as when a real
// application stops reading.
func (h *Host) PauseReads() { h.readGate().set(false) }

// ResumeReads lets the host's application read again.
func (h *Host) ResumeReads() { h.readGate().set(true) }

// observe notes how far a segment reaches in its direction's sequence
// space, for ResetConn. With n.mu held.
func (n *Network) observe(s Segment) {
	if n.flows == nil {
		n.flows = make(map[[2]netip.AddrPort]uint32)
	}
	end := s.Seq + uint32(s.Len)
	if s.Flags&(wire.SYN|wire.FIN) != 0 {
		end++
	}
	k := [2]netip.AddrPort{s.From, s.To}
	if next, seen := n.flows[k]; !seen || int32(end-next) > 0 {
		n.flows[k] = end
	}
}

// ErrUnknownConn says ResetConn has seen no packet of the connection.
var ErrUnknownConn = errors.New("simnet: no packet of that connection has crossed the network")

// ResetConn resets a connection as a middlebox would: each end gets a RST
// that seems to come from the other, with the sequence number it
// expects, as if the peer had aborted. c is either end's net.Conn (or
// anything with its *net.TCPAddr addresses); other addresses fail, and a
// connection no packet of which has crossed both ways fails with
// ErrUnknownConn. The RSTs take the link's delay, and no
// loss or fault rule touches them.
func (n *Network) ResetConn(c interface {
	LocalAddr() net.Addr
	RemoteAddr() net.Addr
}) error {
	la, ok1 := c.LocalAddr().(*net.TCPAddr)
	ra, ok2 := c.RemoteAddr().(*net.TCPAddr)
	if !ok1 || !ok2 {
		return errors.New("simnet: ResetConn needs a TCP connection")
	}
	a, b := la.AddrPort(), ra.AddrPort()
	a = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
	b = netip.AddrPortFrom(b.Addr().Unmap(), b.Port())
	n.mu.Lock()
	ab, seenAB := n.flows[[2]netip.AddrPort{a, b}]
	ba, seenBA := n.flows[[2]netip.AddrPort{b, a}]
	n.mu.Unlock()
	if !seenAB || !seenBA {
		return ErrUnknownConn
	}
	// To a, from b: b's next sequence number, which is what a expects.
	if err := n.forgeRST(b, a, ba); err != nil {
		return err
	}
	return n.forgeRST(a, b, ab)
}

// forgeRST sends a RST from one end of a connection to the other.
func (n *Network) forgeRST(from, to netip.AddrPort, sq uint32) error {
	p := wire.Packet{Src: from.Addr(), Dst: to.Addr(), TCP: wire.TCPFields{
		SrcPort: from.Port(), DstPort: to.Port(), Seq: sq, Flags: wire.RST}}
	buf := make([]byte, wire.PacketLen(&p))
	k, err := wire.EncodePacket(buf, &p, 64, 0)
	if err != nil {
		return err
	}
	n.inject(from.Addr(), buf[:k])
	return nil
}
