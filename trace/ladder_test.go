package trace_test

import (
	"bytes"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/tcp"
	. "github.com/tcpwave/tcpwave/trace"
)

// Ladder geometry, as documented on WriteLadder.
const (
	ladderWidth = 94 // columns of every line below the header
	lostShort   = 12 // columns a lost arrow stops short of the far timeline
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

func us(n int64) clock.Instant { return clock.Instant(n * int64(time.Microsecond)) }

// fourWayCloseLostACK is a whole conversation: handshake, five bytes of
// data, a four-way close whose final ACK is lost, the FIN retransmission
// and its ACK, and TIME_WAIT running out a minute later. One-way delay is
// 0.5 ms.
func fourWayCloseLostACK() []Event {
	st := func(t int64, h, from, to, why string) Event {
		return Event{T: us(t), Host: h, Kind: KindState, From: state(from), To: state(to), Why: why}
	}
	send := func(t int64, h, seg string) Event { return Event{T: us(t), Host: h, Kind: KindSend, Seg: sg(seg)} }
	recv := func(t int64, h, seg string) Event { return Event{T: us(t), Host: h, Kind: KindRecv, Seg: sg(seg)} }
	app := func(t int64, h, call, res string) Event {
		return Event{T: us(t), Host: h, Kind: KindApp, Call: call, Result: res}
	}
	const (
		syn    = "S 0:0(0) win 65535 <mss 1460,sackOK,wscale 7>"
		synack = "S. 0:0(0) ack 1 win 65535 <mss 1460,sackOK,wscale 7>"
		finA   = "F. 6:6(0) ack 1 win 512"
		finB   = "F. 1:1(0) ack 7 win 512"
		lastA  = ". 7:7(0) ack 2 win 512"
	)
	return []Event{
		st(0, "B", "CLOSED", "LISTEN", "listen() called"),
		app(0, "B", "listen", "0"),
		st(100, "A", "CLOSED", "SYN_SENT", "connect() called"),
		send(100, "A", syn),
		recv(600, "B", syn),
		st(600, "B", "LISTEN", "SYN_RCVD", "RFC 9293 §3.10.7.2: SYN received"),
		send(600, "B", synack),
		recv(1100, "A", synack),
		st(1100, "A", "SYN_SENT", "ESTABLISHED", "RFC 9293 §3.10.7.3: our SYN is ACKed"),
		send(1100, "A", ". 1:1(0) ack 1 win 512"),
		app(1100, "A", "connect", "0"),
		recv(1600, "B", ". 1:1(0) ack 1 win 512"),
		st(1600, "B", "SYN_RCVD", "ESTABLISHED", "RFC 9293 §3.10.7.4: our SYN,ACK is ACKed"),
		app(1600, "B", "accept", "ok"),
		app(5000, "A", "write", "5"),
		send(5000, "A", "P. 1:6(5) ack 1 win 512"),
		recv(5500, "B", "P. 1:6(5) ack 1 win 512"),
		send(5500, "B", ". 1:1(0) ack 6 win 512"),
		app(5600, "B", "read", "5"),
		recv(6000, "A", ". 1:1(0) ack 6 win 512"),
		st(10000, "A", "ESTABLISHED", "FIN_WAIT_1", "close() called"),
		send(10000, "A", finA),
		app(10000, "A", "close", "0"),
		recv(10500, "B", finA),
		st(10500, "B", "ESTABLISHED", "CLOSE_WAIT", "RFC 9293 §3.10.7.4: FIN received"),
		send(10500, "B", ". 1:1(0) ack 7 win 512"),
		app(10600, "B", "read", "EOF"),
		recv(11000, "A", ". 1:1(0) ack 7 win 512"),
		st(11000, "A", "FIN_WAIT_1", "FIN_WAIT_2", "RFC 9293 §3.10.7.4: our FIN is ACKed"),
		st(20000, "B", "CLOSE_WAIT", "LAST_ACK", "close() called"),
		send(20000, "B", finB),
		app(20000, "B", "close", "0"),
		recv(20500, "A", finB),
		st(20500, "A", "FIN_WAIT_2", "TIME_WAIT", "RFC 9293 §3.10.7.4: FIN received, 2MSL timer started"),
		send(20500, "A", lastA),
		{T: us(21000), Host: "net", Kind: KindDrop, Src: "A", Dst: "B", Seg: sg(lastA)},
		send(220000, "B", finB), // RTO: FIN retransmitted
		recv(220500, "A", finB),
		send(220500, "A", lastA),
		recv(221000, "B", lastA),
		st(221000, "B", "LAST_ACK", "CLOSED", "RFC 9293 §3.10.7.4: our FIN is ACKed"),
		st(60220500, "A", "TIME_WAIT", "CLOSED", "RFC 9293 §3.10.8: 2MSL timeout"),
	}
}

func ladderString(t *testing.T, evs []Event, left, right string) string {
	t.Helper()
	var b bytes.Buffer
	if err := WriteLadder(&b, evs, left, right); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestLadderGolden(t *testing.T) {
	got := ladderString(t, fourWayCloseLostACK(), "A", "B")
	path := filepath.Join("testdata", "four_way_close_lost_ack.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./trace -run TestLadderGolden -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("ladder differs from %s (rerun with -update if the change is intended)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// arrowLines returns the lines of a ladder that draw a segment.
func arrowLines(out string) []string {
	var lines []string
	for _, ln := range strings.Split(out, "\n") {
		if strings.Contains(ln, "--") {
			lines = append(lines, ln)
		}
	}
	return lines
}

func TestLadderEverySendOnce(t *testing.T) {
	evs := fourWayCloseLostACK()
	out := ladderString(t, evs, "A", "B")
	arrows := arrowLines(out)
	var sends []Event
	for _, e := range evs {
		if e.Kind == KindSend {
			sends = append(sends, e)
		}
	}
	if len(arrows) != len(sends) {
		t.Fatalf("%d arrows for %d sends:\n%s", len(arrows), len(sends), out)
	}
	// In time order, the i-th arrow is the i-th send, pointing the right way.
	for i, s := range sends {
		ln := arrows[i]
		if !strings.Contains(ln, s.SegText()) {
			t.Errorf("arrow %d %q does not carry %q", i, ln, s.SegText())
		}
		if want := strings.TrimSuffix(s.T.String(), "s"); !strings.HasPrefix(strings.TrimSpace(ln), want+" ") {
			t.Errorf("arrow %d %q not at send time %s", i, ln, want)
		}
		rightward := strings.Contains(ln, ">|") || strings.Contains(ln, "-X ")
		if rightward != (s.Host == "A") {
			t.Errorf("arrow %d %q points the wrong way for a send by %s", i, ln, s.Host)
		}
	}
	// The recv events do not add lines of their own.
	if n := strings.Count(out, "(arrives +"); n != len(sends)-1 {
		t.Errorf("%d arrivals, want %d", n, len(sends)-1)
	}
}

func TestLadderDropShowsX(t *testing.T) {
	out := ladderString(t, fourWayCloseLostACK(), "A", "B")
	var lost []string
	for _, ln := range strings.Split(out, "\n") {
		if strings.Contains(ln, "(lost)") {
			lost = append(lost, ln)
		}
	}
	if len(lost) != 1 {
		t.Fatalf("want one lost segment, got %d:\n%s", len(lost), out)
	}
	ln := lost[0]
	if !strings.Contains(ln, ". 7:7(0) ack 2 win 512") || !strings.Contains(ln, "-X") {
		t.Errorf("lost line %q lacks the segment or the X", ln)
	}
	if strings.Contains(ln, ">|") {
		t.Errorf("lost arrow %q reaches the far timeline", ln)
	}
	// The X stops short of B's timeline: blanks between it and the "|".
	if !strings.HasSuffix(ln, "X"+strings.Repeat(" ", lostShort)+"|") {
		t.Errorf("lost arrow %q does not end %d columns short", ln, lostShort)
	}
}

func TestLadderLostLeftward(t *testing.T) {
	evs := []Event{
		{T: 0, Host: "B", Kind: KindSend, Seg: sg("F. 1:1(0) ack 2 win 512")},
		{T: us(500), Host: "net", Kind: KindDrop, Src: "B", Dst: "A", Seg: sg("F. 1:1(0) ack 2 win 512")},
	}
	out := ladderString(t, evs, "A", "B")
	lines := arrowLines(out)
	if len(lines) != 1 {
		t.Fatalf("want 1 arrow:\n%s", out)
	}
	want := "|" + strings.Repeat(" ", lostShort) + "X-"
	if !strings.Contains(lines[0], want) || !strings.Contains(lines[0], "(lost)") {
		t.Errorf("leftward lost arrow %q, want it to start %q and say lost", lines[0], want)
	}
}

func TestLadderShape(t *testing.T) {
	out := ladderString(t, fourWayCloseLostACK(), "A", "B")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if !strings.HasPrefix(lines[0], "      t(s)  A") || !strings.HasSuffix(lines[0], "B") {
		t.Errorf("header %q", lines[0])
	}
	full := ladderWidth
	for _, ln := range lines[1:] {
		if w := utf8.RuneCountInString(ln); w != full {
			t.Errorf("line is %d columns, want %d: %q", w, full, ln)
		}
		if w := utf8.RuneCountInString(ln); w > 100 {
			t.Errorf("line wider than 100 columns: %q", ln)
		}
	}
	if !strings.Contains(out, "~~~ 60.000 s pass ~~~") {
		t.Errorf("TIME_WAIT gap not compressed:\n%s", out)
	}
	if strings.Count(out, "~~~") != 2 {
		t.Errorf("want exactly one gap line (the 0.2 s RTO is not idle enough):\n%s", out)
	}
	for _, want := range []string{
		"| ESTABLISHED -> FIN_WAIT_1  close() called",
		"CLOSE_WAIT -> LAST_ACK  close() called |",
		"| close() = 0",
		"read() = EOF |",
		"(arrives +0.5ms)",
		"| TIME_WAIT -> CLOSED  RFC 9293 §3.10.8: 2MSL timeout",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("ladder lacks %q:\n%s", want, out)
		}
	}
}

func TestLadderUnmatched(t *testing.T) {
	evs := []Event{
		{T: 0, Host: "A", Kind: KindSend, Seg: sg("S 0:0(0) win 100")},                     // never arrives
		{T: us(10), Host: "A", Kind: KindRecv, Seg: sg("R 0:0(0) win 0")},                  // no send traced
		{T: us(20), Host: "net", Kind: KindDrop, Src: "A", Dst: "B", Seg: sg("P. 1:2(1)")}, // no send traced
		{T: us(30), Host: "net", Kind: KindDrop, Src: "C", Dst: "D", Seg: sg("S 0:0(0)")},  // other hosts
		{T: us(40), Host: "C", Kind: KindSend, Seg: sg("S 0:0(0)")},                        // other host
		{T: us(50), Host: "net", Kind: KindDrop, Seg: sg("F 1:1(0)")},                      // direction unknown
		{T: us(60), Host: "A", Kind: "mystery"},
	}
	out := ladderString(t, evs, "A", "B")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("want header + 4 lines, got:\n%s", out)
	}
	checks := []struct{ has []string }{
		{[]string{"S 0:0(0) win 100", "(not received)", ">|"}},
		{[]string{"R 0:0(0) win 0", "(send not traced)", "|<-"}},
		{[]string{"P. 1:2(1)", "(lost) (send not traced)", "-X "}},
		{[]string{"X F 1:1(0)", "(lost)"}},
	}
	for i, c := range checks {
		for _, h := range c.has {
			if !strings.Contains(lines[i+1], h) {
				t.Errorf("line %d %q lacks %q", i+1, lines[i+1], h)
			}
		}
	}
}

func TestLadderRetransmitFIFO(t *testing.T) {
	seg := ". 7:7(0) ack 2 win 512"
	evs := []Event{
		{T: 0, Host: "A", Kind: KindSend, Seg: sg(seg)},
		{T: us(100), Host: "net", Kind: KindDrop, Src: "A", Dst: "B", Seg: sg(seg)},
		{T: us(1000), Host: "A", Kind: KindSend, Seg: sg(seg)},
		{T: us(1300), Host: "B", Kind: KindRecv, Seg: sg(seg)},
	}
	lines := arrowLines(ladderString(t, evs, "A", "B"))
	if len(lines) != 2 || !strings.Contains(lines[0], "(lost)") || !strings.Contains(lines[1], "(arrives +0.3ms)") {
		t.Errorf("retransmission pairing wrong:\n%s", strings.Join(lines, "\n"))
	}
}

func TestLadderTruncates(t *testing.T) {
	long := "S 0:0(0) win 65535 <mss 1460,sackOK,TS val 4294967295 ecr 4294967295,wscale 14,sack 1:2 3:4 5:6>"
	evs := []Event{
		{T: 0, Host: "A", Kind: KindState, From: tcp.SynSent, To: tcp.Established,
			Why: "RFC 9293 §3.10.7.3: " + strings.Repeat("a very long explanation ", 5)},
		{T: 0, Host: "A", Kind: KindSend, Seg: sg(long)},
		{T: 0, Host: "net", Kind: KindDrop, Src: "A", Dst: "B", Seg: sg(long)},
	}
	out := ladderString(t, evs, "A", "B")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if strings.Contains(lines[1], "RFC") || !strings.HasSuffix(lines[1], "… |") {
		t.Errorf("long reason not shortened: %q", lines[1])
	}
	if !strings.Contains(lines[2], "…  (lost)") {
		t.Errorf("long label not cut before its suffix: %q", lines[2])
	}
	for _, ln := range lines[1:] {
		if utf8.RuneCountInString(ln) != ladderWidth {
			t.Errorf("line overflows: %q", ln)
		}
	}
}

func TestLadderWriteError(t *testing.T) {
	if err := WriteLadder(failWriter{}, fourWayCloseLostACK(), "A", "B"); err == nil {
		t.Error("write error not reported")
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

func TestLadderHostDropAndBareNotes(t *testing.T) {
	evs := []Event{
		{T: 0, Host: "B", Kind: KindState, To: tcp.Listen},
		{T: 0, Host: "A", Kind: KindState, From: tcp.Closed, To: tcp.SynSent},
		{T: 0, Host: "A", Kind: KindApp, Call: "shutdown(SHUT_WR)"},
		{T: 0, Host: "A", Kind: KindSend, Seg: sg("S 0:0(0) win 1")},
		{T: us(2), Host: "B", Kind: KindDrop, Src: "A", Dst: "B", Seg: sg("S 0:0(0) win 1")},
	}
	out := ladderString(t, evs, "A", "B")
	for _, want := range []string{
		"-> LISTEN |",
		"| CLOSED -> SYN_SENT  ",
		"| shutdown(SHUT_WR)  ",
		"S 0:0(0) win 1  (dropped by B) ---",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("ladder lacks %q:\n%s", want, out)
		}
	}
}
