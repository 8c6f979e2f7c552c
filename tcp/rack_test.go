package tcp

import "testing"

// TestRACK: loss detection by send time (RFC 8985 §6), as Linux runs it
// by default (tcp_recovery=1).
func TestRACK(t *testing.T) {
	runScriptTests(t, []scriptTest{
		{name: "a retransmission lost after an RTO is found when one sent after it is SACKed and goes again at once, without a second RTO (TCPLostRetransmit)",
			cfg: noTLP,
			script: sackOpen + `
+0.21 > . 1:1461(1460) ack 1
+0    count Timeouts 1
+0.01 < . 1:1(0) ack 1461 win 510
+0    > . 1461:2921(1460) ack 1
+0    > . 2921:4381(1460) ack 1
+0.01 < . 1:1(0) ack 1461 win 510 <sack 2921:4381>
+0    > . 1461:2921(1460) ack 1
+0    > . 4381:5841(1460) ack 1
+0    count LostRetransmit 1
+0.01 < . 1:1(0) ack 5841 win 510
+0    > . 5841:7301(1460) ack 1
+0    > . 7301:8761(1460) ack 1
+0    > . 8761:10221(1460) ack 1
+0    > . 10221:11681(1460) ack 1
+0.01 < . 1:1(0) ack 10221 win 510
+0    > . 11681:13141(1460) ack 1
+0    > P. 13141:14601(1460) ack 1
+0.01 < . 1:1(0) ack 14601 win 510
+1    sendq 0
+0    count Timeouts 1
+0    count LostRetransmit 1`},
		{name: "a hole with two segments SACKed above it, fewer than DupThresh, is lost once a quarter of the minimum RTT has passed (the reordering timer): no probe, no RTO",
			script: sackOpen + `
+0    write 14600 = 14600
+0.01 < . 1:1(0) ack 1461 win 510 <sack 2921:4381>
+0    > . 14601:16061(1460) ack 1
+0    > P. 16061:17521(1460) ack 1
+0    > . 17521:18981(1460) ack 1
+0    > P. 18981:20441(1460) ack 1
+0    < . 1:1(0) ack 1461 win 510 <sack 2921:5841>
+0    > . 20441:21901(1460) ack 1
+0.0105 > . 1461:2921(1460) ack 1
+0    count SACKRecovery 1
+0    count LossProbes 0
+0    count Timeouts 0`},
		{name: "once reordering has been seen, a segment that arrives late within the reordering window is not retransmitted even with three segments SACKed above it",
			script: sackOpen + `
+0.01 < . 1:1(0) ack 1 win 510 <sack 1461:2921>
+0.001 < . 1:1(0) ack 2921 win 510
+0    < . 1:1(0) ack 2921 win 510 <sack 4381:8761>
+0.001 < . 1:1(0) ack 8761 win 510
+0.01 < . 1:1(0) ack 14601 win 510
+1    sendq 0
+0    retrans 0
+0    count SACKRecovery 0`},
		{name: "once reordering has been seen, a D-SACK of a retransmission widens the reordering window by a quarter of the minimum RTT (Linux tcp_dsack_seen, tcp_rack_update_reo_wnd): the next hole waits 5 ms, not 2.5, before it is lost",
			script: sackOpen + `
+0.01 < . 1:1(0) ack 1 win 510 <sack 2921:4381>
+0.001 < . 1:1(0) ack 1461 win 510 <sack 2921:4381>
+0.0105 > . 1461:2921(1460) ack 1
+0.01 < . 1:1(0) ack 14601 win 510 <sack 1461:2921>
+0    count DSACKRecv 1
+0    write 8760 = 8760
+0    > . 14601:16061(1460) ack 1
+0    > . 16061:17521(1460) ack 1
+0    > P. 17521:18981(1460) ack 1
+0    > . 18981:20441(1460) ack 1
+0    > . 20441:21901(1460) ack 1
+0    > P. 21901:23361(1460) ack 1
+0.01 < . 1:1(0) ack 16061 win 510 <sack 17521:18981>
+0.013 > . 16061:17521(1460) ack 1
+0    count SACKRecovery 2`},
		{name: "a D-SACK of the loss probe's retransmission leaves the reordering window as it was, reordering seen or not (Linux FLAG_DSACK_TLP): the next hole waits 2.5 ms",
			script: sackOpen + `
+0.01 < . 1:1(0) ack 1 win 510 <sack 2921:4381>
+0.001 < . 1:1(0) ack 1461 win 510 <sack 2921:4381>
+0.0105 > . 1461:2921(1460) ack 1
+0.01 < . 1:1(0) ack 14601 win 510
+0    write 2920 = 2920
+0    > . 14601:16061(1460) ack 1
+0    > P. 16061:17521(1460) ack 1
+0.02225 > P. 16061:17521(1460) ack 1
+0    count LossProbes 1
+0.01 < . 1:1(0) ack 17521 win 510 <sack 16061:17521>
+0    count DSACKRecv 1
+0    write 8760 = 8760
+0    > . 17521:18981(1460) ack 1
+0    > P. 18981:20441(1460) ack 1
+0    > . 20441:21901(1460) ack 1
+0    > P. 21901:23361(1460) ack 1
+0    > . 23361:24821(1460) ack 1
+0    > P. 24821:26281(1460) ack 1
+0.01 < . 1:1(0) ack 18981 win 510 <sack 20441:21901>
+0.0105 > . 18981:20441(1460) ack 1`},
		{name: "a D-SACK of a segment never retransmitted leaves the reordering window as it was, reordering seen or not (Linux tcp_dsack_seen: dsack_dups above total_retrans): the next hole waits 2.5 ms",
			script: sackOpen + `
+0.01 < . 1:1(0) ack 1 win 510 <sack 2921:4381>
+0.001 < . 1:1(0) ack 1461 win 510 <sack 2921:4381>
+0.001 < . 1:1(0) ack 4381 win 510
+0.01 < . 1:1(0) ack 14601 win 510 <sack 1461:2921>
+0    count DSACKRecv 1
+0    retrans 0` + tenMore(3) + `
+0.01 < . 1:1(0) ack 16061 win 510 <sack 17521:18981>
+0.0105 > . 16061:17521(1460) ack 1`},
		{name: "a D-SACK before any reordering was seen, of a segment never retransmitted, leaves the reordering window as it was (Linux tcp_dsack_seen): the next hole waits 2.5 ms",
			script: sackOpen + `
+0.01 < . 1:1(0) ack 14601 win 510 <sack 1461:2921>
+0    count DSACKRecv 1
+0    write 14600 = 14600
+0    > . 14601:16061(1460) ack 1
+0    > . 16061:17521(1460) ack 1
+0    > P. 17521:18981(1460) ack 1
+0    > . 18981:20441(1460) ack 1
+0    > . 20441:21901(1460) ack 1
+0    > P. 21901:23361(1460) ack 1
+0    > . 23361:24821(1460) ack 1
+0    > . 24821:26281(1460) ack 1
+0    > P. 26281:27741(1460) ack 1
+0    > P. 27741:29201(1460) ack 1
+0.01 < . 1:1(0) ack 16061 win 510 <sack 17521:18981>
+0.0105 > . 16061:17521(1460) ack 1
+0    count SACKRecovery 1`},
		{name: "a segment SACKed in part is retransmitted once, the part not SACKed; the rest, SACKed, is not sent again and the FIN is not sent in its place (hostile-peer fuzz: a FIN loop)",
			script: sackOpen + `
+0    close
+0.01 < . 1:1(0) ack 1 win 510 <sack 769:14601>
+0    > . 1:769(768) ack 1
+0    > F. 14601:14601(0) ack 1
+0.01 < . 1:1(0) ack 14602 win 510
+0    state FIN_WAIT_2
+0    retrans 1`},
		{name: "an RTO in SACK recovery is counted as a failed recovery (TCPSackRecoveryFail)",
			script: sackOpen + `
+0.01 < . 1:1(0) ack 1461 win 510 <sack 2921:7301>
+0    > . 1461:2921(1460) ack 1
+0    count SACKRecovery 1
+0.21 > . 1461:2921(1460) ack 1
+0    count Timeouts 1
+0    count SACKRecoveryFail 1`},
	})
}

