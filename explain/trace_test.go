package explain

import (
	"bytes"
	"strings"
	"testing"

	"github.com/tcpwave/tcpwave/scenario"
	"github.com/tcpwave/tcpwave/trace"
)

// TestTrace: a connection's trace events carry each side's inferred
// states, in order, as the connection has them, and each kept segment
// once sent by one host and once received by the other, with sequence
// numbers relative to each side's first; the ladder renders them.
func TestTrace(t *testing.T) {
	s, err := scenario.Find("three-way-close")
	if err != nil {
		t.Fatal(err)
	}
	pkt, _ := capture(t, s)
	var conns []*Conn
	if _, err := Explain(bytes.NewReader(pkt), Options{}, func(c *Conn) { conns = append(conns, c) }); err != nil {
		t.Fatal(err)
	}
	if len(conns) != 1 {
		t.Fatalf("%d connections, want 1", len(conns))
	}
	c := conns[0]
	events := c.Trace()
	client, server := c.HostNames()
	names := map[Side]string{Client: client, Server: server}
	for side, name := range names {
		var got []string
		for _, e := range events {
			if e.Kind == trace.KindState && e.Host == name {
				if len(got) == 0 {
					got = append(got, e.From.String())
				}
				got = append(got, e.To.String())
				if !strings.HasSuffix(e.Why, "(inferred)") && !strings.Contains(e.Why, "(inferred);") {
					t.Errorf("%s: reason %q not marked inferred", name, e.Why)
				}
			}
		}
		if want := explainedStates(c, side); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s: trace states %v, connection's %v", name, got, want)
		}
	}
	sends, recvs := 0, 0
	for _, e := range events {
		switch e.Kind {
		case trace.KindSend:
			sends++
		case trace.KindRecv:
			recvs++
		}
	}
	if sends != len(c.Segments) || recvs != len(c.Segments) {
		t.Errorf("%d sends and %d receives for %d segments", sends, recvs, len(c.Segments))
	}
	if first := events[1]; first.Kind != trace.KindSend || first.Seg.String() != "S 0:0(0) win 64240" {
		t.Errorf("first segment %v %q, want the SYN from 0", first.Kind, first.SegText())
	}
	var b bytes.Buffer
	if err := trace.WriteLadder(&b, events, client, server); err != nil || !strings.Contains(b.String(), "FIN_WAIT_2 -> TIME_WAIT") && !strings.Contains(b.String(), "FIN_WAIT_1 -> TIME_WAIT") {
		t.Errorf("ladder (%v):\n%s", err, b.String())
	}
}
