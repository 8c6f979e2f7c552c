package trace

import (
	"bufio"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tcpwave/tcpwave/clock"
)

// Ladder geometry. A line is the time column, two spaces, the left host's
// timeline "|", ladderInner columns of lane, and the right host's "|":
// 10+2+1+80+1 = 94 columns.
const (
	timeWidth   = 10 // "%10s" of seconds with six decimals
	ladderInner = 80 // columns between the two timelines
	// lostShort is how many columns short of the far timeline a lost
	// segment's arrow stops.
	lostShort = 12
)

// IdleGap is the virtual time without events above which WriteLadder
// compresses the gap to one line (and the HTML page to a visible break).
const IdleGap = time.Second

// WriteLadder draws the conversation between hosts left and right as a text
// ladder diagram for a monospace terminal, 94 columns wide. An excerpt:
//
//	     t(s)  A                                                                                B
//	 0.010000  | ESTABLISHED -> FIN_WAIT_1  close() called                                      |
//	 0.010000  |------------------ F. 6:6(0) ack 1 win 512  (arrives +0.5ms) ------------------>|
//	 0.010000  | close() = 0                                                                    |
//	 0.010500  |                    ESTABLISHED -> CLOSE_WAIT  RFC 9293 §3.10.7.4: FIN received |
//	 0.010500  |<------------------ . 1:1(0) ack 7 win 512  (arrives +0.5ms) -------------------|
//	 0.010600  |                                                                   read() = EOF |
//	 0.020500  |----------------- . 7:7(0) ack 2 win 512  (lost) ------------------X            |
//	           :                             ~~~ 60.000 s pass ~~~                              :
//	60.220500  | TIME_WAIT -> CLOSED  RFC 9293 §3.10.8: 2MSL timeout                            |
//
// The first column is virtual time in seconds. Each event is one line:
//
//   - A segment is one arrow, drawn at its send time, from the sender's
//     timeline towards the receiver's and labelled in packetdrill notation.
//     If the receiver's matching "recv" event is in the trace the label ends
//     with the one-way delay, "(arrives +0.5ms)", and the recv event draws
//     nothing more. If a "drop" event matches it instead, the arrow stops
//     short of the far timeline in an "X" and the label says "(lost)" (or
//     "(dropped by H)" when the drop event's Host is a host, not "net").
//     A segment with neither says "(not received)". Sends are matched to
//     recv and drop events first-in first-out by their Seg text, so
//     retransmissions of identical segments pair up in order.
//   - A recv or drop with no earlier send is drawn as its own arrow at its
//     own time, labelled "(send not traced)".
//   - State changes ("ESTABLISHED -> FIN_WAIT_1  close() called") and
//     application calls ("close() = 0", "read() = EOF") are written on
//     their host's side: the left host's starting just after its
//     timeline, the right host's ending just before its timeline.
//     Reasons that do not fit lose a leading "RFC ...: " citation, then
//     are cut with "…"; WriteJSONL keeps them whole.
//   - More than one second of virtual time without events is compressed to
//     one line, "~~~ 60.000 s pass ~~~", between dotted timelines.
//
// Events of other hosts, and events of kinds WriteLadder does not know, are
// left out. Sends of left are assumed to go to right and vice versa. Events
// are drawn in time order (the order given among equal times).
func WriteLadder(w io.Writer, events []Event, left, right string) error {
	evs := make([]Event, len(events))
	copy(evs, events)
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].T < evs[j].T })

	lad := ladder{left: left, right: right, bw: bufio.NewWriter(w)}
	m := matchSegments(evs, left, right)

	lad.header()
	var prev clock.Instant
	started := false
	for i, e := range evs {
		if m.consumed[i] {
			continue
		}
		line, ok := lad.render(evs, i, m)
		if !ok {
			continue
		}
		if started && e.T.Sub(prev) > IdleGap {
			lad.gap(e.T.Sub(prev))
		}
		started, prev = true, e.T
		lad.row(e.T, line)
	}
	return lad.bw.Flush()
}

// matches records how WriteLadder paired each send with its fate.
type matches struct {
	fate     map[int]int // send index -> index of its recv or drop event
	consumed []bool      // recv/drop events already drawn as part of a send
}

