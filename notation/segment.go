package notation

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/tcpwave/tcpwave/wire"
)

// Segment is one segment as the notation writes it. Sequence numbers are
// relative (to the sender's ISN for Seq, to the receiver's for Ack and
// SACK blocks); HasAck, HasWin and Opts say which parts were written.
type Segment struct {
	Flags  wire.Flags
	Seq    uint32 // the first sequence number
	Len    int    // payload bytes
	HasAck bool   // " ack N" written
	Ack    uint32
	HasWin bool // " win N" written
	Win    uint16
	// AnyOpts is "<...>": in a script, any options (outbound) or none
	// (inbound).
	AnyOpts bool
	Opts    []Option // in wire order, nop included; nil when none written
}

// FromTCP describes a parsed TCP header carrying payloadLen bytes, with
// sequence numbers relative to seqBase and acknowledgments (and SACK
// blocks) relative to ackBase, as traces show it: ack when ACK is set,
// the window always, and, with withOptions, the options as
// wire.EncodeTCP lays them out.
func FromTCP(f *wire.TCPFields, payloadLen int, seqBase, ackBase uint32, withOptions bool) Segment {
	s := Segment{
		Flags:  f.Flags,
		Seq:    f.Seq - seqBase,
		Len:    payloadLen,
		HasAck: f.Flags.Has(wire.ACK),
		Ack:    f.Ack - ackBase,
		HasWin: true,
		Win:    f.Window,
	}
	if !s.HasAck {
		s.Ack = 0
	}
	if withOptions {
		s.Opts = FromWire(&f.Options, ackBase)
	}
	return s
}

// End is the sequence number after the segment's payload.
func (s *Segment) End() uint32 { return s.Seq + uint32(s.Len) }

// String writes the segment, e.g. "F. 1:1(0) ack 1 win 502": the flags,
// the range, then " ack N" and " win N" when written, and " <options>"
// when the list is not empty (" <...>" for AnyOpts). A TS value written
// "*" in a script is written as its number, 0.
func (s *Segment) String() string {
	b := make([]byte, 0, 64)
	b = append(b, FormatFlags(s.Flags)...)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(s.Seq), 10)
	b = append(b, ':')
	b = strconv.AppendUint(b, uint64(s.End()), 10)
	b = append(b, '(')
	b = strconv.AppendInt(b, int64(s.Len), 10)
	b = append(b, ')')
	if s.HasAck {
		b = append(b, " ack "...)
		b = strconv.AppendUint(b, uint64(s.Ack), 10)
	}
	if s.HasWin {
		b = append(b, " win "...)
		b = strconv.AppendUint(b, uint64(s.Win), 10)
	}
	switch {
	case s.AnyOpts:
		b = append(b, " <...>"...)
	case len(s.Opts) > 0:
		b = append(b, " <"...)
		b = appendOptions(b, s.Opts, 0)
		b = append(b, '>')
	}
	return string(b)
}

// Parse reads a segment written in the notation:
// "FLAGS START:END(LEN) [ack N] [win N] [<options>]".
func Parse(line string) (Segment, error) {
	var s Segment
	rest, opts, err := cutOptions(line)
	if err != nil {
		return s, err
	}
	f := strings.Fields(rest)
	if len(f) < 2 {
		return s, fmt.Errorf("packet: want FLAGS SEQ:END(LEN) [ack N] [win N] [<options>]")
	}
	if s.Flags, err = ParseFlags(f[0]); err != nil {
		return s, err
	}
	if err := s.parseRange(f[1]); err != nil {
		return s, err
	}
	if err := s.parseFields(f[2:]); err != nil {
		return s, err
	}
	if opts != "" {
		if err := s.parseOptions(opts); err != nil {
			return s, err
		}
	}
	return s, nil
}

// cutOptions splits the "<...>" list off the end of a line.
func cutOptions(line string) (rest, opts string, err error) {
	i := strings.IndexByte(line, '<')
	if i < 0 {
		return line, "", nil
	}
	opts = line[i:]
	if !strings.HasSuffix(opts, ">") || strings.Count(opts, "<") != 1 || strings.Count(opts, ">") != 1 {
		return "", "", fmt.Errorf("TCP options: want one <...> list at the end of the line, got %q", opts)
	}
	return line[:i], opts, nil
}

// parseRange reads "start:end(len)".
func (s *Segment) parseRange(r string) error {
	colon := strings.IndexByte(r, ':')
	open := strings.IndexByte(r, '(')
	if colon < 0 || open < colon || !strings.HasSuffix(r, ")") {
		return fmt.Errorf("packet: sequence %q: want START:END(LEN)", r)
	}
	start, err := parseU32(r[:colon], "sequence start")
	if err != nil {
		return err
	}
	end, err := parseU32(r[colon+1:open], "sequence end")
	if err != nil {
		return err
	}
	n, err := strconv.ParseUint(r[open+1:len(r)-1], 10, 16)
	if err != nil {
		return fmt.Errorf("packet: payload length %q is not a number up to 65535", r[open+1:len(r)-1])
	}
	if end-start != uint32(n) {
		return fmt.Errorf("packet: %s: END-START is %d, LEN is %d", r, end-start, n)
	}
	s.Seq, s.Len = start, int(n)
	return nil
}

// parseFields reads the "ack N" and "win N" pairs.
func (s *Segment) parseFields(f []string) error {
	for i := 0; i < len(f); i += 2 {
		if i+1 >= len(f) {
			return fmt.Errorf("packet: %q needs a value", f[i])
		}
		switch f[i] {
		case "ack":
			if s.HasAck {
				return fmt.Errorf("packet: ack given twice")
			}
			n, err := parseU32(f[i+1], "ack")
			if err != nil {
				return err
			}
			s.HasAck, s.Ack = true, n
		case "win":
			if s.HasWin {
				return fmt.Errorf("packet: win given twice")
			}
			n, err := strconv.ParseUint(f[i+1], 10, 16)
			if err != nil {
				return fmt.Errorf("packet: win %q is not a number up to 65535", f[i+1])
			}
			s.HasWin, s.Win = true, uint16(n)
		default:
			return fmt.Errorf("packet: unknown field %q (want ack, win, <options>)", f[i])
		}
	}
	return nil
}

// parseU32 reads a decimal 32-bit number, what naming it in errors.
func parseU32(s, what string) (uint32, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%s %q is not a 32-bit number", what, s)
	}
	return uint32(n), nil
}
