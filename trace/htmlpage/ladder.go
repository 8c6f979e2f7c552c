package htmlpage

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/tcp"
	"github.com/tcpwave/tcpwave/trace"
)

// Geometry of the SVG ladder, in CSS pixels.
const (
	hlTimeW    = 56.0  // the time column
	hlLaneW    = 400.0 // between the two timelines
	hlPad      = 12.0  // between a timeline and the labels beside it
	hlMinSide  = 150.0 // narrowest label margin
	hlMaxSide  = 300.0 // widest label margin
	hlTop      = 92.0  // y of the first row
	hlLineH    = 22.0  // one label beside a timeline
	hlEndStep  = 22.0  // between arrows leaving one host at one instant
	hlBreakH   = 64.0  // a compressed idle stretch
	hlLostFrac = 0.62  // how far a lost segment's arrow gets
	hlSegFont  = 11.0  // arrow labels (monospace)
	hlPillFont = 11.5  // state labels (monospace, bold)
	hlAppFont  = 11.0  // application calls (monospace)
	hlTagFont  = 10.0  // small tags (sans-serif)
	// hlIdle is the idle time above which the ladder is compressed, as in
	// WriteLadder.
	hlIdle = trace.IdleGap
)

// ladderView is the drawn ladder.
type ladderView struct {
	W, H   float64
	XA, XB float64
	TimeX  float64
	Heads  [2]hostHead
	Lines  []vline
	Ticks  []tick
	Breaks []breakView
	Arrows []arrowView
	States []stateView
	Apps   []appView
}

type hostHead struct {
	Side       int
	X          float64
	BoxX, W    float64 // the name's box, wide enough for an address (explain names hosts so)
	Name, Addr string
	Sub        svgText // address and role under the name
}

// svgText is a text in both languages at a point, possibly turned.
type svgText struct {
	X, Y   float64
	Rot    float64
	Anchor string
	Class  string
	Text   Text
}

type vline struct {
	Side           int
	X, Y1, Y2      float64
	Dotted         bool
	Break1, Break2 string // path data of the break marks, if any
}

type tick struct {
	Y     float64
	Label string
}

type breakView struct {
	Y1, Y2, Mid float64
	RX, RY, RW  float64 // the band behind the duration
	Label       svgText
	Notes       []svgText // the states held meanwhile, beside each timeline
}

type arrowView struct {
	ID               string
	Send, Recv, Drop int // event indices in the caller's slice, -1 when absent
	Fate             string
	From, To         string
	FromSide         int
	Seg              string
	X1, Y1, X2, Y2   float64
	Head             bool   // draw an arrowhead
	Dashed           bool   // the send or the receipt is not traced
	Cross            string // path data of the cross of a lost segment
	LX, LY, Angle    float64
	Tag              svgText // along the arrow: retransmission, ...
	End              svgText // past the cross: lost, dropped
	Tip, Rel         string
}

type stateView struct {
	ID                 string
	Ev                 int
	Host               string
	Side               int
	From, To, Cat      string
	X, Y               float64 // the dot on the timeline
	PX, PY, PW, PH, TX float64 // the pill and its text's centre
	Tag                svgText // which connection, when a host has several
	Tip, Rel           string
}

type appView struct {
	ID       string
	Ev       int
	Host     string
	Side     int
	X, Y, TX float64
	Mark     string // path data of the marker on the timeline
	Anchor   string
	Text     string
	Err, EOF bool
	Tip      string
}

// textW estimates the width of s in a monospace font of the given size.
func textW(s string, size float64) float64 {
	return float64(utf8.RuneCountInString(s)) * 0.61 * size
}

// sansW estimates the width of s in a proportional font: CJK characters
// are square, Latin ones about half as wide.
func sansW(s string, size float64) float64 {
	w := 0.0
	for _, r := range s {
		if r >= 0x2e80 {
			w += size
		} else {
			w += 0.56 * size
		}
	}
	return w
}

func textTW(t Text, size float64) float64 {
	return math.Max(sansW(t.EN, size), sansW(t.zh(), size))
}

// stateCat groups states by role for their colour.
func stateCat(s tcp.State) string {
	switch s {
	case tcp.SynSent, tcp.SynRcvd:
		return "open"
	case tcp.Established:
		return "est"
	case tcp.FinWait1, tcp.FinWait2, tcp.Closing:
		return "act"
	case tcp.CloseWait, tcp.LastAck:
		return "pas"
	case tcp.TimeWait:
		return "tw"
	}
	return "idle"
}

