package tcp

import (
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/seq"
	"github.com/tcpwave/tcpwave/wire"
)

// TestTWRecordHandle checks the TIME_WAIT record the stack keeps instead of
// a connection against Linux's tcp_timewait_state_process: what each
// segment calls for and whether it restarts the 2MSL timer.
func TestTWRecordHandle(t *testing.T) {
	const (
		rcvNxt = seq.Value(5000) // the peer's FIN was at 4999
		sndNxt = seq.Value(9000)
	)
	start := clock.Instant(0).Add(10 * time.Second)
	now := start.Add(20 * time.Second)
	cfg := DefaultConfig()
	ts := func(val uint32) wire.Options { return wire.Options{HasTimestamp: true, TSVal: val, TSEcr: 1} }
	tests := []struct {
		name    string
		tsOK    bool
		seg     Segment
		want    TimeWaitAction
		restart bool
	}{
		{name: "retransmitted FIN (our last ACK was lost): ACK again and restart 2MSL (RFC 9293 §3.10.7.4 TIME-WAIT)",
			seg: Segment{Seq: rcvNxt - 1, Ack: sndNxt, Flags: wire.FIN | wire.ACK}, want: TWAck, restart: true},
		{name: "bare ACK at RCV.NXT: absorbed, 2MSL restarted",
			seg: Segment{Seq: rcvNxt, Ack: sndNxt, Flags: wire.ACK}, want: TWDrop, restart: true},
		{name: "RST at RCV.NXT: the record is killed (TIME_WAIT assassination, Linux tcp_rfc1337=0)",
			seg: Segment{Seq: rcvNxt, Flags: wire.RST}, want: TWKill},
		{name: "RST with ACK at RCV.NXT: killed too",
			seg: Segment{Seq: rcvNxt, Ack: sndNxt, Flags: wire.RST | wire.ACK}, want: TWKill},
		{name: "RST anywhere else: dropped, timer untouched",
			seg: Segment{Seq: rcvNxt + 100, Flags: wire.RST | wire.ACK, Ack: sndNxt}, want: TWDrop},
		{name: "old RST below RCV.NXT: dropped",
			seg: Segment{Seq: rcvNxt - 1, Flags: wire.RST}, want: TWDrop},
		{name: "data at RCV.NXT: not a bare ACK, so ACKed (the peer is confused) and 2MSL restarted",
			seg: Segment{Seq: rcvNxt, Ack: sndNxt, Flags: wire.ACK | wire.PSH, Payload: []byte("late")}, want: TWAck, restart: true},
		{name: "old duplicate data: ACKed, 2MSL restarted (SCENARIOS old-duplicate)",
			seg: Segment{Seq: rcvNxt - 100, Ack: sndNxt, Flags: wire.ACK, Payload: make([]byte, 10)}, want: TWAck, restart: true},
		{name: "new SYN with a higher sequence number, no timestamps: a new incarnation may start (RFC 1122 §4.2.2.13)",
			seg: Segment{Seq: rcvNxt + 1000, Flags: wire.SYN}, want: TWNewSyn},
		{name: "SYN with a sequence number below RCV.NXT, no timestamps: an old duplicate; ACK, no restart",
			seg: Segment{Seq: rcvNxt - 1000, Flags: wire.SYN}, want: TWAck},
		{name: "SYN at exactly RCV.NXT is not beyond it: ACK",
			seg: Segment{Seq: rcvNxt, Flags: wire.SYN}, want: TWAck},
		{name: "SYN with a newer timestamp is accepted whatever its sequence number (RFC 6191)",
			tsOK: true, seg: Segment{Seq: rcvNxt - 1000, Flags: wire.SYN, Opts: ts(501)}, want: TWNewSyn},
		{name: "SYN with an older timestamp fails PAWS even with a higher sequence number: ACK and restart (RFC 7323 §5, Linux paws_reject)",
			tsOK: true, seg: Segment{Seq: rcvNxt + 1000, Flags: wire.SYN, Opts: ts(400)}, want: TWAck, restart: true},
		{name: "a timestamp one tick older is inside Linux's PAWS window (TCP_PAWS_WINDOW 1): the sequence number decides",
			tsOK: true, seg: Segment{Seq: rcvNxt + 1000, Flags: wire.SYN, Opts: ts(499)}, want: TWNewSyn},
		{name: "an old bare ACK at RCV.NXT that fails PAWS is ACKed and restarts 2MSL instead of being absorbed",
			tsOK: true, seg: Segment{Seq: rcvNxt, Ack: sndNxt, Flags: wire.ACK, Opts: ts(400)}, want: TWAck, restart: true},
		{name: "SYN with the same timestamp falls back to the sequence number test: higher, so accepted (Linux tcp_timewait_state_process)",
			tsOK: true, seg: Segment{Seq: rcvNxt + 1000, Flags: wire.SYN, Opts: ts(500)}, want: TWNewSyn},
		{name: "SYN with the same timestamp and a lower sequence number: ACK",
			tsOK: true, seg: Segment{Seq: rcvNxt - 1000, Flags: wire.SYN, Opts: ts(500)}, want: TWAck},
		{name: "SYN without a timestamp when the connection had them: judged by sequence number",
			tsOK: true, seg: Segment{Seq: rcvNxt + 1000, Flags: wire.SYN}, want: TWNewSyn},
		{name: "SYN-ACK is never a new connection: ACK and restart",
			seg: Segment{Seq: rcvNxt + 1000, Ack: sndNxt, Flags: wire.SYN | wire.ACK}, want: TWAck, restart: true},
		{name: "SYN with RST: dropped",
			seg: Segment{Seq: rcvNxt + 1000, Flags: wire.SYN | wire.RST}, want: TWDrop},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tw := TWRecord{RcvNxt: rcvNxt, SndNxt: sndNxt, TSOK: tt.tsOK, TSRecent: 500, Expire: start.Add(cfg.TimeWait)}
			checkTWHandle(t, &tw, &cfg, now, tt.seg, tt.want, tt.restart)
		})
	}
}

