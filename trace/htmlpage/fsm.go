package htmlpage

import (
	"fmt"
	"math"
	"strings"

	"github.com/tcpwave/tcpwave/tcp"
	"github.com/tcpwave/tcpwave/trace"
)

// The state diagram's grid: three columns, seven rows, as RFC 9293's
// figure 5 lays the states out.
const (
	fsmW  = 490.0
	fsmH  = 652.0
	fsmHW = 58.0 // half a box's width
	fsmHH = 16.0 // half a box's height
	fsmL  = 87.0
	fsmM  = 247.0
	fsmR  = 407.0
)

var fsmRowY = [7]float64{40, 130, 222, 314, 406, 498, 590}

// fsmNodes places the boxes; CLOSED is drawn twice, as in the RFC: where
// connections start (top) and where they end (bottom right).
var fsmNodes = []struct {
	id    string
	state tcp.State
	x, y  float64
}{
	{"CLOSED", tcp.Closed, fsmM, fsmRowY[0]},
	{"LISTEN", tcp.Listen, fsmM, fsmRowY[1]},
	{"SYN_RCVD", tcp.SynRcvd, fsmL, fsmRowY[2]},
	{"SYN_SENT", tcp.SynSent, fsmR, fsmRowY[2]},
	{"ESTABLISHED", tcp.Established, fsmM, fsmRowY[3]},
	{"FIN_WAIT_1", tcp.FinWait1, fsmL, fsmRowY[4]},
	{"CLOSE_WAIT", tcp.CloseWait, fsmR, fsmRowY[4]},
	{"FIN_WAIT_2", tcp.FinWait2, fsmL, fsmRowY[5]},
	{"CLOSING", tcp.Closing, fsmM, fsmRowY[5]},
	{"LAST_ACK", tcp.LastAck, fsmR, fsmRowY[5]},
	{"TIME_WAIT", tcp.TimeWait, fsmM, fsmRowY[6]},
	{"CLOSED_END", tcp.Closed, fsmR, fsmRowY[6]},
}

// fsmEdgeDef is one edge: its route, and its label as lines of text.
type fsmEdgeDef struct {
	from, to string // states; endBox says which CLOSED box an edge uses
	d        string
	label    []Text
	lx, ly   float64
	anchor   string
	extra    bool // not in the RFC's figure: drawn only when taken
}

func p(format string, a ...float64) string {
	args := make([]any, len(a))
	for i, v := range a {
		args[i] = f1(v)
	}
	return fmt.Sprintf(format, args...)
}

var (
	tRcvSYN    = Text{"rcv SYN", "收到 SYN"}
	tSndSYNACK = Text{"snd SYN,ACK", "发送 SYN,ACK"}
	tSndSYN    = Text{"snd SYN", "发送 SYN"}
	tClose     = Text{"CLOSE", "close()"}
	tSndFIN    = Text{"snd FIN", "发送 FIN"}
	tRcvFIN    = Text{"rcv FIN", "收到 FIN"}
	tSndACK    = Text{"snd ACK", "发送 ACK"}
	tRcvACKFIN = Text{"rcv ACK of FIN", "收到 FIN 的 ACK"}
)