// rowSpacing is the vertical distance for a time step dt that is not
// compressed: logarithmic, so that 0.5 ms and 1 s both stay readable.
func rowSpacing(dt time.Duration) float64 {
	return 26 + 11*math.Log10(1+float64(dt)/float64(100*time.Microsecond))
}

// fmtSecs formats an instant as seconds for the time column: "1.0005",
// to the microsecond (a capture's nanoseconds would not fit the column).
func fmtSecs(t clock.Instant) string {
	return strconv.FormatFloat(math.Round(float64(t)/1e3)/1e6, 'f', -1, 64)
}

// fmtTime formats an instant for tooltips: "1.000500 s".
func fmtTime(t clock.Instant) string {
	return strings.TrimSuffix(t.String(), "s") + " s"
}

// fmtDur formats a duration compactly: "0.5 ms", "200 ms", "57.202 s".
func fmtDur(d time.Duration) string {
	if d < time.Second {
		return strconv.FormatFloat(math.Round(float64(d)/1e3)/1e3, 'f', -1, 64) + " ms"
	}
	return strconv.FormatFloat(math.Round(float64(d)/1e6)/1e3, 'f', -1, 64) + " s"
}

func f1(v float64) string { return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64) }

// rowItem is something drawn at a timeline at an instant: a label beside
// it (state change, application call) or an arrow's end.
type rowItem struct {
	ev    int
	label bool
	send  bool    // an arrow's start, not its end
	width float64 // of a label
}

// ladderRow is one distinct instant of drawn events.
type ladderRow struct {
	t       clock.Instant
	items   [2][]rowItem
	extent  float64 // how far below y the row's items reach
	sendOff float64 // how far below y the last arrow leaves
	y       float64
}

// endRef is an arrow's end at a timeline: its segment and side.
type endRef struct {
	seg  int
	side int
}

// ladderGap is a compressed idle stretch after row after.
type ladderGap struct {
	after  int // the row before the break
	y1, y2 float64
}

// ladderLayout is the state one layoutLadder call's phases share.
type ladderLayout struct {
	m       *model
	v       ladderView
	ends    map[int]endRef // event index -> arrow end at a timeline
	netDrop map[int]bool   // drops in the network, drawn where they happen
	rows    []*ladderRow
	rowOf   []int     // event index -> its row, -1 when not drawn
	offset  []float64 // an item's y below its row's
	x       [2]float64
	gaps    []ladderGap
	bottom  float64
}

// layoutLadder lays the ladder out in phases: rows of events, the margins,
// the rows' heights with idle stretches compressed, then the timelines,
// the breaks, the labels and the arrows.
func layoutLadder(m *model) ladderView {
	l := &ladderLayout{m: m}
	l.findEnds()
	l.makeRows()
	l.stackItems()
	l.placeColumns()
	l.placeRows()
	l.drawTimelines()
	l.drawBreaks()
	l.drawLabels()
	l.drawArrows()
	return l.v
}

// findEnds notes which segment and side each send, recv and drop event
// is an end of, and which drops happen in the network.
func (l *ladderLayout) findEnds() {
	m, evs := l.m, l.m.evs
	l.ends, l.netDrop = map[int]endRef{}, map[int]bool{}
	for k, g := range m.segs {
		if g.drop >= 0 && m.side(evs[g.drop].Host) < 0 {
			l.netDrop[g.drop] = true
		}
		if g.send >= 0 {
			l.ends[g.send] = endRef{k, g.from}
		}
		if g.recv >= 0 {
			l.ends[g.recv] = endRef{k, g.to}
		}
		if g.drop >= 0 && m.side(evs[g.drop].Host) >= 0 {
			l.ends[g.drop] = endRef{k, g.to}
		}
	}
}

// drawn reports whether event i appears on the ladder.
func (l *ladderLayout) drawn(i int) bool {
	e := &l.m.evs[i]
	switch e.Kind {
	case trace.KindState, trace.KindApp:
		return l.m.side(e.Host) >= 0
	}
	_, isEnd := l.ends[i]
	return isEnd || l.netDrop[i]
}

