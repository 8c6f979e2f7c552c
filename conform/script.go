// Package conform runs conformance scripts written in packetdrill's notation
// against two backends: the Linux kernel (the oracle: real sockets in a
// network namespace, the script's packets on a TUN device) and tcpwave (the
// same calls on a thin descriptor table over stack.Socket, the packets to
// and from a stack.Stack in-process, on virtual time).
//
// The runner and the scripts are this project's own: only packetdrill's
// notation is borrowed, never its code or its test scripts. A script plays
// the remote peer. Each line starts with a time and is one of
//
//	+0    < S 0:0(0) win 65535 <mss 1460,sackOK,nop,nop,nop,wscale 7>
//	+0    > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK,nop,wscale 7>
//	+0    accept(3, ..., ...) = 4
//	+0    read(4, ..., 100) = -1 ECONNRESET (Connection reset by peer)
//	+0    `ss -Htan state time-wait | grep -q 192.0.2.1:`
//
// Times are seconds: absolute ("0.100"), relative to the previous line
// ("+0.1"), "*" (any time) or a range ("+0.2~+0.4"). A call that blocks is
// written "START...END call(...) = R": it starts at START and must return
// at END. Sequence numbers are relative to each side's initial sequence
// number, as packetdrill writes them. Header lines "--name=value" set
// options (Options); `back-quoted` lines are shell commands.
package conform

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/tcpwave/tcpwave/notation"
)

// Script is a parsed conformance script.
type Script struct {
	Name    string   // the file name, for reports
	Options Options  // from the header lines, over DefaultOptions
	Events  []*Event // in script order
}

// Options are the script's header settings ("--tolerance_usecs=10000").
type Options struct {
	Tolerance  time.Duration   // --tolerance_usecs: how far an event may be from its time
	LocalIP    netip.Addr      // --local_ip: the host under test (192.168.0.1)
	RemoteIP   netip.Addr      // --remote_ip: the peer the script plays (192.0.2.1)
	LocalPort  uint16          // --bind_port: the port bind() uses (8080)
	RemotePort uint16          // --connect_port: the port connect() dials (8080)
	PeerPort   uint16          // --remote_port: the script's port towards a listener (48000)
	Backends   map[string]bool // --backends=kernel,tcpwave: where the script runs (both when empty)
	// IPVersion is the family --ip_version pins the script to; IPAny
	// (none) leaves it family-agnostic: it runs in IPv4 unless the runner
	// is asked for IPv6 (InFamily).
	IPVersion IPVersion
	// MTU is the link's MTU (--mtu); 0 is the family's default (linkMTU).
	MTU int
	// localSet and remoteSet record an explicit --local_ip or --remote_ip
	// (kept when the family changes).
	localSet, remoteSet bool
	// TSTick is --tcp_ts_tick_usecs: how long one unit of the host's TS
	// clock lasts; when set, the TS val of packets the host sends is
	// compared with the script's (tsClock). 0, the default, compares none.
	TSTick time.Duration
	// TSEcrScaled is --tcp_ts_ecr_scaled: a script's TS ecr that no line
	// of the host's wrote as TS val is taken as that far from the first.
	TSEcrScaled bool
	// MSS is --mss: the segment size an inbound payload too large for
	// the MTU is cut into (a GSO super-packet); 0 means the MTU's.
	MSS int
	// PrefixLen is --netmask_ip's: the prefix of the kernel's local
	// address (24 when 0).
	PrefixLen int
}

// DefaultOptions returns packetdrill's default addresses and ports and a
// 4 ms tolerance.
func DefaultOptions() Options {
	return Options{
		Tolerance:  4 * time.Millisecond,
		LocalIP:    netip.MustParseAddr("192.168.0.1"),
		RemoteIP:   netip.MustParseAddr("192.0.2.1"),
		LocalPort:  8080,
		RemotePort: 8080,
		PeerPort:   48000,
	}
}

