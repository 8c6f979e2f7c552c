package explain

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/tcpwave/tcpwave/tcp"
	"github.com/tcpwave/tcpwave/wire"
)

// Side names one endpoint of a connection: Client sent the first SYN (or,
// in a capture that starts mid-connection, holds the higher port); Server
// is the other.
type Side int

// The two sides.
const (
	Client Side = 0
	Server Side = 1
)

// String returns "client" or "server".
func (s Side) String() string {
	if s == Client {
		return "client"
	}
	return "server"
}

// other returns the peer's side.
func (s Side) other() Side { return 1 - s }

// Transition is one inferred state change of one endpoint. Every
// transition is inferred from what crossed the capture point: a segment
// seen there may have been lost beyond it, so the time is when the segment
// that caused the change was seen (or, for a timer, when it fires).
type Transition struct {
	T        time.Duration // since the capture's first packet
	From, To tcp.State
	Why      string // the rule, in the scenarios' words: "FIN received (RFC 9293 §3.10.7.4)"
	// AfterCapture marks a change a timer makes after what the record saw
	// (TIME_WAIT's 2MSL, past the capture's end or past the quiet time
	// after which a closed connection is handed over): expected, not seen.
	AfterCapture bool
	// Uncertain says what the capture cannot tell about this change (its
	// time, or whether it happened at all), empty when it is clear.
	Uncertain string
}

// Finding is one diagnosis of a connection, in the seeds' vocabulary.
type Finding struct {
	T    time.Duration // when it was seen (since the capture's first packet)
	Kind string        // a stable word: "time-wait", "rst", "fin-retransmitted", ... (see Kinds)
	Text string        // one line for people
}

// Counters are what one endpoint sent.
type Counters struct {
	Packets     int
	Bytes       uint64 // payload bytes, by sequence number: retransmissions count once
	SYNs        int    // SYN or SYN-ACK segments, retransmissions included
	Retransmits int    // data segments sent again (by sequence)
	DupACKs     int
	ZeroWindows int // times the advertised window fell to 0
	Keepalives  int
	FINs        int // FIN segments, retransmissions included
	RSTs        int
}

// Segment is one segment of a connection as the ladder draws it, sequence
// numbers relative to each side's ISN (absolute in a mid-connection
// capture).
type Segment struct {
	T     time.Duration
	From  Side
	Flags wire.Flags
	Seq   uint32
	Ack   uint32
	Len   int
	Win   uint16
}

// Conn is one connection incarnation reconstructed from a capture: its
// endpoints, numbers, both endpoints' inferred states and the findings.
// It can be replayed as a sequence of events (Segments and the States of
// both sides, ordered by time) for a ladder diagram.
type Conn struct {
	ID          int               // 1, 2, ... in order of the first packet
	Addr        [2]netip.AddrPort // Client and Server
	Incarnation int               // 1 for the first connection on this 4-tuple, 2 for its reuse, ...
	MidStream   bool              // the capture began after the handshake: the first states are assumed
	Start, End  time.Duration     // first and last packet, since the capture's first packet
	Sent        [2]Counters       // by Side
	FirstFIN    Side              // who closed first (valid when Closer)
	Closer      bool              // some side sent a FIN
	Close       string            // the close kind (see CloseKinds)
	States      [2][]Transition   // by Side; empty for a side that never had a connection (a closed port)
	Final       [2]tcp.State      // the last state of each side (after timers that fire after the capture)
	Known       [2]bool           // whether the side's state is known at all
	Findings    []Finding         // in time order
	Segments    []Segment         // the first segments and every control segment, bounded
	Omitted     int               // segments left out of Segments
	HalfClose   time.Duration     // how long one direction was shut before the other (0: not half-closed)
	HalfBytes   uint64            // payload bytes sent after the first FIN
}

// The close kinds of Conn.Close.
const (
	CloseFourWay      = "four-way"       // FIN, ACK, FIN, ACK
	CloseThreeWay     = "three-way"      // FIN, FIN+ACK (the ACK merged by delayed ACK), ACK
	CloseSimultaneous = "simultaneous"   // both FINs crossed: both sides went through CLOSING
	CloseHalf         = "half-close"     // data flowed after the first FIN, then the other FIN
	CloseRST          = "rst"            // a RST ended it
	CloseRefused      = "refused"        // the SYN drew a RST: nothing listened
	CloseSYNTimeout   = "syn-unanswered" // SYNs and nothing back
	CloseOpen         = "open"           // still open when the capture ends
	CloseHalfOpen     = "half-closed"    // one FIN only when the capture ends
)

// String writes the segment in packetdrill notation, as the scenarios'
// ladders do: "F. 1:1(0) ack 1 win 502".
func (s Segment) String() string {
	f := wire.TCPFields{Seq: s.Seq, Ack: s.Ack, Flags: s.Flags, Window: s.Win}
	return wire.FormatSegment(&f, s.Len, 0, 0, false)
}

// Event is one step of a connection for a ladder diagram: a segment a
// side sent, one of its inferred state changes, or a finding.
type Event struct {
	T          time.Duration
	Side       Side        // who sent the segment or changed state
	Segment    *Segment    // set for a segment
	Transition *Transition // set for a state change
	Finding    *Finding    // set for a finding (Side is then meaningless)
}

// Events merges c's segments, both sides' transitions and its findings
// into one sequence in time order. At one instant a side's own call (the
// close() that sends a FIN) comes before the segment it sends, and what a
// segment makes its receiver do comes after it.
func (c *Conn) Events() []Event {
	var out []Event
	for i := range c.Segments {
		out = append(out, Event{T: c.Segments[i].T, Side: c.Segments[i].From, Segment: &c.Segments[i]})
	}
	for s := Client; s <= Server; s++ {
		for i := range c.States[s] {
			out = append(out, Event{T: c.States[s][i].T, Side: s, Transition: &c.States[s][i]})
		}
	}
	for i := range c.Findings {
		out = append(out, Event{T: c.Findings[i].T, Finding: &c.Findings[i]})
	}
	rank := func(e Event) int {
		switch {
		case e.Transition != nil && isCall(e.Transition.Why):
			return 0
		case e.Segment != nil:
			return 1
		case e.Transition != nil:
			return 2
		}
		return 3
	}
	slices.SortStableFunc(out, func(a, b Event) int {
		if a.T != b.T {
			return cmp.Compare(a.T, b.T)
		}
		return cmp.Compare(rank(a), rank(b))
	})
	return out
}

// isCall reports whether a transition's reason is the side's own call.
func isCall(why string) bool {
	for _, p := range []string{"connect()", "shutdown(", "close()", "abort"} {
		if strings.HasPrefix(why, p) {
			return true
		}
	}
	return false
}