// makeRows puts the drawn events in rows, one per distinct instant, each
// item at its side's timeline.
func (l *ladderLayout) makeRows() {
	m, evs := l.m, l.m.evs
	l.rowOf = make([]int, len(evs))
	l.offset = make([]float64, len(evs))
	for i := range evs {
		e := &evs[i]
		l.rowOf[i] = -1
		if !l.drawn(i) {
			continue
		}
		if len(l.rows) == 0 || l.rows[len(l.rows)-1].t != e.T {
			l.rows = append(l.rows, &ladderRow{t: e.T})
		}
		r := l.rows[len(l.rows)-1]
		l.rowOf[i] = len(l.rows) - 1
		s := m.side(e.Host)
		switch {
		case e.Kind == trace.KindState:
			w := textW(e.To.String(), hlPillFont) + 16
			if tag := m.stateTag(i); tag.EN != "" {
				w += 6 + textTW(tag, hlTagFont)
			}
			r.items[s] = append(r.items[s], rowItem{ev: i, label: true, width: w})
		case e.Kind == trace.KindApp:
			r.items[s] = append(r.items[s], rowItem{ev: i, label: true, width: textW(e.AppText(), hlAppFont) + 14})
		default:
			if ref, ok := l.ends[i]; ok {
				r.items[ref.side] = append(r.items[ref.side], rowItem{ev: i, send: e.Kind == trace.KindSend})
			}
		}
	}
}

// stackItems places items within their row: they follow the trace's
// order down the timeline, each label on a line of its own, an arrow's end
// level with the label before it, and arrows leaving (or arriving) one
// after another a little apart so that their labels do not collide.
func (l *ladderLayout) stackItems() {
	for _, r := range l.rows {
		for s := 0; s < 2; s++ {
			next, cur := 0.0, 0.0
			for k, it := range r.items[s] {
				if it.label {
					cur = math.Max(next, cur)
					next = cur + hlLineH
				} else if k > 0 && !r.items[s][k-1].label && r.items[s][k-1].send == it.send {
					cur += hlEndStep
				}
				l.offset[it.ev] = cur
				if it.send {
					r.sendOff = math.Max(r.sendOff, cur)
					// A lost segment's arrow ends in its own row.
					if f := l.m.segs[l.ends[it.ev].seg].fate; f == fateLost || f == fateNone {
						r.extent = math.Max(r.extent, cur+rowSpacing(500*time.Microsecond)*0.8+10)
					}
				}
			}
			r.extent = math.Max(r.extent, math.Max(next, cur+14))
		}
	}
}

// placeColumns makes the margins wide enough for the labels and places
// the timelines and the hosts' heads.
func (l *ladderLayout) placeColumns() {
	v := &l.v
	var side [2]float64
	for s := range side {
		side[s] = hlMinSide
		for _, r := range l.rows {
			for _, it := range r.items[s] {
				side[s] = math.Max(side[s], it.width+hlPad+10)
			}
		}
		side[s] = math.Min(side[s], hlMaxSide)
	}
	timeW := hlTimeW // wider for a capture's microseconds: "10.516218"
	for _, r := range l.rows {
		timeW = math.Max(timeW, 6.5*float64(len(fmtSecs(r.t)))+14)
	}
	v.TimeX = timeW - 8
	v.XA = timeW + side[0]
	v.XB = v.XA + hlLaneW
	v.W = v.XB + side[1]
	l.x = [2]float64{v.XA, v.XB}
	for s := 0; s < 2; s++ {
		w := max(38, 10*float64(utf8.RuneCountInString(l.m.hosts[s]))+18)
		v.Heads[s] = hostHead{Side: s, X: l.x[s], BoxX: l.x[s] - w/2, W: w, Name: l.m.hosts[s], Addr: l.m.addr[s]}
	}
}

// placeRows gives each row its y, with a break for each idle stretch, and
// writes the time ticks.
func (l *ladderLayout) placeRows() {
	rows := l.rows
	for k, r := range rows {
		if k == 0 {
			r.y = hlTop
			continue
		}
		p := rows[k-1]
		dt := r.t.Sub(p.t)
		if dt > hlIdle {
			y1 := p.y + p.extent - 2
			r.y = y1 + hlBreakH
			l.gaps = append(l.gaps, ladderGap{k - 1, y1, r.y - 18})
			continue
		}
		// Arrows keep their slant however far down their row they leave.
		r.y = p.y + math.Max(p.extent, p.sendOff+rowSpacing(dt))
	}
	l.bottom = hlTop + 30
	if n := len(rows); n > 0 {
		l.bottom = rows[n-1].y + rows[n-1].extent + 16
	}
	l.v.H = l.bottom + 14
	for _, r := range rows {
		l.v.Ticks = append(l.v.Ticks, tick{Y: r.y, Label: fmtSecs(r.t)})
	}
}

