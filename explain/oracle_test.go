package explain

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/tcp"
	"github.com/tcpwave/tcpwave/wire"
)

// explainOne explains the capture of conv, which must hold one connection.
func explainOne(t *testing.T, conv []tseg) *Conn {
	t.Helper()
	conns, _, err := explainAll(t, timedFile(t, conv))
	if err != nil {
		t.Fatal(err)
	}
	if len(conns) != 1 {
		t.Fatalf("%d connections", len(conns))
	}
	return conns[0]
}

// TestRSTToFINForNoConnection: as TestLinuxMatrix's lost-fin-1 shows it
// from the server's end: the client's FINs were all lost before the
// capture point and it gave up (tcp_orphan_retries); the server's FIN,
// much later, draws "R" with no ACK and the seq of the FIN's ACK, the
// kernel's answer for no connection (tcp_v4_send_reset), not an abort
// (whose RST carries ACK). The client is explained as having lost the
// connection, not as aborting it.
func TestRSTToFINForNoConnection(t *testing.T) {
	const ms = time.Millisecond
	conv := append(slices.Clone(handshake3),
		tseg{3000 * ms, seg{false, wire.FIN | wire.ACK, 1, 1, 0}, 1000},
		tseg{3000*ms + 100*time.Microsecond, seg{true, wire.RST, 1, 0, 0}, 0})
	c := explainOne(t, conv)
	if c.Close != CloseRST || c.Final != [2]tcp.State{tcp.Closed, tcp.Closed} {
		t.Errorf("close %q, final %v; want rst, CLOSED CLOSED\n%s", c.Close, c.Final, dump(c))
	}
	tr := c.States[Client]
	if last := tr[len(tr)-1]; !strings.Contains(last.Why, "no connection") || last.Uncertain == "" {
		t.Errorf("the client's last change %v->%v %q (uncertain %q), want a RST for no connection, its time uncertain", last.From, last.To, last.Why, last.Uncertain)
	}
	if !slices.ContainsFunc(c.Findings, func(f Finding) bool {
		return f.Kind == "rst" && strings.Contains(f.Text, "192.0.2.10:50000 no longer had the connection when the peer's FIN came")
	}) {
		t.Errorf("no finding says the client no longer had the connection\n%s", dump(c))
	}
	if slices.ContainsFunc(c.Findings, func(f Finding) bool { return strings.Contains(f.Text, "aborted") }) {
		t.Errorf("a finding says the client aborted\n%s", dump(c))
	}
}

// TestCrossingFINsSeenFromTheMiddle: as TestLinuxMatrix's
// simultaneous-close shows it from the middle of the path: the client's
// FIN passes the capture point first, the server's FIN, which does not
// ACK it, 5 ms later; so the server sent its FIN before the client's
// reached it, and went to CLOSING only then. Each side's changes come in
// time order.
func TestCrossingFINsSeenFromTheMiddle(t *testing.T) {
	const ms = time.Millisecond
	conv := append(slices.Clone(handshake3),
		tseg{100 * ms, seg{true, wire.FIN | wire.ACK, 1, 1, 0}, 1000},
		tseg{105 * ms, seg{false, wire.FIN | wire.ACK, 1, 1, 0}, 1000},
		tseg{105*ms + 100*time.Microsecond, seg{true, wire.ACK, 2, 2, 0}, 1000},
		tseg{105*ms + 200*time.Microsecond, seg{false, wire.ACK, 2, 2, 0}, 1000})
	c := explainOne(t, conv)
	if c.Close != CloseSimultaneous {
		t.Errorf("close %q, want simultaneous\n%s", c.Close, dump(c))
	}
	for s := Client; s <= Server; s++ {
		tr := c.States[s]
		for i := 1; i < len(tr); i++ {
			if tr[i].T < tr[i-1].T {
				t.Errorf("%s: %v->%v at %v, before %v->%v at %v\n%s", s, tr[i].From, tr[i].To, tr[i].T, tr[i-1].From, tr[i-1].To, tr[i-1].T, dump(c))
			}
		}
	}
	for _, tr := range c.States[Server] {
		if tr.To == tcp.Closing && tr.T != 105*ms {
			t.Errorf("the server went to CLOSING at %v, want 105ms (when its own FIN passed)", tr.T)
		}
	}
}

