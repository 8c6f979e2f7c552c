package tcp

import (
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/seq"
	"github.com/tcpwave/tcpwave/wire"
)

// TestSynSentBadAck: a SYN-ACK whose ACK does not cover our SYN draws a
// RST (seq = its ack), and the SYN goes again after TCP_TIMEOUT_MIN rather
// than the whole RTO, as Linux does when the SYN has not been
// retransmitted yet (conformance/syn-sent-bad-ack-rst.pkt).
func TestSynSentBadAck(t *testing.T) {
	cfg := DefaultConfig()
	now := clock.Instant(time.Second)
	const iss = seq.Value(5000)
	c := NewActive(&cfg, nopObserver{}, now, iss, 0)
	buf := make([]byte, 2048)
	var s Segment
	if !c.Poll(now, &s, buf) || s.Flags != wire.SYN {
		t.Fatalf("no SYN")
	}
	bad := Segment{Seq: 9000, Ack: iss + 100, Flags: wire.SYN | wire.ACK, Wnd: 65535}
	now = now.Add(10 * time.Millisecond)
	c.HandleSegment(now, &bad)
	if !c.Poll(now, &s, buf) || s.Flags != wire.RST || s.Seq != iss+100 {
		t.Fatalf("answer %v seq %v, want RST seq %v", s.Flags, s.Seq, iss+100)
	}
	if want := now.Add(timeoutMin); c.rto.at != want {
		t.Fatalf("retransmission timer at %v, want %v (TCP_TIMEOUT_MIN after the bad SYN-ACK)", c.rto.at, want)
	}
	now = now.Add(timeoutMin)
	c.HandleTimeout(now)
	if !c.Poll(now, &s, buf) || s.Flags != wire.SYN || s.Seq != iss {
		t.Fatalf("after TCP_TIMEOUT_MIN: %v seq %v, want the SYN again", s.Flags, s.Seq)
	}
	// Once the SYN has gone again, another bad SYN-ACK leaves the timer
	// (backed off) alone.
	at := c.rto.at
	c.HandleSegment(now, &bad)
	if c.rto.at != at {
		t.Errorf("a second bad SYN-ACK moved the timer from %v to %v", at, c.rto.at)
	}
	if c.State() != SynSent {
		t.Errorf("state %v, want SYN_SENT", c.State())
	}
}
