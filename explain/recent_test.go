package explain

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/tcp"
	"github.com/tcpwave/tcpwave/wire"
)

// TestReuseAfterHandOver: the server closes first and holds TIME_WAIT
// from 102 ms; the client opens the same 4-tuple again with a higher ISN
// 10 s or 30 s later, after the old connection was over and quiet for
// Linger (5 s). Whether the old connection is still held back (MaxHeld)
// or already handed over and only remembered (MaxHeld -1), the reuse is
// told; held, the old row says its TIME_WAIT was cut short by the new
// SYN (RFC 6191); handed over, it says TIME_WAIT's end was projected,
// and the new row names it. A new SYN after 2MSL is no reuse: the old
// TIME_WAIT expired.
func TestReuseAfterHandOver(t *testing.T) {
	const ms = time.Millisecond
	entered := 102 * ms // the server's TIME_WAIT: the client's FIN, seen
	old := append(slices.Clone(handshake3),
		tseg{100 * ms, seg{false, wire.FIN | wire.ACK, 1, 1, 0}, 1000},
		tseg{101 * ms, seg{true, wire.ACK, 1, 2, 0}, 1000},
		tseg{102 * ms, seg{true, wire.FIN | wire.ACK, 1, 2, 0}, 1000},
		tseg{103 * ms, seg{false, wire.ACK, 2, 2, 0}, 1000},
	)
	again := func(at time.Duration) []tseg {
		return []tseg{
			{at, seg{true, wire.SYN, 100000, 0, 0}, 1000},
			{at + ms, seg{false, wire.SYN | wire.ACK, 200000, 100001, 0}, 1000},
			{at + 2*ms, seg{true, wire.ACK, 100001, 200001, 0}, 1000},
		}
	}
	for _, tc := range []struct {
		name    string
		gap     time.Duration // after TIME_WAIT began
		maxHeld int
		reuse   bool
	}{
		{"held 10s", 10 * time.Second, 0, true},
		{"held 30s", 30 * time.Second, 0, true},
		{"remembered 10s", 10 * time.Second, -1, true},
		{"remembered 30s", 30 * time.Second, -1, true},
		{"held after 2MSL", 70 * time.Second, 0, false},
		{"remembered after 2MSL", 70 * time.Second, -1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := timedFile(t, append(slices.Clone(old), again(entered+tc.gap)...))
			var conns []*Conn
			_, err := Explain(bytes.NewReader(data), Options{Linger: 5 * time.Second, MaxHeld: tc.maxHeld}, func(c *Conn) { conns = append(conns, c) })
			if err != nil {
				t.Fatal(err)
			}
			if len(conns) != 2 {
				t.Fatalf("%d connections, want 2", len(conns))
			}
			o, n := conns[0], conns[1]
			if o.ID > n.ID {
				o, n = n, o
			}
			reuseIn := func(c *Conn, text string) bool {
				return slices.ContainsFunc(c.Findings, func(f Finding) bool {
					return f.Kind == "reuse" && strings.Contains(f.Text, text)
				})
			}
			held := tc.maxHeld >= 0
			want := "a new SYN came " + tc.gap.String() + " after " + ds.String() + " entered TIME_WAIT"
			if got := reuseIn(o, want) || reuseIn(n, want); got != tc.reuse {
				t.Errorf("reuse finding %q: %v, want %v\nold:\n%s\nnew:\n%s", want, got, tc.reuse, dump(o), dump(n))
			}
			if tc.reuse && held && !reuseIn(o, "its ISN is higher") {
				t.Errorf("the old row has no reuse finding\n%s", dump(o))
			}
			if tc.reuse && !held && !reuseIn(n, "in connection 1 (handed over before") {
				t.Errorf("the new row does not name the old connection\n%s", dump(n))
			}
			wantInc := 1
			if tc.reuse {
				wantInc = 2
			}
			if n.Incarnation != wantInc {
				t.Errorf("the new connection's incarnation %d, want %d", n.Incarnation, wantInc)
			}
			tr := o.States[Server]
			last := tr[len(tr)-1]
			switch {
			case tc.reuse && held:
				if o.Final[Server] != tcp.Closed || last.From != tcp.TimeWait || last.To != tcp.Closed ||
					!strings.Contains(last.Why, "RFC 6191") || last.T != entered+tc.gap || last.AfterCapture {
					t.Errorf("the server's final %v, last change %+v: want TIME_WAIT cut short by the SYN at %v\n%s", o.Final[Server], last, entered+tc.gap, dump(o))
				}
			case !tc.reuse: // the first packet after 2MSL hands it over: TIME_WAIT expired in the capture
				if o.Final[Server] != tcp.Closed || last.From != tcp.TimeWait || last.AfterCapture || last.T != entered+60*time.Second {
					t.Errorf("the server's final %v, last change %+v: want TIME_WAIT expired at %v\n%s", o.Final[Server], last, entered+60*time.Second, dump(o))
				}
			default: // handed over before the reuse: TIME_WAIT's end projected
				if o.Final[Server] != tcp.TimeWait || last.From != tcp.TimeWait || !last.AfterCapture || last.T != entered+60*time.Second {
					t.Errorf("the server's final %v, last change %+v: want TIME_WAIT, its end projected\n%s", o.Final[Server], last, dump(o))
				}
			}
			if msg := statesInOrder(o); msg != "" {
				t.Error(msg)
			}
		})
	}
}
