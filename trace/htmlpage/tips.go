package htmlpage

import (
	"fmt"

	"github.com/tcpwave/tcpwave/notation"
	"github.com/tcpwave/tcpwave/trace"
	"github.com/tcpwave/tcpwave/wire"
)

// tipView is the detail box shown on hovering or focusing an element.
type tipView struct {
	ID    string
	Title string // language-neutral: hosts, states, segment text
	Rows  []tipRow
}

type tipRow struct {
	Key, Val Text
	Class    string
}

func plain(s string) Text { return Text{EN: s} }

// both joins texts in each language.
func both(parts ...Text) Text {
	var t Text
	for _, p := range parts {
		t.EN += p.EN
		t.ZH += p.zh()
	}
	return t
}

func (m *model) tips() []tipView {
	var out []tipView
	for k := range m.segs {
		out = append(out, m.segTip(k))
	}
	for i, e := range m.evs {
		s := m.side(e.Host)
		if s < 0 {
			continue
		}
		switch e.Kind {
		case trace.KindState:
			out = append(out, m.stateTip(i))
		case trace.KindApp:
			out = append(out, tipView{
				ID:    fmt.Sprintf("tip-app-%d", m.orig[i]),
				Title: e.Host + ": " + e.AppText(),
				Rows: []tipRow{
					{Key: uiText["tTime"], Val: plain(fmtTime(e.T))},
					{Key: uiText["tMeaning"], Val: appMeaning(e.Call, e.Result)},
				},
			})
		}
	}
	return out
}

// segTip is the detail box of segment k: its header fields, its fate,
// what it repeats and the state changes it caused.
func (m *model) segTip(k int) tipView {
	g := &m.segs[k]
	from, to := m.hosts[g.from], m.hosts[g.to]
	tv := &tipView{ID: fmt.Sprintf("tip-seg-%d", k), Title: from + " → " + to + "   " + g.label}
	tv.add("tDir", plain(m.segDir(g)))
	if g.seg != nil {
		tv.headerRows(g.seg)
	} else {
		tv.add("tRaw", plain(g.label))
	}
	if g.send >= 0 {
		tv.add("tSent", plain(fmtTime(m.evs[g.send].T)))
	}
	m.fateRow(tv, g)
	if g.rexmitOf >= 0 {
		prev := m.evs[m.segs[g.rexmitOf].send].T
		key := "rexmitOf"
		if g.rexmitKind == "dupack" {
			key = "dupackOf"
		}
		tv.add("tRepeats", both(uiText[key], plain(" "+fmtTime(prev)+" ("+fmtDur(m.evs[g.send].T.Sub(prev))+" "), uiText["later"], plain(")")))
	}
	if g.recv >= 0 {
		if len(g.caused) == 0 {
			tv.add("tCaused", uiText["noChange"])
		}
		for _, c := range g.caused {
			e := &m.evs[c]
			from, to := stateNames(e)
			tv.Rows = append(tv.Rows, tipRow{Key: uiText["tCaused"],
				Val: both(plain(e.Host+": "+from+" → "+to+" — "), reasonText(e.Why)), Class: "cause"})
		}
	}
	return *tv
}

// add appends the row key (a uiText key) with value val.
func (tv *tipView) add(key string, val Text) {
	tv.Rows = append(tv.Rows, tipRow{Key: uiText[key], Val: val})
}

// segDir is "A → B", with the connection's addresses when the trace
// shows them.
func (m *model) segDir(g *segment) string {
	dir := m.hosts[g.from] + " → " + m.hosts[g.to]
	a, okA := m.onlyConn(g.from)
	b, okB := m.onlyConn(g.to)
	if okA && okB {
		if b == a.Reverse() {
			dir += "  (" + a.Local.String() + " → " + a.Remote.String() + ")"
		}
	} else if m.addr[g.from] != "" && m.addr[g.to] != "" {
		dir += "  (" + m.addr[g.from] + " → " + m.addr[g.to] + ")"
	}
	return dir
}

