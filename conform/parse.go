package conform

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tcpwave/tcpwave/notation"
	"github.com/tcpwave/tcpwave/wire"
)

// ParseError is a script that does not parse: the file, the 1-based line
// and what is wrong.
type ParseError struct {
	File string
	Line int
	Msg  string
}

// Error writes "file:line: message".
func (e *ParseError) Error() string {
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// maxScriptLen bounds the scripts the parser reads.
const maxScriptLen = 1 << 20

// ParseFile reads and parses a script file. It reads only regular files
// (a FIFO or a device such as /dev/zero is refused before anything is
// read) and at most maxScriptLen bytes of them.
func ParseFile(path string) (*Script, error) {
	return ParseFileWith(path, DefaultOptions())
}

// ParseFileWith is ParseFile with the options a script starts from
// (packetdrill's command-line flags, which the script's header lines
// override).
func ParseFileWith(path string, base Options) (*Script, error) {
	b, err := readScript(path)
	if err != nil {
		return nil, err
	}
	return ParseWith(filepath.Base(path), string(b), base)
}

// readScript returns the contents of the regular file at path, refusing
// anything else and anything longer than maxScriptLen. The file is opened
// non-blocking, so that opening a FIFO with no writer does not wait.
func readScript(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("conform: read script: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("conform: read script: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("conform: read script %s: not a regular file (%v)", path, st.Mode().Type())
	}
	if st.Size() > maxScriptLen {
		return nil, fmt.Errorf("conform: read script %s: %d bytes, more than the %d allowed", path, st.Size(), maxScriptLen)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxScriptLen+1))
	if err != nil {
		return nil, fmt.Errorf("conform: read script %s: %w", path, err)
	}
	if len(b) > maxScriptLen {
		return nil, fmt.Errorf("conform: read script %s: more than the %d bytes allowed", path, maxScriptLen)
	}
	return b, nil
}

// Parse parses a script's text; name is used in errors and reports.
func Parse(name, text string) (*Script, error) {
	return ParseWith(name, text, DefaultOptions())
}

// ParseWith is Parse with the options the script starts from.
func ParseWith(name, text string, base Options) (*Script, error) {
	if len(text) > maxScriptLen {
		return nil, &ParseError{name, 1, fmt.Sprintf("script is %d bytes, more than the %d allowed", len(text), maxScriptLen)}
	}
	clean, err := stripComments(text)
	if err != nil {
		return nil, &ParseError{name, err.line, err.msg}
	}
	s := &Script{Name: name, Options: base}
	for i, raw := range strings.Split(clean, "\n") {
		line := strings.TrimSpace(raw)
		if line == "" {
			continue
		}
		p := &lineParser{file: name, line: i + 1}
		if strings.HasPrefix(line, "--") {
			if len(s.Events) > 0 {
				return nil, p.errf("option %q after the first event: options go in the header", line)
			}
			if err := p.option(&s.Options, line); err != nil {
				return nil, err
			}
			continue
		}
		ev, err := p.event(line)
		if err != nil {
			return nil, err
		}
		ev.Text = strings.Join(strings.Fields(line), " ")
		s.Events = append(s.Events, ev)
	}
	if err := s.checkTests(); err != nil {
		return nil, err
	}
	if err := s.checkFamily(); err != nil {
		return nil, err
	}
	if err := s.checkMSS(); err != nil {
		return nil, err
	}
	return s, nil
}

// checkTests refuses a script that tests nothing: one with no packet and
// no system call (empty, only comments and options, or only shell
// commands) would pass on any host.
func (s *Script) checkTests() error {
	for _, ev := range s.Events {
		if ev.Kind == EventPacket || ev.Kind == EventSyscall {
			return nil
		}
	}
	return &ParseError{s.Name, 1, "the script has no packet and no system call: it tests nothing"}
}

type commentErr struct {
	line int
	msg  string
}