// TimeKind says how a time is written.
type TimeKind uint8

// The kinds of time.
const (
	TimeAbsolute TimeKind = iota // "0.100": from the start of the script
	TimeRelative                 // "+0.1": from the previous line
	TimeAny                      // "*": whenever it happens
)

// TimeSpec is when an event happens: At (absolute or relative), or any time
// in [At, At+Span] for a range "a~b".
type TimeSpec struct {
	Kind TimeKind
	At   time.Duration
	Span time.Duration // > 0 for a range
}

// String writes the time as the script did, normalized.
func (t TimeSpec) String() string {
	s := fmtSecs(t.At)
	switch t.Kind {
	case TimeAny:
		return "*"
	case TimeRelative:
		s = "+" + s
	}
	if t.Span > 0 {
		s += "~" + fmtSecs(t.Span) + "s wide"
	}
	return s
}

func fmtSecs(d time.Duration) string {
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.6f", d.Seconds()), "0"), ".")
}

// EventKind is what a line does.
type EventKind uint8

// The kinds of event.
const (
	EventPacket  EventKind = iota // "<" or ">"
	EventSyscall                  // a system call
	EventShell                    // a `shell command`
)

// Event is one line of a script.
type Event struct {
	Line int // 1-based line number
	Text string
	Time TimeSpec
	// Blocking is set for "START...END call": End is when the call must
	// return, relative to the start when EndRelative, else absolute.
	Blocking    bool
	End         time.Duration
	EndRelative bool
	Kind        EventKind
	Packet      *PacketSpec
	Call        *Syscall
	Shell       string
}

// PacketSpec is a packet line. Sequence numbers are relative: an inbound
// packet's seq to the script's ISN and its ack to the host's, an outbound
// one's the other way round.
type PacketSpec struct {
	Inbound bool // "<": the script sends it; ">": the host must send it
	// Segment is the line's segment; its AnyOpts ("<...>") means any
	// options (outbound) or none (inbound).
	notation.Segment
}

// OptKind is a TCP option as the script names it.
type OptKind = notation.OptKind

// The options the notation has.
const (
	OptNOP    = notation.OptNOP
	OptEOL    = notation.OptEOL
	OptMSS    = notation.OptMSS
	OptWScale = notation.OptWScale
	OptSACKOK = notation.OptSACKOK
	OptTS     = notation.OptTS
	OptSACK   = notation.OptSACK
	OptOther  = notation.OptOther // a kind the notation has no name for (only seen in packets the host sends)
)

// TCPOption is one item of an option list.
type TCPOption = notation.Option

// SACKRange is one SACK block "a:b", relative to the acknowledging side's
// peer's ISN.
type SACKRange = notation.SACKRange

// ExprKind is the kind of a syscall argument or return value.
type ExprKind uint8

// The kinds of expression.
const (
	ExprInt      ExprKind = iota // 3, SOCK_STREAM, O_RDWR|O_NONBLOCK
	ExprEllipsis                 // ...
	ExprString                   // "text"
	ExprList                     // [1], [{fd=3, events=POLLIN}]
	ExprStruct                   // {l_onoff=1, l_linger=0}
)

// Expr is a syscall argument.
type Expr struct {
	Kind   ExprKind
	Int    int64
	Str    string
	Elems  []Expr  // ExprList
	Fields []Field // ExprStruct
}

// Field is one "name=value" of a struct argument.
type Field struct {
	Name  string
	Value Expr
}

// Field returns the named field of a struct expression.
func (e *Expr) Field(names ...string) (Expr, bool) {
	for _, f := range e.Fields {
		for _, n := range names {
			if f.Name == n {
				return f.Value, true
			}
		}
	}
	return Expr{}, false
}

// Syscall is a system call line: name(args) = ret [ERRNO (text)].
type Syscall struct {
	Name  string
	Args  []Expr
	Ret   int64
	Errno string // "ECONNRESET"; empty when the call succeeds
}