// drawTimelines draws each host's timeline, broken at each idle stretch.
func (l *ladderLayout) drawTimelines() {
	x := l.x
	for s := 0; s < 2; s++ {
		y := hlTop - 26
		for _, g := range l.gaps {
			l.v.Lines = append(l.v.Lines, vline{Side: s, X: x[s], Y1: y, Y2: g.y1})
			l.v.Lines = append(l.v.Lines, vline{Side: s, X: x[s], Y1: g.y1, Y2: g.y2, Dotted: true,
				Break1: breakMark(x[s], g.y1), Break2: breakMark(x[s], g.y2)})
			y = g.y2
		}
		l.v.Lines = append(l.v.Lines, vline{Side: s, X: x[s], Y1: y, Y2: l.bottom})
	}
}

// drawBreaks labels each idle stretch with its duration and the states
// the hosts held meanwhile.
func (l *ladderLayout) drawBreaks() {
	v, x, rows := &l.v, l.x, l.rows
	for _, g := range l.gaps {
		b := breakView{Y1: g.y1, Y2: g.y2, Mid: (g.y1 + g.y2) / 2}
		d := fmtDur(rows[g.after+1].t.Sub(rows[g.after].t))
		dur := Text{EN: "~ " + d + " pass ~", ZH: "~ 经过 " + strings.Replace(d, " s", " 秒", 1) + " ~"}
		b.RW = textTW(dur, 12.5) + 28
		b.RX, b.RY = (v.XA+v.XB)/2-b.RW/2, b.Mid-11
		b.Label = svgText{X: (v.XA + v.XB) / 2, Y: b.Mid + 4.5, Anchor: "middle", Text: dur}
		held := l.m.statesHeld(rows[g.after].t)
		for s := 0; s < 2; s++ {
			if held[s] == "" {
				continue
			}
			n := svgText{Text: plain(held[s] + " …"), X: x[s] - hlPad, Y: b.Mid + 4, Anchor: "end", Class: "held"}
			if s == 1 {
				n.X, n.Anchor = x[s]+hlPad, "start"
			}
			b.Notes = append(b.Notes, n)
		}
		v.Breaks = append(v.Breaks, b)
	}
}

// drawLabels writes the state changes and application calls beside the
// timelines.
func (l *ladderLayout) drawLabels() {
	for _, r := range l.rows {
		for s := 0; s < 2; s++ {
			for _, it := range r.items[s] {
				if !it.label {
					continue
				}
				y := r.y + l.offset[it.ev]
				if l.m.evs[it.ev].Kind == trace.KindState {
					l.v.States = append(l.v.States, l.m.stateLabel(it.ev, s, l.x[s], y))
				} else {
					l.v.Apps = append(l.v.Apps, l.m.appLabel(it.ev, s, l.x[s], y))
				}
			}
		}
	}
}

// drawArrows draws the segments, then their labels in the order of the
// arrows (down the page): each is kept clear of the labels placed before
// it and of the arrows near it.
func (l *ladderLayout) drawArrows() {
	v, rows, rowOf := &l.v, l.rows, l.rowOf
	yEnd := func(i int) float64 { return rows[rowOf[i]].y + l.offset[i] }
	slant := rowSpacing(500 * time.Microsecond)
	for k := range l.m.segs {
		v.Arrows = append(v.Arrows, l.m.arrow(k, l.x, yEnd, rows[0].y, slant, func(i int) float64 { return rows[rowOf[i]].y }))
	}
	const near = 150.0
	var placed []box
	for i := range v.Arrows {
		a := &v.Arrows[i]
		crossing := false
		var others []*arrowView
		for j := range v.Arrows {
			// Arrows come in about the order of their starts: look only
			// at those that start close by.
			if o := &v.Arrows[j]; j != i && math.Abs(o.Y1-a.Y1) < near {
				others = append(others, o)
				crossing = crossing || crosses(a, o)
			}
		}
		placeLabel(a, l.x, crossing, &placed, others)
	}
}

// breakMark is a short double slash across a timeline at (x, y).
func breakMark(x, y float64) string {
	return fmt.Sprintf("M%s,%s L%s,%s M%s,%s L%s,%s",
		f1(x-7), f1(y+1), f1(x+7), f1(y-4), f1(x-7), f1(y+5), f1(x+7), f1(y))
}