// TestKeepaliveAnswersLost: as TestLinuxMatrix's keepalive-dead-peer shows
// it from the server's end: the client's probes come one interval apart
// though the server answers each, then the client resets the connection:
// the answers were lost beyond the capture point, and the RST is the
// keepalive giving up, not an abort.
func TestKeepaliveAnswersLost(t *testing.T) {
	const s, ms = time.Second, time.Millisecond
	conv := append(slices.Clone(handshake3),
		tseg{s, seg{true, wire.ACK, 0, 1, 0}, 1000},
		tseg{s + ms, seg{false, wire.ACK, 1, 1, 0}, 1000},
		tseg{1500 * ms, seg{true, wire.ACK, 0, 1, 0}, 1000}, // late, as a busy path delivers it
		tseg{1500*ms + ms, seg{false, wire.ACK, 1, 1, 0}, 1000},
		tseg{2500 * ms, seg{true, wire.RST | wire.ACK, 1, 1, 0}, 0})
	c := explainOne(t, conv)
	if c.Close != CloseRST || c.Final != [2]tcp.State{tcp.Closed, tcp.Closed} {
		t.Errorf("close %q, final %v; want rst, CLOSED CLOSED\n%s", c.Close, c.Final, dump(c))
	}
	if !slices.ContainsFunc(c.Findings, func(f Finding) bool {
		return f.Kind == "rst" && strings.Contains(f.Text, "after 2 unanswered keepalive probes") && strings.Contains(f.Text, "lost beyond the capture point")
	}) {
		t.Errorf("no finding says the keepalive gave up, its answers lost\n%s", dump(c))
	}
	if slices.ContainsFunc(c.Findings, func(f Finding) bool { return strings.Contains(f.Text, "SO_LINGER") }) {
		t.Errorf("a finding blames SO_LINGER\n%s", dump(c))
	}
}

// TestKeepaliveAnsweredThenAbort: probes answered, then a RST long after
// the last one (not one probe interval later) is the application's abort,
// not the keepalive giving up.
func TestKeepaliveAnsweredThenAbort(t *testing.T) {
	const s, ms = time.Second, time.Millisecond
	conv := append(slices.Clone(handshake3),
		tseg{s, seg{true, wire.ACK, 0, 1, 0}, 1000},
		tseg{s + ms, seg{false, wire.ACK, 1, 1, 0}, 1000},
		tseg{2 * s, seg{true, wire.ACK, 0, 1, 0}, 1000},
		tseg{2*s + ms, seg{false, wire.ACK, 1, 1, 0}, 1000},
		tseg{2*s + 300*ms, seg{true, wire.RST | wire.ACK, 1, 1, 0}, 0})
	c := explainOne(t, conv)
	if !slices.ContainsFunc(c.Findings, func(f Finding) bool { return strings.Contains(f.Text, "SO_LINGER") }) ||
		slices.ContainsFunc(c.Findings, func(f Finding) bool { return strings.Contains(f.Text, "unanswered keepalive") }) {
		t.Errorf("want an abort, not a keepalive timeout\n%s", dump(c))
	}
}

// TestFINSentAgainArrivalUncertain: as TestLinuxMatrix's lost-ack-2 shows
// it from the client's end: its FIN went twice and the server's ACK
// followed the second copy. The server may have had the first (its ACK of
// it lost) or only the second: its CLOSE_WAIT is dated at the second, and
// says the time cannot be told. Seen from the server's end, where its ACK
// of the first copy shows, the change is dated at the first, and certain.
func TestFINSentAgainArrivalUncertain(t *testing.T) {
	const ms = time.Millisecond
	for _, tc := range []struct {
		name      string
		conv      []tseg
		at        time.Duration
		uncertain bool
	}{
		{"at the client", append(slices.Clone(handshake3),
			tseg{100 * ms, seg{true, wire.FIN | wire.ACK, 1, 1, 0}, 1000},
			tseg{300 * ms, seg{true, wire.FIN | wire.ACK, 1, 1, 0}, 1000},
			tseg{301 * ms, seg{false, wire.ACK, 1, 2, 0}, 1000},
			tseg{500 * ms, seg{false, wire.FIN | wire.ACK, 1, 2, 0}, 1000},
			tseg{501 * ms, seg{true, wire.ACK, 2, 2, 0}, 1000}), 300 * ms, true},
		{"at the server", append(slices.Clone(handshake3),
			tseg{100 * ms, seg{true, wire.FIN | wire.ACK, 1, 1, 0}, 1000},
			tseg{101 * ms, seg{false, wire.ACK, 1, 2, 0}, 1000},
			tseg{300 * ms, seg{true, wire.FIN | wire.ACK, 1, 1, 0}, 1000},
			tseg{301 * ms, seg{false, wire.ACK, 1, 2, 0}, 1000},
			tseg{500 * ms, seg{false, wire.FIN | wire.ACK, 1, 2, 0}, 1000},
			tseg{501 * ms, seg{true, wire.ACK, 2, 2, 0}, 1000}), 100 * ms, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conns, _, err := explainAll(t, timedFile(t, tc.conv))
			if err != nil {
				t.Fatal(err)
			}
			c := conns[0]
			if c.Close != CloseFourWay {
				t.Errorf("close %q, want four-way\n%s", c.Close, dump(c))
			}
			i := slices.IndexFunc(c.States[Server], func(tr Transition) bool { return tr.To == tcp.CloseWait })
			if i < 0 {
				t.Fatalf("the server never went to CLOSE_WAIT\n%s", dump(c))
			}
			tr := c.States[Server][i]
			if tr.T != tc.at || strings.Contains(tr.Uncertain, "cannot be told") != tc.uncertain {
				t.Errorf("CLOSE_WAIT at %v, uncertain %q; want at %v, uncertain %v", tr.T, tr.Uncertain, tc.at, tc.uncertain)
			}
		})
	}
}