// fsmEdges lists the edges of RFC 9293's figure 5, then the transitions
// the figure leaves out but real stacks make (RST, timeouts, a FIN that
// also ACKs ours), which are drawn only when a host takes them.
func fsmEdges() []fsmEdgeDef {
	y := fsmRowY
	L, M, R, hw, hh := fsmL, fsmM, fsmR, fsmHW, fsmHH
	mid := func(a, b int) float64 { return (y[a]+y[b])/2 + 3 }
	return []fsmEdgeDef{
		{from: "CLOSED", to: "LISTEN", d: p("M%s,%s V%s", M-16, y[0]+hh, y[1]-hh),
			label: []Text{{"passive OPEN", "被动打开"}}, lx: M - 22, ly: mid(0, 1), anchor: "end"},
		{from: "LISTEN", to: "CLOSED", d: p("M%s,%s V%s", M+16, y[1]-hh, y[0]+hh),
			label: []Text{tClose}, lx: M + 22, ly: mid(0, 1), anchor: "start"},
		{from: "CLOSED", to: "SYN_SENT", d: p("M%s,%s H%s Q%s,%s %s,%s V%s", M+hw, y[0], R-12, R, y[0], R, y[0]+12, y[2]-hh),
			label: []Text{{"active OPEN", "主动打开"}, tSndSYN}, lx: R + 6, ly: mid(0, 2) - 10, anchor: "start"},
		{from: "SYN_SENT", to: "CLOSED", d: p("M%s,%s H%s Q%s,%s %s,%s V%s Q%s,%s %s,%s H%s Q%s,%s %s,%s V%s",
			R+hw, y[2], 472, 480, y[2], 480, y[2]-8, 18, 480, 10, 472, 10, M+40, M+32, 10, M+32, 18, y[0]-hh),
			label: []Text{tClose}, lx: (M + R) / 2, ly: 23, anchor: "middle"},
		{from: "LISTEN", to: "SYN_SENT", d: p("M%s,%s H%s Q%s,%s %s,%s V%s", M+hw, y[1]+6, R-40, R-28, y[1]+6, R-28, y[1]+18, y[2]-hh),
			label: []Text{{"SEND", "send()"}, tSndSYN}, lx: R - 34, ly: y[1] + 40, anchor: "end"},
		{from: "LISTEN", to: "SYN_RCVD", d: p("M%s,%s H%s Q%s,%s %s,%s V%s", M-hw, y[1]+6, L+40, L+28, y[1]+6, L+28, y[1]+18, y[2]-hh),
			label: []Text{tRcvSYN, tSndSYNACK}, lx: L + 34, ly: y[1] + 40, anchor: "start"},
		{from: "SYN_RCVD", to: "LISTEN", d: p("M%s,%s V%s Q%s,%s %s,%s H%s", L-20, y[2]-hh, y[1]+2, L-20, y[1]-8, L-10, y[1]-8, M-hw),
			label: []Text{{"rcv RST", "收到 RST"}}, lx: L - 14, ly: y[1] - 13, anchor: "start"},
		{from: "SYN_SENT", to: "SYN_RCVD", d: p("M%s,%s H%s", R-hw, y[2], L+hw),
			label: []Text{{"rcv SYN / snd SYN,ACK", "收到 SYN / 发送 SYN,ACK"}}, lx: M, ly: y[2] - 5, anchor: "middle"},
		{from: "SYN_RCVD", to: "ESTABLISHED", d: p("M%s,%s V%s Q%s,%s %s,%s H%s", L+28, y[2]+hh, y[3]-12, L+28, y[3], L+40, y[3], M-hw),
			label: []Text{{"rcv ACK of SYN", "收到 SYN 的 ACK"}}, lx: L + 34, ly: mid(2, 3) - 6, anchor: "start"},
		{from: "SYN_SENT", to: "ESTABLISHED", d: p("M%s,%s V%s Q%s,%s %s,%s H%s", R-28, y[2]+hh, y[3]-12, R-28, y[3], R-40, y[3], M+hw),
			label: []Text{{"rcv SYN,ACK", "收到 SYN,ACK"}, tSndACK}, lx: R - 34, ly: mid(2, 3) - 10, anchor: "end"},
		{from: "SYN_RCVD", to: "FIN_WAIT_1", d: p("M%s,%s V%s", L-20, y[2]+hh, y[4]-hh),
			label: []Text{tClose, tSndFIN}, lx: L - 14, ly: mid(2, 4) + 14, anchor: "start"},
		{from: "ESTABLISHED", to: "FIN_WAIT_1", d: p("M%s,%s V%s Q%s,%s %s,%s H%s", M-30, y[3]+hh, y[4]-12, M-30, y[4], M-42, y[4], L+hw),
			label: []Text{tClose, tSndFIN}, lx: M - 36, ly: mid(3, 4) - 10, anchor: "end"},
		{from: "ESTABLISHED", to: "CLOSE_WAIT", d: p("M%s,%s V%s Q%s,%s %s,%s H%s", M+30, y[3]+hh, y[4]-12, M+30, y[4], M+42, y[4], R-hw),
			label: []Text{tRcvFIN, tSndACK}, lx: M + 36, ly: mid(3, 4) - 10, anchor: "start"},
		{from: "FIN_WAIT_1", to: "FIN_WAIT_2", d: p("M%s,%s V%s", L, y[4]+hh, y[5]-hh),
			label: []Text{tRcvACKFIN}, lx: L + 6, ly: mid(4, 5) + 10, anchor: "start"},
		{from: "FIN_WAIT_1", to: "CLOSING", d: p("M%s,%s H%s Q%s,%s %s,%s V%s", L+hw, y[4]+10, M-12, M, y[4]+10, M, y[4]+22, y[5]-hh),
			label: []Text{tRcvFIN, tSndACK}, lx: M + 6, ly: mid(4, 5) + 6, anchor: "start"},
		{from: "CLOSE_WAIT", to: "LAST_ACK", d: p("M%s,%s V%s", R, y[4]+hh, y[5]-hh),
			label: []Text{tClose, tSndFIN}, lx: R + 6, ly: mid(4, 5) - 4, anchor: "start"},
		{from: "FIN_WAIT_2", to: "TIME_WAIT", d: p("M%s,%s V%s Q%s,%s %s,%s H%s", L, y[5]+hh, y[6]-12, L, y[6], L+12, y[6], M-hw),
			label: []Text{tRcvFIN, tSndACK}, lx: L + 6, ly: mid(5, 6) - 4, anchor: "start"},
		{from: "CLOSING", to: "TIME_WAIT", d: p("M%s,%s V%s", M, y[5]+hh, y[6]-hh),
			label: []Text{tRcvACKFIN}, lx: M + 6, ly: mid(5, 6) + 2, anchor: "start"},
		{from: "LAST_ACK", to: "CLOSED", d: p("M%s,%s V%s", R, y[5]+hh, y[6]-hh),
			label: []Text{tRcvACKFIN}, lx: R + 6, ly: mid(5, 6) + 2, anchor: "start"},
		{from: "TIME_WAIT", to: "CLOSED", d: p("M%s,%s H%s", M+hw, y[6], R-hw),
			label: []Text{{"2MSL", "2MSL"}}, lx: (M + R) / 2, ly: y[6] - 6, anchor: "middle"},

		// Not in the figure.
		{from: "FIN_WAIT_1", to: "TIME_WAIT", extra: true,
			d: p("M%s,%s H%s Q%s,%s %s,%s V%s Q%s,%s %s,%s H%s Q%s,%s %s,%s V%s",
				L-hw, y[4]-6, 20, 12, y[4]-6, 12, y[4]+2, y[6]+28, 12, y[6]+36, 20, y[6]+36, M-32, M-24, y[6]+36, M-24, y[6]+28, y[6]+hh),
			label: []Text{{"rcv FIN + ACK of our FIN / snd ACK", "收到 FIN 及对我方 FIN 的 ACK / 发送 ACK"}}, lx: 20, ly: y[6] + 49, anchor: "start"},
		{from: "SYN_RCVD", to: "CLOSED", extra: true, d: leftRailToEnd(L-hw, y[2]+6)},
		{from: "FIN_WAIT_1", to: "CLOSED", extra: true, d: leftRailToEnd(L-hw, y[4]+6)},
		{from: "FIN_WAIT_2", to: "CLOSED", extra: true, d: leftRailToEnd(L-hw, y[5]+6),
			label: []Text{{"timeout, RST", "超时、RST"}}, lx: R - 26, ly: y[6] + 58, anchor: "end"},
		{from: "ESTABLISHED", to: "CLOSED", extra: true, d: rightRailToEnd(M+hw, y[3]+8),
			label: []Text{{"RST", "RST"}}, lx: 474, ly: y[3] + 40, anchor: "end"},
		{from: "CLOSE_WAIT", to: "CLOSED", extra: true, d: rightRailToEnd(R+hw, y[4]+8)},
	}
}

