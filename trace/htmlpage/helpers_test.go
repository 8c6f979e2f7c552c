package htmlpage_test

import (
	"net/netip"
	"strings"

	"github.com/tcpwave/tcpwave/notation"
	"github.com/tcpwave/tcpwave/tcp"
	"github.com/tcpwave/tcpwave/trace"
)

// sg is the segment written s in packetdrill notation; s must parse.
func sg(s string) *notation.Segment {
	seg, err := notation.Parse(s)
	if err != nil {
		panic("test segment " + s + ": " + err.Error())
	}
	return &seg
}

// cn is the connection written s ("local>remote" or "local").
func cn(s string) trace.Conn {
	l, r, ok := strings.Cut(s, ">")
	c := trace.Conn{Local: netip.MustParseAddrPort(l)}
	if ok {
		c.Remote = netip.MustParseAddrPort(r)
	}
	return c
}

// state is the state named s ("TIME_WAIT").
func state(s string) tcp.State {
	for st := tcp.Closed; st <= tcp.TimeWait; st++ {
		if st.String() == s {
			return st
		}
	}
	panic("test state " + s)
}
