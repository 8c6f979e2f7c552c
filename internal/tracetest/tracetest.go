// Package tracetest builds trace values from text for tests of trace and
// its renderers: a segment in packetdrill notation, a connection, a state.
// Each panics on text that does not parse: a mistake in the test.
package tracetest

import (
	"net/netip"
	"strings"

	"github.com/tcpwave/tcpwave/notation"
	"github.com/tcpwave/tcpwave/tcp"
	"github.com/tcpwave/tcpwave/trace"
)

// Seg is the segment written s in packetdrill notation.
func Seg(s string) *notation.Segment {
	seg, err := notation.Parse(s)
	if err != nil {
		panic("test segment " + s + ": " + err.Error())
	}
	return &seg
}

// Conn is the connection written s ("local>remote" or "local").
func Conn(s string) trace.Conn {
	l, r, ok := strings.Cut(s, ">")
	c := trace.Conn{Local: netip.MustParseAddrPort(l)}
	if ok {
		c.Remote = netip.MustParseAddrPort(r)
	}
	return c
}

// State is the state named s ("TIME_WAIT").
func State(s string) tcp.State {
	st, ok := tcp.ParseState(s)
	if !ok {
		panic("test state " + s)
	}
	return st
}
