// Package htmlpage draws a trace as one self-contained HTML page: the
// ladder diagram of the two hosts' conversation (ladder.go), RFC 9293's
// state diagram with the transitions each host made (fsm.go), and the
// details shown on hovering a segment or a state change (tips.go), in
// English and Chinese (i18n.go). It formats the trace's typed values and
// never parses text.
package htmlpage

import (
	"bufio"
	"fmt"
	"html/template"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/tcpwave/tcpwave/notation"
	"github.com/tcpwave/tcpwave/tcp"
	"github.com/tcpwave/tcpwave/trace"
	"github.com/tcpwave/tcpwave/wire"
)

// Text is a piece of explanatory text in the two languages of an HTML page:
// English and Simplified Chinese, the language of the source documents.
// State names, flag letters and segments are written the same in both.
type Text struct {
	EN string // English
	ZH string // Simplified Chinese; empty means "same as EN"
}

// zh returns the Chinese text, falling back to the English one.
func (t Text) zh() string {
	if t.ZH == "" {
		return t.EN
	}
	return t.ZH
}

// Host names one side of the conversation on an HTML page.
type Host struct {
	Name string // the host as the trace names it, e.g. "A"
	Role Text   // what it plays, e.g. {"client", "客户端"}; may be empty
}

// Page is what Write writes around the diagrams.
type Page struct {
	Title       string // heading and <title>, e.g. "four-way-close"
	Summary     Text   // one paragraph under the heading
	Left, Right Host   // the hosts drawn on the left and the right
	// Status is shown as a badge: "PASS", or "FAIL" followed by the reason;
	// empty for none.
	Status string
	Facts  []string // small print under the diagrams, e.g. "seed 1"
	Index  string   // relative link to an index page; empty for none
	// Origin replaces the last line, which by default says the page comes
	// from a deterministic simulation in virtual time.
	Origin Text
}

// Write writes the conversation between page.Left and page.Right as
// one self-contained HTML page: inline SVG, CSS and a little JavaScript,
// and a Content-Security-Policy that forbids every fetch, so the page
// loads nothing from anywhere. It shows:
//
//   - the ladder diagram: the two hosts' timelines, one slanted arrow per
//     segment from its send time to its receive time, labelled in
//     packetdrill notation; a lost segment's arrow stops short in a cross;
//     each state change written beside its host's timeline; application
//     calls marked on the timeline (errors in red); idle stretches of more
//     than a second compressed to a visible break with their duration;
//   - the TCP state diagram of RFC 9293 (figure 5) with the transitions
//     each host made drawn in its colour (transitions the figure lacks,
//     such as FIN_WAIT_1 -> TIME_WAIT, appear dashed when taken);
//   - on hovering or focusing a segment, its header fields, its fate and
//     the state change it caused with that change's reason; on a state
//     label, the reason and how long the previous state lasted;
//   - a switch between English and Chinese for the explanatory text (the
//     page opens in Chinese when its URL ends in "#zh").
//
// Sends are paired with their recv or drop events as WriteLadder pairs
// them: first-in first-out per sender and segment text. A drop inside a
// receiving host (a bad checksum: Host is that host, Seg is only a size)
// is paired with the oldest segment still on its way to that host.
//
// The markup carries the trace for tools and tests: every segment's arrow
// is a <g class="seg"> whose data-send (data-recv, data-drop) attribute
// is the index in events of its send (recv, drop) event; every state
// change's label is a <g class="state"> and every application call's a
// <g class="app">, with data-ev its event's index; every transition a host
// made is a <path class="hl"> in the state diagram with data-host and
// data-edge "FROM>TO".
func Write(w io.Writer, events []trace.Event, page Page) error {
	if page.Left.Name == "" || page.Right.Name == "" || page.Left.Name == page.Right.Name {
		return fmt.Errorf("trace: Write needs two different hosts, got %q and %q", page.Left.Name, page.Right.Name)
	}
	m := buildModel(events, page.Left.Name, page.Right.Name)
	v := pageView{
		Page:    page,
		Ladder:  layoutLadder(m),
		FSM:     layoutFSM(m),
		Summary: page.Summary,
		Tips:    m.tips(),
	}
	for s, h := range []Host{page.Left, page.Right} {
		head := &v.Ladder.Heads[s]
		sub := Text{EN: head.Addr, ZH: head.Addr}
		if h.Role.EN != "" {
			if sub.EN != "" {
				sub.EN += " · "
				sub.ZH += " · "
			}
			sub.EN += h.Role.EN
			sub.ZH += h.Role.zh()
		}
		head.Sub = svgText{X: head.X, Y: 54, Anchor: "middle", Class: "haddr", Text: sub}
		v.Legend = append(v.Legend, legendItem{Class: fmt.Sprintf("side%d", s), Icon: legendArrow[s],
			Text: Text{EN: "segments from " + h.Name, ZH: h.Name + " 发出的报文段"}})
	}
	v.Legend = append(v.Legend,
		legendItem{Icon: legendLost, Text: Text{"lost segment", "丢失的报文段"}},
		legendItem{Icon: legendState, Text: uiText["stateChange"]},
		legendItem{Icon: legendApp, Text: uiText["appcall"]},
		legendItem{Icon: legendErr, Text: Text{"failed call", "失败的调用"}},
	)
	v.Status, v.StatusOK = statusBadge(page.Status)
	bw := bufio.NewWriter(w)
	if err := pageTemplate.ExecuteTemplate(bw, "page", v); err != nil {
		return err
	}
	return bw.Flush()
}

