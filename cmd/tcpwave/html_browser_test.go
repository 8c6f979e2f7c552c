//go:build unix

package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"image/png"
	"math"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/html"
)

var screenshotDir = flag.String("screenshots", "", "write the browser test's screenshots to this directory (e.g. ../../docs)")

// Chromium's flags for the tests: headless, and no traffic of its own.
var chromiumFlags = []string{
	"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync",
	"--hide-scrollbars", "--mute-audio", "--remote-debugging-pipe",
}

// pageWidth is the CSS width of the browser window for the pages.
const pageWidth = 1480

// cdpMsg is a DevTools protocol message: a command's response (ID) or an
// event (Method).
type cdpMsg struct {
	ID        int             `json:"id,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Error     *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// browser is a headless Chromium driven over the DevTools protocol on a
// pair of pipes (--remote-debugging-pipe: commands on its fd 3, answers
// on its fd 4, each message ending in a NUL byte).
type browser struct {
	t       *testing.T
	cmd     *exec.Cmd
	in      *os.File
	msgs    chan cdpMsg
	stderr  *lockedBuffer
	id      int
	session string
	events  []cdpMsg
	current string // the page loaded last
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startBrowser starts Chromium with a fresh profile and opens a tab. It
// skips the test when Chromium is not installed, unless CI=true.
func startBrowser(t *testing.T) *browser {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is not installed (apt-get install chromium); CI=true makes the browser test mandatory")
		}
		t.Skip("chromium not installed (apt-get install chromium): browser test skipped")
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	args := append(append([]string{}, chromiumFlags...), "--user-data-dir="+t.TempDir(), "about:blank")
	b := &browser{t: t, in: inW, msgs: make(chan cdpMsg, 256), stderr: &lockedBuffer{}}
	b.cmd = exec.Command(path, args...)
	b.cmd.ExtraFiles = []*os.File{inR, outW} // fds 3 and 4
	b.cmd.Stderr = b.stderr
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	inR.Close()
	outW.Close()
	go func() {
		defer close(b.msgs)
		br := bufio.NewReaderSize(outR, 1<<20)
		for {
			line, err := br.ReadBytes(0)
			if err != nil {
				return
			}
			var m cdpMsg
			if json.Unmarshal(line[:len(line)-1], &m) == nil {
				b.msgs <- m
			}
		}
	}()
	t.Cleanup(b.close)

	var target struct{ TargetID string }
	b.must("Target.createTarget", map[string]any{"url": "about:blank"}, &target)
	var att struct{ SessionID string }
	b.must("Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &att)
	b.session = att.SessionID
	for _, d := range []string{"Page.enable", "Runtime.enable", "Log.enable", "Network.enable"} {
		b.must(d, nil, nil)
	}
	b.resize(1000)
	return b
}

// use makes b report to t (a subtest) until the next use.
func (b *browser) use(t *testing.T) { b.t = t }

// close ends Chromium: politely, then its whole process group.
func (b *browser) close() {
	b.id++
	msg, _ := json.Marshal(cdpMsg{ID: b.id, Method: "Browser.close"})
	b.in.Write(append(msg, 0))
	done := make(chan struct{})
	go func() { b.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	b.in.Close()
}

// call sends a command to the tab (or, for Target.* and Browser.*, to the
// browser) and returns its result; events that arrive meanwhile are kept.
func (b *browser) call(method string, params any) (json.RawMessage, error) {
	b.id++
	m := cdpMsg{ID: b.id, Method: method}
	if params != nil {
		p, err := json.Marshal(params)
		if err != nil {
			return nil, err
		}
		m.Params = p
	}
	if !strings.HasPrefix(method, "Target.") && !strings.HasPrefix(method, "Browser.") {
		m.SessionID = b.session
	}
	data, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	if _, err := b.in.Write(append(data, 0)); err != nil {
		return nil, err
	}
	timeout := time.After(30 * time.Second)
	for {
		select {
		case r, ok := <-b.msgs:
			if !ok {
				return nil, fmt.Errorf("%s: chromium exited; stderr:\n%s", method, b.stderr.String())
			}
			if r.ID == m.ID {
				if r.Error != nil {
					return nil, fmt.Errorf("%s: %s", method, r.Error.Message)
				}
				return r.Result, nil
			}
			if r.Method != "" {
				b.events = append(b.events, r)
			}
		case <-timeout:
			return nil, fmt.Errorf("%s: no answer in 30 s", method)
		}
	}
}

// must is call that fails the test on error and decodes the result.
func (b *browser) must(method string, params, result any) {
	b.t.Helper()
	raw, err := b.call(method, params)
	if err != nil {
		b.t.Fatal(err)
	}
	if result != nil {
		if err := json.Unmarshal(raw, result); err != nil {
			b.t.Fatalf("%s: %v", method, err)
		}
	}
}

// waitEvent waits for an event of the tab, looking first at those kept.
func (b *browser) waitEvent(method string, from int) error {
	for i := from; i < len(b.events); i++ {
		if b.events[i].Method == method {
			return nil
		}
	}
	timeout := time.After(30 * time.Second)
	for {
		select {
		case r, ok := <-b.msgs:
			if !ok {
				return fmt.Errorf("chromium exited waiting for %s; stderr:\n%s", method, b.stderr.String())
			}
			if r.Method != "" {
				b.events = append(b.events, r)
				if r.Method == method && r.SessionID == b.session {
					return nil
				}
			}
		case <-timeout:
			return fmt.Errorf("no %s in 30 s", method)
		}
	}
}

// open loads a page and returns what went wrong while it loaded: console
// messages, uncaught exceptions, browser log errors and warnings, and
// requests for anything but the page itself.
func (b *browser) open(pageURL string) []string {
	b.t.Helper()
	base, _, _ := strings.Cut(pageURL, "#")
	if cur, _, _ := strings.Cut(b.current, "#"); cur == base && b.current != "about:blank" {
		// Only the fragment would change: no new load. Leave first.
		b.open("about:blank")
	}
	b.current = pageURL
	b.events = nil
	var nav struct{ ErrorText string }
	b.must("Page.navigate", map[string]any{"url": pageURL}, &nav)
	if nav.ErrorText != "" {
		b.t.Fatalf("%s: %s", pageURL, nav.ErrorText)
	}
	if err := b.waitEvent("Page.loadEventFired", 0); err != nil {
		b.t.Fatal(err)
	}
	// Let late work (timers, a lazy request) show up before looking.
	b.eval(`new Promise(r => setTimeout(r, 50))`, nil)
	return b.problems(pageURL)
}

func (b *browser) problems(pageURL string) []string {
	var out []string
	for _, e := range b.events {
		switch e.Method {
		case "Runtime.consoleAPICalled":
			var p struct {
				Type string
				Args []struct {
					Value       any
					Description string
				}
			}
			json.Unmarshal(e.Params, &p)
			out = append(out, fmt.Sprintf("console.%s %v", p.Type, p.Args))
		case "Runtime.exceptionThrown":
			var p struct {
				ExceptionDetails struct {
					Text      string
					Exception struct{ Description string }
				}
			}
			json.Unmarshal(e.Params, &p)
			out = append(out, "exception: "+p.ExceptionDetails.Text+" "+p.ExceptionDetails.Exception.Description)
		case "Log.entryAdded":
			var p struct {
				Entry struct{ Level, Source, Text, URL string }
			}
			json.Unmarshal(e.Params, &p)
			if p.Entry.Level == "error" || p.Entry.Level == "warning" {
				out = append(out, fmt.Sprintf("log %s (%s): %s %s", p.Entry.Level, p.Entry.Source, p.Entry.Text, p.Entry.URL))
			}
		case "Network.requestWillBeSent":
			var p struct{ Request struct{ URL string } }
			json.Unmarshal(e.Params, &p)
			if base, _, _ := strings.Cut(pageURL, "#"); p.Request.URL != base {
				out = append(out, "request: "+p.Request.URL)
			}
		case "Network.loadingFailed":
			var p struct{ ErrorText, BlockedReason string }
			json.Unmarshal(e.Params, &p)
			out = append(out, "loading failed: "+p.ErrorText+" "+p.BlockedReason)
		}
	}
	return out
}

// eval runs JavaScript in the page (awaiting a promise) and decodes its
// value into result.
func (b *browser) eval(expr string, result any) {
	b.t.Helper()
	var r struct {
		Result           struct{ Value json.RawMessage }
		ExceptionDetails *struct{ Text string }
	}
	b.must("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}, &r)
	if r.ExceptionDetails != nil {
		b.t.Fatalf("evaluating %s: %s", expr, r.ExceptionDetails.Text)
	}
	if result != nil {
		if err := json.Unmarshal(r.Result.Value, result); err != nil {
			b.t.Fatalf("evaluating %s: %v (%s)", expr, err, r.Result.Value)
		}
	}
}

// dom returns the page's DOM as the browser has it now.
func (b *browser) dom() *html.Node {
	b.t.Helper()
	var s string
	b.eval(`document.documentElement.outerHTML`, &s)
	doc, err := html.Parse(strings.NewReader(s))
	if err != nil {
		b.t.Fatal(err)
	}
	return doc
}

// resize makes the viewport pageWidth wide and h high.
func (b *browser) resize(h float64) {
	b.must("Emulation.setDeviceMetricsOverride", map[string]any{
		"width": pageWidth, "height": int(math.Ceil(h)), "deviceScaleFactor": 1, "mobile": false}, nil)
}

// fitPage makes the viewport as high as the page.
func (b *browser) fitPage() {
	b.t.Helper()
	// Measure the body, which is as high as its content, in a window high
	// enough for no scroll bar to take width away.
	b.resize(4000)
	var h float64
	b.eval(`Math.ceil(document.body.getBoundingClientRect().bottom)`, &h)
	b.resize(h)
}

// center returns the centre of the element matched by sel, in viewport
// coordinates.
func (b *browser) center(sel string) (x, y float64) {
	b.t.Helper()
	var r struct{ X, Y float64 }
	b.eval(fmt.Sprintf(`(() => { const r = document.querySelector(%q).getBoundingClientRect();
		return {x: r.left + r.width / 2, y: r.top + r.height / 2}; })()`, sel), &r)
	return r.X, r.Y
}

func (b *browser) mouse(kind string, x, y float64) {
	b.t.Helper()
	p := map[string]any{"type": kind, "x": x, "y": y}
	if kind != "mouseMoved" {
		p["button"], p["clickCount"] = "left", 1
	}
	b.must("Input.dispatchMouseEvent", p, nil)
}

// screenshot saves the whole page as a PNG and returns its size.
func (b *browser) screenshot(path string) (w, h int) {
	b.t.Helper()
	b.fitPage()
	var shot struct{ Data string }
	b.must("Page.captureScreenshot", map[string]any{"format": "png"}, &shot)
	data, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil {
		b.t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.t.Fatal(err)
	}
	return img.Bounds().Dx(), img.Bounds().Dy()
}

func fileURL(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		panic(err)
	}
	return (&url.URL{Scheme: "file", Path: abs}).String()
}

// TestHTMLInBrowser renders every scenario's page and the index in
// headless Chromium and checks the DOM after the scripts ran, that the
// pages load without console errors or requests, that hovering and
// focusing a segment show its details, that the language switch works,
// and takes the screenshots README.md shows (into -screenshots DIR if
// given).
func TestHTMLInBrowser(t *testing.T) {
	start := time.Now()
	b := startBrowser(t)
	dir := t.TempDir()
	if code := run([]string{"scenario", "run", "--all", "--html", dir}, &bytes.Buffer{}, &bytes.Buffer{}); code != 0 {
		t.Fatalf("scenario run --all --html: exit %d", code)
	}
	evs := catalogEvents(t)

	t.Run("every page", func(t *testing.T) {
		b.use(t)
		for name, ev := range evs {
			u := fileURL(filepath.Join(dir, name+".html"))
			if p := b.open(u); len(p) > 0 {
				t.Errorf("%s: %q", name, p)
			}
			checkPage(t, name, b.dom(), ev, true)
		}
		u := fileURL(filepath.Join(dir, "index.html"))
		if p := b.open(u); len(p) > 0 {
			t.Errorf("index: %q", p)
		}
		var links int
		b.eval(`document.querySelectorAll("table.idx a[href$='.html']").length`, &links)
		if links != len(evs) {
			t.Errorf("index links to %d pages, want %d", links, len(evs))
		}
	})

	t.Run("lost-ack-4 shows the lost ACK and the retransmitted FIN", func(t *testing.T) {
		b.use(t)
		b.open(fileURL(filepath.Join(dir, "lost-ack-4.html")))
		var got struct {
			Lost, Rexmit []string
		}
		b.eval(`({
			lost: [...document.querySelectorAll(".seg.lost")].map(g => g.dataset.from + ">" + g.dataset.to + " " + document.getElementById("lbl-" + g.id).textContent),
			rexmit: [...document.querySelectorAll(".seglbl")].filter(g => /retransmission/.test(g.textContent)).map(g => g.textContent),
		})`, &got)
		if len(got.Lost) != 1 || !strings.HasPrefix(got.Lost[0], "A>B . 2:2(0) ack 2") || !strings.Contains(got.Lost[0], "lost") {
			t.Errorf("lost arrows %q, want A's last ACK marked lost", got.Lost)
		}
		if len(got.Rexmit) != 1 || !strings.HasPrefix(got.Rexmit[0], "F. 1:1(0) ack 2") {
			t.Errorf("retransmissions %q, want B's FIN", got.Rexmit)
		}
	})

	t.Run("hover and focus show a segment's header and what it caused", func(t *testing.T) {
		b.use(t)
		b.open(fileURL(filepath.Join(dir, "lost-ack-4.html")))
		b.fitPage()
		// A's FIN: hover its arrow.
		var id string
		b.eval(`[...document.querySelectorAll(".seg")].find(g => g.dataset.from == "A" && g.dataset.seg.startsWith("F.")).id`, &id)
		x, y := b.center("#" + id + " .hit")
		b.mouse("mouseMoved", x, y)
		var tip struct {
			Shown bool
			Text  string
		}
		tipOf := func(id string) {
			b.eval(fmt.Sprintf(`(() => { const t = document.getElementById(document.getElementById(%q).dataset.tip);
				return {shown: getComputedStyle(t).display != "none", text: t.innerText}; })()`, id), &tip)
		}
		tipOf(id)
		for _, want := range []string{"A → B", "FIN, ACK", "Sequence number", "Acknowledgment number", "Window", "502",
			"B: ESTABLISHED → CLOSE_WAIT — FIN received (RFC 9293 §3.10.7.4)"} {
			if !tip.Shown || !strings.Contains(tip.Text, want) {
				t.Errorf("hovering A's FIN: tooltip shown %v, lacks %q:\n%s", tip.Shown, want, tip.Text)
			}
		}
		// The state change it caused is highlighted too.
		var rel []string
		b.eval(`[...document.querySelectorAll(".rel")].map(e => e.id)`, &rel)
		if !strings.Contains(strings.Join(rel, " "), "hl-1-ESTABLISHED-CLOSE_WAIT") {
			t.Errorf("hovering A's FIN highlights %q, want B's ESTABLISHED -> CLOSE_WAIT edge", rel)
		}
		b.mouse("mouseMoved", 2, 2)
		tipOf(id)
		if tip.Shown {
			t.Errorf("the tooltip stays after the mouse leaves")
		}
		// The lost ACK: focus it, as Tab would.
		b.eval(`(() => { const g = document.querySelector(".seg.lost"); g.focus(); return g.id; })()`, &id)
		tipOf(id)
		if !tip.Shown || !strings.Contains(tip.Text, "lost in the network") {
			t.Errorf("focusing the lost ACK: tooltip shown %v:\n%s", tip.Shown, tip.Text)
		}
	})

	t.Run("language switch", func(t *testing.T) {
		b.use(t)
		b.open(fileURL(filepath.Join(dir, "lost-ack-4.html")))
		b.fitPage()
		x, y := b.center(`button[data-lang="zh"]`)
		b.mouse("mousePressed", x, y)
		b.mouse("mouseReleased", x, y)
		var got struct {
			Lang, Hash, Text, States string
		}
		read := func() {
			b.eval(`({lang: document.documentElement.lang, hash: location.hash, text: document.body.innerText,
				states: [...document.querySelectorAll("#ladder .state .st")].map(e => e.textContent).join(" ")})`, &got)
		}
		read()
		for _, c := range []struct {
			text string
			want bool
		}{{"时序图", true}, {"状态转换图", true}, {"处于 TIME_WAIT 的 A", true}, {"Ladder diagram", false}, {"A's last ACK is lost", false}} {
			if strings.Contains(got.Text, c.text) != c.want {
				t.Errorf("in Chinese the page shows %q: %v, want %v", c.text, !c.want, c.want)
			}
		}
		if got.Lang != "zh-CN" || got.Hash != "#zh" {
			t.Errorf("lang %q, hash %q after choosing 中文", got.Lang, got.Hash)
		}
		if !strings.Contains(got.States, "FIN_WAIT_1 CLOSE_WAIT") || !strings.Contains(got.Text, "TIME_WAIT") {
			t.Errorf("state names changed with the language: %q", got.States)
		}
		x, y = b.center(`button[data-lang="en"]`)
		b.mouse("mousePressed", x, y)
		b.mouse("mouseReleased", x, y)
		read()
		if !strings.Contains(got.Text, "Ladder diagram") || strings.Contains(got.Text, "时序图") || got.Lang != "en" {
			t.Errorf("back to English: lang %q", got.Lang)
		}
		// A page opened with #zh starts in Chinese.
		if p := b.open(fileURL(filepath.Join(dir, "half-close.html")) + "#zh"); len(p) > 0 {
			t.Errorf("half-close#zh: %q", p)
		}
		read()
		if got.Lang != "zh-CN" || !strings.Contains(got.Text, "半关闭") {
			t.Errorf("half-close.html#zh opens in %q", got.Lang)
		}
	})

	t.Run("screenshots", func(t *testing.T) {
		b.use(t)
		out := *screenshotDir
		if out == "" {
			out = t.TempDir()
		}
		shoot := func(name, frag, file string) {
			if p := b.open(fileURL(filepath.Join(dir, name+".html")) + frag); len(p) > 0 {
				t.Errorf("%s: %q", name, p)
			}
			w, h := b.screenshot(filepath.Join(out, file))
			if w != pageWidth || h < 700 {
				t.Errorf("%s: screenshot %dx%d", file, w, h)
			}
		}
		for _, name := range screenshotPages {
			shoot(name, "", name+".png")
		}
		shoot("lost-ack-4", "#zh", "lost-ack-4-zh.png")
		b.resize(1000)
	})

	t.Run("the harness notices errors and requests", func(t *testing.T) {
		b.use(t)
		good, err := os.ReadFile(filepath.Join(dir, "lost-ack-4.html"))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name, page, want string
		}{
			{"script error", strings.Replace(string(good), "</body>", `<script>null.x</script></body>`, 1), "exception"},
			{"console error", strings.Replace(string(good), "</body>", `<script>console.error("bad")</script></body>`, 1), "console.error"},
			{"fetch blocked by the CSP", strings.Replace(string(good), "</body>", `<img src="http://127.0.0.1:9/x.png"></body>`, 1), "log error"},
			{"request", `<!DOCTYPE html><title>x</title><img src="http://127.0.0.1:9/x.png">`, "request: http://127.0.0.1:9/x.png"},
		} {
			path := filepath.Join(t.TempDir(), "bad.html")
			if err := os.WriteFile(path, []byte(c.page), 0o644); err != nil {
				t.Fatal(err)
			}
			p := b.open(fileURL(path))
			if !strings.Contains(strings.Join(p, "\n"), c.want) {
				t.Errorf("%s: problems %q, want one with %q", c.name, p, c.want)
			}
		}
	})
	b.use(t)
	t.Logf("browser test took %v", time.Since(start).Round(time.Millisecond))
}