// stripComments blanks "//" and "/* */" comments outside back quotes and
// double quotes, keeping the line structure.
func stripComments(text string) (string, *commentErr) {
	b := []byte(text)
	line := 1
	var quote byte
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c == '\n' {
			line++
			if quote == '"' {
				return "", &commentErr{line - 1, "unterminated string"}
			}
			if quote == '`' {
				return "", &commentErr{line - 1, "unterminated `shell command`"}
			}
			continue
		}
		if quote != 0 {
			if c == quote {
				quote = 0
			}
			continue
		}
		switch {
		case c == '"' || c == '`':
			quote = c
		case c == '/' && i+1 < len(b) && b[i+1] == '/':
			for ; i < len(b) && b[i] != '\n'; i++ {
				b[i] = ' '
			}
			i--
		case c == '/' && i+1 < len(b) && b[i+1] == '*':
			start := line
			j := i + 2
			for ; j+1 < len(b) && !(b[j] == '*' && b[j+1] == '/'); j++ {
			}
			if j+1 >= len(b) {
				return "", &commentErr{start, "unterminated /* comment"}
			}
			for k := i; k <= j+1; k++ {
				if b[k] == '\n' {
					line++
				} else {
					b[k] = ' '
				}
			}
			i = j + 1
		}
	}
	if quote == '"' {
		return "", &commentErr{line, "unterminated string"}
	}
	if quote == '`' {
		return "", &commentErr{line, "unterminated `shell command`"}
	}
	return string(b), nil
}

type lineParser struct {
	file string
	line int
}

func (p *lineParser) errf(format string, args ...any) error {
	return &ParseError{p.file, p.line, fmt.Sprintf(format, args...)}
}

// option parses a header line "--name=value".
func (p *lineParser) option(o *Options, line string) error {
	if done, err := p.flagOption(o, line); done {
		return err
	}
	name, val, ok := strings.Cut(strings.TrimPrefix(line, "--"), "=")
	if !ok || val == "" {
		return p.errf("option %q: want --name=value", line)
	}
	port := func(dst *uint16) error {
		n, err := strconv.ParseUint(val, 10, 16)
		if err != nil || n == 0 {
			return p.errf("option --%s: %q is not a port", name, val)
		}
		*dst = uint16(n)
		return nil
	}
	addr := func(dst *netip.Addr) error {
		a, err := netip.ParseAddr(val)
		if err != nil || a.Zone() != "" || a.Is4In6() {
			return p.errf("option --%s: %q is not an IPv4 or IPv6 address", name, val)
		}
		*dst = a
		return nil
	}
	switch name {
	case "tolerance_usecs":
		n, err := strconv.ParseUint(val, 10, 32)
		if err != nil || n > 10_000_000 {
			return p.errf("option --tolerance_usecs: %q is not a number of microseconds up to 10 s", val)
		}
		o.Tolerance = time.Duration(n) * time.Microsecond
	case "local_ip":
		o.localSet = true
		return addr(&o.LocalIP)
	case "remote_ip":
		o.remoteSet = true
		return addr(&o.RemoteIP)
	case "bind_port":
		return port(&o.LocalPort)
	case "connect_port":
		return port(&o.RemotePort)
	case "remote_port":
		return port(&o.PeerPort)
	case "backends":
		o.Backends = map[string]bool{}
		for _, b := range strings.Split(val, ",") {
			if b != "kernel" && b != "tcpwave" {
				return p.errf("option --backends: unknown backend %q (kernel, tcpwave)", b)
			}
			o.Backends[b] = true
		}
	default:
		return p.errf("unsupported option --%s", name)
	}
	return nil
}

// event parses a line that is not a header option.
func (p *lineParser) event(line string) (*Event, error) {
	ev := &Event{Line: p.line, Time: TimeSpec{Kind: TimeRelative}}
	if line[0] != '`' {
		tok, rest, _ := strings.Cut(line, " ")
		tok2, rest2 := tok, strings.TrimSpace(rest)
		if err := p.timeSpec(ev, tok2); err != nil {
			return nil, err
		}
		line = rest2
		if line == "" {
			return nil, p.errf("a time and nothing after it")
		}
	}
	switch {
	case line[0] == '`':
		if len(line) < 2 || line[len(line)-1] != '`' || strings.Count(line, "`") != 2 {
			return nil, p.errf("shell command: want exactly one `command` on the line")
		}
		ev.Kind = EventShell
		ev.Shell = strings.TrimSpace(line[1 : len(line)-1])
		if ev.Shell == "" {
			return nil, p.errf("empty shell command")
		}
	case line[0] == '<' || line[0] == '>':
		pk, err := p.packet(line)
		if err != nil {
			return nil, err
		}
		ev.Kind, ev.Packet = EventPacket, pk
	default:
		c, err := p.syscall(line)
		if err != nil {
			return nil, err
		}
		ev.Kind, ev.Call = EventSyscall, c
	}
	if ev.Blocking && ev.Kind != EventSyscall {
		return nil, p.errf("START...END is only for system calls")
	}
	if ev.Time.Span > 0 && ev.Kind == EventSyscall {
		return nil, p.errf("a time range a~b is only for packets the host sends")
	}
	return ev, nil
}