// TestRACKRenegedRTO: at an RTO that finds the head SACKed (the peer
// reneged, RFC 2018 §8), every segment is deemed lost, the one sent less
// than RACK.rtt ago too (Linux tcp_timeout_mark_lost); without reneging
// that one stays in flight.
func TestRACKRenegedRTO(t *testing.T) {
	tests := []struct {
		name    string
		sack    string // the SACK option of the peer's ACK at 0.16 s
		lostOut int    // bytes deemed lost after the RTO and the head's retransmission
	}{
		{"reneged", "<sack 1461:2921>", 9 * 1460},
		{"not reneged", "", 8 * 1460},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			noTLP(&cfg)
			h := runScript(t, cfg, sackOpen+`
+0.15 < . 1:1(0) ack 1461 win 510 `+tc.sack+`
+0.14 write 1460 = 1460
+0    > P. 14601:16061(1460) ack 1
+0.0875 > . 1461:2921(1460) ack 1
+0    count Timeouts 1`)
			r := h.c.rack()
			if r == nil {
				t.Fatal("no RACK state")
			}
			// The head went again: it is in flight, not lost; so is the
			// segment sent 0.0875 s ago unless it is deemed lost.
			if got := r.lostOut; got != tc.lostOut {
				t.Errorf("lost bytes %d after the RTO, want %d", got, tc.lostOut)
			}
			if got, want := h.c.inFlight(), 10*1460-tc.lostOut; got != want {
				t.Errorf("in flight %d after the RTO, want %d", got, want)
			}
		})
	}
}

