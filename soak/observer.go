package soak

import (
	"fmt"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/stack"
	"github.com/tcpwave/tcpwave/tcp"
	"github.com/tcpwave/tcpwave/trace"
	"github.com/tcpwave/tcpwave/wire"
)

// observer records the events of a stack that replaced a crashed one, as
// the simulator records those of the stacks it made (which it does through
// an observer of its own that soak cannot reuse). Its segments are
// relative to the ISNs it sees itself: a segment of a connection opened
// before the crash is written with absolute sequence numbers.
type observer struct {
	rec  *trace.Recorder
	host string
	rel  trace.Relativizer
}

func (o *observer) PacketSent(now clock.Instant, pkt []byte) { o.seg(now, pkt, trace.KindSend) }

func (o *observer) PacketReceived(now clock.Instant, pkt []byte) { o.seg(now, pkt, trace.KindRecv) }

func (o *observer) PacketDropped(now clock.Instant, pkt []byte, err error) {
	o.rec.Add(trace.Event{T: now, Host: o.host, Kind: trace.KindDrop, From: "?", To: o.host,
		Seg: fmt.Sprintf("(%d bytes)", len(pkt)), Why: err.Error()})
}

func (o *observer) seg(now clock.Instant, pkt []byte, k trace.Kind) {
	var p wire.Packet
	if wire.ParsePacket(pkt, &p) != nil {
		return
	}
	o.rec.Add(trace.Event{T: now, Host: o.host, Kind: k, Seg: o.rel.Format(&p)})
}

func (o *observer) StateChanged(now clock.Instant, t stack.Tuple, from, to tcp.State, why string) {
	conn := t.Local.String()
	if t.Remote.IsValid() {
		conn += ">" + t.Remote.String()
	}
	o.rec.Add(trace.Event{T: now, Host: o.host, Kind: trace.KindState, From: from.String(), To: to.String(), Why: why, Conn: conn})
}
