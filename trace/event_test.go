package trace

import (
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/wire"
)

func us(n int64) clock.Instant { return clock.Instant(n * int64(time.Microsecond)) }

func TestRecorderFilters(t *testing.T) {
	var r Recorder
	if got := r.States("A"); got != nil {
		t.Errorf("States of empty recorder = %v, want nil", got)
	}
	evs := []Event{
		{T: 0, Host: "A", Kind: KindState, From: "CLOSED", To: "SYN_SENT", Why: "connect() called"},
		{T: 0, Host: "A", Kind: KindSend, Seg: "S 0:0(0) win 65535"},
		{T: 1, Host: "B", Kind: KindRecv, Seg: "S 0:0(0) win 65535"},
		{T: 1, Host: "B", Kind: KindState, From: "LISTEN", To: "SYN_RCVD"},
		{T: 1, Host: "B", Kind: KindSend, Seg: "S. 0:0(0) ack 1 win 65535"},
		{T: 2, Host: "net", Kind: KindDrop, From: "B", To: "A", Seg: "S. 0:0(0) ack 1 win 65535"},
		{T: 3, Host: "B", Kind: KindSend, Seg: "S. 0:0(0) ack 1 win 65535"},
		{T: 4, Host: "A", Kind: KindRecv, Seg: "S. 0:0(0) ack 1 win 65535"},
		{T: 4, Host: "A", Kind: KindState, From: "SYN_SENT", To: "ESTABLISHED"},
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
		got  []string
		want []string
	}{
		{"States(A)", r.States("A"), []string{"CLOSED", "SYN_SENT", "ESTABLISHED"}},
		{"States(B)", r.States("B"), []string{"LISTEN", "SYN_RCVD"}},
		{"States(C)", r.States("C"), nil},
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
				r.Add(Event{Host: string(rune('A' + g)), Kind: KindState, From: "X", To: string(rune('0' + i%10))})
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

func TestFormatSegment(t *testing.T) {
	var iss, irs uint32 = 1_000_000, 0xfffffff0 // the peer's numbers wrap
	for _, c := range []struct {
		name       string
		f          wire.TCPFields
		n          int
		base, peer uint32
		want       string
	}{
		{
			name: "SYN with options",
			f: wire.TCPFields{Seq: iss, Flags: wire.SYN, Window: 65535, Options: wire.Options{
				MSS: 1460, SACKPermitted: true, HasTimestamp: true, TSVal: 100, TSEcr: 0, HasWScale: true, WScale: 7}},
			base: iss, peer: irs,
			want: "S 0:0(0) win 65535 <mss 1460,sackOK,TS val 100 ecr 0,wscale 7>",
		},
		{
			name: "SYN-ACK",
			f:    wire.TCPFields{Seq: irs, Ack: iss + 1, Flags: wire.SYN | wire.ACK, Window: 29200, Options: wire.Options{MSS: 1400}},
			base: irs, peer: iss,
			want: "S. 0:0(0) ack 1 win 29200 <mss 1400>",
		},
		{
			name: "data across the wrap",
			f:    wire.TCPFields{Seq: irs + 1, Ack: iss + 1, Flags: wire.PSH | wire.ACK, Window: 502},
			n:    100, base: irs, peer: iss,
			want: "P. 1:101(100) ack 1 win 502",
		},
		{
			name: "FIN-ACK",
			f:    wire.TCPFields{Seq: iss + 6, Ack: irs + 1, Flags: wire.FIN | wire.ACK, Window: 512},
			base: iss, peer: irs,
			want: "F. 6:6(0) ack 1 win 512",
		},
		{
			name: "RST without ACK",
			f:    wire.TCPFields{Seq: iss + 6, Flags: wire.RST},
			base: iss, peer: irs,
			want: "R 6:6(0) win 0",
		},
		{
			name: "ACK with timestamps and SACK",
			f: wire.TCPFields{Seq: iss + 1, Ack: irs + 1001, Flags: wire.ACK, Window: 1000, Options: wire.Options{
				HasTimestamp: true, TSVal: 5, TSEcr: 6, NumSACK: 2,
				SACK: [wire.MaxSACKBlocks]wire.SACKBlock{{Left: irs + 2001, Right: irs + 3001}, {Left: irs + 4001, Right: irs + 5001}}}},
			base: iss, peer: irs,
			want: ". 1:1(0) ack 1001 win 1000 <TS val 5 ecr 6,sack 2001:3001 4001:5001>",
		},
		{
			name: "urgent",
			f:    wire.TCPFields{Seq: iss + 1, Ack: irs + 1, Flags: wire.URG | wire.ACK | wire.PSH, Window: 10, Urgent: 1},
			n:    1, base: iss, peer: irs,
			want: "PU. 1:2(1) ack 1 win 10 urg 1",
		},
	} {
		if got := FormatSegment(c.f, c.n, c.base, c.peer); got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}