// maxTime bounds every time in a script.
const maxTime = 24 * time.Hour

// secs parses "0.1", ".25", "3" as seconds.
func (p *lineParser) secs(s string) (time.Duration, error) {
	if s == "" {
		return 0, p.errf("empty time")
	}
	for _, c := range s {
		if (c < '0' || c > '9') && c != '.' {
			return 0, p.errf("bad time %q: want seconds like 0.100, +0.1, * or a~b", s)
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, p.errf("bad time %q: want seconds like 0.100", s)
	}
	if f*float64(time.Second) > float64(maxTime) {
		return 0, p.errf("time %q is more than %v", s, maxTime)
	}
	return time.Duration(f*1e6+0.5) * time.Microsecond, nil
}

// timeSpec parses a line's time: "0.1", "+0.1", "*", "a~b", "a...b".
func (p *lineParser) timeSpec(ev *Event, tok string) error {
	if tok == "*" {
		ev.Time = TimeSpec{Kind: TimeAny}
		return nil
	}
	start, end, blocking := strings.Cut(tok, "...")
	var rng bool
	if !blocking {
		start, end, rng = strings.Cut(tok, "~")
	}
	one := func(s string) (time.Duration, bool, error) {
		rel := strings.HasPrefix(s, "+")
		d, err := p.secs(strings.TrimPrefix(s, "+"))
		return d, rel, err
	}
	at, rel, err := one(start)
	if err != nil {
		return err
	}
	ev.Time = TimeSpec{Kind: TimeAbsolute, At: at}
	if rel {
		ev.Time.Kind = TimeRelative
	}
	if !blocking && !rng {
		return nil
	}
	e, erel, err := one(end)
	if err != nil {
		return err
	}
	if blocking {
		ev.Blocking, ev.End, ev.EndRelative = true, e, erel
		if !erel && !rel && e < at {
			return p.errf("blocking call ends at %s, before it starts", end)
		}
		return nil
	}
	// a~b: b is relative to the same base as a when it has "+" and a does,
	// or absolute; either way it may not precede a.
	switch {
	case erel && rel, !erel && !rel:
		if e < at {
			return p.errf("time range %s ends before it starts", tok)
		}
		ev.Time.Span = e - at
	default:
		return p.errf("time range %s mixes absolute and relative times", tok)
	}
	return nil
}

// packet parses "< S. 0:0(0) ack 1 win 65535 <mss 1460,...>".
func (p *lineParser) packet(line string) (*PacketSpec, error) {
	seg, err := notation.Parse(strings.TrimSpace(line[1:]))
	if err != nil {
		return nil, p.errf("%v", err)
	}
	pk := &PacketSpec{Inbound: line[0] == '<', Segment: seg}
	if n := notation.OptionsLen(pk.Opts); n > wire.MaxOptionsLen {
		return nil, p.errf("TCP options take %d bytes, more than %d", n, wire.MaxOptionsLen)
	}
	if pk.Inbound && pk.Flags.Has(wire.ACK) && !pk.HasAck {
		pk.HasAck = true // packetdrill: an injected ACK without "ack N" carries ack 0
	}
	if pk.HasAck != pk.Flags.Has(wire.ACK) {
		if pk.Flags.Has(wire.ACK) {
			return nil, p.errf("packet: flag . (ACK) set but no \"ack N\"")
		}
		return nil, p.errf("packet: \"ack %d\" without the . (ACK) flag", pk.Ack)
	}
	return pk, nil
}