// statesHeld returns, for each side, the states its connections are in
// at t (listeners only when nothing else is open), e.g. "TIME_WAIT".
func (m *model) statesHeld(t clock.Instant) [2]string {
	var cur [2]map[trace.Conn]tcp.State
	for s := range cur {
		cur[s] = map[trace.Conn]tcp.State{}
	}
	for _, e := range m.evs {
		if e.T > t {
			break
		}
		if s := m.side(e.Host); e.Kind == trace.KindState && s >= 0 {
			cur[s][e.Conn] = e.To
		}
	}
	var out [2]string
	for s := 0; s < 2; s++ {
		var conns, listen []string
		for _, c := range m.conns[s] {
			st, ok := cur[s][c]
			if !ok || st == tcp.Closed {
				continue
			}
			if c.Connected() {
				conns = append(conns, st.String())
			} else {
				listen = append(listen, st.String())
			}
		}
		if len(conns) == 0 {
			conns = listen
		}
		out[s] = strings.Join(conns, ", ")
	}
	return out
}

func (m *model) stateLabel(i, s int, x, y float64) stateView {
	e := &m.evs[i]
	from, to := stateNames(e)
	sv := stateView{
		ID: fmt.Sprintf("st-%d", m.orig[i]), Ev: m.orig[i], Host: e.Host, Side: s,
		From: from, To: to, Cat: stateCat(e.To), X: x, Y: y, PH: 18,
	}
	sv.Tag = svgText{Y: y + 3.5, Class: "ctag", Text: m.stateTag(i)}
	sv.PW = textW(to, hlPillFont) + 16
	sv.PY = y - sv.PH/2
	if s == 0 {
		sv.PX = x - hlPad - sv.PW
		sv.Tag.X, sv.Tag.Anchor = sv.PX-6, "end"
	} else {
		sv.PX = x + hlPad
		sv.Tag.X, sv.Tag.Anchor = sv.PX+sv.PW+6, "start"
	}
	sv.TX = sv.PX + sv.PW/2
	sv.Tip = "tip-" + sv.ID
	sv.Rel = hlID(s, from, to)
	return sv
}

// stateTag is the small print beside state event i's label: which
// connection it is when its host has several, and how long a timed state
// (TIME_WAIT, FIN_WAIT_2) lasted when it lasted long enough to be
// compressed, e.g. "60 s in TIME_WAIT".
func (m *model) stateTag(i int) Text {
	e := m.evs[i]
	t := m.connTag(m.side(e.Host), e.Conn)
	if e.FromUnknown || (e.From != tcp.TimeWait && e.From != tcp.FinWait2) {
		return t
	}
	for j := i - 1; j >= 0; j-- {
		p := m.evs[j]
		if p.Kind != trace.KindState || p.Host != e.Host || p.Conn != e.Conn {
			continue
		}
		if d := e.T.Sub(p.T); d > hlIdle {
			sep := Text{}
			if t.EN != "" {
				sep = Text{" · ", " · "}
			}
			ds := fmtDur(d.Round(100 * time.Millisecond))
			from := e.From.String()
			t = both(t, sep, Text{EN: ds + " in " + from, ZH: from + " 历时 " + strings.Replace(ds, " s", " 秒", 1)})
		}
		break
	}
	return t
}

// hlID is the id of the highlighted state-diagram edge of side s.
func hlID(s int, from, to string) string {
	return fmt.Sprintf("hl-%d-%s-%s", s, from, to)
}

func (m *model) appLabel(i, s int, x, y float64) appView {
	e := m.evs[i]
	a := appView{ID: fmt.Sprintf("app-%d", m.orig[i]), Ev: m.orig[i], Host: e.Host, Side: s, X: x, Y: y,
		Text: e.AppText(), Err: isErrorResult(e.Result), EOF: e.Result == "EOF",
		Mark: p("M%s,%s L%s,%s L%s,%s L%s,%s z", x, y-5, x+5, y, x, y+5, x-5, y)}
	if s == 0 {
		a.TX, a.Anchor = x-hlPad, "end"
	} else {
		a.TX, a.Anchor = x+hlPad, "start"
	}
	a.Tip = "tip-" + a.ID
	return a
}

// box is a rectangle centred at (cx, cy), hw by hh from its centre along
// its own axes, turned by a degrees: the room a label takes.
type box struct{ cx, cy, hw, hh, a float64 }

// rotatedBox is the w x h rectangle centred at (cx, cy), turned by a
// degrees.
func rotatedBox(cx, cy, w, h, a float64) box { return box{cx, cy, w / 2, h / 2, a} }

