package htmlpage_test

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/internal/domtest"

	"golang.org/x/net/html"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/tcp"
	. "github.com/tcpwave/tcpwave/trace"
	"github.com/tcpwave/tcpwave/trace/htmlpage"
)

// Builders of hand-made traces for the HTML tests; times in microseconds.
func hState(t int64, h, from, to, why string) Event {
	conn := "10.0.0.1:40000>10.0.0.2:80"
	if h == "B" {
		conn = "10.0.0.2:80>10.0.0.1:40000"
	}
	return Event{T: clock.Instant(t * 1000), Host: h, Kind: KindState, From: state(from), To: state(to), Why: why, Conn: cn(conn)}
}
func hSend(t int64, h, seg string) Event {
	return Event{T: clock.Instant(t * 1000), Host: h, Kind: KindSend, Seg: sg(seg)}
}
func hRecv(t int64, h, seg string) Event {
	return Event{T: clock.Instant(t * 1000), Host: h, Kind: KindRecv, Seg: sg(seg)}
}
func hDrop(t int64, from, to, seg string) Event {
	return Event{T: clock.Instant(t * 1000), Host: "net", Kind: KindDrop, Src: from, Dst: to, Seg: sg(seg), Why: "rule"}
}
func hApp(t int64, h, call, res string) Event {
	return Event{T: clock.Instant(t * 1000), Host: h, Kind: KindApp, Call: call, Result: res}
}

const (
	hFinA = "F. 1:1(0) ack 1 win 2048"
	hAckB = ". 1:1(0) ack 2 win 2048"
	hFinB = "F. 1:1(0) ack 2 win 2048"
	hAckA = ". 2:2(0) ack 2 win 2048"
)

// htmlLostAck4 is the close of lost-ack-4: A's last ACK is lost, B
// retransmits its FIN, A ACKs again from TIME_WAIT, 60 s of TIME_WAIT.
func htmlLostAck4() []Event {
	return []Event{
		hState(1000000, "A", "ESTABLISHED", "FIN_WAIT_1", "shutdown(SHUT_WR) or close(): FIN queued (RFC 9293 §3.10.4)"),
		hApp(1000000, "A", "close", "0"),
		hSend(1000000, "A", hFinA),
		hRecv(1000500, "B", hFinA),
		hState(1000500, "B", "ESTABLISHED", "CLOSE_WAIT", "FIN received (RFC 9293 §3.10.7.4)"),
		hSend(1000500, "B", hAckB),
		hApp(1000500, "B", "read", "EOF"),
		hRecv(1001000, "A", hAckB),
		hState(1001000, "A", "FIN_WAIT_1", "FIN_WAIT_2", "our FIN is ACKed (RFC 9293 §3.10.7.4)"),
		hState(2000500, "B", "CLOSE_WAIT", "LAST_ACK", "close() in CLOSE_WAIT: FIN queued (RFC 9293 §3.10.4)"),
		hApp(2000500, "B", "close", "0"),
		hSend(2000500, "B", hFinB),
		hRecv(2001000, "A", hFinB),
		hState(2001000, "A", "FIN_WAIT_2", "TIME_WAIT", "FIN received in FIN_WAIT_2 (RFC 9293 §3.10.7.4)"),
		hSend(2001000, "A", hAckA),
		hDrop(2001000, "A", "B", hAckA),
		hSend(2201500, "B", hFinB),
		hRecv(2202000, "A", hFinB),
		hSend(2202000, "A", hAckA),
		hRecv(2202500, "B", hAckA),
		hState(2202500, "B", "LAST_ACK", "CLOSED", "our FIN is ACKed in LAST_ACK (RFC 9293 §3.10.7.4)"),
		hState(62202000, "A", "TIME_WAIT", "CLOSED", "TIME_WAIT expired (2MSL, Linux TCP_TIMEWAIT_LEN)"),
	}
}