// TestRACKLogAtISS: after 4 GiB the data reaches the sequence number of
// the SYN again; a segment starting there is logged like any other.
func TestRACKLogAtISS(t *testing.T) {
	h := runScript(t, DefaultConfig(), sackOpen+`
+0.01 < . 1:1(0) ack 14601 win 510`)
	c := h.c
	r := c.rack()
	if r == nil || len(r.live()) != 0 {
		t.Fatalf("RACK state %v, want an empty log", r)
	}
	c.sndUna, c.sndNxt, c.sndMax = c.iss, c.iss, c.iss // 2^32 bytes later
	c.sent(h.now, c.iss, 1460)
	if got := len(r.live()); got != 1 {
		t.Fatalf("%d segments logged, want 1", got)
	}
	if e := r.live()[0]; e.start != c.iss || e.end != c.iss.Add(1460) {
		t.Fatalf("logged [%d, %d), want [%d, %d)", e.start, e.end, c.iss, c.iss.Add(1460))
	}
}

// TestRACKConfigChange: Config.RACK is read at the handshake. A
// connection that began without it keeps the RFC 6675 rules when it is
// turned on (stack.SetOptions): its segments are not in a send log, so
// after an RTO the segments go again by go-back-N (RACK, finding none
// of them in its log, would send one per RTO); and one that began with
// it keeps RACK when it is turned off.
func TestRACKConfigChange(t *testing.T) {
	tests := []struct {
		name   string
		before bool     // Config.RACK at the handshake
		then   []string // the script once it changed
	}{
		{"turned on", false, []string{
			"+0.21 > . 1461:2921(1460) ack 1",
			"+0    count Timeouts 1",
			"+0.01 < . 1:1(0) ack 4381 win 510",
			"+0    > . 4381:5841(1460) ack 1",
			"+0    > . 5841:7301(1460) ack 1",
		}},
		{"turned off", true, []string{
			"+0.0105 > . 1461:2921(1460) ack 1", // the reordering timer
			"+0    count Timeouts 0",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			noTLP(&cfg)
			cfg.RACK = tc.before
			h := runScript(t, cfg, sackOpen+`
+0.01 < . 1:1(0) ack 1461 win 510 <sack 2921:4381>`)
			h.cfg.RACK = !tc.before
			if got := h.c.rack() != nil; got != tc.before {
				t.Fatalf("RACK runs: %v, want %v", got, tc.before)
			}
			for _, line := range tc.then {
				if err := h.step(line); err != nil {
					t.Fatalf("%q: %v", line, err)
				}
			}
		})
	}
}