// TestTWRecordAck: the ACK a TIME_WAIT record sends is <SEQ=SND.NXT>
// <ACK=RCV.NXT>, with our timestamp clock and the last TSval echoed.
func TestTWRecordAck(t *testing.T) {
	tw := TWRecord{RcvNxt: 5000, SndNxt: 9000, TSOK: true, TSRecent: 777, TSOffset: 1000}
	var s Segment
	tw.Ack(clock.Instant(0).Add(2500*time.Millisecond), &s)
	want := Segment{Seq: 9000, Ack: 5000, Flags: wire.ACK, Opts: wire.Options{HasTimestamp: true, TSVal: 3500, TSEcr: 777}}
	if s.Seq != want.Seq || s.Ack != want.Ack || s.Flags != want.Flags || s.Opts != want.Opts || len(s.Payload) != 0 {
		t.Errorf("Ack = %+v, want %+v", s, want)
	}
	tw.TSOK = false
	tw.Ack(0, &s)
	if s.Opts.HasTimestamp {
		t.Errorf("Ack without timestamps carries one: %+v", s.Opts)
	}
}

// TestTimeWaitRecordFromConn: the record taken from a connection in
// TIME_WAIT holds its sequence numbers, timestamps and expiry.
func TestTimeWaitRecordFromConn(t *testing.T) {
	h := runScript(t, DefaultConfig(), inTimeWait)
	tw := h.c.TimeWaitRecord()
	if tw.RcvNxt != peerISN+2 || tw.SndNxt != h.iss+2 {
		t.Errorf("record RcvNxt %v SndNxt %v, want %v %v", tw.RcvNxt, tw.SndNxt, seq.Value(peerISN+2), h.iss+2)
	}
	if !tw.TSOK || tw.TSRecent != 100 {
		t.Errorf("record TSOK %v TSRecent %d, want true 100", tw.TSOK, tw.TSRecent)
	}
	if want := h.now.Add(60 * time.Second); tw.Expire != want {
		t.Errorf("record Expire %v, want %v", tw.Expire, want)
	}
	var s Segment
	seg := Segment{Seq: peerISN + 1, Ack: h.iss + 2, Flags: wire.FIN | wire.ACK}
	if got := tw.Handle(h.now, &h.cfg, &seg); got != TWAck {
		t.Fatalf("retransmitted FIN: %v, want TWAck", got)
	}
	tw.Ack(h.now, &s)
	if s.Seq != h.iss+2 || s.Ack != peerISN+2 {
		t.Errorf("ACK %v/%v, want %v/%v", s.Seq, s.Ack, h.iss+2, seq.Value(peerISN+2))
	}
}