// htmlThreeWay is a close in which B's FIN carries the ACK of A's FIN,
// so A goes FIN_WAIT_1 -> TIME_WAIT, an edge RFC 9293's figure lacks.
func htmlThreeWay() []Event {
	return []Event{
		hState(0, "A", "ESTABLISHED", "FIN_WAIT_1", "shutdown(SHUT_WR) or close(): FIN queued (RFC 9293 §3.10.4)"),
		hSend(0, "A", hFinA),
		hRecv(500, "B", hFinA),
		hState(500, "B", "ESTABLISHED", "CLOSE_WAIT", "FIN received (RFC 9293 §3.10.7.4)"),
		hState(500, "B", "CLOSE_WAIT", "LAST_ACK", "close() in CLOSE_WAIT: FIN queued (RFC 9293 §3.10.4)"),
		hSend(500, "B", hFinB),
		hRecv(1000, "A", hFinB),
		hState(1000, "A", "FIN_WAIT_1", "TIME_WAIT", "FIN received and our FIN ACKed (RFC 9293 §3.10.7.4)"),
		hSend(1000, "A", hAckA),
		hRecv(1500, "B", hAckA),
		hState(1500, "B", "LAST_ACK", "CLOSED", "our FIN is ACKed in LAST_ACK (RFC 9293 §3.10.7.4)"),
	}
}

func htmlPage() htmlpage.Page {
	return htmlpage.Page{
		Title:   "test",
		Summary: htmlpage.Text{EN: "a test", ZH: "测试"},
		Left:    htmlpage.Host{Name: "A", Role: htmlpage.Text{EN: "client", ZH: "客户端"}},
		Right:   htmlpage.Host{Name: "B", Role: htmlpage.Text{EN: "server", ZH: "服务器"}},
		Status:  "PASS",
	}
}

func renderHTML(t *testing.T, evs []Event) (string, *html.Node) {
	t.Helper()
	var b bytes.Buffer
	if err := htmlpage.Write(&b, evs, htmlPage()); err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return b.String(), doc
}

func byClass(doc *html.Node, c string) []*html.Node {
	return domtest.FindAll(doc, func(n *html.Node) bool { return domtest.HasClass(n, c) })
}

func byID(doc *html.Node, id string) *html.Node {
	ns := domtest.FindAll(doc, func(n *html.Node) bool { v, _ := domtest.Attr(n, "id"); return v == id })
	if len(ns) != 1 {
		return nil
	}
	return ns[0]
}

// textOf is the text of n, with the Chinese spans left out when en.
func textOf(n *html.Node, lang string) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && ((lang == "en" && domtest.HasClass(n, "l-zh")) || (lang == "zh" && domtest.HasClass(n, "l-en"))) {
			return
		}
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

// segsBy indexes the arrows by one of their event attributes.
func segsBy(doc *html.Node, key string) map[int]*html.Node {
	out := map[int]*html.Node{}
	for _, n := range byClass(doc, "seg") {
		if v, ok := domtest.Attr(n, key); ok {
			i, _ := strconv.Atoi(v)
			out[i] = n
		}
	}
	return out
}