// Index is an index page of several HTML pages.
type Index struct {
	Title   Text
	Intro   Text
	Entries []IndexEntry
}

// IndexEntry is one line of an index page.
type IndexEntry struct {
	Name     string // link text, e.g. the scenario's name
	Href     string // relative link to its page
	Summary  Text
	Status   string // "PASS", "FAIL ..." or empty
	Segments int    // segments sent
	Lost     int    // segments lost or dropped
}

// WriteIndex writes a self-contained page that links to pages written
// by Write, one table row each, with the same language switch.
func WriteIndex(w io.Writer, idx Index) error {
	type row struct {
		IndexEntry
		StatusText string
		OK         bool
	}
	v := struct {
		Index
		Rows  []row
		Title string
	}{Index: idx, Title: idx.Title.EN}
	for _, e := range idx.Entries {
		s, ok := statusBadge(e.Status)
		v.Rows = append(v.Rows, row{e, s, ok})
	}
	bw := bufio.NewWriter(w)
	if err := pageTemplate.ExecuteTemplate(bw, "index", v); err != nil {
		return err
	}
	return bw.Flush()
}

func statusBadge(s string) (text string, ok bool) {
	return s, strings.HasPrefix(s, "PASS")
}

// pageView is everything the page template needs.
type pageView struct {
	Page     Page
	Summary  Text
	Legend   []legendItem
	Ladder   ladderView
	FSM      fsmView
	Tips     []tipView
	Status   string
	StatusOK bool
}

// legendItem is one entry of the ladder's key.
type legendItem struct {
	Class string
	Icon  template.HTML // an SVG fragment, 30 x 14
	Text  Text
}

// The legend's icons: constant SVG fragments.
var (
	legendArrow = [2]template.HTML{
		`<line x1="1" y1="7" x2="26" y2="7" stroke="#2563eb" stroke-width="2"/><path d="M20,3 L28,7 L20,11 z" fill="#2563eb"/>`,
		`<line x1="1" y1="7" x2="26" y2="7" stroke="#ea580c" stroke-width="2"/><path d="M20,3 L28,7 L20,11 z" fill="#ea580c"/>`,
	}
	legendLost  template.HTML = `<line x1="1" y1="7" x2="20" y2="7" stroke="#dc2626" stroke-width="2" stroke-dasharray="5 3"/><path d="M19,2 L27,12 M19,12 L27,2" stroke="#dc2626" stroke-width="2.6" stroke-linecap="round"/>`
	legendState template.HTML = `<rect x="1" y="2" width="28" height="10" rx="5" fill="#ede9fe" stroke="#8b5cf6"/>`
	legendApp   template.HTML = `<path d="M15,2 L20,7 L15,12 L10,7 z" fill="#374151"/>`
	legendErr   template.HTML = `<path d="M15,2 L20,7 L15,12 L10,7 z" fill="#dc2626"/>`
)

// segFate says what became of a segment.
type segFate string

const (
	fateRecv    segFate = "recv"    // it arrived
	fateLost    segFate = "lost"    // the network lost it
	fateDropped segFate = "dropped" // the receiving host discarded it
	fateNone    segFate = "none"    // the trace says nothing more
	fateUnsent  segFate = "unsent"  // a recv or drop whose send is not traced
)

// segment is one arrow of the ladder.
type segment struct {
	send, recv, drop int               // event indices (into model.evs), -1 when absent
	from, to         int               // sides: 0 left, 1 right
	seg              *notation.Segment // nil when unknown
	label            string            // the segment as written: trace.Event.SegText
	fate             segFate
	rexmitOf         int    // index of the send this one repeats, or -1
	rexmitKind       string // "rexmit" or "dupack"
	caused           []int  // state events the arrival caused
}

