package explain

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/link/pcap"
	"github.com/tcpwave/tcpwave/scenario"
	"github.com/tcpwave/tcpwave/trace"
)

// capture runs scenario s with the catalog's parameters and returns its
// pcap (as `tcpwave scenario run NAME --pcap FILE` writes it) and its run.
func capture(t testing.TB, s *scenario.Scenario) ([]byte, *scenario.Run) {
	t.Helper()
	var buf bytes.Buffer
	w, err := pcap.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	p := scenario.DefaultParams()
	p.Tap = func(now clock.Instant, pkt []byte) { w.WritePacket(now, pkt) }
	r, err := s.Execute(p)
	if err != nil {
		t.Fatalf("scenario %s: %v", s.Name, err)
	}
	if err := w.Err(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), r
}

// traceConn is one connection incarnation as a scenario's trace tells it.
type traceConn struct {
	key    string      // "10.0.0.1:58556-10.0.0.2:80" (lower endpoint first)
	states [][]string  // by host A, B: the first From, then every To
	whys   [][]string  // by host: the reason of each change
	times  [][]float64 // by host: the time of each change, in seconds
}

// traceConns groups a run's state events by 4-tuple and incarnation, as
// scenario.Run.ConnStates does per host, and pairs both hosts' views.
func traceConns(r *scenario.Run) []*traceConn {
	var out []*traceConn
	type hk struct{ host, key string }
	cur := map[hk]int{}   // index into out of the host's current incarnation
	count := map[hk]int{} // incarnations the host has started on the key
	byKey := map[string][]*traceConn{}
	for _, e := range r.Rec.Events() {
		if e.Kind != trace.KindState || !e.Conn.Connected() || (e.Host != "A" && e.Host != "B") {
			continue
		}
		l, rm := e.Conn.Local.String(), e.Conn.Remote.String()
		key := l + "-" + rm
		if rm < l {
			key = rm + "-" + l
		}
		h := 0
		if e.Host == "B" {
			h = 1
		}
		k := hk{e.Host, key}
		i, ok := cur[k]
		if ok {
			st := out[i].states[h]
			if last := st[len(st)-1]; last != e.From.String() || last == "CLOSED" {
				ok = false
			}
		}
		if !ok {
			n := count[k]
			count[k]++
			if n < len(byKey[key]) {
				i = slices.Index(out, byKey[key][n])
			} else {
				tc := &traceConn{key: key, states: make([][]string, 2), whys: make([][]string, 2), times: make([][]float64, 2)}
				out = append(out, tc)
				byKey[key] = append(byKey[key], tc)
				i = len(out) - 1
			}
			cur[k] = i
			out[i].states[h] = []string{e.From.String()}
		}
		out[i].states[h] = append(out[i].states[h], e.To.String())
		out[i].whys[h] = append(out[i].whys[h], e.Why)
		out[i].times[h] = append(out[i].times[h], time.Duration(e.T).Seconds())
	}
	return out
}

var payloadLen = regexp.MustCompile(`\((\d+)\)`)

// expectedClose names the close kind the trace shows for tc, by the same
// definitions as Conn.Close but read from the scenario's own state changes
// and segments.
func expectedClose(r *scenario.Run, tc *traceConn) string {
	has := func(pred func(h int, i int) bool) bool {
		for h := 0; h < 2; h++ {
			for i := 1; i < len(tc.states[h]); i++ {
				if pred(h, i) {
					return true
				}
			}
		}
		return false
	}
	st := func(h, i int) (string, string) { return tc.states[h][i-1], tc.states[h][i] }
	switch {
	case has(func(h, i int) bool { _, to := st(h, i); return to == "CLOSING" }):
		return CloseSimultaneous
	case has(func(h, i int) bool { f, to := st(h, i); return f == "FIN_WAIT_1" && to == "TIME_WAIT" }):
		return CloseThreeWay
	case has(func(h, i int) bool { return strings.HasPrefix(tc.whys[h][i-1], "our FIN is ACKed in LAST_ACK") }):
		// Half-close: the second closer sent data between the two FINs.
		var first, second float64 = -1, -1
		var host string
		for h := 0; h < 2; h++ {
			for i := 1; i < len(tc.states[h]); i++ {
				switch tc.states[h][i] {
				case "FIN_WAIT_1":
					first = tc.times[h][i-1]
				case "LAST_ACK":
					second, host = tc.times[h][i-1], string(rune('A'+h))
				}
			}
		}
		for _, e := range r.Rec.Events() {
			if e.Kind != trace.KindSend || e.Host != host || time.Duration(e.T).Seconds() <= first || time.Duration(e.T).Seconds() >= second {
				continue
			}
			if m := payloadLen.FindStringSubmatch(e.SegText()); m != nil && m[1] != "0" {
				return CloseHalf
			}
		}
		return CloseFourWay
	case has(func(h, i int) bool { return strings.Contains(tc.whys[h][i-1], "connection refused") }) && tc.states[1] == nil:
		return CloseRefused
	case has(func(h, i int) bool { return strings.Contains(tc.whys[h][i-1], "RST") }):
		return CloseRST
	case has(func(h, i int) bool {
		f, to := st(h, i)
		return to == "FIN_WAIT_1" || to == "CLOSE_WAIT" || f == "FIN_WAIT_1"
	}):
		return CloseHalfOpen
	}
	return CloseOpen
}

