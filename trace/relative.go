package trace

import (
	"net/netip"

	"github.com/tcpwave/tcpwave/notation"
	"github.com/tcpwave/tcpwave/wire"
)

// Relativizer describes segments with sequence numbers relative to each
// side's ISN, which it learns from the SYNs it sees. Until a direction's SYN has been seen its numbers stay absolute.
type Relativizer struct {
	isn     map[flow]uint32
	Options bool // also describe TCP options
}

type flow struct{ src, dst netip.AddrPort }

// Segment describes the segment of p, e.g. "F. 1:1(0) ack 1 win 502".
func (r *Relativizer) Segment(p *wire.Packet) *notation.Segment {
	if r.isn == nil {
		r.isn = make(map[flow]uint32)
	}
	fwd := flow{netip.AddrPortFrom(p.Src, p.TCP.SrcPort), netip.AddrPortFrom(p.Dst, p.TCP.DstPort)}
	rev := flow{fwd.dst, fwd.src}
	if p.TCP.Flags&wire.SYN != 0 {
		if p.TCP.Flags&wire.ACK == 0 {
			delete(r.isn, rev) // a new connection on this 4-tuple
		}
		r.isn[fwd] = p.TCP.Seq
	}
	seg := notation.FromTCP(&p.TCP, len(p.Payload), r.isn[fwd], r.isn[rev], r.Options)
	return &seg
}
