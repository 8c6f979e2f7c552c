package tcp

import (
	"fmt"
	"testing"
)

// tsOpen opens a connection with SACK and timestamps (TSval is our clock
// in ms: 1010 at the handshake's end) and sends ten segments, which the
// peer all receives; the scripts lose its ACKs.
var tsOpen = `
+1    connect
+0    > S 0:0(0) <mss 1460,sackOK,TS val 1000 ecr 0,nop,wscale 7>
+0.01 < S. 0:0(0) ack 1 win 65535 <mss 1460,sackOK,TS val 5 ecr 1000,nop,wscale 7>
+0    > . 1:1(0) ack 1 <nop,nop,TS val 1010 ecr 5>
+0    write 14480 = 14480
` + flight(1, 10, 1448, 2, true, "<nop,nop,TS val 1010 ecr 5>")

// nextWrite ends a script with a write of ten segments and the first n
// of them going at once in units of unit segments (the tenth with PSH),
// of mss bytes each: 1448 after tsOpen, 1460 after sackOpen.
func nextWrite(n, mss, unit int) string {
	from := 1 + 10*mss
	return fmt.Sprintf("\n+0    write %d = %d\n", 10*mss, 10*mss) + flight(from, n, mss, unit, n == 10, "")
}

// The endings of the undo scripts: tenMoreTS and tenMore, the window was
// taken back whole (undone), so the next ten segments go at once, with
// timestamps (after tsOpen) and without (after sackOpen). sevenMoreTS
// and sevenMore: the RTO stands, and its ACK reported all ten segments
// delivered: the window restarts from one segment and slow start counts
// the ten (Linux tcp_slow_start) up to ssthresh, seven segments (CUBIC's
// 0.7 of ten), so seven of the ten go at once. The unit the segments
// leave in (push.go) depends on the window and the round trip, so each
// script names it.
func tenMoreTS(unit int) string   { return nextWrite(10, 1448, unit) }
func tenMore(unit int) string     { return nextWrite(10, 1460, unit) }
func sevenMoreTS(unit int) string { return nextWrite(7, 1448, unit) }
func sevenMore(unit int) string   { return nextWrite(7, 1460, unit) }