// checkTWHandle hands seg to tw and checks the verdict and whether the
// 2MSL timer was restarted.
func checkTWHandle(t *testing.T, tw *TWRecord, cfg *Config, now clock.Instant, seg Segment, want TimeWaitAction, restart bool) {
	t.Helper()
	before := tw.Expire
	if got := tw.Handle(now, cfg, &seg); got != want {
		t.Errorf("Handle = %v, want %v", got, want)
	}
	switch {
	case restart && tw.Expire != now.Add(cfg.TimeWait):
		t.Errorf("Expire %v, want restarted to %v", tw.Expire, now.Add(cfg.TimeWait))
	case !restart && tw.Expire != before:
		t.Errorf("Expire %v, want unchanged %v", tw.Expire, before)
	}
}

// TestTimeWaitOOWRateLimit: a TIME_WAIT record answers segments that carry
// nothing (or a SYN) with at most one ACK per tcp_invalid_ratelimit, as
// Linux's tcp_timewait_check_oow_rate_limit does; data and a retransmitted
// FIN are always answered. Without it two TIME_WAIT ends whose ACKs fail
// each other's checks ACK each other forever.
func TestTimeWaitOOWRateLimit(t *testing.T) {
	cfg := DefaultConfig()
	const rcvNxt = seq.Value(5000)
	old := Segment{Seq: rcvNxt - 100, Ack: 1000, Flags: wire.ACK}          // an old ACK, out of window
	fin := Segment{Seq: rcvNxt - 1, Ack: 1000, Flags: wire.ACK | wire.FIN} // the peer's FIN again
	data := Segment{Seq: rcvNxt - 10, Ack: 1000, Flags: wire.ACK, Payload: make([]byte, 10)}
	syn := Segment{Seq: rcvNxt - 100, Flags: wire.SYN} // an old SYN: not a new incarnation
	steps := []struct {
		at   time.Duration
		seg  *Segment
		want TimeWaitAction
	}{
		{0, &old, TWAck},
		{100 * time.Millisecond, &old, TWSkip},
		{200 * time.Millisecond, &fin, TWAck},
		{300 * time.Millisecond, &data, TWAck},
		{400 * time.Millisecond, &syn, TWSkip},
		{499 * time.Millisecond, &old, TWSkip},
		{500 * time.Millisecond, &old, TWAck},
		{600 * time.Millisecond, &syn, TWSkip},
		{1100 * time.Millisecond, &syn, TWAck},
	}
	tw := TWRecord{RcvNxt: rcvNxt, SndNxt: 1000, Expire: clock.Instant(time.Minute)}
	base := clock.Instant(0).Add(3 * time.Second)
	for _, st := range steps {
		if got := tw.Handle(base.Add(st.at), &cfg, st.seg); got != st.want {
			t.Errorf("at +%v, %v %d:%d: action %d, want %d", st.at, st.seg.Flags, st.seg.Seq, st.seg.Seq.Add(st.seg.Len()), got, st.want)
		}
	}
}