// model is a trace digested for drawing.
type model struct {
	evs   []trace.Event // sorted by time, stable
	orig  []int         // evs[i] is events[orig[i]]
	hosts [2]string
	segs  []segment
	// conns lists each side's connections in order of appearance.
	conns [2][]trace.Conn
	addr  [2]string // each side's IP address, if the trace shows it
}

// side is 0 for the left host, 1 for the right host, -1 for any other.
func (m *model) side(host string) int {
	switch host {
	case "":
		return -1
	case m.hosts[0]:
		return 0
	case m.hosts[1]:
		return 1
	}
	return -1
}

func buildModel(events []trace.Event, left, right string) *model {
	m := &model{hosts: [2]string{left, right}}
	m.orig = make([]int, len(events))
	for i := range m.orig {
		m.orig[i] = i
	}
	sort.SliceStable(m.orig, func(i, j int) bool { return events[m.orig[i]].T < events[m.orig[j]].T })
	m.evs = make([]trace.Event, len(events))
	for i, o := range m.orig {
		m.evs[i] = events[o]
	}
	m.pair()
	m.findRexmits()
	m.findCauses()
	for _, e := range m.evs {
		s := m.side(e.Host)
		if e.Kind != trace.KindState || s < 0 || e.Conn == (trace.Conn{}) {
			continue
		}
		if !slices.Contains(m.conns[s], e.Conn) {
			m.conns[s] = append(m.conns[s], e.Conn)
		}
		if m.addr[s] == "" && e.Conn.Local.IsValid() {
			m.addr[s] = e.Conn.Local.Addr().String()
		}
	}
	return m
}

// pair walks the trace in time order with a queue of segments in flight
// per direction. A recv takes the oldest segment in flight towards its
// host with the same text, a drop in the network the oldest with the same
// text in its direction (so identical retransmissions pair up in order,
// as in WriteLadder), and a drop inside a host the oldest segment in
// flight towards that host.
func (m *model) pair() {
	var inflight [2][]int // by receiving side: indices into m.segs
	take := func(to int, match func(s *segment) bool) int {
		q := inflight[to]
		for k, si := range q {
			if match(&m.segs[si]) {
				inflight[to] = append(q[:k:k], q[k+1:]...)
				return si
			}
		}
		return -1
	}
	for i := range m.evs {
		e := &m.evs[i]
		label := e.SegText()
		newSeg := func(send, recv, drop, from, to int, fate segFate) segment {
			return segment{send: send, recv: recv, drop: drop, from: from, to: to, seg: e.Seg, label: label, fate: fate, rexmitOf: -1}
		}
		switch e.Kind {
		case trace.KindSend:
			s := m.side(e.Host)
			if s < 0 {
				continue
			}
			m.segs = append(m.segs, newSeg(i, -1, -1, s, 1-s, fateNone))
			inflight[1-s] = append(inflight[1-s], len(m.segs)-1)
		case trace.KindRecv:
			s := m.side(e.Host)
			if s < 0 {
				continue
			}
			if si := take(s, func(g *segment) bool { return g.label == label }); si >= 0 {
				m.segs[si].recv, m.segs[si].fate = i, fateRecv
				continue
			}
			m.segs = append(m.segs, newSeg(-1, i, -1, 1-s, s, fateUnsent))
		case trace.KindDrop:
			if hs := m.side(e.Host); hs >= 0 {
				// Dropped inside host hs: the oldest segment on its way there.
				if si := take(hs, func(g *segment) bool { return true }); si >= 0 {
					m.segs[si].drop, m.segs[si].fate = i, fateDropped
					continue
				}
				m.segs = append(m.segs, newSeg(-1, -1, i, 1-hs, hs, fateUnsent))
				continue
			}
			from, to := m.side(e.Src), m.side(e.Dst)
			if (e.Src != "" && from < 0) || (e.Dst != "" && to < 0) {
				continue // another conversation
			}
			si := -1
			for _, r := range []int{0, 1} {
				if (to >= 0 && r != to) || (from >= 0 && r == from) {
					continue
				}
				if si = take(r, func(g *segment) bool { return g.label == label }); si >= 0 {
					break
				}
			}
			if si >= 0 {
				m.segs[si].drop, m.segs[si].fate = i, fateLost
				continue
			}
			g := newSeg(-1, -1, i, from, to, fateUnsent)
			switch {
			case from < 0 && to >= 0:
				g.from = 1 - to
			case to < 0 && from >= 0:
				g.to = 1 - from
			case from < 0 && to < 0:
				g.from, g.to = 0, 1
			}
			m.segs = append(m.segs, g)
		}
	}
}

