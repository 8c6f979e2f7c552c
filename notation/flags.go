// Package notation writes and reads TCP segments in packetdrill's
// notation, the one tcpwave's traces, packet-script tests and conformance
// scripts share:
//
//	S. 0:0(0) ack 1 win 65535 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>
//
// that is the flags, "start:end(len)" with sequence numbers relative to
// the sender's ISN, " ack N" relative to the receiver's ISN, " win N" with
// the raw window field, and the options in the order they are on the
// wire. A Segment is that line as typed values; Parse reads one and
// Segment.String writes it back.
package notation

import (
	"fmt"
	"strings"

	"github.com/tcpwave/tcpwave/wire"
)

// FormatFlags writes flags as packetdrill does: S, F, R, P, U, E, W in
// that order, then "." for ACK ("S.", "F.", "FP.", "R"); no flag at all is
// "-". The letters are wire.Flags.String's, the one place they are
// mapped: Parse and FlagNames read them back from it.
func FormatFlags(f wire.Flags) string { return f.String() }

// flagOf returns the control bit a flag letter stands for.
func flagOf(c rune) (wire.Flags, bool) {
	for b := wire.FIN; b != 0; b <<= 1 {
		if s := b.String(); len(s) == 1 && rune(s[0]) == c {
			return b, true
		}
	}
	return 0, false
}

// letters lists every flag letter, in the order FormatFlags writes them.
func letters() string { return wire.Flags(0xff).String() }

// ParseFlags reads flags written by FormatFlags: "S", "S.", "F.", "FP.",
// "R", ".", and "-" for no flag at all. A letter given twice is an error.
func ParseFlags(s string) (wire.Flags, error) {
	if s == "-" {
		return 0, nil
	}
	var f wire.Flags
	for _, c := range s {
		b, ok := flagOf(c)
		if !ok {
			return 0, fmt.Errorf("packet: bad flag %q in %q (want %s)", c, s, strings.Join(strings.Split(letters(), ""), " "))
		}
		if f&b != 0 {
			return 0, fmt.Errorf("packet: flag %q twice in %q", c, s)
		}
		f |= b
	}
	return f, nil
}

// FlagNames spells the flags out in FormatFlags' order: "F." is
// "FIN, ACK", no flag at all "none".
func FlagNames(f wire.Flags) string {
	if f == 0 {
		return "none"
	}
	var out []string
	for _, c := range FormatFlags(f) {
		b, _ := flagOf(c)
		out = append(out, flagName(b))
	}
	return strings.Join(out, ", ")
}

// flagName is the name of one control bit.
func flagName(b wire.Flags) string {
	switch b {
	case wire.FIN:
		return "FIN"
	case wire.SYN:
		return "SYN"
	case wire.RST:
		return "RST"
	case wire.PSH:
		return "PSH"
	case wire.ACK:
		return "ACK"
	case wire.URG:
		return "URG"
	case wire.ECE:
		return "ECE"
	}
	return "CWR"
}