// explainedStates returns side s's state sequence as the trace writes it.
func explainedStates(c *Conn, s Side) []string {
	tr := c.States[s]
	if len(tr) == 0 {
		return nil
	}
	out := []string{tr[0].From.String()}
	for _, x := range tr {
		out = append(out, x.To.String())
	}
	return out
}

// TestRoundTrip: every scenario's capture, explained, gives each host the
// state sequence its own trace recorded, with the same reasons, and the
// close kind the trace shows.
func TestRoundTrip(t *testing.T) {
	for _, s := range scenario.Catalog() {
		t.Run(s.Name, func(t *testing.T) {
			data, run := capture(t, s)
			var conns []*Conn
			if _, err := Explain(bytes.NewReader(data), Options{}, func(c *Conn) { conns = append(conns, c) }); err != nil {
				t.Fatal(err)
			}
			want := traceConns(run)
			got := map[string][]*Conn{}
			mid := 0
			for _, c := range conns {
				if c.MidStream {
					mid++
					continue
				}
				key := c.Addr[0].String() + "-" + c.Addr[1].String()
				if c.Addr[1].String() < c.Addr[0].String() {
					key = c.Addr[1].String() + "-" + c.Addr[0].String()
				}
				got[key] = append(got[key], c)
			}
			if mid > 0 && s.Name != "rst-closed-port" {
				t.Errorf("%d connections explained as mid-stream", mid)
			}
			seen := map[string]int{}
			for _, tc := range want {
				n := seen[tc.key]
				seen[tc.key]++
				if n >= len(got[tc.key]) {
					t.Errorf("%s incarnation %d: not explained (trace A %v, B %v)", tc.key, n+1, tc.states[0], tc.states[1])
					continue
				}
				c := got[tc.key][n]
				for h := 0; h < 2; h++ {
					host := "AB"[h : h+1]
					side := Client
					if c.Addr[Server].Addr().String() == [...]string{"10.0.0.1", "10.0.0.2"}[h] {
						side = Server
					}
					gs := explainedStates(c, side)
					if !slices.Equal(gs, tc.states[h]) {
						t.Errorf("%s #%d host %s: states\n got  %v\n want %v\n%s", tc.key, n+1, host, gs, tc.states[h], dump(c))
						continue
					}
					for i, tr := range c.States[side] {
						if tr.Why != tc.whys[h][i] {
							t.Errorf("%s #%d host %s: %v->%v why\n got  %q\n want %q", tc.key, n+1, host, tr.From, tr.To, tr.Why, tc.whys[h][i])
						}
					}
				}
				if k := expectedClose(run, tc); c.Close != k {
					t.Errorf("%s #%d: close kind %q, the trace shows %q\n%s", tc.key, n+1, c.Close, k, dump(c))
				}
			}
			for _, w := range wantFindings[s.Name] {
				found := false
				for _, c := range conns {
					for _, f := range c.Findings {
						found = found || f.Kind == w.kind && strings.Contains(f.Text, w.text)
					}
				}
				if !found {
					t.Errorf("no %s finding saying %q", w.kind, w.text)
				}
			}
			for key, cs := range got {
				if len(cs) > seen[key] {
					t.Errorf("%s: %d incarnations explained, the trace has %d", key, len(cs), seen[key])
				}
			}
		})
	}
}

