package htmlpage

import (
	"testing"
	"unicode/utf8"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/internal/tracetest"
	"github.com/tcpwave/tcpwave/tcp"
	"github.com/tcpwave/tcpwave/trace"
)

// TestCaptureLadder: a connection explained from a capture (tcpwave
// explain --html) names its hosts by address and has nanosecond times:
// the name boxes fit the addresses and the time column shows the
// microseconds whole.
func TestCaptureLadder(t *testing.T) {
	a, b := "127.0.0.1:42842", "127.0.0.1:80"
	at := func(ns int64) clock.Instant { return clock.Instant(10_516_218_772 + ns) }
	events := []trace.Event{
		{T: at(0), Host: a, Kind: trace.KindState, From: tcp.Closed, To: tcp.SynSent},
		{T: at(0), Host: a, Kind: trace.KindSend, Seg: tracetest.Seg("S 0:0(0) win 65495")},
		{T: at(0), Host: b, Kind: trace.KindRecv, Seg: tracetest.Seg("S 0:0(0) win 65495")},
		{T: at(0), Host: b, Kind: trace.KindState, From: tcp.Listen, To: tcp.SynRcvd},
	}
	v := layoutLadder(buildModel(events, a, b))
	for s, name := range []string{a, b} {
		h := v.Heads[s]
		if min := 10*float64(utf8.RuneCountInString(name)) + 18; h.W < min || h.BoxX != h.X-h.W/2 {
			t.Errorf("%s: box at %v, %v wide around %v; want at least %v wide, centred", name, h.BoxX, h.W, h.X, min)
		}
	}
	if len(v.Ticks) == 0 || v.Ticks[0].Label != "10.516219" {
		t.Fatalf("ticks %+v, want the first 10.516219", v.Ticks)
	}
	if need := 6.5 * float64(len(v.Ticks[0].Label)); v.TimeX < need {
		t.Errorf("the time column ends at %v: %q needs %v", v.TimeX, v.Ticks[0].Label, need)
	}
	if got := fmtSecs(clock.Instant(1_000_500_000)); got != "1.0005" {
		t.Errorf("fmtSecs(1.0005 s) = %q", got)
	}
}
