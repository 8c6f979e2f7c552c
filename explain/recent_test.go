package explain

import (
	"bytes"
	"math"
	"net/netip"
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
// TIME_WAIT expired. MaxHeld and MaxRecent at 1 are enough for one; with
// both negative, a connection handed over is forgotten and its reuse
// cannot be told.
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
		name      string
		gap       time.Duration // after TIME_WAIT began
		maxHeld   int
		maxRecent int
		reuse     bool
	}{
		{"held 10s", 10 * time.Second, 0, 0, true},
		{"held 30s", 30 * time.Second, 0, 0, true},
		{"remembered 10s", 10 * time.Second, -1, 0, true},
		{"remembered 30s", 30 * time.Second, -1, 0, true},
		{"held after 2MSL", 70 * time.Second, 0, 0, false},
		{"remembered after 2MSL", 70 * time.Second, -1, 0, false},
		{"held, MaxHeld 1", 10 * time.Second, 1, -1, true},
		{"remembered, MaxRecent 1", 10 * time.Second, -1, 1, true},
		{"neither held nor remembered", 10 * time.Second, -1, -1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := timedFile(t, append(slices.Clone(old), again(entered+tc.gap)...))
			var conns []*Conn
			_, err := Explain(bytes.NewReader(data), Options{Linger: 5 * time.Second, MaxHeld: tc.maxHeld, MaxRecent: tc.maxRecent}, func(c *Conn) { conns = append(conns, c) })
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
			case tc.gap >= 60*time.Second: // the first packet after 2MSL hands it over: TIME_WAIT expired in the capture
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

// TestRecentBounded: the 4-tuples remembered in TIME_WAIT never number
// more than MaxRecent, the oldest are forgotten first, and each is
// forgotten once its TIME_WAIT is over; MaxHeld bounds the connections
// held back, the longest held handed over first.
func TestRecentBounded(t *testing.T) {
	const max = 100
	s := newRecentSet(max)
	key := func(i int) connKey {
		return keyOf(netip.AddrPortFrom(dc.Addr(), uint16(1024+i)), ds)
	}
	for i := range 1000 {
		k := key(i)
		s.add(recentTW{hash: s.hash(&k), id: i, holds: [2]bool{true, false}, twEnd: [2]time.Duration{time.Duration(1000+i) * time.Second}})
		if s.n > max || len(s.index) > max || len(s.buf) > max {
			t.Fatalf("after %d records: %d kept, %d indexed, a ring of %d", i+1, s.n, len(s.index), len(s.buf))
		}
	}
	if _, ok := s.take(key(899), 0); ok {
		t.Errorf("record 899 of 1000 is remembered, MaxRecent %d", max)
	}
	r, ok := s.take(key(900), 0)
	if !ok || r.id != 900 {
		t.Errorf("record 900 of 1000: %v %+v", ok, r)
	}
	if _, ok := s.take(key(900), 0); ok {
		t.Errorf("record 900 taken twice")
	}
	if _, ok := s.take(key(950), 1950*time.Second); ok {
		t.Errorf("record 950 is taken after its TIME_WAIT")
	}
	s.expire(1949 * time.Second)
	if s.n != 50 {
		t.Errorf("%d records kept before 1949 s, want 50", s.n)
	}
	s.expire(2000 * time.Second)
	if s.n != 0 || len(s.index) != 0 {
		t.Errorf("%d records kept (%d indexed) after every TIME_WAIT", s.n, len(s.index))
	}

	// MaxHeld 10: 50 connections closed one a second, all in TIME_WAIT.
	a := NewAnalyzer(Options{MaxHeld: 10}, func(*Conn) {})
	for i := range 50 {
		for _, ts := range append(slices.Clone(handshake3),
			tseg{100 * time.Millisecond, seg{false, wire.FIN | wire.ACK, 1, 1, 0}, 1000},
			tseg{101 * time.Millisecond, seg{true, wire.FIN | wire.ACK, 1, 2, 0}, 1000},
			tseg{102 * time.Millisecond, seg{false, wire.ACK, 2, 2, 0}, 1000},
		) {
			cli := netip.AddrPortFrom(dc.Addr(), uint16(1024+i))
			p := Packet{T: time.Unix(0, 0).Add(time.Duration(i)*time.Second + ts.at), Src: cli, Dst: ds,
				TCP: wire.TCPFields{SrcPort: cli.Port(), DstPort: ds.Port(), Seq: isnC + ts.seq, Ack: isnS + ts.ack, Flags: ts.flags, Window: 1000}}
			if !ts.fromClient {
				p.Src, p.Dst = ds, cli
				p.TCP.SrcPort, p.TCP.DstPort = ds.Port(), cli.Port()
				p.TCP.Seq, p.TCP.Ack = isnS+ts.seq, isnC+ts.ack
			}
			if !ts.flags.Has(wire.ACK) {
				p.TCP.Ack = 0
			}
			a.Add(&p)
			if a.held.Len() > 10 {
				t.Fatalf("%d connections held, MaxHeld 10", a.held.Len())
			}
		}
	}
	// At 49.102 s, the last packet, connections 0 to 43 have been quiet
	// for more than Linger (5 s): the last 10 of them are held.
	if a.held.Len() != 10 || a.recent.n != 44-10 || a.closing.Len() != 6 {
		t.Errorf("%d held, %d remembered, %d closing; want 10, 34, 6", a.held.Len(), a.recent.n, a.closing.Len())
	}
}

// TestReuseRefusedAfterHandOver: the new SYN on a 4-tuple whose server
// holds TIME_WAIT, its connection handed over and remembered, has a lower
// ISN (and no timestamps): the server answers from TIME_WAIT with an ACK
// for the old connection, the client resets it and sends its SYN again,
// which the server then takes. The ACK and the RST are the old
// connection's: the new row tells them but does not count them.
func TestReuseRefusedAfterHandOver(t *testing.T) {
	const ms = time.Millisecond
	at := 10 * time.Second
	low := ^uint32(999) // -1000: below the old client's sequence numbers
	conv := append(slices.Clone(handshake3),
		tseg{100 * ms, seg{false, wire.FIN | wire.ACK, 1, 1, 0}, 1000},
		tseg{101 * ms, seg{true, wire.ACK, 1, 2, 0}, 1000},
		tseg{102 * ms, seg{true, wire.FIN | wire.ACK, 1, 2, 0}, 1000},
		tseg{103 * ms, seg{false, wire.ACK, 2, 2, 0}, 1000},
		tseg{at, seg{true, wire.SYN, low, 0, 0}, 1000},
		tseg{at + ms, seg{false, wire.ACK, 2, 2, 0}, 1000},
		tseg{at + 2*ms, seg{true, wire.RST, 2, 0, 0}, 0},
		tseg{at + time.Second, seg{true, wire.SYN, low, 0, 0}, 1000},
		tseg{at + time.Second + ms, seg{false, wire.SYN | wire.ACK, 200000, low + 1, 0}, 1000},
		tseg{at + time.Second + 2*ms, seg{true, wire.ACK, low + 1, 200001, 0}, 1000},
	)
	var conns []*Conn
	if _, err := Explain(bytes.NewReader(timedFile(t, conv)), Options{MaxHeld: -1}, func(c *Conn) { conns = append(conns, c) }); err != nil {
		t.Fatal(err)
	}
	if len(conns) != 2 {
		t.Fatalf("%d connections, want 2", len(conns))
	}
	n := conns[1]
	for _, want := range []string{"reuse:its ISN is not higher (and no timestamps to compare)", "time-wait-ack:answered the new SYN with an ACK"} {
		kind, text, _ := strings.Cut(want, ":")
		if !slices.ContainsFunc(n.Findings, func(f Finding) bool { return f.Kind == kind && strings.Contains(f.Text, text) }) {
			t.Errorf("no %s finding saying %q\n%s", kind, text, dump(n))
		}
	}
	if n.Incarnation != 2 || n.Sent[Server].Packets != 1 || n.Sent[Client].Packets != 3 || n.Sent[Client].RSTs != 0 {
		t.Errorf("incarnation %d, segments %d from the client (%d RSTs), %d from the server; want 2, 3 (0), 1\n%s",
			n.Incarnation, n.Sent[Client].Packets, n.Sent[Client].RSTs, n.Sent[Server].Packets, dump(n))
	}
	if n.Final != [2]tcp.State{tcp.Established, tcp.Established} || n.Close != CloseOpen {
		t.Errorf("final %v, close %s: want both ESTABLISHED, open\n%s", n.Final, n.Close, dump(n))
	}
}

// TestLimitsAtEdges: Linger, MaxHeld and MaxRecent at 0 and negative
// explain a capture as the defaults do (0 is the default; a negative
// Linger is one too, a negative MaxHeld or MaxRecent keeps none), and at
// 1 and their largest values tell a reuse of a 4-tuple in TIME_WAIT
// without a panic or an overflow: the old connection's FIN sent again
// 1 s after the close, the new SYN 10 s after. A connection held back
// still takes its late segments, so any Linger explains it alike; only
// one neither held nor remembered loses the reuse.
func TestLimitsAtEdges(t *testing.T) {
	const ms = time.Millisecond
	conv := append(slices.Clone(handshake3),
		tseg{100 * ms, seg{false, wire.FIN | wire.ACK, 1, 1, 0}, 1000},
		tseg{101 * ms, seg{true, wire.ACK, 1, 2, 0}, 1000},
		tseg{102 * ms, seg{true, wire.FIN | wire.ACK, 1, 2, 0}, 1000},
		tseg{103 * ms, seg{false, wire.ACK, 2, 2, 0}, 1000},
		tseg{1102 * ms, seg{true, wire.FIN | wire.ACK, 1, 2, 0}, 1000},
		tseg{1103 * ms, seg{false, wire.ACK, 2, 2, 0}, 1000},
		tseg{10 * time.Second, seg{true, wire.SYN, 100000, 0, 0}, 1000},
		tseg{10*time.Second + ms, seg{false, wire.SYN | wire.ACK, 200000, 100001, 0}, 1000},
		tseg{10*time.Second + 2*ms, seg{true, wire.ACK, 100001, 200001, 0}, 1000})
	data := timedFile(t, conv)
	run := func(opt Options) string {
		t.Helper()
		var out strings.Builder
		n := 0
		if _, err := Explain(bytes.NewReader(data), opt, func(c *Conn) {
			n++
			if msg := statesInOrder(c); msg != "" {
				t.Error(msg)
			}
			out.WriteString(dump(c))
		}); err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Errorf("%+v: %d connections, want 2\n%s", opt, n, out.String())
		}
		return out.String()
	}
	defaults := run(Options{})
	for _, tc := range []struct {
		name string
		opt  Options
		same bool // as the defaults
	}{
		{"Linger 0", Options{Linger: 0}, true},
		{"Linger -1", Options{Linger: -1}, true},
		{"Linger 1ns", Options{Linger: 1}, true},
		{"Linger largest", Options{Linger: math.MaxInt64}, true},
		{"MaxHeld 0", Options{MaxHeld: 0}, true},
		{"MaxHeld 1", Options{MaxHeld: 1}, true},
		{"MaxHeld -1", Options{MaxHeld: -1}, false},
		{"MaxHeld largest", Options{MaxHeld: math.MaxInt}, true},
		{"MaxRecent 0", Options{MaxRecent: 0}, true},
		{"MaxRecent -1", Options{MaxRecent: -1}, true},
		{"MaxRecent 1", Options{MaxRecent: 1}, true},
		{"MaxRecent largest", Options{MaxRecent: math.MaxInt}, true},
		{"all at 1", Options{Linger: 1, MaxHeld: 1, MaxRecent: 1}, true},
		{"none held or remembered", Options{MaxHeld: -1, MaxRecent: -1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := run(tc.opt)
			if (got == defaults) != tc.same {
				t.Errorf("same as the defaults: %v, want %v\ndefaults:\n%s\ngot:\n%s", got == defaults, tc.same, defaults, got)
			}
			reuse := strings.Contains(got, "reuse")
			if want := tc.name != "none held or remembered"; reuse != want {
				t.Errorf("a reuse told: %v, want %v\n%s", reuse, want, got)
			}
		})
	}
}