// corners returns b's four corners.
func (b box) corners() [4][2]float64 {
	r := b.a * math.Pi / 180
	c, s := math.Cos(r), math.Sin(r)
	var out [4][2]float64
	for i, d := range [4][2]float64{{-1, -1}, {1, -1}, {1, 1}, {-1, 1}} {
		u, v := d[0]*b.hw, d[1]*b.hh
		out[i] = [2]float64{b.cx + u*c - v*s, b.cy + u*s + v*c}
	}
	return out
}

// overlaps tests two turned rectangles by separating axes.
func (b box) overlaps(o box) bool {
	pb, po := b.corners(), o.corners()
	for _, r := range []box{b, o} {
		rad := r.a * math.Pi / 180
		for _, ax := range [2][2]float64{{math.Cos(rad), math.Sin(rad)}, {-math.Sin(rad), math.Cos(rad)}} {
			minB, maxB := math.Inf(1), math.Inf(-1)
			minO, maxO := math.Inf(1), math.Inf(-1)
			for i := range pb {
				db := pb[i][0]*ax[0] + pb[i][1]*ax[1]
				do := po[i][0]*ax[0] + po[i][1]*ax[1]
				minB, maxB = math.Min(minB, db), math.Max(maxB, db)
				minO, maxO = math.Min(minO, do), math.Max(maxO, do)
			}
			if maxB <= minO || maxO <= minB {
				return false
			}
		}
	}
	return true
}

// x1 and x2 are b's leftmost and rightmost extents.
func (b box) x1() float64 {
	m := math.Inf(1)
	for _, p := range b.corners() {
		m = math.Min(m, p[0])
	}
	return m
}

func (b box) x2() float64 {
	m := math.Inf(-1)
	for _, p := range b.corners() {
		m = math.Max(m, p[0])
	}
	return m
}

// arrow lays out segment k. yEnd gives the y of an event's arrow end and
// yRow the y of its row.
func (m *model) arrow(k int, x [2]float64, yEnd func(int) float64, y0, slant float64, yRow func(int) float64) arrowView {
	g := &m.segs[k]
	a := arrowView{
		ID: fmt.Sprintf("seg-%d", k), Send: -1, Recv: -1, Drop: -1,
		Fate: string(g.fate), From: m.hosts[g.from], To: m.hosts[g.to], FromSide: g.from, Seg: g.label,
	}
	if g.send >= 0 {
		a.Send = m.orig[g.send]
	}
	if g.recv >= 0 {
		a.Recv = m.orig[g.recv]
	}
	if g.drop >= 0 {
		a.Drop = m.orig[g.drop]
	}
	y1 := math.Max(m.arrowStart(g, yEnd, slant, yRow), y0-10)
	dir := m.arrowShape(&a, g, x, y1, yEnd, slant, yRow)
	m.arrowTags(&a, g, dir)
	a.Tip = "tip-" + a.ID
	var rel []string
	for _, c := range g.caused {
		e := &m.evs[c]
		from, to := stateNames(e)
		rel = append(rel, fmt.Sprintf("st-%d", m.orig[c]), hlID(m.side(e.Host), from, to))
	}
	a.Rel = strings.Join(rel, " ")
	return a
}

// arrowStart is the y where g's arrow leaves its sender's timeline: at
// the send, or a slant above where it arrives when the send is not traced.
func (m *model) arrowStart(g *segment, yEnd func(int) float64, slant float64, yRow func(int) float64) float64 {
	switch {
	case g.send >= 0:
		return yEnd(g.send)
	case g.recv >= 0:
		return yEnd(g.recv) - slant
	}
	y1 := yRow(g.drop)
	if m.side(m.evs[g.drop].Host) >= 0 {
		y1 -= slant
	}
	return y1
}