// wantFindings are the findings each scenario's capture must give (a kind
// and a part of its sentence).
var wantFindings = map[string][]struct{ kind, text string }{
	"four-way-close":        {{"time-wait", "10.0.0.1:58556 closed first and holds TIME_WAIT for 1m0s"}},
	"server-active-close":   {{"time-wait", "10.0.0.2:80 closed first and holds TIME_WAIT"}},
	"time-wait-blocks-bind": {{"time-wait", "10.0.0.2:80 closed first"}},
	"simultaneous-close":    {{"time-wait", "10.0.0.1:58556"}, {"time-wait", "10.0.0.2:80 holds TIME_WAIT"}},
	"half-close":            {{"half-close", "10.0.0.2:80 went on sending 10 bytes for 1.001s before its own FIN"}},
	"close-then-data":       {{"rst", "TCPAbortOnData"}, {"half-close", "9 bytes after it"}},
	"lost-fin-1":            {{"fin-retransmitted", "its FIN 10 times: the FIN was lost"}, {"orphan-retries", "gave up"}},
	"lost-ack-2":            {{"fin-retransmitted", "the peer's ACK at 1.000500s was lost beyond the capture point"}, {"dup-fin", "in CLOSE_WAIT ACKed the retransmitted FIN"}},
	"lost-fin-3":            {{"fin-retransmitted", "10.0.0.2:80 sent its FIN 2 times: the FIN was lost"}},
	"lost-ack-4":            {{"fin-retransmitted", "the peer's ACK at 2.001000s was lost"}, {"time-wait-reack", "restarted"}, {"time-wait", "until 62.201500s"}},
	"no-time-wait":          {{"no-time-wait", "retransmitted FIN drew RST"}},
	"fin-wait-2-timeout":    {{"fin-wait-2-timeout", "left FIN_WAIT_2 after 1m0s"}},
	"time-wait-reuse":       {{"reuse", "its ISN is higher (RFC 6191)"}},
	"old-duplicate":         {{"reuse", "within 2MSL"}, {"time-wait-ack", "answered the new SYN with an ACK"}, {"time-wait-assassination", "RFC 1337"}},
	"close-with-unread":     {{"rst", "close() with unread data"}},
	"linger-zero":           {{"rst", "SO_LINGER"}},
	"rst-closed-port":       {{"refused", "nothing listens"}, {"rst", "does not have"}},
}

// dump describes c for a failure message.
func dump(c *Conn) string {
	var b strings.Builder
	for _, g := range c.Segments {
		fmt.Fprintf(&b, "   %s %s %s %d:%d(%d) ack %d\n", strconv.FormatFloat(g.T.Seconds(), 'f', 6, 64), g.From, g.Flags, g.Seq, g.Seq+uint32(g.Len), g.Len, g.Ack)
	}
	for s := Client; s <= Server; s++ {
		for _, tr := range c.States[s] {
			fmt.Fprintf(&b, "   %s %s %v->%v %s %s\n", strconv.FormatFloat(tr.T.Seconds(), 'f', 6, 64), s, tr.From, tr.To, tr.Why, tr.Uncertain)
		}
	}
	for _, f := range c.Findings {
		fmt.Fprintf(&b, "   finding %s: %s\n", f.Kind, f.Text)
	}
	return b.String()
}

// TestReuse: reusing connection records (Options.Reuse) changes nothing
// in what is handed over, for every scenario and for a capture of many
// connections.
func TestReuse(t *testing.T) {
	var inputs [][]byte
	for _, s := range scenario.Catalog() {
		data, _ := capture(t, s)
		inputs = append(inputs, data)
	}
	var many bytes.Buffer
	if _, err := genShort(&many, 3000); err != nil {
		t.Fatal(err)
	}
	inputs = append(inputs, many.Bytes())
	for i, data := range inputs {
		var out [2][]string
		for k, reuse := range []bool{false, true} {
			_, err := Explain(bytes.NewReader(data), Options{Reuse: reuse, Linger: 500 * time.Millisecond, Idle: 2 * time.Second}, func(c *Conn) {
				b, err := c.MarshalJSON()
				if err != nil {
					t.Fatal(err)
				}
				out[k] = append(out[k], string(b))
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		if !slices.Equal(out[0], out[1]) {
			t.Errorf("input %d: with Reuse\n%q\nwithout\n%q", i, out[1], out[0])
		}
	}
}