// matchSegments pairs every send of left or right with the first later,
// still unpaired recv of the same Seg at the other host or drop of the same
// Seg in the same direction, whichever comes first.
func matchSegments(evs []Event, left, right string) matches {
	m := matches{fate: map[int]int{}, consumed: make([]bool, len(evs))}
	type recvKey struct{ host, seg string }
	recvs := map[recvKey][]int{}
	drops := map[string][]int{}
	for i, e := range evs {
		switch e.Kind {
		case KindRecv:
			if e.Host == left || e.Host == right {
				k := recvKey{e.Host, e.SegText()}
				recvs[k] = append(recvs[k], i)
			}
		case KindDrop:
			drops[e.SegText()] = append(drops[e.SegText()], i)
		}
	}
	for i, e := range evs {
		if e.Kind != KindSend {
			continue
		}
		var to string
		switch e.Host {
		case left:
			to = right
		case right:
			to = left
		default:
			continue
		}
		best := -1
		// Recv candidates: the queue is in index order; entries before i
		// can never pair with this or any later send, so drop them.
		seg := e.SegText()
		k := recvKey{to, seg}
		q := recvs[k]
		for len(q) > 0 && (q[0] < i || m.consumed[q[0]]) {
			q = q[1:]
		}
		recvs[k] = q
		if len(q) > 0 {
			best = q[0]
		}
		for _, j := range drops[seg] {
			if best >= 0 && j > best {
				break
			}
			d := evs[j]
			if j > i && !m.consumed[j] &&
				(d.Src == "" || d.Src == e.Host) && (d.Dst == "" || d.Dst == to) {
				best = j
				break
			}
		}
		if best >= 0 {
			m.fate[i] = best
			m.consumed[best] = true
		}
	}
	return m
}

// ladder holds the drawing state of one WriteLadder call.
type ladder struct {
	left, right string
	bw          *bufio.Writer
}

func (l *ladder) header() {
	var b strings.Builder
	b.WriteString(padLeft("t(s)", timeWidth))
	b.WriteString("  ")
	inner := ladderInner + 2
	ln := cut(l.left, inner/2-1)
	rn := cut(l.right, inner/2-1)
	b.WriteString(ln)
	b.WriteString(strings.Repeat(" ", inner-width(ln)-width(rn)))
	b.WriteString(rn)
	l.line(b.String())
}

// row writes one event line: the time column, then the two timelines with
// lane between them.
func (l *ladder) row(t clock.Instant, lane string) {
	l.line(padLeft(strings.TrimSuffix(t.String(), "s"), timeWidth) + "  |" + lane + "|")
}

// gap writes the compressed-idle-time line.
func (l *ladder) gap(d time.Duration) {
	ms := (int64(d) + int64(time.Millisecond)/2) / int64(time.Millisecond)
	text := "~~~ " + strconv.FormatInt(ms/1000, 10) + "." + pad3(ms%1000) + " s pass ~~~"
	l.line(strings.Repeat(" ", timeWidth) + "  :" + center(text, ladderInner) + ":")
}

func (l *ladder) line(s string) {
	l.bw.WriteString(strings.TrimRight(s, " "))
	l.bw.WriteByte('\n')
}

// render returns the lane text (ladderInner columns) for event i, or false
// if the event is not drawn.
func (l *ladder) render(evs []Event, i int, m matches) (string, bool) {
	e := evs[i]
	seg := e.SegText()
	side := l.side(e.Host)
	switch e.Kind {
	case KindState:
		if side == 0 {
			return "", false
		}
		return l.note(side, stateText(e, ladderInner-2)), true
	case KindApp:
		if side == 0 {
			return "", false
		}
		return l.note(side, e.AppText()), true
	case KindSend:
		if side == 0 {
			return "", false
		}
		j, ok := m.fate[i]
		if !ok {
			return arrow(side > 0, seg, "(not received)", false), true
		}
		f := evs[j]
		if f.Kind == KindRecv {
			return arrow(side > 0, seg, "(arrives +"+shortDur(f.T.Sub(e.T))+")", false), true
		}
		return arrow(side > 0, seg, lostText(f), true), true
	case KindRecv:
		// An unpaired recv: draw it towards its receiver.
		if side == 0 {
			return "", false
		}
		return arrow(side < 0, seg, "(send not traced)", false), true
	case KindDrop:
		from, to := l.side(e.Src), l.side(e.Dst)
		if (e.Src != "" && from == 0) || (e.Dst != "" && to == 0) {
			return "", false // another conversation
		}
		suffix := lostText(e) + " (send not traced)"
		switch {
		case from > 0 || to < 0:
			return arrow(true, seg, suffix, true), true
		case from < 0 || to > 0:
			return arrow(false, seg, suffix, true), true
		}
		return center("X "+fitLabel(seg, suffix, ladderInner-4), ladderInner), true
	}
	return "", false
}

