// Package trace records what a TCP conversation did — state changes,
// segments sent, received and lost, application calls — as a list of events
// in virtual-time order, and renders that list three ways: JSON Lines for
// machines (WriteJSONL, ReadJSONL), a two-host ladder diagram for people
// (WriteLadder), and an `ss -tan -o` style connection table (WriteTable);
// package htmlpage draws it as an HTML page.
//
// Events carry typed values: tcp.State for states, a Conn for a
// connection, a notation.Segment for a segment (flags, sequence numbers
// relative to each side's ISN, length, window, options). An Observer turns
// a stack's callbacks into events; the renderers format the values and
// never parse text.
package trace

import (
	"net/netip"
	"strconv"
	"sync"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/notation"
	"github.com/tcpwave/tcpwave/tcp"
)

// Kind says what sort of fact an Event records.
type Kind string

// The event kinds. Their values are the "ev" field of the JSON Lines form.
const (
	KindState Kind = "state" // a host's connection changed state
	KindSend  Kind = "send"  // a host put a segment on the wire
	KindRecv  Kind = "recv"  // a host took a segment off the wire
	KindDrop  Kind = "drop"  // a segment was lost on the way (Host "net")
	KindApp   Kind = "app"   // the application made a socket call
)

// Event is one observable fact. A trace is a slice of events in
// virtual-time order; which fields are meaningful depends on Kind.
type Event struct {
	T    clock.Instant // when
	Host string        // "A", "B", ... or "net"
	Kind Kind          // KindState, KindSend, KindRecv, KindDrop, KindApp

	// State events.
	From, To tcp.State // the old and the new state
	// FromUnknown says From is not known (a trace read from JSON Lines
	// without "from").
	FromUnknown bool
	Why         string // the reason (e.g. "RFC 9293 §3.10.7.4: our FIN is ACKed"); drop events: why it was lost
	Conn        Conn   // the connection

	// Send, recv and drop events.
	Seg *notation.Segment // the segment; nil when unknown
	// Size is, for a packet a host could not parse (a drop event with
	// Seg nil), its length in bytes.
	Size int
	// Src and Dst are, for a drop event, the host that sent the segment
	// ("?" when unknown) and the host it was going to.
	Src, Dst string

	// App events.
	Call   string // "connect", "close", "read", "shutdown(SHUT_WR)", ...
	Result string // return value or error name: "EOF", "ECONNRESET", "5", "ok"
}

// SegText is the event's segment as the JSON Lines form writes it: the
// segment in packetdrill notation, "(N bytes)" for a packet that could
// not be parsed, "" for none.
func (e *Event) SegText() string {
	switch {
	case e.Seg != nil:
		return e.Seg.String()
	case e.Size > 0:
		return "(" + strconv.Itoa(e.Size) + " bytes)"
	}
	return ""
}

// Conn names a connection by its two ends; a listener has no Remote.
type Conn struct {
	Local, Remote netip.AddrPort
}

// String is "local>remote", the local address alone for a listener, and
// "" for the zero Conn.
func (c Conn) String() string {
	switch {
	case c == Conn{}:
		return ""
	case !c.Remote.IsValid():
		return c.Local.String()
	}
	return c.Local.String() + ">" + c.Remote.String()
}

// Connected reports whether c has a remote end (it is not a listener or
// the zero Conn).
func (c Conn) Connected() bool { return c.Remote.IsValid() }

// Reverse is the connection seen from its other end.
func (c Conn) Reverse() Conn { return Conn{Local: c.Remote, Remote: c.Local} }

// Recorder collects events. The zero value is ready to use, and a Recorder
// may be shared by several goroutines.
type Recorder struct {
	mu     sync.Mutex
	events []Event
}

// Add appends e to the trace. Callers add events in virtual-time order.
func (r *Recorder) Add(e Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

// Events returns a copy of the events recorded so far, in the order added.
func (r *Recorder) Events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Event, len(r.events))
	copy(out, r.events)
	return out
}

// States returns the sequence of states host went through: the From of its
// first state event, then the To of every state event, e.g. [CLOSED,
// SYN_SENT, ESTABLISHED]. It returns nil if host never changed state.
func (r *Recorder) States(host string) []tcp.State {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []tcp.State
	for _, e := range r.events {
		if e.Kind != KindState || e.Host != host {
			continue
		}
		if out == nil {
			out = append(out, e.From)
		}
		out = append(out, e.To)
	}
	return out
}

// Segments returns, in order, the segment text (Event.SegText) of every
// event of the given kind that belongs to host. For KindSend and KindRecv
// that is the events whose Host is host; for KindDrop it is the drops whose
// Host is host (use "net" for every loss in the network) or whose Src is
// host (the segments host sent that were lost).
func (r *Recorder) Segments(host string, kind Kind) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for i := range r.events {
		e := &r.events[i]
		if e.Kind != kind {
			continue
		}
		if e.Host == host || (kind == KindDrop && e.Src == host) {
			out = append(out, e.SegText())
		}
	}
	return out
}