func TestHTMLPairsSegments(t *testing.T) {
	type want struct {
		fate       string
		recv, drop int // -1: none
	}
	seg := "F. 1:1(0) ack 1 win 2048"
	for _, c := range []struct {
		name   string
		evs    []Event
		sends  map[int]want // by send index
		orphan []string     // data-recv/data-drop of arrows without a send, as "recv=3"
	}{
		{"received", []Event{hSend(0, "A", seg), hRecv(500, "B", seg)},
			map[int]want{0: {"recv", 1, -1}}, nil},
		{"identical retransmissions pair in order",
			[]Event{hSend(0, "A", seg), hDrop(0, "A", "B", seg), hSend(200000, "A", seg), hRecv(200500, "B", seg)},
			map[int]want{0: {"lost", -1, 1}, 2: {"recv", 3, -1}}, nil},
		{"a later identical segment does not steal an earlier receipt",
			[]Event{hSend(0, "A", seg), hSend(100, "A", seg), hRecv(500, "B", seg), hDrop(600, "A", "B", seg)},
			map[int]want{0: {"recv", 2, -1}, 1: {"lost", -1, 3}}, nil},
		{"bad checksum inside the receiver",
			[]Event{hSend(0, "A", seg), {T: 500000, Host: "B", Kind: KindDrop, Src: "?", Dst: "B", Size: 52, Why: "wire: tcp: bad checksum"}},
			map[int]want{0: {"dropped", -1, 1}}, nil},
		{"never received", []Event{hSend(0, "A", seg)},
			map[int]want{0: {"none", -1, -1}}, nil},
		{"receipt of an untraced send", []Event{hRecv(500, "B", seg)},
			nil, []string{"recv=0"}},
		{"a drop without direction", []Event{hSend(0, "B", seg), {T: 0, Host: "net", Kind: KindDrop, Seg: sg(seg)}},
			map[int]want{0: {"lost", -1, 1}}, nil},
		{"another conversation's drop is left out",
			[]Event{hSend(0, "A", seg), hRecv(500, "B", seg), hDrop(600, "C", "D", seg)},
			map[int]want{0: {"recv", 1, -1}}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, doc := renderHTML(t, c.evs)
			arrows := byClass(doc, "seg")
			sends := segsBy(doc, "data-send")
			if len(sends) != len(c.sends) {
				t.Errorf("%d arrows with data-send, want %d", len(sends), len(c.sends))
			}
			for i, w := range c.sends {
				n := sends[i]
				if n == nil {
					t.Errorf("send %d has no arrow", i)
					continue
				}
				fate, _ := domtest.Attr(n, "data-fate")
				recv, hasRecv := domtest.Attr(n, "data-recv")
				drop, hasDrop := domtest.Attr(n, "data-drop")
				if fate != w.fate || hasRecv != (w.recv >= 0) || hasDrop != (w.drop >= 0) ||
					(hasRecv && recv != strconv.Itoa(w.recv)) || (hasDrop && drop != strconv.Itoa(w.drop)) {
					t.Errorf("send %d: fate %q recv %q drop %q, want %+v", i, fate, recv, drop, w)
				}
				if s, _ := domtest.Attr(n, "data-seg"); s != c.evs[i].SegText() {
					t.Errorf("send %d: data-seg %q, want %q", i, s, c.evs[i].SegText())
				}
				if (w.fate == "lost" || w.fate == "dropped") != (len(domtest.FindAll(n, func(x *html.Node) bool { return domtest.HasClass(x, "cross") })) == 1) {
					t.Errorf("send %d (%s): a cross iff lost", i, w.fate)
				}
			}
			var orphans []string
			for _, n := range arrows {
				if _, ok := domtest.Attr(n, "data-send"); ok {
					continue
				}
				for _, k := range []string{"data-recv", "data-drop"} {
					if v, ok := domtest.Attr(n, k); ok {
						orphans = append(orphans, strings.TrimPrefix(k, "data-")+"="+v)
					}
				}
			}
			if fmt.Sprint(orphans) != fmt.Sprint(c.orphan) {
				t.Errorf("arrows without a send: %v, want %v", orphans, c.orphan)
			}
		})
	}
}

func TestHTMLShowsEveryEvent(t *testing.T) {
	for _, c := range []struct {
		name string
		evs  []Event
	}{
		{"lost-ack-4", htmlLostAck4()},
		{"three-way", htmlThreeWay()},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, doc := renderHTML(t, c.evs)
			sends, states, apps := segsBy(doc, "data-send"), map[string]*html.Node{}, map[string]*html.Node{}
			for _, n := range byClass(doc, "state") {
				v, _ := domtest.Attr(n, "data-ev")
				states[v] = n
			}
			for _, n := range byClass(doc, "app") {
				v, _ := domtest.Attr(n, "data-ev")
				apps[v] = n
			}
			var nSend, nState, nApp int
			for i, e := range c.evs {
				key := strconv.Itoa(i)
				switch e.Kind {
				case KindSend:
					nSend++
					n := sends[i]
					if n == nil {
						t.Errorf("event %d (send %s) has no arrow", i, e.SegText())
						continue
					}
					lbl := byID(doc, "lbl-"+mustAttr(t, n, "id"))
					if lbl == nil || !strings.Contains(textOf(lbl, "en"), e.SegText()) {
						t.Errorf("arrow of event %d is not labelled %q", i, e.SegText())
					}
				case KindState:
					nState++
					n := states[key]
					if n == nil || textOf(n, "en") == "" || !strings.HasPrefix(textOf(n, "en"), e.To.String()) ||
						mustAttr(t, n, "data-from") != e.From.String() || mustAttr(t, n, "data-to") != e.To.String() {
						t.Errorf("state event %d (%s -> %s) has no label saying %s", i, e.From, e.To, e.To)
					}
				case KindApp:
					nApp++
					if n := apps[key]; n == nil || !strings.Contains(textOf(n, "en"), e.Call) {
						t.Errorf("app event %d (%s) is not marked", i, e.Call)
					}
				}
			}
			if len(sends) != nSend || len(states) != nState || len(apps) != nApp {
				t.Errorf("%d arrows, %d state labels, %d calls; want %d, %d, %d", len(sends), len(states), len(apps), nSend, nState, nApp)
			}
		})
	}
}