// side is +1 for the left host, -1 for the right host, 0 for any other.
func (l *ladder) side(host string) int {
	switch host {
	case "":
		return 0
	case l.left:
		return 1
	case l.right:
		return -1
	}
	return 0
}

// note places text on a host's side of the lane.
func (l *ladder) note(side int, text string) string {
	text = cut(text, ladderInner-2)
	pad := strings.Repeat(" ", ladderInner-2-width(text))
	if side > 0 {
		return " " + text + pad + " "
	}
	return " " + pad + text + " "
}

func lostText(drop Event) string {
	if drop.Host == "" || drop.Host == "net" {
		return "(lost)"
	}
	return "(dropped by " + drop.Host + ")"
}

// stateText is "FROM -> TO  why", shortened to max columns.
func stateText(e Event, max int) string {
	s := e.From.String() + " -> " + e.To.String()
	if e.FromUnknown {
		s = "-> " + e.To.String()
	}
	why := e.Why
	if why == "" {
		return s
	}
	room := max - width(s) - 2
	if width(why) > room && strings.HasPrefix(why, "RFC") {
		if k := strings.Index(why, ": "); k > 0 {
			why = why[k+2:]
		}
	}
	if room < 2 {
		return cut(s, max)
	}
	return s + "  " + cut(why, room)
}

// AppText writes an app event as "call() = result" (the call's
// parentheses added when it has none, "= result" left out when empty).
func (e *Event) AppText() string {
	s := e.Call
	if !strings.Contains(s, "(") {
		s += "()"
	}
	if e.Result != "" {
		s += " = " + e.Result
	}
	return s
}

// arrow draws a segment across the lane, ladderInner columns wide.
// rightward arrows run from the left timeline to the right one. A lost
// arrow stops lostShort columns early in an "X".
func arrow(rightward bool, seg, suffix string, lost bool) string {
	length := ladderInner
	if lost {
		length -= lostShort
	}
	// dashes, space, label, space, dashes, head: at least 2 dashes a side.
	label := fitLabel(seg, suffix, length-7)
	dashes := length - 3 - width(label)
	a := dashes / 2
	b := dashes - a
	var sb strings.Builder
	if !rightward && lost {
		sb.WriteString(strings.Repeat(" ", lostShort))
	}
	switch {
	case !rightward && lost:
		sb.WriteString("X")
	case !rightward:
		sb.WriteString("<")
	}
	sb.WriteString(strings.Repeat("-", a))
	sb.WriteString(" ")
	sb.WriteString(label)
	sb.WriteString(" ")
	sb.WriteString(strings.Repeat("-", b))
	switch {
	case rightward && lost:
		sb.WriteString("X")
		sb.WriteString(strings.Repeat(" ", lostShort))
	case rightward:
		sb.WriteString(">")
	}
	return sb.String()
}

// fitLabel joins seg and suffix with two spaces, cutting seg (never the
// suffix) so the whole fits in max columns.
func fitLabel(seg, suffix string, max int) string {
	if seg == "" {
		seg = "?"
	}
	room := max - width(suffix) - 2
	if room < 1 {
		return cut(seg+"  "+suffix, max)
	}
	return cut(seg, room) + "  " + suffix
}

// shortDur formats a one-way delay compactly: "0.5ms", "120ms", "1.5s".
func shortDur(d time.Duration) string {
	if d < time.Second {
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', -1, 64) + "ms"
	}
	return strconv.FormatFloat(float64(d)/float64(time.Second), 'f', -1, 64) + "s"
}

// width is the number of terminal columns s takes, counting one per rune.
func width(s string) int { return utf8.RuneCountInString(s) }

// cut shortens s to at most max columns, ending it with "…" if it was cut.
func cut(s string, max int) string {
	if width(s) <= max {
		return s
	}
	if max <= 0 {
		return ""
	}
	r := []rune(s)
	return string(r[:max-1]) + "…"
}

func padLeft(s string, n int) string {
	if k := n - width(s); k > 0 {
		return strings.Repeat(" ", k) + s
	}
	return s
}

// center pads s with spaces to n columns, s in the middle.
func center(s string, n int) string {
	s = cut(s, n)
	k := n - width(s)
	return strings.Repeat(" ", k/2) + s + strings.Repeat(" ", k-k/2)
}

func pad3(v int64) string {
	s := strconv.FormatInt(v, 10)
	for len(s) < 3 {
		s = "0" + s
	}
	return s
}