// headerRows lists the segment's header fields.
func (tv *tipView) headerRows(f *notation.Segment) {
	tv.add("tFlags", plain(notation.FormatFlags(f.Flags)+"  = "+notation.FlagNames(f.Flags)))
	tv.add("tSeq", both(plain(fmt.Sprint(f.Seq)+" ("), uiText["relISN"], plain(")")))
	tv.add("tLen", both(plain(fmt.Sprint(f.Len)+" "), uiText["bytes"]))
	next := f.End()
	if f.Flags.Has(wire.SYN) {
		next++
	}
	if f.Flags.Has(wire.FIN) {
		next++
	}
	nt := plain(fmt.Sprint(next))
	if f.Flags&(wire.SYN|wire.FIN) != 0 {
		nt = both(nt, plain(" ("), uiText["synFinOne"], plain(")"))
	}
	tv.add("tNext", nt)
	if f.HasAck {
		tv.add("tAck", both(plain(fmt.Sprint(f.Ack)+" ("), uiText["relPeer"], plain(")")))
	} else {
		tv.add("tAck", uiText["noAck"])
	}
	if f.HasWin {
		tv.add("tWin", plain(fmt.Sprint(f.Win)))
	}
	switch {
	case f.AnyOpts:
		tv.add("tOpts", plain("..."))
	case len(f.Opts) > 0:
		tv.add("tOpts", plain(notation.FormatOptions(f.Opts, 0)))
	default:
		tv.add("tOpts", uiText["none"])
	}
}

// fateRow says what became of the segment.
func (m *model) fateRow(tv *tipView, g *segment) {
	switch g.fate {
	case fateRecv:
		v := both(uiText["arrived"], plain(" "+fmtTime(m.evs[g.recv].T)))
		if g.send >= 0 {
			v = both(v, plain(" (+"+fmtDur(m.evs[g.recv].T.Sub(m.evs[g.send].T))+")"))
		}
		tv.add("tFate", v)
	case fateLost:
		v := uiText["lostNet"]
		if why := m.evs[g.drop].Why; why != "" {
			v = both(v, plain(" ("), reasonText(why), plain(")"))
		}
		tv.Rows = append(tv.Rows, tipRow{Key: uiText["tFate"], Val: v, Class: "bad"})
	case fateDropped:
		d := m.evs[g.drop]
		v := both(uiText["droppedBy"], plain(" "+d.Host+" "+fmtTime(d.T)))
		if d.Why != "" {
			v = both(v, plain(": "), reasonText(d.Why))
		}
		tv.Rows = append(tv.Rows, tipRow{Key: uiText["tFate"], Val: v, Class: "bad"})
	case fateNone:
		tv.add("tFate", uiText["neverRecv"])
	case fateUnsent:
		tv.add("tFate", uiText["notTraced"])
	}
}

func (m *model) stateTip(i int) tipView {
	e := &m.evs[i]
	from, to := stateNames(e)
	tv := tipView{ID: fmt.Sprintf("tip-st-%d", m.orig[i]), Title: e.Host + ": " + from + " → " + to}
	tv.Rows = append(tv.Rows, tipRow{Key: uiText["tTime"], Val: plain(fmtTime(e.T))})
	if e.Why != "" {
		tv.Rows = append(tv.Rows, tipRow{Key: uiText["tReason"], Val: reasonText(e.Why), Class: "cause"})
	}
	if e.Conn != (trace.Conn{}) {
		tv.Rows = append(tv.Rows, tipRow{Key: uiText["tConn"], Val: plain(e.Conn.String())})
	}
	for j := i - 1; j >= 0; j-- {
		p := m.evs[j]
		if p.Kind == trace.KindState && p.Host == e.Host && p.Conn == e.Conn {
			tv.Rows = append(tv.Rows, tipRow{Key: uiText["tBefore"], Val: plain(from + ": " + fmtDur(e.T.Sub(p.T)))})
			break
		}
	}
	return tv
}
