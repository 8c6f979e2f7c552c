package tcp

import "testing"

// sackOpen opens a connection to a peer that does SACK and window scaling
// but not timestamps (so MSS 1460), with a 10 ms round trip, and sends
// ten full segments: the initial window.
var sackOpen = sackOpenRTT("0.01", 2)

// sackOpenRTT is sackOpen with the round trip given in seconds; the ten
// segments leave in units of unit segments, as Linux's pacing rate for
// that round trip sizes them (push.go: two at 10 ms, five at 1 ms).
func sackOpenRTT(rtt string, unit int) string {
	return sackConnect(rtt, sackSynAck) + "+0    write 14600 = 14600\n" + flight(1, 10, 1460, unit, true, "")
}

// sackSynAck is the usual SYN-ACK of a peer that does SACK and window
// scaling but not timestamps: its window and options.
const sackSynAck = "win 65535 <mss 1460,sackOK,nop,wscale 7>"

// sackConnect is connect() and the handshake with a peer that does SACK
// but not timestamps, rtt seconds away: synAck is the window and options
// of its SYN-ACK.
func sackConnect(rtt, synAck string) string {
	return `
+0    connect
+0    > S 0:0(0) win 64240 <mss 1460,sackOK,TS val 0 ecr 0,nop,wscale 7>
+` + rtt + ` < S. 0:0(0) ack 1 ` + synAck + `
+0    > . 1:1(0) ack 1 <>
`
}

// TestSACKLossRecovery: RFC 6675 loss recovery from the SACK scoreboard.
func TestSACKLossRecovery(t *testing.T) {
	runScriptTests(t, []scriptTest{
		{name: "a hole is lost once more than 2*SMSS above it is SACKed: retransmitted at once, one ACK later, no RTO (RFC 6675 §4 IsLost)",
			script: sackOpen + `
+0.01 < . 1:1(0) ack 1461 win 510 <sack 2921:4381>
+0    < . 1:1(0) ack 1461 win 510 <sack 2921:5841>
+0    < . 1:1(0) ack 1461 win 510 <sack 2921:7301>
+0    > . 1461:2921(1460) ack 1
+0    count SACKRecovery 1
+0.01 < . 1:1(0) ack 14601 win 510
+1    sendq 0
+0    retrans 1
+0    count Timeouts 0`},
		{name: "one ACK whose SACK blocks show three holes: all three retransmitted at once, in one round trip",
			script: sackOpen + `
+0.01 < . 1:1(0) ack 1461 win 510 <sack 2921:4381>
+0    < . 1:1(0) ack 1461 win 510 <sack 8761:14601 5841:7301 2921:4381>
+0    > . 1461:2921(1460) ack 1
+0    > . 4381:5841(1460) ack 1
+0    > . 7301:8761(1460) ack 1
+0.01 < . 1:1(0) ack 14601 win 510
+1    retrans 3
+0    count Timeouts 0`},
		{name: "an ACK that moves SND.UNA up to the hole and SACKs all above it: the reduction starts from the window before that ACK (ssthresh 7 of 10, not 3.5 of the 5 still out), so the retransmission and six new segments go (conformance/recovery-ssthresh-prior-flight.pkt)",
			script: sackOpen + `
+0    write 14600 = 14600
+0.01 < . 1:1(0) ack 7301 win 510 <sack 8761:14601>
+0    > . 7301:8761(1460) ack 1
` + flight(14601, 6, 1460, 2, false, "") + `
+0    count SACKRecovery 1`},
		{name: "five segments of a window of ten out and the first lost: ssthresh is 70% of the window, not of the five (Linux's cubic), so a write after the SACK sends three new segments beside the retransmission, not two (conformance/recovery-ssthresh-cwnd.pkt)",
			script: sackConnect("0.01", sackSynAck) + `+0    write 7300 = 7300
` + flight(1, 5, 1460, 2, true, "") + `+0.01 < . 1:1(0) ack 1 win 510 <sack 1461:7301>
+0    > . 1:1461(1460) ack 1
+0    write 29200 = 29200
` + flight(7301, 3, 1460, 2, false, "")},
		{name: "a lost retransmission is sent again once data sent after it is SACKed, without waiting for the RTO (lost-retransmission detection)",
			script: sackOpen + `
+0    write 14600 = 14600
+0.01 < . 1:1(0) ack 1461 win 510 <sack 2921:7301>
+0    > . 1461:2921(1460) ack 1
+0    > . 14601:16061(1460) ack 1
+0    < . 1:1(0) ack 1461 win 510 <sack 2921:14601>
+0    > . 16061:17521(1460) ack 1
+0    > P. 17521:18981(1460) ack 1
+0    > . 18981:20441(1460) ack 1
+0    > P. 20441:21901(1460) ack 1
+0    > . 21901:23361(1460) ack 1
+0.01 < . 1:1(0) ack 1461 win 510 <sack 2921:16061>
+0    > . 1461:2921(1460) ack 1
+0    > . 23361:24821(1460) ack 1
+0    retrans 2
+0    count Timeouts 0`},
		{name: "SACKed segments let new data out before recovery (limited transmit, RFC 3042): the pipe, not SND.NXT-SND.UNA, is what cwnd limits",
			script: sackOpen + `
+0    write 2920 = 2920
+0.01 < . 1:1(0) ack 1 win 510 <sack 1461:2921>
+0    > . 14601:16061(1460) ack 1
+0    < . 1:1(0) ack 1 win 510 <sack 1461:4381>
+0    > P. 16061:17521(1460) ack 1
+0    count SACKRecovery 0`},
		{name: "a D-SACK block is counted, not taken as a SACK (RFC 2883 §4)",
			script: sackOpen + `
+0.01 < . 1:1(0) ack 14601 win 510 <sack 1461:2921>
+0    count DSACKRecv 1
+0    count SACKRecovery 0
+1    sendq 0`},
		{name: "SACK blocks beyond what we sent are ignored",
			script: sackOpen + `
+0.01 < . 1:1(0) ack 1461 win 510 <sack 20000:30000 15000:16000 14601:14700>
+0    < . 1:1(0) ack 1461 win 510 <sack 20000:30000 15000:16000 14601:14700>
+0    count SACKRecovery 0`},
		{name: "after an RTO the retransmission skips what the peer SACKed",
			cfg: noTLPNoRACK,
			script: sackOpen + `
+0.01 < . 1:1(0) ack 1461 win 510 <sack 2921:4381>
+0.21 > . 1461:2921(1460) ack 1
+0    count Timeouts 1
+0.01 < . 1:1(0) ack 2921 win 510 <sack 2921:4381>
+0    > . 4381:5841(1460) ack 1
+0    > . 5841:7301(1460) ack 1`},
	})
}

