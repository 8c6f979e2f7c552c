package simnet

import (
	"net/netip"
	"sort"
	"time"

	"github.com/tcpwave/tcpwave/wire"
)

// Event is one thing the network did with a packet: it was delivered to
// its host, or lost, and why.
type Event struct {
	At       time.Duration // since New
	From, To netip.Addr
	Seg      Segment
	Fate     string // "" when delivered; else why it was lost ("lost (link loss)", "dropped by fault: ...")
	Headers  []byte // the packet's IP and TCP headers, for captures
	Len      int    // the packet's whole length
}

// maxEvents bounds the events a network keeps.
const maxEvents = 200_000

// record notes a packet's fate.
func (n *Network) record(from, to netip.Addr, pkt []byte, fate string) {
	seg, hdr, _ := segmentOf(pkt)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.recordLocked(from, to, pkt, seg, hdr, fate)
}

// segmentOf parses a packet: its segment and the length of its IP and
// TCP headers (0 when it does not parse).
func segmentOf(pkt []byte) (Segment, int, error) {
	var p wire.Packet
	if err := wire.ParsePacket(pkt, &p); err != nil {
		return Segment{}, 0, err
	}
	s := Segment{From: netip.AddrPortFrom(p.Src, p.TCP.SrcPort), To: netip.AddrPortFrom(p.Dst, p.TCP.DstPort),
		Flags: p.TCP.Flags, Seq: p.TCP.Seq, Ack: p.TCP.Ack, Len: len(p.Payload), Window: p.TCP.Window}
	return s, len(pkt) - len(p.Payload), nil
}

// recordLocked is record with n.mu held, for a packet segmentOf has
// parsed already.
func (n *Network) recordLocked(from, to netip.Addr, pkt []byte, seg Segment, hdr int, fate string) {
	if len(n.events) >= maxEvents {
		n.eventsCut++
		return
	}
	e := Event{At: time.Since(n.started), From: from, To: to, Fate: fate, Len: len(pkt)}
	if hdr > 0 {
		e.Seg = seg
		e.Headers = append([]byte(nil), pkt[:hdr]...)
	}
	n.events = append(n.events, e)
	if fate != "" && n.tr != nil {
		n.tr.netDrop(e.At, from, to, pkt, fate)
	}
}

// Events returns what the network has done with packets so far: a
// delivered packet or a lost one each, in order of time, and at one
// instant by the address of the sending host (hosts that send at the same
// virtual instant do so in an order the scheduler picks; each host's own
// packets keep their order). At most 200,000 are kept.
func (n *Network) Events() []Event {
	n.mu.Lock()
	ev := append([]Event(nil), n.events...)
	n.mu.Unlock()
	sort.SliceStable(ev, func(i, j int) bool {
		if ev[i].At != ev[j].At {
			return ev[i].At < ev[j].At
		}
		return ev[i].From.Less(ev[j].From)
	})
	return ev
}