func mustAttr(t *testing.T, n *html.Node, key string) string {
	t.Helper()
	v, ok := domtest.Attr(n, key)
	if !ok {
		t.Fatalf("<%s> has no %s", n.Data, key)
	}
	return v
}

func TestHTMLStateDiagramPath(t *testing.T) {
	for _, c := range []struct {
		name  string
		evs   []Event
		extra string // an edge the RFC's figure lacks, drawn dashed
	}{
		{"lost-ack-4", htmlLostAck4(), ""},
		{"three-way", htmlThreeWay(), "FIN_WAIT_1>TIME_WAIT"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, doc := renderHTML(t, c.evs)
			for _, h := range []string{"A", "B"} {
				var want, got []string
				seen := map[string]bool{}
				for _, e := range c.evs {
					if k := e.From.String() + ">" + e.To.String(); e.Kind == KindState && e.Host == h && !seen[k] {
						seen[k] = true
						want = append(want, k)
					}
				}
				for _, n := range byClass(doc, "hl") {
					if v, _ := domtest.Attr(n, "data-host"); v == h {
						got = append(got, mustAttr(t, n, "data-edge"))
					}
				}
				sort.Strings(want)
				sort.Strings(got)
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("%s's highlighted edges %v, want %v", h, got, want)
				}
			}
			base := map[string]bool{}
			for _, n := range byClass(doc, "edge") {
				base[mustAttr(t, n, "data-edge")] = domtest.HasClass(n, "extra")
			}
			if len(base) < 20 {
				t.Errorf("only %d edges drawn; RFC 9293's figure has 20", len(base))
			}
			if c.extra != "" && !base[c.extra] {
				t.Errorf("edge %s missing or not dashed; edges: %v", c.extra, base)
			}
			if base["ESTABLISHED>CLOSED"] {
				t.Errorf("an edge nobody took and the figure lacks is drawn")
			}
			states := map[string]bool{}
			for _, n := range byClass(doc, "node") {
				states[mustAttr(t, n, "data-state")] = true
			}
			if len(states) != 11 {
				t.Errorf("%d states in the diagram, want RFC 9293's 11: %v", len(states), states)
			}
		})
	}
}

func TestHTMLIdleBreaks(t *testing.T) {
	seg := ". 1:1(0) ack 1 win 2048"
	for _, c := range []struct {
		name  string
		gaps  []time.Duration
		wants []string
	}{
		{"short gaps are drawn to scale", []time.Duration{500 * time.Millisecond, time.Second}, nil},
		{"a long gap is compressed", []time.Duration{1500 * time.Millisecond}, []string{"1.5 s pass"}},
		{"TIME_WAIT", []time.Duration{200 * time.Millisecond, 57202 * time.Millisecond}, []string{"57.202 s pass"}},
		{"two long gaps", []time.Duration{2 * time.Second, time.Minute}, []string{"2 s pass", "60 s pass"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var evs []Event
			var at time.Duration
			evs = append(evs, hSend(0, "A", seg), hRecv(500, "B", seg))
			for _, g := range c.gaps {
				at += g
				us := int64(at / time.Microsecond)
				evs = append(evs, hSend(us, "A", seg), hRecv(us+500, "B", seg))
			}
			_, doc := renderHTML(t, evs)
			var got []string
			for _, n := range byClass(doc, "brk") {
				got = append(got, strings.Trim(textOf(n, "en"), "~ "))
			}
			if len(got) != len(c.wants) {
				t.Fatalf("breaks %q, want %q", got, c.wants)
			}
			for i := range got {
				if !strings.Contains(got[i], c.wants[i]) {
					t.Errorf("break %d says %q, want %q", i, got[i], c.wants[i])
				}
			}
		})
	}
}