// TestUndo: a window reduction for a loss that was not one is taken back,
// as Linux's tcp_try_undo_loss and tcp_try_undo_recovery do.
func TestUndo(t *testing.T) {
	runScriptTests(t, []scriptTest{
		{name: "an RTO whose retransmission is answered by an ACK echoing the original's timestamp was spurious (the ACK of the flight was lost; RFC 3522, Linux tcp_packet_delayed): the window is what it was, and the next ten segments go at once",
			cfg: noTLP,
			script: tsOpen + `
+0.21 > . 1:1449(1448) ack 1 <nop,nop,TS val 1220 ecr 5>
+0.0001 < . 1:1(0) ack 14481 win 510 <nop,nop,TS val 6 ecr 1010,nop,nop,sack 1:1449>
` + tenMoreTS(2) + `
+0    count Timeouts 1`},
		{name: "an RTO whose retransmission repaired a loss (the ACK echoes the retransmission's timestamp) is not undone: the window restarts from one segment, seven after this ACK of ten",
			cfg: noTLP,
			script: tsOpen + `
+0.21 > . 1:1449(1448) ack 1 <nop,nop,TS val 1220 ecr 5>
+0.0001 < . 1:1(0) ack 14481 win 510 <nop,nop,TS val 6 ecr 1220>
` + sevenMoreTS(2)},
		{name: "an ACK whose echo is 0 says nothing of which copy arrived (RFC 7323 §3.2): the RTO is not undone and seven segments go, not ten",
			cfg: noTLP,
			script: tsOpen + `
+0.21 > . 1:1449(1448) ack 1 <nop,nop,TS val 1220 ecr 5>
+0.0001 < . 1:1(0) ack 14481 win 510 <nop,nop,TS val 6 ecr 0>
` + sevenMoreTS(2)},
		{name: "without timestamps a D-SACK of the RTO's only retransmission shows it spurious too (RFC 3708, Linux undo_retrans): the window is what it was",
			cfg: noTLP,
			script: sackOpen + `
+0.21 > . 1:1461(1460) ack 1
+0.0001 < . 1:1(0) ack 14601 win 510 <sack 1:1461>
` + tenMore(3)},
		{name: "a fast recovery whose only retransmission is reported duplicate (D-SACK) by the ACK that ends it was spurious (the hole was reordering; Linux tcp_try_undo_recovery): the window is what it was, ten segments, not seven",
			script: sackOpen + `
+0.01 < . 1:1(0) ack 1 win 510 <sack 1461:5841>
+0    > . 1:1461(1460) ack 1
+0.0001 < . 1:1(0) ack 14601 win 510 <sack 1:1461>
` + tenMore(3)},
		{name: "one D-SACK block counts for one retransmission however long it is: after two RTO retransmissions a single block over all the data does not undo",
			cfg: noTLP,
			script: sackOpen + `
+0.21 > . 1:1461(1460) ack 1
+0.42 > . 1:1461(1460) ack 1
+0.0001 < . 1:1(0) ack 14601 win 510 <sack 1:14601>
` + sevenMore(2)},
		{name: "the same RTO undone by the timestamp alone: the ACK carries no D-SACK (the peer does not send them), and the ten segments still go at once",
			cfg: noTLP,
			script: tsOpen + `
+0.21 > . 1:1449(1448) ack 1 <nop,nop,TS val 1220 ecr 5>
+0.0001 < . 1:1(0) ack 14481 win 510 <nop,nop,TS val 6 ecr 1010>
` + tenMoreTS(2)},
		{name: "a fast recovery ended by an ACK that echoes the timestamp of the flight, older than its retransmission's, was spurious (RFC 3522; Linux tcp_try_undo_recovery): the window is what it was, ten segments, not seven",
			script: tsOpen + `
+0.01 < . 1:1(0) ack 1 win 510 <nop,nop,TS val 6 ecr 1010,nop,nop,sack 1449:5793>
+0    > . 1:1449(1448) ack 1 <nop,nop,TS val 1020 ecr 6>
+0.0001 < . 1:1(0) ack 14481 win 510 <nop,nop,TS val 7 ecr 1010>
` + tenMoreTS(3)},
		{name: "an RTO in fast recovery keeps the recovery's undo record (Linux tcp_enter_loss: no tcp_init_undo while high_seq is ahead): an ACK echoing the fast retransmission's timestamp shows that it repaired a loss, though it is older than the RTO's, and the window restarts from one segment",
			cfg: noTLP,
			script: tsOpen + `
+0.01 < . 1:1(0) ack 1 win 510 <nop,nop,TS val 6 ecr 1010,nop,nop,sack 1449:5793>
+0    > . 1:1449(1448) ack 1 <nop,nop,TS val 1020 ecr 6>
+0    < . 1:1(0) ack 1 win 510 <nop,nop,TS val 7 ecr 1010,nop,nop,sack 1449:14481>
+0.2  > . 1:1449(1448) ack 1 <nop,nop,TS val 1220 ecr 7>
+0.0001 < . 1:1(0) ack 14481 win 510 <nop,nop,TS val 8 ecr 1020>
+0    write 14480 = 14480
+0    > . 14481:15929(1448) ack 1
+0    > . 15929:17377(1448) ack 1`},
		{name: "a D-SACK block beyond SND.MAX (inside the second block: RFC 2883's form for data above the ACK) reports nothing we sent: the RTO is not undone",
			cfg: noTLP,
			script: sackOpen + `
+0.21 > . 1:1461(1460) ack 1
+0.0001 < . 1:1(0) ack 14601 win 510 <sack 20001:21461 20001:30001>
` + sevenMore(2)},
		{name: "a D-SACK block above SND.UNA over a segment never sent twice is no retransmission reported duplicate (Linux tcp_sacktag_one counts only retransmitted skbs): the RTO is not undone, however often the peer repeats it",
			cfg: noTLP,
			script: sackOpen + `
+0.21 > . 1:1461(1460) ack 1
+0.0001 < . 1:1(0) ack 1 win 510 <sack 2921:4381 1461:14601>
+0    < . 1:1(0) ack 1 win 510 <sack 2921:4381 1461:14601>
+0    < . 1:1(0) ack 14601 win 510
` + nextWrite(2, 1460, 1)},
		{name: "a D-SACK block below the episode's start (data ACKed before it) is not one of its retransmissions: the RTO is not undone, and six segments go (ssthresh 0.7 of the nine outstanding at the RTO), not eleven",
			cfg: noTLP,
			script: sackOpen + `
+0.01 < . 1:1(0) ack 1461 win 510
+0.21 > . 1461:2921(1460) ack 1
+0.0001 < . 1:1(0) ack 14601 win 510 <sack 1:1461>
+0    write 14600 = 14600
+0    > . 14601:16061(1460) ack 1
+0    > P. 16061:17521(1460) ack 1
+0    > . 17521:18981(1460) ack 1
+0    > P. 18981:20441(1460) ack 1
+0    > . 20441:21901(1460) ack 1
+0    > P. 21901:23361(1460) ack 1`},
	})
}