// arrowShape sets a's ends (from y1) for g's fate: an arrowhead at its
// receiver, a cross where it was lost or dropped, dashed when a send or a
// receipt is not traced. It returns the arrow's direction, 1 rightwards.
func (m *model) arrowShape(a *arrowView, g *segment, x [2]float64, y1 float64, yEnd func(int) float64, slant float64, yRow func(int) float64) float64 {
	x1, x2 := x[g.from], x[g.to]
	dir := 1.0
	if x2 < x1 {
		dir = -1
	}
	var y2 float64
	switch g.fate {
	case fateRecv:
		y2 = yEnd(g.recv)
		a.Head = true
	case fateDropped:
		y2 = yEnd(g.drop)
		x2 -= dir * 9
		a.Cross = cross(x2, y2, 5.5)
	case fateLost:
		yn := y1 + slant
		if dt := m.evs[g.drop].T; g.send >= 0 && dt > m.evs[g.send].T {
			yn = yRow(g.drop)
		}
		x2 = x1 + hlLostFrac*(x2-x1)
		y2 = y1 + hlLostFrac*(yn-y1)
		a.Cross = cross(x2, y2, 6.5)
	case fateNone:
		x2 = x1 + 0.8*(x2-x1)
		y2 = y1 + 0.8*slant
		a.Dashed = true
	case fateUnsent:
		a.Dashed = true
		switch {
		case g.recv >= 0:
			y2, a.Head = yEnd(g.recv), true
		case m.side(m.evs[g.drop].Host) >= 0:
			y2 = yEnd(g.drop)
			x2 -= dir * 9
			a.Cross = cross(x2, y2, 5.5)
		default:
			x2 = x1 + hlLostFrac*(x2-x1)
			y2 = y1 + hlLostFrac*slant
			a.Cross = cross(x2, y2, 6.5)
		}
	}
	// Start and end just off the timelines.
	a.X1, a.Y1, a.X2, a.Y2 = x1+dir*2, y1, x2, y2
	if a.Head {
		a.X2 -= dir * 2
	}
	return dir
}

// arrowTags sets the word past a cross (lost, dropped) and the tag along
// the arrow (retransmission, not traced, ...).
func (m *model) arrowTags(a *arrowView, g *segment, dir float64) {
	switch g.fate {
	case fateLost:
		a.End = svgText{Class: "segtag lost", Text: uiText["lost"]}
	case fateDropped:
		a.End = svgText{Class: "segtag lost", Text: Text{EN: "dropped by " + a.To, ZH: "被 " + a.To + " 丢弃"}}
	case fateUnsent:
		a.Tag = svgText{Class: "segtag note", Text: uiText["unsent"]}
	case fateNone:
		a.Tag = svgText{Class: "segtag note", Text: uiText["notrecv"]}
	}
	if g.rexmitOf >= 0 {
		d := fmtDur(m.evs[g.send].T.Sub(m.evs[m.segs[g.rexmitOf].send].T))
		t := uiText[g.rexmitKind]
		a.Tag = svgText{Class: "segtag rexmit",
			Text: Text{EN: "↻ " + t.EN + ", " + d + " " + uiText["later"].EN, ZH: "↻ " + t.zh() + "，间隔 " + d}}
	}
	if a.Cross != "" {
		a.End.X, a.End.Y, a.End.Anchor = a.X2+dir*12, a.Y2+4, "start"
		if dir < 0 {
			a.End.Anchor = "end"
		}
	}
}

// placeLabel puts a's label along its shaft where it overlaps no label
// placed before, and its tag (lost, retransmission) beside it. An arrow
// that crosses another one has its label near its sender, so that the
// two labels sit apart.
func placeLabel(a *arrowView, x [2]float64, crossing bool, placed *[]box, others []*arrowView) {
	ang, upX, upY := labelAngle(a)
	lw := textW(a.Seg, hlSegFont)
	tag := a.Tag.Text
	tw := textTW(tag, hlTagFont+1) // bold
	lo, hi := math.Min(x[0], x[1])+4, math.Max(x[0], x[1])-4
	ts := labelSpots(a, crossing)
	// Try places along the shaft, at each the label (and its tag beyond
	// it) above the line, then below it. The first place without a
	// collision wins; failing that, the one with the fewest.
	var bestBoxes []box
	bestCost := -1
search:
	for _, t := range ts {
		for _, up := range []float64{1, -1} {
			px, py := a.X1+t*(a.X2-a.X1), a.Y1+t*(a.Y2-a.Y1)
			// The label sits beside the line, and its tag beyond the label.
			lb := rotatedBox(px+up*upX*9, py+up*upY*9, lw+6, 13, ang)
			bs := []box{lb}
			if tag.EN != "" {
				bs = append(bs, rotatedBox(px+up*upX*22, py+up*upY*22, tw+6, 12, ang))
			}
			cost := 0
			if lb.x1() < lo || lb.x2() > hi {
				cost += 1000
			}
			cost += overlapCost(bs, *placed)
			for _, o := range others {
				if shaftThrough(o, px+up*upX*10, py+up*upY*10, lw+4, 12, ang) {
					cost++
				}
			}
			if bestCost < 0 || cost < bestCost {
				bestCost, bestBoxes = cost, bs
				// Text sits on its baseline: 4 px above the line (the tag
				// 13 px higher), or its cap height (about 9 px) plus 4 px
				// below it (the tag 13 px lower).
				lOff, tOff := 4.0, 17.0
				if up < 0 {
					lOff, tOff = -13, -26
				}
				a.LX, a.LY = px+upX*lOff, py+upY*lOff
				a.Tag.X, a.Tag.Y = px+upX*tOff, py+upY*tOff
			}
			if cost == 0 {
				break search
			}
		}
	}
	a.Angle, a.Tag.Rot, a.Tag.Anchor = ang, ang, "middle"
	if a.End.Text.EN != "" {
		ew := textTW(a.End.Text, 12)
		cx := a.End.X + ew/2
		if a.End.Anchor == "end" {
			cx = a.End.X - ew/2
		}
		bestBoxes = append(bestBoxes, box{cx, a.End.Y - 4, ew / 2, 7, 0})
	}
	*placed = append(*placed, bestBoxes...)
}

