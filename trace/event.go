// Package trace records what a TCP conversation did — state changes,
// segments sent, received and lost, application calls — as a list of events
// in virtual-time order, and renders that list three ways: JSON Lines for
// machines (WriteJSONL, ReadJSONL), a two-host ladder diagram for people
// (WriteLadder), and an `ss -tan -o` style connection table (WriteTable).
//
// Segments are carried as text in packetdrill notation ("S. 0:0(0) ack 1
// win 65535 <mss 1460>"); a Relativizer produces that text from parsed
// packets, relative to each side's ISN.
package trace

import (
	"sync"

	"github.com/tcpwave/tcpwave/clock"
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
	T      clock.Instant // when
	Host   string        // "A", "B", ... or "net"
	Kind   Kind          // KindState, KindSend, KindRecv, KindDrop, KindApp
	From   string        // state events: old state; drop events: the sending host
	To     string        // state events: new state; drop events: the host it was going to
	Why    string        // state events: the reason (e.g. "RFC 9293 §3.10.7.4: our FIN is ACKed")
	Seg    string        // send/recv/drop: the segment in packetdrill notation
	Call   string        // app events: "connect", "close", "read", "shutdown(SHUT_WR)", ...
	Result string        // app events: return value or error name: "EOF", "ECONNRESET", "5", "ok"
	Conn   string        // state events: the connection, "local>remote" (a listener: its address)
}

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
// first state event, then the To of every state event, e.g. ["CLOSED",
// "SYN_SENT", "ESTABLISHED"]. It returns nil if host never changed state.
func (r *Recorder) States(host string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
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

// Segments returns, in order, the Seg of every event of the given kind that
// belongs to host. For KindSend and KindRecv that is the events whose Host
// is host; for KindDrop it is the drops whose Host is host (use "net" for
// every loss in the network) or whose From is host (the segments host sent
// that were lost).
func (r *Recorder) Segments(host string, kind Kind) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		if e.Kind != kind {
			continue
		}
		if e.Host == host || (kind == KindDrop && e.From == host) {
			out = append(out, e.Seg)
		}
	}
	return out
}
