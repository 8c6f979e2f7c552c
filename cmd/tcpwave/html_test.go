package main

import (
	"bytes"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/tcpwave/tcpwave/internal/domtest"

	"golang.org/x/net/html"

	"github.com/tcpwave/tcpwave/scenario"
	"github.com/tcpwave/tcpwave/tcp"
	"github.com/tcpwave/tcpwave/trace"
	"github.com/tcpwave/tcpwave/trace/htmlpage"
)

// The pages whose screenshots docs/ holds and README.md shows.
var screenshotPages = []string{"four-way-close", "three-way-close", "simultaneous-close", "half-close", "lost-ack-4"}

// catalogEvents runs every scenario as `scenario run --all` does and
// returns each one's trace by name.
func catalogEvents(t *testing.T) map[string][]trace.Event {
	t.Helper()
	out := map[string][]trace.Event{}
	for _, s := range scenario.Catalog() {
		r, err := s.Execute(scenario.DefaultParams())
		if err != nil {
			t.Fatalf("%s: %v", s.Name, err)
		}
		out[s.Name] = r.Rec.Events()
	}
	return out
}

// textIn is n's text in English (Chinese-only parts left out).
func textIn(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && domtest.HasClass(n, "l-zh") {
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

// reporter is the part of *testing.T the page checks use.
type reporter interface {
	Helper()
	Errorf(format string, args ...any)
}

// failures is a reporter that keeps what it is told.
type failures []string

func (f *failures) Helper() {}
func (f *failures) Errorf(format string, args ...any) {
	*f = append(*f, fmt.Sprintf(format, args...))
}

// checkPage asserts that the page doc shows the trace evs: an arrow for
// every segment (lost ones with a cross), a label for every state change
// and application call, and in the state diagram each host's transitions
// highlighted and nothing else; and that it can fetch nothing. With
// scripted, doc is the DOM after the page's script ran.
func checkPage(t reporter, name string, doc *html.Node, evs []trace.Event, scripted bool) {
	t.Helper()
	errorf := func(format string, a ...any) {
		t.Helper()
		t.Errorf("%s: %s", name, fmt.Sprintf(format, a...))
	}
	all := domtest.FindAll(doc, func(*html.Node) bool { return true })
	if len(all) == 0 || all[0].Data != "html" {
		errorf("no <html>")
		return
	}
	if scripted {
		if v, _ := domtest.Attr(all[0], "data-ready"); v != "1" {
			errorf("the page's script did not run to its end (no data-ready)")
		}
	}
	checkNoFetch(t, name, doc)

	// Arrows: each send, recv and drop event appears on exactly one.
	seen := map[string]*html.Node{}
	var lost int
	for _, n := range domtest.FindAll(doc, func(n *html.Node) bool { return domtest.HasClass(n, "seg") }) {
		for _, k := range []string{"data-send", "data-recv", "data-drop"} {
			if v, ok := domtest.Attr(n, k); ok {
				if seen[k+v] != nil {
					errorf("event %s is on two arrows", v)
				}
				seen[k+v] = n
			}
		}
		if f, _ := domtest.Attr(n, "data-fate"); f == "lost" {
			lost++
			if !domtest.HasClass(n, "lost") || len(domtest.FindAll(n, func(c *html.Node) bool { return domtest.HasClass(c, "cross") })) != 1 {
				errorf("lost segment %s is not drawn stopping in a cross", n.Attr)
			}
		}
	}
	var netDrops int
	hostAB := func(h string) bool { return h == "A" || h == "B" }
	for i, e := range evs {
		key := strconv.Itoa(i)
		segText := e.SegText()
		switch e.Kind {
		case trace.KindSend, trace.KindRecv, trace.KindDrop:
			if e.Kind == trace.KindDrop && e.Host == "net" {
				netDrops++
			}
			if !hostAB(e.Host) && e.Host != "net" {
				continue
			}
			n := seen["data-"+string(e.Kind)+key]
			if n == nil {
				errorf("%s event %d (%s %s) has no arrow", e.Kind, i, e.Host, segText)
				continue
			}
			if seg, _ := domtest.Attr(n, "data-seg"); e.Kind == trace.KindSend && seg != segText {
				errorf("arrow of send %d says %q, want %q", i, seg, segText)
			}
			if e.Kind == trace.KindSend {
				id, _ := domtest.Attr(n, "id")
				lbl := domtest.FindAll(doc, func(c *html.Node) bool { v, _ := domtest.Attr(c, "id"); return v == "lbl-"+id })
				if len(lbl) != 1 || !strings.HasPrefix(textIn(lbl[0]), segText) {
					errorf("arrow of send %d is not labelled %q", i, segText)
				}
			}
		}
	}
	if lost != netDrops {
		errorf("%d arrows drawn lost, the trace has %d segments lost in the network", lost, netDrops)
	}

	// Labels beside the timelines.
	labels := map[string]*html.Node{}
	for _, n := range domtest.FindAll(doc, func(n *html.Node) bool { return domtest.HasClass(n, "state") || domtest.HasClass(n, "app") }) {
		v, _ := domtest.Attr(n, "data-ev")
		labels[v] = n
	}
	visited := map[string]map[string]bool{"A": {}, "B": {}}
	edges := map[string]map[string]bool{"A": {}, "B": {}}
	paths := map[string][]string{} // "host conn" -> states
	var order []string
	for i, e := range evs {
		if !hostAB(e.Host) || (e.Kind != trace.KindState && e.Kind != trace.KindApp) {
			continue
		}
		n := labels[strconv.Itoa(i)]
		if n == nil {
			errorf("%s event %d (%s %s%s) has no label", e.Kind, i, e.Host, e.To, e.Call)
			continue
		}
		if e.Kind == trace.KindApp {
			if !domtest.HasClass(n, "app") || !strings.HasPrefix(textIn(n), e.Call) {
				errorf("call %d is marked %q, want %q", i, textIn(n), e.Call)
			}
			continue
		}
		st := domtest.FindAll(n, func(c *html.Node) bool { return domtest.HasClass(c, "st") })
		from, to := e.From.String(), e.To.String()
		if !domtest.HasClass(n, "state") || len(st) != 1 || textIn(st[0]) != to {
			errorf("state change %d (%s -> %s) is labelled %q", i, from, to, textIn(n))
		}
		edges[e.Host][from+">"+to] = true
		visited[e.Host][from], visited[e.Host][to] = true, true
		k := e.Host + " " + e.Conn.String()
		if paths[k] == nil {
			order = append(order, k)
			paths[k] = []string{from}
		}
		paths[k] = append(paths[k], to)
	}

	// The state diagram.
	nodes := domtest.FindAll(doc, func(n *html.Node) bool { return domtest.HasClass(n, "node") })
	states := map[string]bool{}
	for _, n := range nodes {
		v, _ := domtest.Attr(n, "data-state")
		states[v] = true
	}
	if len(states) != 11 {
		errorf("the state diagram has %d states, want 11", len(states))
	}
	for _, h := range []string{"A", "B"} {
		got := map[string]bool{}
		for _, n := range domtest.FindAll(doc, func(n *html.Node) bool {
			v, _ := domtest.Attr(n, "data-host")
			return domtest.HasClass(n, "hl") && v == h
		}) {
			v, _ := domtest.Attr(n, "data-edge")
			got[v] = true
		}
		if fmt.Sprint(sortedKeys(got)) != fmt.Sprint(sortedKeys(edges[h])) {
			errorf("%s's highlighted path %v, want the transitions it made %v", h, sortedKeys(got), sortedKeys(edges[h]))
		}
		badged := map[string]bool{}
		for _, n := range nodes {
			for _, b := range domtest.FindAll(n, func(c *html.Node) bool {
				v, _ := domtest.Attr(c, "data-host")
				return domtest.HasClass(c, "badge") && v == h
			}) {
				_ = b
				v, _ := domtest.Attr(n, "data-state")
				badged[v] = true
			}
		}
		if fmt.Sprint(sortedKeys(badged)) != fmt.Sprint(sortedKeys(visited[h])) {
			errorf("%s is marked in states %v, it was in %v", h, sortedKeys(badged), sortedKeys(visited[h]))
		}
	}
	var gotPaths, wantPaths []string
	for _, n := range domtest.FindAll(doc, func(n *html.Node) bool { _, ok := domtest.Attr(n, "data-path"); return ok }) {
		h, _ := domtest.Attr(n, "data-host")
		p, _ := domtest.Attr(n, "data-path")
		gotPaths = append(gotPaths, h+": "+p)
	}
	for _, k := range order {
		wantPaths = append(wantPaths, strings.Fields(k)[0]+": "+strings.Join(paths[k], " "))
	}
	sort.Strings(gotPaths)
	sort.Strings(wantPaths)
	if fmt.Sprint(gotPaths) != fmt.Sprint(wantPaths) {
		errorf("paths listed %q, want %q", gotPaths, wantPaths)
	}
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// checkNoFetch asserts that nothing in doc can make the browser fetch:
// the Content-Security-Policy forbids it, and no attribute or style
// names a resource other than data: URLs and links to other pages.
func checkNoFetch(t reporter, name string, doc *html.Node) {
	t.Helper()
	const csp = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"
	metas := domtest.FindAll(doc, func(n *html.Node) bool {
		v, _ := domtest.Attr(n, "http-equiv")
		return n.Data == "meta" && strings.EqualFold(v, "Content-Security-Policy")
	})
	if len(metas) != 1 {
		t.Errorf("%s: %d Content-Security-Policy metas, want 1", name, len(metas))
	} else if v, _ := domtest.Attr(metas[0], "content"); v != csp {
		t.Errorf("%s: Content-Security-Policy %q, want %q", name, v, csp)
	}
	for _, n := range domtest.FindAll(doc, func(*html.Node) bool { return true }) {
		for _, a := range n.Attr {
			key := strings.ToLower(a.Key)
			fetching := key == "src" || key == "srcset" || key == "poster" || key == "action" || key == "data" ||
				key == "background" || (strings.HasSuffix(key, "href") && n.Data != "a")
			switch {
			case fetching && !strings.HasPrefix(a.Val, "data:"):
				t.Errorf("%s: <%s %s=%q> fetches", name, n.Data, a.Key, a.Val)
			case n.Data == "a" && key == "href" && (strings.Contains(a.Val, ":") || strings.HasPrefix(a.Val, "/")):
				t.Errorf("%s: link %q leaves the page's directory", name, a.Val)
			case strings.Contains(strings.ReplaceAll(a.Val, "url(#", ""), "url("):
				t.Errorf("%s: <%s %s=%q> names a resource", name, n.Data, a.Key, a.Val)
			}
		}
		if n.Data == "style" || n.Data == "script" {
			if _, ok := domtest.Attr(n, "src"); ok {
				t.Errorf("%s: external <%s>", name, n.Data)
			}
			txt := textIn(n)
			for _, bad := range []string{"url(", "@import", "http:", "https:", "fetch(", "XMLHttpRequest", "import("} {
				if strings.Contains(txt, bad) {
					t.Errorf("%s: <%s> contains %q", name, n.Data, bad)
				}
			}
		}
	}
}

func parsePage(t *testing.T, path string) *html.Node {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return doc
}

func TestHTMLFlagOneScenario(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args   []string
		status string
	}{
		{[]string{"lost-ack-4"}, "PASS"},
		{[]string{"no-time-wait"}, "PASS"},
		// A failing run still gets its page, with the failure on it.
		{[]string{"four-way-close", "--time-wait", "1s"}, "FAIL"},
	} {
		path := filepath.Join(dir, c.args[0]+".html")
		var out, errb bytes.Buffer
		code := run(append([]string{"scenario", "run", "--html", path}, c.args...), &out, &errb)
		if (code == 0) != (c.status == "PASS") {
			t.Fatalf("%v: exit %d: %s", c.args, code, errb.String())
		}
		if !strings.Contains(out.String(), "|") {
			t.Errorf("%v: --html replaced the ladder on stdout", c.args)
		}
		doc := parsePage(t, path)
		s, _ := scenario.Find(c.args[0])
		p := scenario.DefaultParams()
		if len(c.args) > 1 {
			p.A.TCP.TimeWait, p.B.TCP.TimeWait = 1e9, 1e9
		}
		r, _ := s.Execute(p)
		checkPage(t, c.args[0], doc, r.Rec.Events(), false)
		badge := domtest.FindAll(doc, func(n *html.Node) bool { v, _ := domtest.Attr(n, "id"); return v == "status" })
		if len(badge) != 1 || !strings.HasPrefix(textIn(badge[0]), c.status) {
			t.Errorf("%v: no %s badge", c.args, c.status)
		}
	}
	var errb bytes.Buffer
	if code := run([]string{"scenario", "run", "lost-ack-4", "--html", filepath.Join(dir, "no", "such", "dir", "x.html")}, &bytes.Buffer{}, &errb); code == 0 {
		t.Errorf("an unwritable --html path succeeded")
	}
}

func TestHTMLFlagAll(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "site")
	var out, errb bytes.Buffer
	if code := run([]string{"scenario", "run", "--all", "--html", dir}, &out, &errb); code != 0 {
		t.Fatalf("exit %d:\n%s%s", code, out.String(), errb.String())
	}
	evs := catalogEvents(t)
	index := parsePage(t, filepath.Join(dir, "index.html"))
	checkNoFetch(t, "index.html", index)
	links := map[string]bool{}
	for _, a := range domtest.FindAll(index, func(n *html.Node) bool { return n.Data == "a" }) {
		v, _ := domtest.Attr(a, "href")
		links[v] = true
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.html"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(scenario.Catalog())+1 {
		t.Errorf("%d files, want a page per scenario and index.html", len(files))
	}
	for _, s := range scenario.Catalog() {
		if !links[s.Name+".html"] {
			t.Errorf("index.html does not link to %s.html", s.Name)
		}
		checkPage(t, s.Name, parsePage(t, filepath.Join(dir, s.Name+".html")), evs[s.Name], false)
	}
}

// TestHTMLCheckerCatchesMistakes feeds checkPage pages that are wrong in
// one way each, to show it would notice.
func TestHTMLCheckerCatchesMistakes(t *testing.T) {
	s, _ := scenario.Find("lost-ack-4")
	r, err := s.Execute(scenario.DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	evs := r.Rec.Events()
	var b bytes.Buffer
	if err := htmlpage.Write(&b, evs, scenarioPage(s, scenario.DefaultParams(), r, nil, "")); err != nil {
		t.Fatal(err)
	}
	good := b.String()
	firstSend := -1
	for i, e := range evs {
		if e.Kind == trace.KindSend {
			firstSend = i
			break
		}
	}
	for _, c := range []struct {
		name   string
		mutate func(string) string
		evs    func([]trace.Event) []trace.Event
	}{
		{"an arrow missing", func(p string) string {
			return strings.Replace(p, fmt.Sprintf(`data-send="%d"`, firstSend), `data-x="0"`, 1)
		}, nil},
		{"a state label missing", func(p string) string { return strings.Replace(p, `class="state `, `class="stat `, 1) }, nil},
		{"a highlighted edge too many", func(p string) string {
			return strings.Replace(p, `data-host="A" data-edge="CLOSED&gt;SYN_SENT"`, `data-host="A" data-edge="CLOSED&gt;LISTEN"`, 1)
		}, nil},
		{"a lost segment drawn arriving", func(p string) string {
			return strings.Replace(p, `data-fate="lost"`, `data-fate="recv"`, 1)
		}, nil},
		{"a fetch", func(p string) string {
			return strings.Replace(p, "</body>", `<img src="https://example.com/x.png"></body>`, 1)
		}, nil},
		{"no CSP", func(p string) string { return strings.Replace(p, "Content-Security-Policy", "X-Nothing", 1) }, nil},
		{"a state change the page lacks", nil, func(e []trace.Event) []trace.Event {
			return append(e, trace.Event{Host: "A", Kind: trace.KindState, From: tcp.Closed, To: tcp.Listen})
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			page, ev := good, evs
			if c.mutate != nil {
				page = c.mutate(page)
				if page == good {
					t.Fatal("the mutation changed nothing")
				}
			}
			if c.evs != nil {
				ev = c.evs(append([]trace.Event(nil), evs...))
			}
			doc, err := html.Parse(strings.NewReader(page))
			if err != nil {
				t.Fatal(err)
			}
			var f failures
			checkPage(&f, "mutant", doc, ev, false)
			if len(f) == 0 {
				t.Errorf("checkPage accepted a page with %s", c.name)
			}
		})
	}
	doc, _ := html.Parse(strings.NewReader(good))
	var f failures
	if checkPage(&f, "good", doc, evs, false); len(f) > 0 {
		t.Errorf("checkPage rejects the good page: %q", f)
	}
}

func TestDocsScreenshots(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range screenshotPages {
		rel := "docs/" + name + ".png"
		if !strings.Contains(string(readme), "("+rel+")") {
			t.Errorf("README.md does not link %s", rel)
		}
		b, err := os.ReadFile(filepath.Join("..", "..", rel))
		if err != nil {
			t.Errorf("%v (regenerate: go test ./cmd/tcpwave -run TestHTMLInBrowser -screenshots ../../docs)", err)
			continue
		}
		if len(b) >= 300<<10 {
			t.Errorf("%s is %d KB, want under 300 KB", rel, len(b)>>10)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			continue
		}
		if w, h := img.Bounds().Dx(), img.Bounds().Dy(); w < 1200 || h < 700 || h > 2000 {
			t.Errorf("%s is %dx%d, want a full page about 1480 wide", rel, w, h)
		}
	}
}
