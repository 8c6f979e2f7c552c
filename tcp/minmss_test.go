package tcp

import (
	"fmt"
	"testing"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/seq"
	"github.com/tcpwave/tcpwave/wire"
)

// TestMinSndMSS: whatever MSS a peer announces (0 to 100 here), the
// segments we send carry data, at least 8 bytes beside the largest SACK
// option, and no more than the room Linux gives them: max(peer MSS,
// tcp_min_snd_mss 48) less the option bytes. A peer announcing MSS 11 with
// timestamps once made the room negative and Poll sent empty segments
// forever (a remote denial of service). conformance/min-snd-mss*.pkt show
// the kernel's segment sizes for the same peers.
func TestMinSndMSS(t *testing.T) {
	for peerMSS := range 101 {
		for _, ts := range []bool{false, true} {
			for _, holes := range []int{0, 1, 4} {
				t.Run(fmt.Sprintf("mss%d/ts=%v/holes=%d", peerMSS, ts, holes), func(t *testing.T) {
					checkMinSndMSS(t, peerMSS, ts, holes)
				})
			}
		}
	}
}

func checkMinSndMSS(t *testing.T, peerMSS int, ts bool, holes int) {
	t.Helper()
	cfg := DefaultConfig()
	var now clock.Instant
	const iss, irs = seq.Value(5000), seq.Value(9000)
	syn := Segment{Seq: irs, Flags: wire.SYN, Wnd: 65535, Opts: wire.Options{
		MSS: uint16(peerMSS), SACKPermitted: true, HasTimestamp: ts, TSVal: 100,
	}}
	c := NewPassive(&cfg, nopObserver{}, now, iss, 0, &syn)
	buf := make([]byte, 65536)
	drain := func(limit int) []Segment {
		t.Helper()
		var out []Segment
		for range limit + 1 {
			var s Segment
			if !c.Poll(now, &s, buf) {
				return out
			}
			s.Payload = append([]byte(nil), s.Payload...)
			out = append(out, s)
		}
		t.Fatalf("Poll still has segments after %d", limit)
		return nil
	}
	drain(1) // the SYN-ACK
	ack := Segment{Seq: irs + 1, Ack: iss + 1, Flags: wire.ACK, Wnd: 65535,
		Opts: wire.Options{HasTimestamp: ts, TSVal: 101, TSEcr: 1}}
	c.HandleSegment(now, &ack)
	if c.State() != Established {
		t.Fatalf("state %v after the handshake", c.State())
	}
	// Out-of-order pieces put SACK blocks on every segment we send.
	for k := range holes {
		d := ack
		d.Seq = irs + 1 + seq.Value(100*(k+1))
		d.Payload = make([]byte, 10)
		c.HandleSegment(now, &d)
	}
	drain(holes)
	if n, _ := c.Write(now, make([]byte, 1000)); n != 1000 {
		t.Fatalf("Write took %d of 1000", n)
	}
	announced := peerMSS
	if announced == 0 {
		announced = 536 // RFC 9293 §3.7.1: no MSS option
	}
	room := max(announced, minSndMSS)
	sent := 0
	for _, s := range drain(1000) {
		opts := 0
		if s.Opts.HasTimestamp {
			opts += 12 // nop, nop, TS
		}
		if s.Opts.NumSACK > 0 {
			opts += 4 + 8*int(s.Opts.NumSACK) // nop, nop, SACK
		}
		switch {
		case len(s.Payload) == 0:
			t.Fatalf("an empty segment %v", s.Flags)
		case len(s.Payload) < 8 && sent+len(s.Payload) < 1000:
			t.Fatalf("a %d-byte segment before the last", len(s.Payload))
		case len(s.Payload)+opts > room:
			t.Fatalf("%d bytes of data and %d of options exceed the room %d", len(s.Payload), opts, room)
		}
		sent += len(s.Payload)
	}
	if sent == 0 {
		t.Fatalf("no data sent")
	}
}

// nopObserver ignores state changes.
type nopObserver struct{}

func (nopObserver) StateChanged(clock.Instant, *Conn, State, State, string) {}
