package notation

import (
	"reflect"
	"strings"
	"testing"

	"github.com/tcpwave/tcpwave/wire"
)

func TestFlagsRoundTrip(t *testing.T) {
	for f := 0; f < 256; f++ {
		s := FormatFlags(wire.Flags(f))
		got, err := ParseFlags(s)
		if err != nil || got != wire.Flags(f) {
			t.Errorf("ParseFlags(%q) = %v, %v; want %v", s, got, err, wire.Flags(f))
		}
	}
}

func TestParseFlagsErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Q", "bad flag"},
		{"SS", "twice"},
		{"", ""},
	} {
		_, err := ParseFlags(tc.in)
		if tc.want == "" {
			if err != nil {
				t.Errorf("ParseFlags(%q): %v", tc.in, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseFlags(%q) error %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestFlagNames(t *testing.T) {
	for _, tc := range []struct {
		f    wire.Flags
		want string
	}{
		{wire.FIN | wire.ACK, "FIN, ACK"},
		{wire.SYN, "SYN"},
		{0, "none"},
		{wire.SYN | wire.ACK, "SYN, ACK"},
		{wire.FIN | wire.PSH | wire.ACK, "FIN, PSH, ACK"},
		{wire.RST, "RST"},
		{wire.FIN | wire.SYN | wire.RST | wire.PSH | wire.ACK | wire.URG | wire.ECE | wire.CWR, "SYN, FIN, RST, PSH, URG, ECE, CWR, ACK"},
	} {
		if got := FlagNames(tc.f); got != tc.want {
			t.Errorf("FlagNames(%v) = %q, want %q", tc.f, got, tc.want)
		}
	}
}

// TestFromTCPMatchesWire checks that a trace's segment text is what
// wire.FormatSegment writes.
func TestFromTCPMatchesWire(t *testing.T) {
	full := wire.Options{MSS: 1460, SACKPermitted: true, HasTimestamp: true, TSVal: 100, HasWScale: true, WScale: 7}
	sack := wire.Options{HasTimestamp: true, TSVal: 5, TSEcr: 9, NumSACK: 2,
		SACK: [wire.MaxSACKBlocks]wire.SACKBlock{{Left: 1100, Right: 1200}, {Left: 1300, Right: 1400}}}
	for _, tc := range []struct {
		name    string
		f       wire.TCPFields
		n       int
		sb, ab  uint32
		options bool
	}{
		{"syn", wire.TCPFields{Seq: 1000, Flags: wire.SYN, Window: 65535, Options: full}, 0, 1000, 0, true},
		{"syn without options", wire.TCPFields{Seq: 1000, Flags: wire.SYN, Window: 65535, Options: full}, 0, 1000, 0, false},
		{"data", wire.TCPFields{Seq: 1001, Ack: 5001, Flags: wire.PSH | wire.ACK | wire.FIN, Window: 502}, 5, 1000, 5000, false},
		{"rst", wire.TCPFields{Seq: 5, Ack: 7, Flags: wire.RST, Window: 0}, 0, 0, 0, true},
		{"none", wire.TCPFields{Seq: 1, Window: 1}, 0, 0, 0, true},
		{"sack", wire.TCPFields{Seq: 10, Ack: 1001, Flags: wire.ACK, Window: 9, Options: sack}, 0, 0, 1000, true},
		{"wrap", wire.TCPFields{Seq: 3, Ack: 2, Flags: wire.ACK, Window: 9}, 2, 0xfffffffe, 0xffffffff, false},
		{"sack only", wire.TCPFields{Flags: wire.SYN, Options: wire.Options{SACKPermitted: true}}, 0, 0, 0, true},
		{"ts only", wire.TCPFields{Flags: wire.SYN, Options: wire.Options{HasTimestamp: true, TSVal: 1}}, 0, 0, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := FromTCP(&tc.f, tc.n, tc.sb, tc.ab, tc.options)
			want := wire.FormatSegment(&tc.f, tc.n, tc.sb, tc.ab, tc.options)
			if got := s.String(); got != want {
				t.Errorf("String() = %q, want %q", got, want)
			}
		})
	}
}

func TestParseRoundTrip(t *testing.T) {
	for _, s := range []string{
		"S 0:0(0) win 65535 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>",
		"S. 0:0(0) ack 1 win 65535",
		"FP. 1:6(5) ack 1 win 502",
		"R 5:5(0) win 0",
		"S 0:0(0)",
		"P. 1:2(1)",
		"- 1:1(0)",
		". 1:1(0) ack 1 win 9 <nop,nop,TS val 5 ecr 9,nop,nop,sack 100:200 300:400>",
		"S 0:0(0) <...>",
		". 1:1(0) ack 1 <nop,eol>",
	} {
		g, err := Parse(s)
		if err != nil {
			t.Errorf("Parse(%q): %v", s, err)
			continue
		}
		if got := g.String(); got != s {
			t.Errorf("Parse(%q).String() = %q", s, got)
		}
	}
}

func TestOptionsLen(t *testing.T) {
	g, err := Parse("S 0:0(0) <mss 1460,sackOK,TS val 1 ecr 2,nop,wscale 7,sack 1:2 3:4,eol>")
	if err != nil {
		t.Fatal(err)
	}
	if n := OptionsLen(g.Opts); n != 4+2+10+1+3+18+1 {
		t.Errorf("OptionsLen = %d, want 39", n)
	}
}

func TestParseFields(t *testing.T) {
	g, err := Parse(". 1:1(0) ack 2 win 3 <TS val * ecr 4,mss 536,sack 1:2>")
	if err != nil {
		t.Fatal(err)
	}
	want := Segment{Flags: wire.ACK, Seq: 1, HasAck: true, Ack: 2, HasWin: true, Win: 3, Opts: []Option{
		{Kind: OptTS, ValAny: true, Ecr: 4}, {Kind: OptMSS, Val: 536}, {Kind: OptSACK, Blocks: []SACKRange{{1, 2}}}}}
	if g.String() != want.String() || !g.Opts[0].ValAny || g.Opts[2].Blocks[0] != want.Opts[2].Blocks[0] {
		t.Errorf("Parse = %+v, want %+v", g, want)
	}
	w := ToWire(g.Opts, 100)
	if w.MSS != 536 || !w.HasTimestamp || w.TSEcr != 4 || w.NumSACK != 1 || w.SACK[0] != (wire.SACKBlock{Left: 101, Right: 102}) {
		t.Errorf("ToWire = %+v", w)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"S", "want FLAGS"},
		{"Q 0:0(0)", "bad flag"},
		{"S 0:1(0)", "END-START is 1"},
		{"S 0-0(0)", "want START:END(LEN)"},
		{"S 0:0(0) ack", "needs a value"},
		{"S 0:0(0) ack 1 ack 2", "ack given twice"},
		{"S 0:0(0) win 70000", "up to 65535"},
		{"S 0:0(0) foo 1", "unknown field"},
		{"S 0:0(0) <mss 1460", "want one <...> list"},
		{"S 0:0(0) <foo>", "unknown TCP option"},
		{"S 0:0(0) <mss>", "want \"mss N\""},
		{"S 0:0(0) <nop 1>", "takes no value"},
		{"S 0:0(0) <TS val 1>", "TS val N ecr N"},
		{"S 0:0(0) <sack 1>", "want a:b"},
		{"S 0:0(0) <mss 1,,nop>", "empty item"},
	} {
		_, err := Parse(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) error %v, want %q", tc.in, err, tc.want)
		}
	}
}

// TestParseTraceSegments reads the segments of traces (the HTML page's
// header fields come from these values).
func TestParseTraceSegments(t *testing.T) {
	for _, c := range []struct {
		in   string
		ok   bool
		want Segment
		opts string
	}{
		{"F. 1:1(0) ack 1 win 2048", true, Segment{Flags: wire.FIN | wire.ACK, Seq: 1, HasAck: true, Ack: 1, HasWin: true, Win: 2048}, ""},
		{"S 0:0(0) win 64240 <mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7>", true,
			Segment{Flags: wire.SYN, HasWin: true, Win: 64240}, "mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7"},
		{"P. 1:11(10) ack 2 win 2048", true, Segment{Flags: wire.PSH | wire.ACK, Seq: 1, Len: 10, HasAck: true, Ack: 2, HasWin: true, Win: 2048}, ""},
		{"R 7:7(0) win 0", true, Segment{Flags: wire.RST, Seq: 7, HasWin: true}, ""},
		{"(52 bytes)", false, Segment{}, ""},
		{"F. 1:1(0) ack x", false, Segment{}, ""},
		{"F. 1:1(0) urg 5", false, Segment{}, ""},
	} {
		got, err := Parse(c.in)
		if (err == nil) != c.ok {
			t.Errorf("Parse(%q) error %v, want ok %v", c.in, err, c.ok)
			continue
		}
		if !c.ok {
			continue
		}
		opts := FormatOptions(got.Opts, 0)
		got.Opts = nil
		if !reflect.DeepEqual(got, c.want) || opts != c.opts {
			t.Errorf("Parse(%q) = %+v <%s>; want %+v <%s>", c.in, got, opts, c.want, c.opts)
		}
	}
}
