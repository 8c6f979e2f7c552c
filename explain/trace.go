package explain

import (
	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/notation"
	"github.com/tcpwave/tcpwave/trace"
	"github.com/tcpwave/tcpwave/wire"
)

// HostNames returns the names Trace gives the two endpoints: their
// addresses, the client's first.
func (c *Conn) HostNames() (client, server string) {
	return c.Addr[Client].String(), c.Addr[Server].String()
}

// Trace returns the connection as the trace events every renderer takes
// (trace.WriteLadder, trace.WriteJSONL, the HTML page): each segment it
// kept as a send by its sender and a receive by the other side at the
// instant the capture saw it (the capture point is one place: the arrows
// do not slant), with sequence numbers relative to each side's first,
// and both sides' inferred state changes, their reasons marked
// "(inferred)" and with what the capture cannot tell. The hosts are named
// by HostNames. Findings are not events; WriteRow's -v form lists them.
func (c *Conn) Trace() []trace.Event {
	names := [2]string{}
	names[Client], names[Server] = c.HostNames()
	var isn [2]uint32
	var seen [2]bool
	for _, s := range c.Segments {
		if !seen[s.From] {
			isn[s.From], seen[s.From] = s.Seq, true
		}
	}
	if c.MidStream {
		seen = [2]bool{} // no ISN known: absolute numbers
	}
	conn := trace.Conn{Local: c.Addr[Client], Remote: c.Addr[Server]}
	var out []trace.Event
	for _, e := range c.Events() {
		t := clock.Instant(e.T)
		switch {
		case e.Segment != nil:
			s := e.Segment
			from, to := s.From, 1-s.From
			var seqBase, ackBase uint32
			if seen[from] {
				seqBase = isn[from]
			}
			if seen[to] {
				ackBase = isn[to]
			}
			f := wire.TCPFields{Seq: s.Seq, Ack: s.Ack, Flags: s.Flags, Window: s.Win}
			seg := notation.FromTCP(&f, s.Len, seqBase, ackBase, false)
			out = append(out,
				trace.Event{T: t, Host: names[from], Kind: trace.KindSend, Seg: &seg},
				trace.Event{T: t, Host: names[to], Kind: trace.KindRecv, Seg: &seg})
		case e.Transition != nil:
			tr := e.Transition
			why := tr.Why + " (inferred)"
			if tr.Uncertain != "" {
				why += "; " + tr.Uncertain
			}
			cn := conn
			if e.Side == Server {
				cn = cn.Reverse()
			}
			out = append(out, trace.Event{T: t, Host: names[e.Side], Kind: trace.KindState, From: tr.From, To: tr.To, Why: why, Conn: cn})
		}
	}
	return out
}