// labelAngle is the angle in degrees of a's label, which runs along the
// shaft, turned with it but never upside down, and the unit vector
// perpendicular to it, pointing up.
func labelAngle(a *arrowView) (ang, upX, upY float64) {
	ang = math.Atan2(a.Y2-a.Y1, a.X2-a.X1) * 180 / math.Pi
	if ang > 90 {
		ang -= 180
	} else if ang < -90 {
		ang += 180
	}
	rad := ang * math.Pi / 180
	return ang, math.Sin(rad), -math.Cos(rad)
}

// labelSpots are the places along a's shaft (fractions of its length) to
// try its label at, best first.
func labelSpots(a *arrowView, crossing bool) []float64 {
	switch {
	case a.Cross != "" || a.Fate == string(fateNone):
		return []float64{0.5, 0.4, 0.62, 0.3}
	case crossing:
		return []float64{0.27, 0.2, 0.34, 0.5, 0.64}
	}
	return []float64{0.5, 0.36, 0.64, 0.26, 0.74, 0.18, 0.82}
}

// overlapCost counts 10 for each box of bs that overlaps a box placed
// recently (placed runs down the page).
func overlapCost(bs, placed []box) int {
	cost := 0
	for _, b := range bs {
		for k := len(placed) - 1; k >= 0; k-- {
			p := placed[k]
			if p.cy < b.cy-400 {
				break // placed long before, far above
			}
			if math.Abs(p.cy-b.cy) < 60 && b.overlaps(p) {
				cost += 10
			}
		}
	}
	return cost
}

// shaftThrough reports whether o's shaft passes through the w x h
// rectangle centred at (cx, cy) and turned by a degrees.
func shaftThrough(o *arrowView, cx, cy, w, h, a float64) bool {
	r := a * math.Pi / 180
	c, s := math.Cos(r), math.Sin(r)
	n := int(math.Hypot(o.X2-o.X1, o.Y2-o.Y1)/4) + 1
	for k := 0; k <= n; k++ {
		t := float64(k) / float64(n)
		dx, dy := o.X1+t*(o.X2-o.X1)-cx, o.Y1+t*(o.Y2-o.Y1)-cy
		if u, v := dx*c+dy*s, -dx*s+dy*c; math.Abs(u) <= w/2 && math.Abs(v) <= h/2 {
			return true
		}
	}
	return false
}

// crosses reports whether the shafts of a and b intersect between the
// timelines (not merely touching at a shared end).
func crosses(a, b *arrowView) bool {
	d := func(ax, ay, bx, by, cx, cy float64) float64 { return (bx-ax)*(cy-ay) - (by-ay)*(cx-ax) }
	d1 := d(a.X1, a.Y1, a.X2, a.Y2, b.X1, b.Y1)
	d2 := d(a.X1, a.Y1, a.X2, a.Y2, b.X2, b.Y2)
	d3 := d(b.X1, b.Y1, b.X2, b.Y2, a.X1, a.Y1)
	d4 := d(b.X1, b.Y1, b.X2, b.Y2, a.X2, a.Y2)
	return d1*d2 < 0 && d3*d4 < 0
}

// cross is the path data of an X centred at (x, y).
func cross(x, y, r float64) string {
	return fmt.Sprintf("M%s,%s L%s,%s M%s,%s L%s,%s",
		f1(x-r), f1(y-r), f1(x+r), f1(y+r), f1(x-r), f1(y+r), f1(x+r), f1(y-r))
}
