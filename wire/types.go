// Package wire parses and builds IPv4, IPv6 and TCP headers with their
// options. Parsing reads views of the caller's bytes and does not allocate;
// building writes into caller buffers. Malformed input yields a *ParseError,
// never a panic.
package wire

import "net/netip"

// Flags holds the TCP control bits.
type Flags uint8

// TCP control bits, in header order.
const (
	FIN Flags = 1 << iota
	SYN
	RST
	PSH
	ACK
	URG
	ECE
	CWR
)

// Has reports whether every bit of g is set in f.
func (f Flags) Has(g Flags) bool { return f&g == g }

// String writes the flags as packetdrill does: S, F, R, P in that order,
// then "." for ACK (for example "S.", "F.", "FP.", "R", "R."). A segment with
// no flag at all prints as "-".
func (f Flags) String() string {
	var b [8]byte
	n := 0
	for _, x := range [...]struct {
		f Flags
		c byte
	}{{SYN, 'S'}, {FIN, 'F'}, {RST, 'R'}, {PSH, 'P'}, {URG, 'U'}, {ECE, 'E'}, {CWR, 'W'}, {ACK, '.'}} {
		if f&x.f != 0 {
			b[n] = x.c
			n++
		}
	}
	if n == 0 {
		return "-"
	}
	return string(b[:n])
}

// SACKBlock is one SACK option block (RFC 2018): [Left, Right).
type SACKBlock struct {
	Left, Right uint32
}

// MaxSACKBlocks is the most SACK blocks an option can carry (with no
// timestamps); with timestamps only three fit.
const MaxSACKBlocks = 4

// Options holds the TCP options this stack understands. A zero value means
// "no options". Unknown options are skipped when parsing.
type Options struct {
	MSS           uint16 // 0: absent
	HasWScale     bool
	WScale        uint8
	SACKPermitted bool
	HasTimestamp  bool
	TSVal, TSEcr  uint32
	NumSACK       uint8
	SACK          [MaxSACKBlocks]SACKBlock
}

// TCPFields is a parsed TCP header: everything but the payload and the
// checksum.
type TCPFields struct {
	SrcPort, DstPort uint16
	Seq, Ack         uint32
	Flags            Flags
	Window           uint16
	Urgent           uint16
	Options          Options
}

// Packet is a parsed IP packet carrying TCP. Payload aliases the parsed
// buffer.
type Packet struct {
	Src, Dst netip.Addr
	TCP      TCPFields
	Payload  []byte
}
