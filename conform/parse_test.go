package conform

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/wire"
)

func TestParseEvents(t *testing.T) {
	tests := []struct {
		name  string
		text  string
		check func(t *testing.T, s *Script)
	}{
		{"inbound SYN with options", "0 < S 0:0(0) win 65535 <mss 1460,sackOK,TS val 7 ecr 0,nop,wscale 7>", func(t *testing.T, s *Script) {
			p := s.Events[0].Packet
			if !p.Inbound || p.Flags != wire.SYN || !p.HasWin || p.Win != 65535 || p.HasAck {
				t.Errorf("packet %+v", p)
			}
			want := []OptKind{OptMSS, OptSACKOK, OptTS, OptNOP, OptWScale}
			if len(p.Opts) != len(want) {
				t.Fatalf("options %+v", p.Opts)
			}
			for i, k := range want {
				if p.Opts[i].Kind != k {
					t.Errorf("option %d is %v, want %v", i, p.Opts[i].Kind, k)
				}
			}
			if p.Opts[2].Val != 7 || p.Opts[0].Val != 1460 || p.Opts[4].Val != 7 {
				t.Errorf("option values %+v", p.Opts)
			}
		}},
		{"outbound data with ack", "+0.1 > FP. 1:6(5) ack 7", func(t *testing.T, s *Script) {
			e := s.Events[0]
			p := e.Packet
			if p.Inbound || p.Flags != wire.FIN|wire.PSH|wire.ACK || p.Seq != 1 || p.Len != 5 || !p.HasAck || p.Ack != 7 || p.Opts != nil {
				t.Errorf("packet %+v", p)
			}
			if e.Time.Kind != TimeRelative || e.Time.At != 100*time.Millisecond {
				t.Errorf("time %+v", e.Time)
			}
		}},
		{"packetdrill's forms: an inbound ACK without ack N carries ack 0; - is no flag", "0 < . 1:1(0) win 502\n+0 < - 1:1(0)", func(t *testing.T, s *Script) {
			a, b := s.Events[0].Packet, s.Events[1].Packet
			if a.Flags != wire.ACK || !a.HasAck || a.Ack != 0 {
				t.Errorf("ACK without ack N: %+v", a)
			}
			if b.Flags != 0 || b.HasAck {
				t.Errorf("no flags: %+v", b)
			}
		}},
		{"wildcard options and range", "+.2~+.25 > . 1:1(0) ack 1 <...>", func(t *testing.T, s *Script) {
			e := s.Events[0]
			if !e.Packet.AnyOpts || e.Time.Span != 50*time.Millisecond || e.Time.At != 200*time.Millisecond {
				t.Errorf("event %+v packet %+v", e, e.Packet)
			}
		}},
		{"sack blocks and any time", "* > . 1:1(0) ack 2 <nop,nop,sack 1:2 5:9>", func(t *testing.T, s *Script) {
			e := s.Events[0]
			o := e.Packet.Opts[2]
			if e.Time.Kind != TimeAny || o.Kind != OptSACK || len(o.Blocks) != 2 || o.Blocks[1] != (SACKRange{Left: 5, Right: 9}) {
				t.Errorf("event %+v option %+v", e, o)
			}
		}},
		{"syscall with errno", "+0 read(4, ..., 100) = -1 ECONNRESET (Connection reset by peer)", func(t *testing.T, s *Script) {
			c := s.Events[0].Call
			if c.Name != "read" || c.Ret != -1 || c.Errno != "ECONNRESET" || len(c.Args) != 3 || c.Args[1].Kind != ExprEllipsis || c.Args[2].Int != 100 {
				t.Errorf("call %+v", c)
			}
		}},
		{"struct and bit-or arguments", "0 setsockopt(4, SOL_SOCKET, SO_LINGER, {l_onoff=1, l_linger=0}, 8) = 0\n+0 fcntl(3, F_GETFL) = O_RDWR|O_NONBLOCK", func(t *testing.T, s *Script) {
			v := s.Events[0].Call.Args[3]
			on, _ := v.Field("l_onoff")
			if v.Kind != ExprStruct || on.Int != 1 || s.Events[0].Call.Args[2].Int != 13 {
				t.Errorf("setsockopt args %+v", s.Events[0].Call.Args)
			}
			if s.Events[1].Call.Ret != 0x802 {
				t.Errorf("fcntl result %#x", s.Events[1].Call.Ret)
			}
		}},
		{"poll", "0 poll([{fd=3, events=POLLIN|POLLOUT, revents=POLLIN}], 1, 0) = 1", func(t *testing.T, s *Script) {
			a := s.Events[0].Call.Args[0]
			ev, _ := a.Elems[0].Field("events")
			if a.Kind != ExprList || ev.Int != 5 {
				t.Errorf("poll args %+v", a)
			}
		}},
		{"blocking call", "+0...+.1 close(4) = 0\n0.5...0.7 accept(3, ..., ...) = 5", func(t *testing.T, s *Script) {
			a, b := s.Events[0], s.Events[1]
			if !a.Blocking || !a.EndRelative || a.End != 100*time.Millisecond {
				t.Errorf("first %+v", a)
			}
			if !b.Blocking || b.EndRelative || b.End != 700*time.Millisecond || b.Time.At != 500*time.Millisecond {
				t.Errorf("second %+v", b)
			}
		}},
		{"shell lines, header and comments", "--tolerance_usecs=20000\n--remote_port=5000\n// a comment\n/* a\nblock */ `sysctl -q net.ipv4.tcp_fin_timeout=1` // trailing\n+1 `ss -tan | grep -q 'x//y'`\n+0 close(3) = -1 EBADF", func(t *testing.T, s *Script) {
			if s.Options.Tolerance != 20*time.Millisecond || s.Options.PeerPort != 5000 {
				t.Errorf("options %+v", s.Options)
			}
			if len(s.Events) != 3 || s.Events[0].Shell != "sysctl -q net.ipv4.tcp_fin_timeout=1" || s.Events[0].Line != 5 {
				t.Fatalf("events %+v", s.Events)
			}
			if s.Events[1].Shell != "ss -tan | grep -q 'x//y'" || s.Events[1].Time.At != time.Second {
				t.Errorf("second shell %+v", s.Events[1])
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse("t.pkt", tc.text)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, s)
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		text string
		line int
		msg  string
	}{
		{"0 < S 0:0(0)\n+0 > Q 0:0(0)", 2, "bad flag"},
		{"0 > S. 0:0(0)", 1, "no \"ack N\""},
		{"0 < S 0:0(0) ack 5", 1, "without the . (ACK) flag"},
		{"0 < P. 1:5(10) ack 1", 1, "END-START is 4, LEN is 10"},
		{"0 < . 1:1(0) ack 99999999999", 1, "32-bit"},
		{"0 < . 1:1(0) ack 1 win 70000", 1, "up to 65535"},
		{"0 < . 1:1(0) ack 1 <mss 1460,foo>", 1, "unknown TCP option"},
		{"0 < . 1:1(0) ack 1 <mss 1460", 1, "one <...> list"},
		{"0 < S 0:0(0) <TS val 1>", 1, "TS val N ecr N"},
		{"0 < S 0:0(0) <sack 1:2 3:4 5:6 7:8 9:10>", 1, "1 to 4 blocks"},
		{"0 < . 1:1(0) ack 1 bogus 3", 1, "unknown field"},
		{"x socket(..., SOCK_STREAM, IPPROTO_TCP) = 3", 1, "bad time"},
		{"+0.5~0.7 > . 1:1(0) ack 1", 1, "mixes absolute and relative"},
		{"0.5~0.2 > . 1:1(0) ack 1", 1, "ends before it starts"},
		{"0.5...0.2 close(3) = 0", 1, "before it starts"},
		{"0...1 < . 1:1(0) ack 1", 1, "only for system calls"},
		{"0~1 close(3) = 0", 1, "only for packets"},
		{"0 frobnicate(3) = 0", 1, "unsupported system call"},
		{"0 close(3, 4) = 0", 1, "takes 1 arguments"},
		{"0 fcntl(3) = 0", 1, "2 or 3"},
		{"0 close(3)", 1, "= RESULT"},
		{"0 close(3) = -1", 1, "needs an errno"},
		{"0 close(3) = 0 ENOENTX", 1, "unknown errno"},
		{"0 close(3) = 0 EBADF", 1, "needs the result -1"},
		{"0 setsockopt(3, SOL_SOCKET, SO_NOPE, [1], 4) = 0", 1, "unknown constant"},
		{"0 poll([{fd=3, events=POLLIN}, 1, 0) = 1", 1, "want ',' or ']'"},
		{"0 read(3, [[[[[[[[[[1]]]]]]]]]], 4) = 0", 1, "nested"},
		{"0 read(3, \"abc, 4) = 0", 1, "unterminated string"},
		{"0 close(3) = 0\n--tolerance_usecs=5", 2, "after the first event"},
		{"--tolerance_usecs=lots", 1, "microseconds"},
		{"--nonsense=1", 1, "unsupported option"},
		{"--ip_version=ipv5", 1, "want ipv4, ipv6 or ipv4-mapped-ipv6"},
		{"--ip_version=ipv6\n--local_ip=192.168.0.2\n0 close(3) = 0", 1, "not of one family"},
		{"--ip_version=ipv4\n--local_ip=fd3d::2\n--remote_ip=2001:db8::2\n0 close(3) = 0", 1, "--ip_version=ipv4 with ipv6 addresses"},
		{"--remote_ip=2001:db8::2\n0 close(3) = 0", 1, "not of one family"},
		{"--local_ip=fe80::1%tun0", 1, "not an IPv4 or IPv6 address"},
		{"--mtu=1279", 1, "from 1280 to 65535"},
		{"--mtu=big", 1, "from 1280 to 65535"},
		{"--local_ip=::ffff:192.168.0.1", 1, "not an IPv4 or IPv6 address"},
		{"--backends=kernel,bsd", 1, "unknown backend"},
		{"0 `ss -tan", 1, "unterminated `shell command`"},
		{"`a` `b`", 1, "exactly one"},
		{"/* never closed\n0 close(3) = 0", 1, "unterminated /* comment"},
		{"0", 1, "a time and nothing after it"},
		{"99999999 close(3) = 0", 1, "more than"},
		{"0 hello world", 1, "want a packet"},
		{"", 1, "tests nothing"},
		{"// only a comment\n\n", 1, "tests nothing"},
		{"--tolerance_usecs=5", 1, "tests nothing"},
		{"0 `true`\n+1 `true`", 1, "tests nothing"},
	}
	for _, tc := range tests {
		t.Run(tc.msg, func(t *testing.T) {
			_, err := Parse("bad.pkt", tc.text)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse(%q) = %v, want a *ParseError", tc.text, err)
			}
			if pe.Line != tc.line || !strings.Contains(pe.Msg, tc.msg) || pe.File != "bad.pkt" {
				t.Errorf("Parse(%q) = %q (line %d), want line %d and %q", tc.text, err, pe.Line, tc.line, tc.msg)
			}
			if !strings.HasPrefix(err.Error(), "bad.pkt:") {
				t.Errorf("error %q does not start with the file name", err)
			}
		})
	}
}

func TestParseTooLong(t *testing.T) {
	if _, err := Parse("big.pkt", strings.Repeat("// x\n", maxScriptLen)); err == nil {
		t.Error("a script over the size limit parsed")
	}
}

func TestSSTimer(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{206 * time.Millisecond, "206ms"},
		{1500 * time.Millisecond, "1.500ms"},
		{59900 * time.Millisecond, "59sec"},
		{60 * time.Second, "1min"},
		{90 * time.Second, "1min30sec"},
		{2 * time.Second, "2sec"},
	} {
		if got := ssTimer(tc.d); got != tc.want {
			t.Errorf("ssTimer(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

// FuzzParse checks that no input makes the parser panic, and that what
// it accepts it accepts again when given the normalized event texts.
func FuzzParse(f *testing.F) {
	files, err := Files([]string{corpusDir})
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range files[:10] {
		s, err := ParseFile(p)
		if err != nil {
			f.Fatal(err)
		}
		var b strings.Builder
		for _, e := range s.Events {
			b.WriteString(e.Text + "\n")
		}
		f.Add(b.String())
	}
	f.Add("0 poll([{fd=3, events=POLLIN}], 1, 0) = 1\n/* x */ `ss`")
	f.Fuzz(func(t *testing.T, text string) {
		s, err := Parse("fuzz.pkt", text)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Line < 1 {
				t.Fatalf("error %v is not a *ParseError with a line", err)
			}
			return
		}
		var b strings.Builder
		for _, e := range s.Events {
			b.WriteString(e.Text + "\n")
		}
		again, err := Parse("again.pkt", b.String())
		if err != nil {
			t.Fatalf("normalized script does not parse: %v\n%s", err, b.String())
		}
		if len(again.Events) != len(s.Events) {
			t.Fatalf("%d events, then %d", len(s.Events), len(again.Events))
		}
	})
}