// findRexmits marks a segment that repeats an earlier one of its sender:
// the same sequence range with SYN, FIN or data is a retransmission; the
// same pure ACK again is a duplicate ACK. Sequence numbers are relative to
// each connection's ISN, so a send counts as part of the connection whose
// state its host changed last (the change that makes a host send comes
// just before the send), a connection that starts over on the same ports
// counts as a new one, and a segment repeated at the same instant is not
// a retransmission: a new connection's SYN is not a retransmission of the
// previous connection's.
func (m *model) findRexmits() {
	type key struct {
		conn  string
		flags wire.Flags
		start uint32
		len   int
		ack   uint32
	}
	segOf := map[int]int{}
	for i, g := range m.segs {
		if g.send >= 0 {
			segOf[g.send] = i
		}
	}
	var conn [2]string
	incarnation := map[string]int{}
	seen := map[key]int{}
	for i, e := range m.evs {
		s := m.side(e.Host)
		if s < 0 {
			continue
		}
		if e.Kind == trace.KindState && e.Conn.Connected() {
			c := e.Host + " " + e.Conn.String()
			if !e.FromUnknown && (e.From == tcp.Closed || e.From == tcp.Listen) {
				incarnation[c]++
			}
			conn[s] = fmt.Sprintf("%s #%d", c, incarnation[c])
		}
		k, ok := segOf[i]
		if e.Kind != trace.KindSend || !ok {
			continue
		}
		g := &m.segs[k]
		f := g.seg
		if f == nil || f.Flags.Has(wire.RST) {
			continue
		}
		kk := key{conn: conn[s], start: f.Seq, len: f.Len}
		if conn[s] == "" {
			kk.conn = e.Host
		}
		kind := "rexmit"
		switch {
		case f.Len > 0 || f.Flags&(wire.SYN|wire.FIN) != 0:
			kk.flags = f.Flags &^ (wire.ACK | wire.PSH)
		case f.Flags == wire.ACK:
			kk.flags, kk.ack, kind = wire.ACK, f.Ack, "dupack"
		default:
			continue
		}
		if j, dup := seen[kk]; dup && m.evs[m.segs[j].send].T < e.T {
			g.rexmitOf, g.rexmitKind = j, kind
		}
		seen[kk] = k
	}
}

// findCauses records, for each segment that arrived, the state changes its
// receiver made at once: the state events of that host at the same instant
// after the recv event and before the host's next recv.
func (m *model) findCauses() {
	for i := range m.segs {
		g := &m.segs[i]
		if g.recv < 0 {
			continue
		}
		r := m.evs[g.recv]
		for j := g.recv + 1; j < len(m.evs); j++ {
			e := m.evs[j]
			if e.T != r.T {
				break
			}
			if e.Host != r.Host {
				continue
			}
			if e.Kind == trace.KindRecv {
				break
			}
			if e.Kind == trace.KindState {
				g.caused = append(g.caused, j)
			}
		}
	}
}

// connTag names a connection of side s when the side has several: the
// listener, or the n-th connection.
func (m *model) connTag(s int, conn trace.Conn) Text {
	if conn == (trace.Conn{}) {
		return Text{}
	}
	if !conn.Connected() {
		if len(m.conns[s]) > 1 {
			return uiText["listener"]
		}
		return Text{}
	}
	n, k := 0, 0
	for _, c := range m.conns[s] {
		if c.Connected() {
			n++
			if c == conn {
				k = n
			}
		}
	}
	if n < 2 {
		return Text{}
	}
	t := uiText["conn"]
	return Text{EN: fmt.Sprintf("%s %d", t.EN, k), ZH: fmt.Sprintf("%s %d", t.zh(), k)}
}

// onlyConn returns side s's single connection (not a listener), or false.
func (m *model) onlyConn(s int) (trace.Conn, bool) {
	var one trace.Conn
	for _, c := range m.conns[s] {
		if c.Connected() {
			if one != (trace.Conn{}) {
				return trace.Conn{}, false
			}
			one = c
		}
	}
	return one, one != (trace.Conn{})
}

// stateNames returns a state event's states as the page writes them; an
// unknown From is "".
func stateNames(e *trace.Event) (from, to string) {
	if !e.FromUnknown {
		from = e.From.String()
	}
	return from, e.To.String()
}
