package trace

import (
	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/stack"
	"github.com/tcpwave/tcpwave/tcp"
	"github.com/tcpwave/tcpwave/wire"
)

// Observer is a stack.Observer that turns a stack's callbacks into the
// events of one host: a segment sent or received, a packet the host could
// not take (a drop from "?" to the host, its size only), and each state
// change of its connections. The zero value records nothing.
type Observer struct {
	// Host names the host in the events.
	Host string
	// Rel numbers the segments; hosts that share one (the simulated
	// network's) number a connection's segments alike. Nil: the
	// Observer's own.
	Rel *Relativizer
	// Add takes each event; nil discards them (and skips the work).
	Add func(Event)
	own Relativizer
}

var _ stack.Observer = (*Observer)(nil)

// PacketSent records a send event.
func (o *Observer) PacketSent(now clock.Instant, pkt []byte) { o.segment(now, pkt, KindSend) }

// PacketReceived records a recv event.
func (o *Observer) PacketReceived(now clock.Instant, pkt []byte) { o.segment(now, pkt, KindRecv) }

// PacketDropped records a drop inside the host: the packet's size and
// why it was not taken.
func (o *Observer) PacketDropped(now clock.Instant, pkt []byte, err error) {
	if o.Add == nil {
		return
	}
	o.Add(Event{T: now, Host: o.Host, Kind: KindDrop, Src: "?", Dst: o.Host, Size: len(pkt), Why: err.Error()})
}

// StateChanged records a state event.
func (o *Observer) StateChanged(now clock.Instant, t stack.Tuple, from, to tcp.State, why string) {
	if o.Add == nil {
		return
	}
	o.Add(Event{T: now, Host: o.Host, Kind: KindState, From: from, To: to, Why: why, Conn: Conn(t)})
}

// segment records a packet that parses as TCP; others are skipped.
func (o *Observer) segment(now clock.Instant, pkt []byte, k Kind) {
	if o.Add == nil {
		return
	}
	var p wire.Packet
	if wire.ParsePacket(pkt, &p) != nil {
		return
	}
	o.Add(Event{T: now, Host: o.Host, Kind: k, Seg: o.rel().Segment(&p)})
}

func (o *Observer) rel() *Relativizer {
	if o.Rel != nil {
		return o.Rel
	}
	return &o.own
}