func TestHTMLTooltips(t *testing.T) {
	_, doc := renderHTML(t, htmlLostAck4())
	tip := func(arrow *html.Node) *html.Node {
		t.Helper()
		n := byID(doc, mustAttr(t, arrow, "data-tip"))
		if n == nil || !domtest.HasClass(n, "tip") {
			t.Fatalf("arrow %s has no tooltip", mustAttr(t, arrow, "id"))
		}
		return n
	}
	sends := segsBy(doc, "data-send")
	for _, c := range []struct {
		send     int
		en, zh   []string
		notInTip string
	}{
		{2, []string{"A → B", hFinA, "FIN, ACK", "Sequence number", "Next sequence number", "2 (SYN and FIN", "Acknowledgment number", "Window", "2048",
			"arrived at 1.000500 s (+0.5 ms)", "B: ESTABLISHED → CLOSE_WAIT — FIN received (RFC 9293 §3.10.7.4)"},
			[]string{"序号", "窗口", "B: ESTABLISHED → CLOSE_WAIT — 收到 FIN（RFC 9293 §3.10.7.4）"}, "lost"},
		{14, []string{hAckA, "lost in the network"}, []string{"在网络中丢失"}, "arrived"},
		{16, []string{hFinB, "retransmission of the segment sent at 2.000500 s (201 ms later)"}, []string{"重传"}, ""},
		{18, []string{hAckA, "the same ACK as the one sent at 2.001000 s", "B: LAST_ACK → CLOSED"}, nil, ""},
	} {
		a := sends[c.send]
		if a == nil {
			t.Fatalf("send %d has no arrow", c.send)
		}
		n := tip(a)
		en, zh := textOf(n, "en"), textOf(n, "zh")
		for _, w := range c.en {
			if !strings.Contains(en, w) {
				t.Errorf("tooltip of send %d lacks %q:\n%s", c.send, w, en)
			}
		}
		for _, w := range c.zh {
			if !strings.Contains(zh, w) {
				t.Errorf("Chinese tooltip of send %d lacks %q:\n%s", c.send, w, zh)
			}
		}
		if c.notInTip != "" && strings.Contains(en, c.notInTip) {
			t.Errorf("tooltip of send %d says %q:\n%s", c.send, c.notInTip, en)
		}
	}
	// A state label's tooltip gives the reason and how long the previous
	// state lasted.
	st := domtest.FindAll(doc, func(n *html.Node) bool {
		v, _ := domtest.Attr(n, "data-ev")
		return domtest.HasClass(n, "state") && v == "21"
	})
	if len(st) != 1 {
		t.Fatal("no label for the end of TIME_WAIT")
	}
	if en := textOf(tip(st[0]), "en"); !strings.Contains(en, "TIME_WAIT expired") || !strings.Contains(en, "TIME_WAIT: 60.201 s") {
		t.Errorf("TIME_WAIT -> CLOSED tooltip:\n%s", en)
	}
	if en := textOf(st[0], "en"); !strings.Contains(en, "60.2 s in TIME_WAIT") {
		t.Errorf("the end of TIME_WAIT is labelled %q, want its duration", en)
	}
}

func TestHTMLTags(t *testing.T) {
	_, doc := renderHTML(t, htmlLostAck4())
	sends := segsBy(doc, "data-send")
	for _, c := range []struct {
		send int
		want string
	}{
		{14, "lost"},
		{16, "↻ retransmission, 201 ms later"},
		{18, "↻ duplicate ACK, 201 ms later"},
	} {
		lbl := byID(doc, "lbl-"+mustAttr(t, sends[c.send], "id"))
		if got := textOf(lbl, "en"); !strings.Contains(got, c.want) {
			t.Errorf("send %d's label %q lacks %q", c.send, got, c.want)
		}
	}
	if got := textOf(byID(doc, "lbl-"+mustAttr(t, sends[2], "id")), "en"); got != hFinA {
		t.Errorf("a first transmission is labelled %q, want only its segment", got)
	}
}

func TestHTMLLanguages(t *testing.T) {
	evs := append(htmlLostAck4(), hState(62300000, "B", "CLOSED", "LISTEN", "a reason nobody translated"))
	_, doc := renderHTML(t, evs)
	body := domtest.FindAll(doc, func(n *html.Node) bool { return n.Data == "body" })[0]
	en, zh := textOf(body, "en"), textOf(body, "zh")
	for _, c := range []struct {
		lang, text string
		want       bool
	}{
		{"en", "Ladder diagram", true},
		{"en", "时序图", false},
		{"zh", "时序图", true},
		{"zh", "Ladder diagram", false},
		{"zh", "状态转换图", true},
		{"zh", "测试", true},                         // the page's summary
		{"zh", "在 LAST_ACK 收到对我方 FIN 的确认", true},   // a reason, translated
		{"zh", "a reason nobody translated", true}, // shown as it is
	} {
		txt := en
		if c.lang == "zh" {
			txt = zh
		}
		if strings.Contains(txt, c.text) != c.want {
			t.Errorf("%s text contains %q: %v, want %v", c.lang, c.text, !c.want, c.want)
		}
	}
	// State names and segments are the same in both languages: they are
	// never inside text of one language only.
	for _, c := range []string{"st", "seglabel"} {
		for _, n := range byClass(doc, c) {
			for p := n; p != nil; p = p.Parent {
				if domtest.HasClass(p, "l-en") || domtest.HasClass(p, "l-zh") {
					t.Errorf("%q is shown in one language only", textOf(n, "en"))
				}
			}
		}
	}
	for _, st := range []string{"TIME_WAIT", "FIN_WAIT_2", "LAST_ACK"} {
		if !strings.Contains(zh, st) {
			t.Errorf("Chinese text lacks %s", st)
		}
	}
}

