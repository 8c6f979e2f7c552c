package simnet

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/tcpwave/tcpwave/wire"
)

// Segment is what a fault rule sees of a packet: its TCP header.
type Segment struct {
	From, To netip.AddrPort
	Flags    wire.Flags
	Seq, Ack uint32
	Len      int // payload bytes
	Window   uint16
}

// String writes the segment in the notation of tcpdump and packetdrill,
// with absolute sequence numbers.
func (s Segment) String() string {
	return fmt.Sprintf("%v > %v %v %d:%d(%d) ack %d win %d", s.From, s.To, s.Flags, s.Seq, s.Seq+uint32(s.Len), s.Len, s.Ack, s.Window)
}

// Predicates for Rule.Match.
var (
	// SYN matches SYNs and SYN-ACKs.
	SYN = func(s Segment) bool { return s.Flags.Has(wire.SYN) }
	// FIN matches segments that carry a FIN.
	FIN = func(s Segment) bool { return s.Flags.Has(wire.FIN) }
	// RST matches resets.
	RST = func(s Segment) bool { return s.Flags.Has(wire.RST) }
	// Data matches segments with payload.
	Data = func(s Segment) bool { return s.Len > 0 }
	// PureACK matches segments with no payload and only the ACK flag
	// (PSH aside).
	PureACK = func(s Segment) bool {
		return s.Len == 0 && s.Flags&^wire.PSH == wire.ACK
	}
)

// Rule says which packets a fault drops. The zero Rule drops every
// packet until removed. A negative Skip, Count or For counts as 0.
type Rule struct {
	From, To *Host              // nil: any host
	Both     bool               // also packets from To to From
	Match    func(Segment) bool // nil: any segment
	Skip     int                // let this many matching packets pass first
	Count    int                // drop this many, then end; 0: no limit
	For      time.Duration      // end this long after Drop; 0: no limit
	Name     string             // shown in traces; empty: made from the rule
}

// Fault is a rule in force. Its methods may be called from any goroutine.
type Fault struct {
	n *Network
	r *ruleState
}

// ruleState is a rule with its progress. Guarded by Network.mu.
type ruleState struct {
	Rule
	until   time.Time // zero: no end
	seen    int       // matching packets so far
	dropped int
	ended   bool
}

// Drop puts a fault in force from now on: "the next FIN from the server"
// is Rule{From: server, Match: FIN, Count: 1}; "the third data segment"
// is Rule{Match: Data, Skip: 2, Count: 1}; "every ACK for 2 s" is
// Rule{Match: PureACK, For: 2 * time.Second}.
func (n *Network) Drop(r Rule) *Fault {
	rs := &ruleState{Rule: r}
	if r.For > 0 {
		rs.until = time.Now().Add(r.For)
	}
	if rs.Name == "" {
		rs.Name = describe(r)
	}
	n.mu.Lock()
	// Ended rules go when a new one comes: faultDrop looks at every rule
	// for every packet, and a test may put thousands in force.
	n.rules = append(slices.DeleteFunc(n.rules, func(r *ruleState) bool { return r.ended }), rs)
	n.mu.Unlock()
	return &Fault{n: n, r: rs}
}

// Partition drops every packet between a and b, both ways, for d.
func (n *Network) Partition(a, b *Host, d time.Duration) *Fault {
	return n.Drop(Rule{From: a, To: b, Both: true, For: d, Name: fmt.Sprintf("partition %v | %v for %v", a.addr, b.addr, d)})
}

// Remove ends the fault.
func (f *Fault) Remove() {
	f.n.mu.Lock()
	f.r.ended = true
	f.n.mu.Unlock()
}

// Dropped returns how many packets the fault has dropped.
func (f *Fault) Dropped() int {
	f.n.mu.Lock()
	defer f.n.mu.Unlock()
	return f.r.dropped
}

// describe names a rule for traces.
func describe(r Rule) string {
	s := "drop"
	if r.Count > 0 {
		s += fmt.Sprintf(" %d", r.Count)
	}
	if r.Match != nil {
		s += " matching"
	}
	if r.From != nil {
		s += " from " + r.From.addr.String()
	}
	if r.To != nil {
		s += " to " + r.To.addr.String()
	}
	if r.Both {
		s += " (both ways)"
	}
	if r.Skip > 0 {
		s += fmt.Sprintf(" after %d", r.Skip)
	}
	if r.For > 0 {
		s += fmt.Sprintf(" for %v", r.For)
	}
	return s
}

// applies reports whether the rule covers a packet from one host to
// another.
func (rs *ruleState) applies(from, to netip.Addr) bool {
	fwd := (rs.From == nil || rs.From.addr == from) && (rs.To == nil || rs.To.addr == to)
	rev := rs.Both && (rs.From == nil || rs.From.addr == to) && (rs.To == nil || rs.To.addr == from)
	return fwd || rev
}

// faultDrop returns the name of the first rule that drops the segment,
// or "". With n.mu held.
func (n *Network) faultDrop(now time.Time, from, to netip.Addr, s Segment) string {
	for _, rs := range n.rules {
		if rs.ended {
			continue
		}
		if !rs.until.IsZero() && !now.Before(rs.until) {
			rs.ended = true
			continue
		}
		if !rs.applies(from, to) || rs.Match != nil && !rs.Match(s) {
			continue
		}
		rs.seen++
		if rs.seen <= rs.Skip {
			continue
		}
		rs.dropped++
		if rs.Count > 0 && rs.dropped >= rs.Count {
			rs.ended = true
		}
		return rs.Name
	}
	return ""
}
