package interop

import (
	"sync"
	"sync/atomic"

	"github.com/tcpwave/tcpwave/link"
	"github.com/tcpwave/tcpwave/link/pipe"
)

// MTU is the link MTU of every Wire: Ethernet's 1500 bytes.
const MTU = 1500

// wireQueue is each direction's queue length in packets: room for
// several full windows of either stack, so that the link itself drops
// nothing in a healthy run.
const wireQueue = 8192

// Wire is an in-memory link between two hosts: what port A sends, port B
// receives, and the other way round.
type Wire struct {
	A, B *Port
}

// NewWire returns a link with MTU 1500 and no delay.
func NewWire() *Wire {
	a, b := pipe.NewEnds(MTU, wireQueue)
	return &Wire{A: &Port{end: a}, B: &Port{end: b}}
}

// PortStats counts what a Port sent.
type PortStats struct {
	Packets  uint64 // packets accepted for the peer, held ones included
	MaxLen   int    // length of the largest packet sent
	TooLong  uint64 // packets refused as larger than the MTU
	Dropped  uint64 // packets the link lost (queue full or peer closed)
	Corrupts uint64 // packets corrupted on request (CorruptNext)
}

// Port is one end of a Wire. It implements link.Endpoint; packets sent
// through it may be held back (Hold, Release) or corrupted (CorruptNext)
// on their way to the peer. It is safe for concurrent use.
type Port struct {
	end *pipe.End

	// tapped is set while a Hold, a CorruptNext or a Capture is on:
	// WritePacket then takes mu; otherwise it goes straight to the pipe.
	tapped   atomic.Bool
	mu       sync.Mutex
	hold     bool
	held     [][]byte
	capture  bool
	captured [][]byte
	// corrupt is the number of payload-carrying packets still to corrupt.
	corrupt int

	packets, tooLong, corrupts atomic.Uint64
	maxLen                     atomic.Int64
}

var _ link.Poller = (*Port)(nil)

// WritePacket sends pkt to the peer (link.Endpoint). The link copies
// pkt; a held packet is copied too.
func (p *Port) WritePacket(pkt []byte) error {
	if len(pkt) > MTU {
		p.tooLong.Add(1)
		return p.end.WritePacket(pkt) // the pipe refuses it with an error
	}
	p.count(len(pkt))
	if !p.tapped.Load() {
		return p.end.WritePacket(pkt)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.capture {
		p.captured = append(p.captured, append([]byte(nil), pkt...))
	}
	if p.corrupt > 0 && payloadOffset(pkt) < len(pkt) {
		p.corrupt--
		p.corrupts.Add(1)
		c := append([]byte(nil), pkt...)
		c[len(c)-1] ^= 0x5a // the checksum no longer matches
		pkt = c
	}
	if p.hold {
		p.held = append(p.held, append([]byte(nil), pkt...))
		return nil
	}
	p.retap()
	return p.end.WritePacket(pkt)
}

// retap sets tapped from the taps that are on; p.mu is held.
func (p *Port) retap() { p.tapped.Store(p.hold || p.capture || p.corrupt > 0) }

func (p *Port) count(n int) {
	p.packets.Add(1)
	for {
		m := p.maxLen.Load()
		if int64(n) <= m || p.maxLen.CompareAndSwap(m, int64(n)) {
			return
		}
	}
}

// ReadPacket waits for a packet from the peer (link.Endpoint).
func (p *Port) ReadPacket(buf []byte) (int, error) { return p.end.ReadPacket(buf) }

// PollPacket takes a packet from the peer if one is waiting
// (link.Poller).
func (p *Port) PollPacket(buf []byte) (int, error) { return p.end.PollPacket(buf) }

// MTU returns 1500 (link.Endpoint).
func (p *Port) MTU() int { return p.end.MTU() }

// Close closes this end of the wire (link.Endpoint).
func (p *Port) Close() error { return p.end.Close() }

// Hold makes the port keep the packets sent from now on, in order, until
// Release: to the peer the link has gone quiet in this direction.
func (p *Port) Hold() {
	p.mu.Lock()
	p.hold = true
	p.retap()
	p.mu.Unlock()
}

// Release sends the held packets, in order, and lets later ones through.
// It returns how many packets it released.
func (p *Port) Release() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.held)
	for _, pkt := range p.held {
		_ = p.end.WritePacket(pkt)
	}
	p.held, p.hold = nil, false
	p.retap()
	return n
}

// CorruptNext flips bits in the last byte of the next n packets that
// carry a TCP payload, so that their TCP checksum fails.
func (p *Port) CorruptNext(n int) {
	p.mu.Lock()
	p.corrupt += n
	p.retap()
	p.mu.Unlock()
}

// Capture makes the port keep a copy of every packet sent from now on
// (before any corruption), for Captured.
func (p *Port) Capture() {
	p.mu.Lock()
	p.capture = true
	p.retap()
	p.mu.Unlock()
}

// Captured returns the packets kept since Capture, in the order they were
// sent, and stops capturing.
func (p *Port) Captured() [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.captured
	p.captured, p.capture = nil, false
	p.retap()
	return c
}

// Stats returns the port's counts.
func (p *Port) Stats() PortStats {
	return PortStats{
		Packets:  p.packets.Load(),
		MaxLen:   int(p.maxLen.Load()),
		TooLong:  p.tooLong.Load(),
		Dropped:  p.end.Stats().Dropped,
		Corrupts: p.corrupts.Load(),
	}
}

// payloadOffset returns where the TCP payload of an IPv4 or IPv6 packet
// starts, or len(pkt) when pkt is not TCP or is too short to tell.
func payloadOffset(pkt []byte) int {
	if len(pkt) < 1 {
		return len(pkt)
	}
	var ipLen, proto int
	switch pkt[0] >> 4 {
	case 4:
		if len(pkt) < 20 {
			return len(pkt)
		}
		ipLen, proto = int(pkt[0]&0xf)*4, int(pkt[9])
	case 6:
		if len(pkt) < 40 {
			return len(pkt)
		}
		ipLen, proto = 40, int(pkt[6])
	default:
		return len(pkt)
	}
	if proto != 6 || len(pkt) < ipLen+20 {
		return len(pkt)
	}
	return ipLen + int(pkt[ipLen+12]>>4)*4
}