// leftRailToEnd routes from a left-column box down the left edge and
// along the bottom into the final CLOSED.
func leftRailToEnd(x, y float64) string {
	yb := fsmRowY[6] + 56
	return p("M%s,%s H%s Q%s,%s %s,%s V%s Q%s,%s %s,%s H%s Q%s,%s %s,%s V%s",
		x, y, 14, 6, y, 6, y+8, yb-8, 6, yb, 14, yb, fsmR-28, fsmR-20, yb, fsmR-20, yb-8, fsmRowY[6]+fsmHH)
}

// rightRailToEnd routes from a box's right side down the right edge into
// the final CLOSED.
func rightRailToEnd(x, y float64) string {
	ye := fsmRowY[6] + 6
	return p("M%s,%s H%s Q%s,%s %s,%s V%s Q%s,%s %s,%s H%s",
		x, y, 476, 484, y, 484, y+8, ye-8, 484, ye, 476, ye, fsmR+fsmHW)
}

type fsmView struct {
	W, H  float64
	Nodes []fsmNodeView
	Edges []fsmEdgeView
	HL    []fsmHLView
	Paths [2][]fsmPathView
	Hosts [2]string
}

type fsmNodeView struct {
	ID, State, Cat string
	X, Y, W, H     float64
	TX, TY         float64
	Badges         []fsmBadge
	Visited        string // hosts that were in this box, space-separated
}

