package trace

import (
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/tcp"
)

func us(n int64) clock.Instant { return clock.Instant(n * int64(time.Microsecond)) }

func TestRecorderFilters(t *testing.T) {
	var r Recorder
	if got := r.States("A"); got != nil {
		t.Errorf("States of empty recorder = %v, want nil", got)
	}
	evs := []Event{
		{T: 0, Host: "A", Kind: KindState, From: tcp.Closed, To: tcp.SynSent, Why: "connect() called"},
		{T: 0, Host: "A", Kind: KindSend, Seg: sg("S 0:0(0) win 65535")},
		{T: 1, Host: "B", Kind: KindRecv, Seg: sg("S 0:0(0) win 65535")},
		{T: 1, Host: "B", Kind: KindState, From: tcp.Listen, To: tcp.SynRcvd},
		{T: 1, Host: "B", Kind: KindSend, Seg: sg("S. 0:0(0) ack 1 win 65535")},
		{T: 2, Host: "net", Kind: KindDrop, Src: "B", Dst: "A", Seg: sg("S. 0:0(0) ack 1 win 65535")},
		{T: 3, Host: "B", Kind: KindSend, Seg: sg("S. 0:0(0) ack 1 win 65535")},
		{T: 4, Host: "A", Kind: KindRecv, Seg: sg("S. 0:0(0) ack 1 win 65535")},
		{T: 4, Host: "A", Kind: KindState, From: tcp.SynSent, To: tcp.Established},
		{T: 4, Host: "A", Kind: KindApp, Call: "connect", Result: "0"},
	}
	for _, e := range evs {
		r.Add(e)
	}
	if got := r.Events(); !reflect.DeepEqual(got, evs) {
		t.Fatalf("Events() = %v", got)
	}
	got := r.Events()
	got[0].Host = "changed"
	if r.Events()[0].Host != "A" {
		t.Error("Events() exposes the recorder's slice")
	}
	for _, c := range []struct {
		name string
		got  []tcp.State
		want []tcp.State
	}{
		{"States(A)", r.States("A"), []tcp.State{tcp.Closed, tcp.SynSent, tcp.Established}},
		{"States(B)", r.States("B"), []tcp.State{tcp.Listen, tcp.SynRcvd}},
		{"States(C)", r.States("C"), nil},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	for _, c := range []struct {
		name string
		got  []string
		want []string
	}{
		{"Segments(A, send)", r.Segments("A", KindSend), []string{"S 0:0(0) win 65535"}},
		{"Segments(B, send)", r.Segments("B", KindSend), []string{"S. 0:0(0) ack 1 win 65535", "S. 0:0(0) ack 1 win 65535"}},
		{"Segments(A, recv)", r.Segments("A", KindRecv), []string{"S. 0:0(0) ack 1 win 65535"}},
		{"Segments(net, drop)", r.Segments("net", KindDrop), []string{"S. 0:0(0) ack 1 win 65535"}},
		{"Segments(B, drop)", r.Segments("B", KindDrop), []string{"S. 0:0(0) ack 1 win 65535"}},
		{"Segments(A, drop)", r.Segments("A", KindDrop), nil},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
}

func TestRecorderConcurrent(t *testing.T) {
	var r Recorder
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				r.Add(Event{Host: string(rune('A' + g)), Kind: KindState, From: tcp.Listen, To: tcp.State(i % 10)})
				_ = r.States("A")
				_ = r.Segments("A", KindSend)
			}
		}()
	}
	wg.Wait()
	if n := len(r.Events()); n != 800 {
		t.Errorf("%d events, want 800", n)
	}
}