func TestHTMLEscapes(t *testing.T) {
	evil := `<script>alert("x")</script>`
	evs := []Event{
		// Segments are typed values and hold no text; the strings an
		// event carries (reason, call, result) must be escaped.
		hSend(0, "A", "F. 1:1(0) ack 1 win 1"),
		hRecv(500, "B", "F. 1:1(0) ack 1 win 1"),
		hState(500, "B", "ESTABLISHED", "CLOSE_WAIT", `"quoted" & `+evil),
		hApp(600, "B", evil, evil),
	}
	out, doc := renderHTML(t, evs)
	if strings.Contains(out, evil) {
		t.Fatalf("unescaped %s in the page", evil)
	}
	if scripts := domtest.FindAll(doc, func(n *html.Node) bool { return n.Data == "script" }); len(scripts) != 1 {
		t.Errorf("%d <script> elements, want the page's own one", len(scripts))
	}
	if s := mustAttr(t, segsBy(doc, "data-send")[0], "data-seg"); s != evs[0].SegText() {
		t.Errorf("data-seg %q, want %q", s, evs[0].SegText())
	}
}

func TestHTMLSelfContained(t *testing.T) {
	out, doc := renderHTML(t, htmlLostAck4())
	metas := domtest.FindAll(doc, func(n *html.Node) bool {
		v, _ := domtest.Attr(n, "http-equiv")
		return n.Data == "meta" && v == "Content-Security-Policy"
	})
	if len(metas) != 1 || mustAttr(t, metas[0], "content") != "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:" {
		t.Errorf("no Content-Security-Policy that forbids fetches")
	}
	for _, n := range domtest.FindAll(doc, func(*html.Node) bool { return true }) {
		for _, a := range n.Attr {
			switch {
			case a.Key == "src" || a.Key == "srcset" || a.Key == "action" || a.Key == "poster" || strings.HasSuffix(a.Key, "href") && n.Data != "a":
				if !strings.HasPrefix(a.Val, "data:") {
					t.Errorf("<%s %s=%q> fetches", n.Data, a.Key, a.Val)
				}
			case strings.Contains(a.Val, "url(") && !strings.Contains(a.Val, "url(#"):
				t.Errorf("<%s %s=%q> refers to a resource", n.Data, a.Key, a.Val)
			}
		}
	}
	for _, bad := range []string{"http:", "https:", "@import", "url(http", "url(/", "//"} {
		if strings.Contains(out, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
}

func TestHTMLNeedsTwoHosts(t *testing.T) {
	for _, c := range []struct{ left, right string }{{"A", "A"}, {"", "B"}, {"A", ""}} {
		p := htmlPage()
		p.Left.Name, p.Right.Name = c.left, c.right
		if err := htmlpage.Write(&bytes.Buffer{}, htmlLostAck4(), p); err == nil {
			t.Errorf("hosts %q and %q accepted", c.left, c.right)
		}
	}
}

func TestHTMLIndex(t *testing.T) {
	var b bytes.Buffer
	err := htmlpage.WriteIndex(&b, htmlpage.Index{
		Title: htmlpage.Text{EN: "scenarios", ZH: "场景"},
		Entries: []htmlpage.IndexEntry{
			{Name: "four-way-close", Href: "four-way-close.html", Summary: htmlpage.Text{EN: "FIN, ACK, FIN, ACK", ZH: "四次挥手"}, Status: "PASS", Segments: 7},
			{Name: "lost-ack-4", Href: "lost-ack-4.html", Status: "FAIL", Segments: 9, Lost: 1},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(&b)
	if err != nil {
		t.Fatal(err)
	}
	rows := domtest.FindAll(doc, func(n *html.Node) bool { _, ok := domtest.Attr(n, "data-name"); return n.Data == "tr" && ok })
	if len(rows) != 2 {
		t.Fatalf("%d rows, want 2", len(rows))
	}
	for i, want := range []struct {
		href  string
		cells []string
	}{
		{"four-way-close.html", []string{"four-way-close", "四次挥手", "7", "0", "PASS"}},
		{"lost-ack-4.html", []string{"lost-ack-4", "", "9", "1", "FAIL"}},
	} {
		links := domtest.FindAll(rows[i], func(n *html.Node) bool { return n.Data == "a" })
		if len(links) != 1 || mustAttr(t, links[0], "href") != want.href {
			t.Errorf("row %d does not link to %s", i, want.href)
		}
		var cells []string
		for _, td := range domtest.FindAll(rows[i], func(n *html.Node) bool { return n.Data == "td" }) {
			cells = append(cells, textOf(td, "zh"))
		}
		if fmt.Sprint(cells) != fmt.Sprint(want.cells) {
			t.Errorf("row %d: %q, want %q", i, cells, want.cells)
		}
	}
}

func TestHTMLRetransmissions(t *testing.T) {
	const syn, ack = "S 0:0(0) win 64240", ". 1:1(0) ack 1 win 2048"
	connect := func(t int64, port int) Event {
		e := hState(t, "A", "CLOSED", "SYN_SENT", "connect() called")
		e.Conn = cn(fmt.Sprintf("10.0.0.1:%d>10.0.0.2:80", port))
		return e
	}
	fin := func(t int64, port int) Event {
		e := hState(t, "A", "ESTABLISHED", "FIN_WAIT_1", "close()")
		e.Conn = cn(fmt.Sprintf("10.0.0.1:%d>10.0.0.2:80", port))
		return e
	}
	for _, c := range []struct {
		name string
		evs  []Event
		want map[int]string // send index -> its tag ("" for none)
	}{
		{"a SYN sent again on RTO", []Event{connect(0, 1), hSend(0, "A", syn), hSend(1000000, "A", syn)},
			map[int]string{1: "", 2: "↻ retransmission, 1 s later"}},
		{"a new connection's SYN", []Event{connect(0, 1), hSend(0, "A", syn), connect(100000, 2), hSend(100000, "A", syn)},
			map[int]string{1: "", 3: ""}},
		{"a new connection on the same ports", []Event{connect(0, 1), hSend(0, "A", syn), connect(100000, 1), hSend(100000, "A", syn)},
			map[int]string{1: "", 3: ""}},
		{"the same ACK twice", []Event{connect(0, 1), hSend(0, "A", ack), hSend(300000, "A", ack)},
			map[int]string{1: "", 2: "↻ duplicate ACK, 300 ms later"}},
		{"FINs of two connections at one instant", []Event{fin(0, 1), fin(0, 2), hSend(0, "A", hFinA), hSend(0, "A", hFinA)},
			map[int]string{2: "", 3: ""}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, doc := renderHTML(t, c.evs)
			sends := segsBy(doc, "data-send")
			for i, want := range c.want {
				lbl := byID(doc, "lbl-"+mustAttr(t, sends[i], "id"))
				got := strings.TrimSpace(strings.TrimPrefix(textOf(lbl, "en"), c.evs[i].SegText()))
				if !strings.HasPrefix(got, want) || (want == "" && strings.Contains(got, "↻")) {
					t.Errorf("send %d tagged %q, want %q", i, got, want)
				}
			}
		})
	}
}

func TestHTMLEmptyOrForeignTrace(t *testing.T) {
	for _, c := range []struct {
		name string
		evs  []Event
	}{
		{"no events", nil},
		{"only other hosts", []Event{hSend(0, "C", hFinA), hRecv(500, "D", hFinA), {Host: "C", Kind: KindState, From: tcp.Closed, To: tcp.Listen}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, doc := renderHTML(t, c.evs)
			if n := len(byClass(doc, "seg")) + len(byClass(doc, "state")) + len(byClass(doc, "hl")); n != 0 {
				t.Errorf("%d arrows, labels or highlighted edges for a trace without A and B", n)
			}
			if n := len(byClass(doc, "node")); n != 12 {
				t.Errorf("%d boxes in the state diagram, want 12 (CLOSED twice)", n)
			}
		})
	}
}