type fsmBadge struct {
	Side  int
	Host  string
	X, Y  float64
	Label string
}

type fsmEdgeView struct {
	Key, D string
	Extra  bool
	Labels []svgText
}

type fsmHLView struct {
	ID, Host, Key, D string
	Side             int
	DX, DY           float64
	Extra            bool
}

type fsmPathView struct {
	Tag    Text
	States []string
}

// fsmTransition is a transition a host made.
type fsmTransition struct {
	side     int
	from, to string
}

// endBox says which CLOSED box an edge into CLOSED ends at: the top one
// for the RFC's CLOSE from LISTEN or SYN_SENT, the final one otherwise.
func endBox(from, to string) string {
	if to == "CLOSED" && from != "LISTEN" && from != "SYN_SENT" {
		return "CLOSED_END"
	}
	return to
}

// layoutFSM draws RFC 9293's state diagram with the paths m's hosts took.
func layoutFSM(m *model) fsmView {
	v := fsmView{W: fsmW, H: fsmH, Hosts: m.hosts}
	taken := m.fsmPaths(&v)
	r := routeEdges(taken)
	r.drawEdges(&v)
	r.drawHighlights(&v, m, taken)
	m.drawNodes(&v, taken)
	return v
}

// edgeKey names the edge from one state to another: "FROM>TO".
func edgeKey(from, to string) string { return from + ">" + to }

// fsmPaths returns the transitions each side made, in order of first use,
// and writes each connection's path into v.
func (m *model) fsmPaths(v *fsmView) []fsmTransition {
	var taken []fsmTransition
	seen := map[fsmTransition]bool{}
	for s := 0; s < 2; s++ {
		paths := map[trace.Conn]int{}
		for i := range m.evs {
			e := &m.evs[i]
			if e.Kind != trace.KindState || m.side(e.Host) != s {
				continue
			}
			from, to := stateNames(e)
			t := fsmTransition{s, from, to}
			if !seen[t] {
				seen[t] = true
				taken = append(taken, t)
			}
			k, ok := paths[e.Conn]
			if !ok {
				k = len(v.Paths[s])
				paths[e.Conn] = k
				v.Paths[s] = append(v.Paths[s], fsmPathView{Tag: m.connTag(s, e.Conn), States: []string{from}})
			}
			v.Paths[s][k].States = append(v.Paths[s][k].States, to)
		}
	}
	return taken
}

// fsmRoutes are the diagram's edges: the figure's, then a generic route for
// each transition taken that the figure lacks.
type fsmRoutes struct {
	defs   []fsmEdgeDef
	byKey  map[string]int   // edge key -> index in defs
	usedBy map[string][]int // edge key -> sides that took it
}

// routeEdges collects the routes for the diagram and the transitions taken.
func routeEdges(taken []fsmTransition) fsmRoutes {
	r := fsmRoutes{defs: fsmEdges(), byKey: map[string]int{}, usedBy: map[string][]int{}}
	for i, d := range r.defs {
		r.byKey[edgeKey(d.from, d.to)] = i
	}
	nodePos := map[string][2]float64{}
	for _, n := range fsmNodes {
		nodePos[n.id] = [2]float64{n.x, n.y}
	}
	for _, t := range taken {
		k := edgeKey(t.from, t.to)
		r.usedBy[k] = append(r.usedBy[k], t.side)
	}
	for _, t := range taken {
		k := edgeKey(t.from, t.to)
		if _, ok := r.byKey[k]; ok {
			continue
		}
		a, okA := nodePos[t.from]
		b, okB := nodePos[endBox(t.from, t.to)]
		if !okA || !okB {
			continue // not a state of the diagram
		}
		r.byKey[k] = len(r.defs)
		r.defs = append(r.defs, fsmEdgeDef{from: t.from, to: t.to, extra: true, d: curve(a, b)})
	}
	return r
}