// TestRTOInRecovery: an RTO during fast recovery belongs to the
// recovery's loss episode: ssthresh is cut once, as Linux's
// tcp_enter_loss does (no new cut while high_seq is ahead of SND.UNA).
func TestRTOInRecovery(t *testing.T) {
	recovery := sackOpen + `
+0.01 < . 1:1(0) ack 1 win 510 <sack 1461:5841>
+0    > . 1:1461(1460) ack 1
+0    < . 1:1(0) ack 1 win 510 <sack 1461:14601>
`
	cfg := DefaultConfig()
	noTLP(&cfg)
	want := runScript(t, cfg, recovery).c.cc.ssthresh
	h := runScript(t, cfg, recovery+`
+0.2  > . 1:1461(1460) ack 1
+0    count Timeouts 1
`)
	if got := h.c.cc.ssthresh; got != want || h.c.cc.cwnd != uint32(h.c.mss) {
		t.Errorf("after the RTO: ssthresh %d, cwnd %d; want the recovery's ssthresh %d and one segment", got, h.c.cc.cwnd, want)
	}
}

// TestUndoKeepsReorderingWindow: a fast recovery that is undone was
// reordering, and does not count down a reordering window that D-SACKs
// grew; one that repaired a loss does (Linux tcp_try_undo_recovery
// decrements reo_wnd_persist only when it does not undo).
func TestUndoKeepsReorderingWindow(t *testing.T) {
	recovery := tsOpen + `
+0.01 < . 1:1(0) ack 1 win 510 <nop,nop,TS val 6 ecr 1010,nop,nop,sack 1449:5793>
+0    > . 1:1449(1448) ack 1 <nop,nop,TS val 1020 ecr 6>
`
	tests := []struct {
		name        string
		ecr         string // what the ACK that ends the recovery echoes
		wantPersist uint8
	}{
		{"undone: the flight's timestamp", "1010", 3},
		{"not undone: the retransmission's", "1020", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := runScript(t, DefaultConfig(), recovery)
			r := h.c.rack()
			if r == nil || !h.c.flags.has(inRecovery) {
				t.Fatal("the script did not put the connection in fast recovery with RACK")
			}
			r.reoSteps, r.reoPersist = 2, 3 // grown by D-SACKs before
			if err := h.step("+0.0001 < . 1:1(0) ack 14481 win 510 <nop,nop,TS val 7 ecr " + tt.ecr + ">"); err != nil {
				t.Fatal(err)
			}
			if h.c.flags.has(inRecovery) {
				t.Fatal("the ACK of everything did not end the recovery")
			}
			if r.reoPersist != tt.wantPersist || r.reoSteps != 2 {
				t.Errorf("after the recovery the reordering window is %d steps for %d recoveries, want 2 for %d", r.reoSteps, r.reoPersist, tt.wantPersist)
			}
		})
	}
}

// TestUndoNotForSYN: a SYN that timed out leaves no undo record open
// into the connection: the handshake sets the window afresh, and an open
// record (marked at the ISN, one retransmission) would take the first
// D-SACK of data for the SYN's and undo, unmarking what RACK found lost.
func TestUndoNotForSYN(t *testing.T) {
	h := runScript(t, DefaultConfig(), `
+1    connect
+0    > S 0:0(0) <mss 1460,sackOK,TS val 1000 ecr 0,nop,wscale 7>
+1    > S 0:0(0) <mss 1460,sackOK,TS val 2000 ecr 0,nop,wscale 7>
+0.01 < S. 0:0(0) ack 1 win 65535 <mss 1460,sackOK,TS val 5 ecr 1000,nop,wscale 7>
+0    > . 1:1(0) ack 1 <nop,nop,TS val 2010 ecr 5>
+0    count Timeouts 1
`)
	if ls := h.c.cc.loss; ls != nil && ls.undo.on {
		t.Errorf("established after a SYN timeout with an undo record open: %+v", ls.undo)
	}
}
