package explain

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	"github.com/tcpwave/tcpwave/scenario"
)

// TestEvents: four-way-close's capture replays as the scenario's ladder
// reads: each side's call, its segment, what the segment did at the other
// side.
func TestEvents(t *testing.T) {
	s, err := scenario.Find("four-way-close")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := capture(t, s)
	var conns []*Conn
	if _, err := Explain(bytes.NewReader(data), Options{}, func(c *Conn) { conns = append(conns, c) }); err != nil {
		t.Fatal(err)
	}
	if len(conns) != 1 {
		t.Fatalf("%d connections", len(conns))
	}
	var got []string
	for _, e := range conns[0].Events() {
		switch {
		case e.Segment != nil:
			got = append(got, fmt.Sprintf("%.4f %s %s", e.T.Seconds(), e.Side, e.Segment))
		case e.Transition != nil:
			got = append(got, fmt.Sprintf("%.4f %s %v->%v", e.T.Seconds(), e.Side, e.Transition.From, e.Transition.To))
		}
	}
	want := []string{
		"0.0000 client CLOSED->SYN_SENT",
		"0.0000 client S 0:0(0) win 64240",
		"0.0000 server LISTEN->SYN_RCVD",
		"0.0005 server S. 0:0(0) ack 1 win 65160",
		"0.0005 client SYN_SENT->ESTABLISHED",
		"0.0010 client . 1:1(0) ack 1 win 502",
		"0.0010 server SYN_RCVD->ESTABLISHED",
		"1.0010 client ESTABLISHED->FIN_WAIT_1",
		"1.0010 client F. 1:1(0) ack 1 win 502",
		"1.0010 server ESTABLISHED->CLOSE_WAIT",
		"1.0015 server . 1:1(0) ack 2 win 510",
		"1.0015 client FIN_WAIT_1->FIN_WAIT_2",
		"2.0015 server CLOSE_WAIT->LAST_ACK",
		"2.0015 server F. 1:1(0) ack 2 win 510",
		"2.0015 client FIN_WAIT_2->TIME_WAIT",
		"2.0020 client . 2:2(0) ack 2 win 502",
		"2.0020 server LAST_ACK->CLOSED",
		"62.0015 client TIME_WAIT->CLOSED",
	}
	if !slices.Equal(got, want) {
		t.Errorf("events\n got  %q\n want %q", got, want)
	}
}