// TestRSTLostBeyondCapture: as TestLinuxMatrix's half-open-after-reboot
// shows it from the server's end: the server's abort sends "R." at the
// client's RCV.NXT, which would reset it, yet the client goes on sending:
// the RST was lost beyond the capture point (not ignored as out of
// window), and the server, with no connection left, answers the data with
// a RST for no connection.
func TestRSTLostBeyondCapture(t *testing.T) {
	const ms = time.Millisecond
	conv := append(slices.Clone(handshake3),
		tseg{100 * ms, seg{false, wire.RST | wire.ACK, 1, 1, 0}, 0},
		tseg{300 * ms, seg{true, wire.ACK | wire.PSH, 1, 1, 5}, 1000},
		tseg{300*ms + 100*time.Microsecond, seg{false, wire.RST, 1, 0, 0}, 0})
	c := explainOne(t, conv)
	if c.Close != CloseRST || c.Final != [2]tcp.State{tcp.Closed, tcp.Closed} {
		t.Errorf("close %q, final %v; want rst, CLOSED CLOSED\n%s", c.Close, c.Final, dump(c))
	}
	if !slices.ContainsFunc(c.Findings, func(f Finding) bool {
		return f.Kind == "rst" && strings.Contains(f.Text, "did not reach 192.0.2.10:50000: lost beyond the capture point")
	}) || slices.ContainsFunc(c.Findings, func(f Finding) bool { return f.Kind == "challenge-ack" }) {
		t.Errorf("want the RST lost beyond the capture point, not ignored\n%s", dump(c))
	}
}

// TestMidStreamFirstSegmentAnswersFIN: a capture that begins after the
// handshake (TestLinuxMatrix's capture at B, started late on a busy
// machine), in which the server's first segment is its ACK of the
// client's FIN: the server, assumed ESTABLISHED, goes to CLOSE_WAIT on
// that FIN, then LAST_ACK, as the kernel did.
func TestMidStreamFirstSegmentAnswersFIN(t *testing.T) {
	const ms = time.Millisecond
	conv := []tseg{
		{0, seg{true, wire.ACK, 1, 1, 0}, 1000},
		{500 * ms, seg{true, wire.FIN | wire.ACK, 1, 1, 0}, 1000},
		{501 * ms, seg{false, wire.ACK, 1, 2, 0}, 1000},
		{700 * ms, seg{false, wire.FIN | wire.ACK, 1, 2, 0}, 1000},
		{701 * ms, seg{true, wire.ACK, 2, 2, 0}, 1000},
	}
	c := explainOne(t, conv)
	if c.Close != CloseFourWay || c.Final != [2]tcp.State{tcp.TimeWait, tcp.Closed} {
		t.Errorf("close %q, final %v; want four-way, TIME_WAIT CLOSED\n%s", c.Close, c.Final, dump(c))
	}
	want := []string{"ESTABLISHED", "CLOSE_WAIT", "LAST_ACK", "CLOSED"}
	if got := explainedStates(c, Server); !slices.Equal(got, want) {
		t.Errorf("server states %v, want %v\n%s", got, want, dump(c))
	}
}
