package trace

import "github.com/tcpwave/tcpwave/notation"

// sg is the segment written s in packetdrill notation; s must parse.
func sg(s string) *notation.Segment {
	seg, err := notation.Parse(s)
	if err != nil {
		panic("test segment " + s + ": " + err.Error())
	}
	return &seg
}

// cn is the connection written s ("local>remote" or "local"); s must parse.
func cn(s string) Conn {
	c, err := parseConn(s)
	if err != nil {
		panic("test conn " + s + ": " + err.Error())
	}
	return c
}