// drawEdges draws the figure's edges and the extra ones taken.
func (r *fsmRoutes) drawEdges(v *fsmView) {
	for _, d := range r.defs {
		k := edgeKey(d.from, d.to)
		if d.extra && len(r.usedBy[k]) == 0 {
			continue
		}
		ev := fsmEdgeView{Key: k, D: d.d, Extra: d.extra}
		for j, l := range d.label {
			ev.Labels = append(ev.Labels, svgText{X: d.lx, Y: d.ly + float64(j)*11, Anchor: d.anchor, Class: "elabel", Text: l})
		}
		v.Edges = append(v.Edges, ev)
	}
}

// drawHighlights draws each transition taken in its side's colour, the
// two sides' side by side when both took it.
func (r *fsmRoutes) drawHighlights(v *fsmView, m *model, taken []fsmTransition) {
	for _, t := range taken {
		k := edgeKey(t.from, t.to)
		i, ok := r.byKey[k]
		if !ok {
			continue
		}
		h := fsmHLView{ID: hlID(t.side, t.from, t.to), Host: m.hosts[t.side], Key: k, D: r.defs[i].d, Side: t.side, Extra: r.defs[i].extra}
		if len(r.usedBy[k]) > 1 {
			off := -2.2
			if t.side == 1 {
				off = 2.2
			}
			h.DX, h.DY = off, off
		}
		v.HL = append(v.HL, h)
	}
}

// drawNodes draws the boxes, with a badge for each host that was in them.
func (m *model) drawNodes(v *fsmView, taken []fsmTransition) {
	visited := [2]map[string]bool{{}, {}}
	for _, t := range taken {
		visited[t.side][t.from] = true // edges out of CLOSED start at the top box
		visited[t.side][endBox(t.from, t.to)] = true
	}
	for _, n := range fsmNodes {
		nv := fsmNodeView{ID: "node-" + n.id, State: n.state.String(), Cat: stateCat(n.state),
			X: n.x - fsmHW, Y: n.y - fsmHH, W: 2 * fsmHW, H: 2 * fsmHH, TX: n.x, TY: n.y + 4}
		var who []string
		for s := 0; s < 2; s++ {
			if !visited[s][n.id] {
				continue
			}
			who = append(who, m.hosts[s])
			b := fsmBadge{Side: s, Host: m.hosts[s], X: n.x - fsmHW + 2, Y: n.y - fsmHH + 1, Label: firstRune(m.hosts[s])}
			if s == 1 {
				b.X = n.x + fsmHW - 2
			}
			nv.Badges = append(nv.Badges, b)
		}
		nv.Visited = strings.Join(who, " ")
		v.Nodes = append(v.Nodes, nv)
	}
}

func firstRune(s string) string {
	for _, r := range s {
		return string(r)
	}
	return "?"
}

// curve joins two boxes' borders with a gentle bend.
func curve(a, b [2]float64) string {
	edge := func(c, toward [2]float64) [2]float64 {
		dx, dy := toward[0]-c[0], toward[1]-c[1]
		if dx == 0 && dy == 0 {
			return c
		}
		t := math.Min(fsmHW/math.Max(math.Abs(dx), 1e-9), fsmHH/math.Max(math.Abs(dy), 1e-9))
		return [2]float64{c[0] + t*dx, c[1] + t*dy}
	}
	s, e := edge(a, b), edge(b, a)
	mx, my := (s[0]+e[0])/2, (s[1]+e[1])/2
	dx, dy := e[0]-s[0], e[1]-s[1]
	n := math.Hypot(dx, dy)
	if n == 0 {
		n = 1
	}
	cx, cy := mx-dy/n*30, my+dx/n*30
	return p("M%s,%s Q%s,%s %s,%s", s[0], s[1], cx, cy, e[0], e[1])
}