// TestFastRetransmit: three duplicate ACKs mean a segment was lost while
// later ones arrived (RFC 5681 §3.2); NewReno handles several losses in one
// window (RFC 6582). The peer does not do SACK, and the congestion control
// is Reno, whose window arithmetic the RFCs give.
func TestFastRetransmit(t *testing.T) {
	reno := func(c *Config) { c.CongestionControl = Reno }
	const fiveInFlight = noTSOpen + `
+0    write 1460 = 1460
+0    > P. 1:1461(1460) ack 1
+0.01 < . 1:1(0) ack 1461 win 510
+0    write 7300 = 7300
+0    > . 1461:2921(1460) ack 1
+0    > P. 2921:4381(1460) ack 1
+0    > . 4381:5841(1460) ack 1
+0    > P. 5841:7301(1460) ack 1
+0    > P. 7301:8761(1460) ack 1
`
	runScriptTests(t, []scriptTest{
		{cfg: reno, name: "the third duplicate ACK retransmits the first unACKed segment at once, long before the RTO",
			script: fiveInFlight + `
+0.01 < . 1:1(0) ack 1461 win 510
+0    < . 1:1(0) ack 1461 win 510
+0    < . 1:1(0) ack 1461 win 510
+0    > . 1461:2921(1460) ack 1
+0    retrans 1
+0.01 < . 1:1(0) ack 8761 win 510
+1    sendq 0`},
		{cfg: reno, name: "two duplicate ACKs are not enough: the loss waits for the RTO",
			script: fiveInFlight + `
+0.01 < . 1:1(0) ack 1461 win 510
+0    < . 1:1(0) ack 1461 win 510
+0.2  > . 1461:2921(1460) ack 1`},
		{cfg: reno, name: "an ACK that updates the window is not a duplicate (RFC 5681 §2)",
			script: fiveInFlight + `
+0.01 < . 1:1(0) ack 1461 win 510
+0    < . 1:1(0) ack 1461 win 600
+0    < . 1:1(0) ack 1461 win 600
+0.2  > . 1461:2921(1460) ack 1`},
		{cfg: reno, name: "a segment carrying data is not a duplicate ACK (RFC 5681 §2)",
			script: fiveInFlight + `
+0.01 < . 1:1(0) ack 1461 win 510
+0    < P. 1:11(10) ack 1461 win 510
+0    > . 8761:8761(0) ack 11
+0    < . 11:11(0) ack 1461 win 510
+0.2  > . 1461:2921(1460) ack 11`},
		{cfg: reno, name: "NewReno: a partial ACK retransmits the next hole at once (RFC 6582 §3.2)",
			script: fiveInFlight + `
+0.01 < . 1:1(0) ack 1461 win 510
+0    < . 1:1(0) ack 1461 win 510
+0    < . 1:1(0) ack 1461 win 510
+0    > . 1461:2921(1460) ack 1
+0.01 < . 1:1(0) ack 4381 win 510
+0    > . 4381:5841(1460) ack 1
+0.01 < . 1:1(0) ack 8761 win 510
+0    sendq 0
+0    retrans 2`},
		{cfg: reno, name: "a fourth duplicate ACK inflates cwnd by one MSS and lets new data out during recovery (RFC 5681 §3.2 step 4)",
			script: fiveInFlight + `
+0    write 1460 = 1460
+0    > P. 8761:10221(1460) ack 1
+0.01 < . 1:1(0) ack 1461 win 510
+0    < . 1:1(0) ack 1461 win 510
+0    < . 1:1(0) ack 1461 win 510
+0    > . 1461:2921(1460) ack 1
+0    write 1460 = 1460
+0    < . 1:1(0) ack 1461 win 510
+0    > P. 10221:11681(1460) ack 1`},
	})
}