// TestRACKHostileSACK: SACK blocks a peer controls (empty, inverted,
// wrapped below SND.UNA, past SND.MAX, cutting a segment, all of it) leave
// the send log agreeing with the scoreboard: a segment is marked SACKed
// exactly when the scoreboard holds it whole, and RACK's counts of SACKed
// segments and lost bytes are those of the marks.
func TestRACKHostileSACK(t *testing.T) {
	tests := []struct {
		name   string
		sack   string // the SACK option of the peer's ACK of the first segment
		sacked int    // bytes the scoreboard then holds
	}{
		{"empty block", "<sack 2921:2921>", 0},
		{"inverted block", "<sack 4381:2921>", 0},
		{"block past SND.MAX", "<sack 13141:20000>", 1460},
		{"block from below SND.UNA", "<sack 1:4381>", 2920},
		{"block wrapped below SND.UNA", "<sack 4294967000:2921>", 1460},
		{"block inside one segment", "<sack 2000:2500>", 500},
		{"every block garbage but one", "<sack 2921:4381 4381:2921 5841:5841 7301:8761>", 2920},
		{"block of everything outstanding", "<sack 1461:14601>", 13140},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			noTLP(&cfg)
			h := runScript(t, cfg, sackOpen+`
+0.01 < . 1:1(0) ack 1461 win 510 `+tc.sack)
			c := h.c
			r := c.rack()
			if r == nil {
				t.Fatal("no RACK state")
			}
			if got := c.sackedIn(c.sndUna, c.sndMax); got != tc.sacked {
				t.Errorf("scoreboard holds %d bytes, want %d", got, tc.sacked)
			}
			checkRACKLog(t, c, r)
		})
	}
}

// checkRACKLog checks the send log against the scoreboard and RACK's
// counts.
func checkRACKLog(t *testing.T, c *Conn, r *rackState) {
	t.Helper()
	live := r.live()
	if len(live) == 0 || live[0].start != c.sndUna || live[len(live)-1].end != c.sndMax {
		t.Fatalf("log %v does not cover [%v, %v)", live, c.sndUna, c.sndMax)
	}
	sacked, lost := int32(0), 0
	for i, e := range live {
		if i > 0 && e.start != live[i-1].end {
			t.Errorf("log entry %d starts at %v, after a gap or overlap", i, e.start)
		}
		whole := c.unsacked(e.start, e.end) == 0
		if got := e.flags&txSacked != 0; got != whole {
			t.Errorf("[%v, %v) marked SACKed %v, scoreboard holds it whole %v", e.start, e.end, got, whole)
		}
		if e.flags&txSacked != 0 {
			sacked++
		}
		if e.flags&txLost != 0 {
			lost += int(e.end.Sub(e.start))
		}
	}
	if sacked != r.sackedOut || lost != r.lostOut {
		t.Errorf("counts: %d segments SACKed, %d bytes lost; marks say %d, %d", r.sackedOut, r.lostOut, sacked, lost)
	}
	if in := c.inFlight(); in < 0 || in > int(c.sndMax.Sub(c.sndUna)) {
		t.Errorf("in flight %d outside [0, %d]", in, c.sndMax.Sub(c.sndUna))
	}
}
