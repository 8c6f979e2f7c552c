package tcp

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// noTSOpen opens a connection to a peer that does window scaling but not
// timestamps, so RTT samples come from timing one segment at a time and
// Karn's rule decides which ACKs may be timed. The SYN-ACK comes 10 ms
// after the SYN: SRTT 10 ms, RTTVAR 5 ms, RTO 10 + max(4*5, 200) = 210 ms.
const noTSOpen = `
+0    connect
+0    > S 0:0(0) win 64240 <mss 1460,sackOK,TS val 0 ecr 0,nop,wscale 7>
+0.01 < S. 0:0(0) ack 1 win 65535 <mss 1460,nop,wscale 7>
+0    > . 1:1(0) ack 1 <>
+0    mss 1460
`

// plainOpen opens a connection to a peer without window scaling, SACK or
// timestamps: windows are plain byte counts. RTO 210 ms as above.
const plainOpen = `
+0    connect
+0    > S 0:0(0) win 64240 <mss 1460,sackOK,TS val 0 ecr 0,nop,wscale 7>
+0.01 < S. 0:0(0) ack 1 win 65535 <mss 1460>
+0    > . 1:1(0) ack 1 <>
`

// backoffScript expects seg to be retransmitted on every RTO, the RTO
// doubling from first up to RTOMax (RFC 6298 §5.5), and the connection to
// be dropped with ETIMEDOUT when the timer expires after the last of
// retries retransmissions.
func backoffScript(seg string, first time.Duration, retries int, rtoMax time.Duration) string {
	var b strings.Builder
	rto := first
	for range retries {
		fmt.Fprintf(&b, "+%v > %s\n", rto, seg)
		rto = min(2*rto, rtoMax)
	}
	fmt.Fprintf(&b, "+%v state ESTABLISHED\n+1ms state CLOSED\n+0 read 10 = ETIMEDOUT\n", rto-time.Millisecond)
	return b.String()
}

// noTLP turns the tail loss probe off (Linux tcp_early_retrans=0), for
// tests of the RTO alone.
func noTLP(c *Config) { c.TLP = false }

// noTLPNoRACK turns off RACK too, for scripts about what happens once the
// retransmission timer has fired: RACK's reordering timer would repair
// their hole first.
func noTLPNoRACK(c *Config) { c.TLP, c.RACK = false, false }

func TestRetransmission(t *testing.T) {
	runScriptTests(t, []scriptTest{
		{name: "RTO doubles on every expiry up to 120 s, and tcp_retries2 (15) retransmissions later the connection is dropped with ETIMEDOUT, no RST (RFC 6298 §5.5, Linux tcp_write_timeout); no tail loss probe (tcp_early_retrans=0)",
			cfg: noTLP,
			script: activeOpen + `
+0    write 100 = 100
+0    > P. 1:101(100) ack 1
` + backoffScript("P. 1:101(100) ack 1", 210*time.Millisecond, 15, 120*time.Second) + `
+0    retrans 15
+0    write 10 = EPIPE`},
		{name: "Retries2 is a time, as in Linux: with tcp_retries2=3, what three backoffs from 200 ms take (3 s), counted from the first retransmission; with an RTO of 210 ms the timer finds it passed only at its fifth expiry: 4 retransmissions, then ETIMEDOUT (tcp_model_timeout)",
			cfg: func(c *Config) { c.Retries2 = 3; c.TLP = false },
			script: activeOpen + `
+0    write 100 = 100
+0    > P. 1:101(100) ack 1
` + backoffScript("P. 1:101(100) ack 1", 210*time.Millisecond, 4, 120*time.Second)},
		{name: "with the tail loss probe (the Linux default) the first copy goes at the RTO as a probe, the RTO runs again from it, then backs off (RFC 8985 §7, Linux tcp_send_loss_probe)",
			cfg: func(c *Config) { c.Retries2 = 3 },
			script: activeOpen + `
+0    write 100 = 100
+0    > P. 1:101(100) ack 1
+0.21 > P. 1:101(100) ack 1
+0    count LossProbes 1
+0.21 > P. 1:101(100) ack 1
+0.42 > P. 1:101(100) ack 1
+0.84 > P. 1:101(100) ack 1
+1.68 > P. 1:101(100) ack 1
+3.359 state ESTABLISHED
+0.001 state CLOSED
+0    count RetransSegs 5
+0    count LossProbes 1`},
		{name: "an ACK of new data restarts the retry clock: a later loss gets tcp_retries2's time again, from its own first retransmission",
			cfg: func(c *Config) { c.Retries2 = 2; c.TLP = false },
			script: activeOpen + `
+0    write 100 = 100
+0    > P. 1:101(100) ack 1
+0.21 > P. 1:101(100) ack 1
+0.42 > P. 1:101(100) ack 1
+0.1  < . 1:1(0) ack 101 win 510
+0    write 100 = 100
+0    > P. 101:201(100) ack 1
+0.84 > P. 101:201(100) ack 1
+1.679 state ESTABLISHED
+0.001 state CLOSED`},
		{name: "RTO retransmits one segment (cwnd 1 MSS), then slow start lets two go per ACK (RFC 5681 §3.1, RFC 6298 §5.4)",
			script: noTSOpen + `
+0    write 4380 = 4380
+0    > . 1:1461(1460) ack 1
+0    > P. 1461:2921(1460) ack 1
+0    > P. 2921:4381(1460) ack 1
+0.21 > . 1:1461(1460) ack 1
+0.01 < . 1:1(0) ack 1461 win 510
+0    > . 1461:2921(1460) ack 1
+0    > P. 2921:4381(1460) ack 1
+0.01 < . 1:1(0) ack 4381 win 510
+0    sendq 0`},
		{name: "Karn: an ACK after a retransmission gives no RTT sample, so the backed-off RTO (420 ms) stays for the next segment (RFC 6298 §3 and §5)",
			script: noTSOpen + `
+0    write 100 = 100
+0    > P. 1:101(100) ack 1
+0.21 > P. 1:101(100) ack 1
+0.3  < . 1:1(0) ack 101 win 510
+0    write 100 = 100
+0    > P. 101:201(100) ack 1
+0.42 > P. 101:201(100) ack 1`},
		{name: "Karn: once a segment sent only once is ACKed (100 ms), the RTO collapses to SRTT + max(4*RTTVAR, 200 ms) = 221.25 ms (RFC 6298 §2)",
			script: noTSOpen + `
+0    write 100 = 100
+0    > P. 1:101(100) ack 1
+0.21 > P. 1:101(100) ack 1
+0.3  < . 1:1(0) ack 101 win 510
+0    write 100 = 100
+0    > P. 101:201(100) ack 1
+0.1  < . 1:1(0) ack 201 win 510
+0    write 100 = 100
+0    > P. 201:301(100) ack 1
+221.25ms > P. 201:301(100) ack 1`},
		{name: "Karn: the timed segment resent by fast retransmit gives no RTT sample either; the RTO stays 210 ms",
			script: noTSOpen + `
+0    write 1460 = 1460
+0    > P. 1:1461(1460) ack 1
+0.01 < . 1:1(0) ack 1461 win 510
+0    write 5840 = 5840
+0    > . 1461:2921(1460) ack 1
+0    > P. 2921:4381(1460) ack 1
+0    > . 4381:5841(1460) ack 1
+0    > P. 5841:7301(1460) ack 1
+0.01 < . 1:1(0) ack 1461 win 510
+0    < . 1:1(0) ack 1461 win 510
+0    < . 1:1(0) ack 1461 win 510
+0    > . 1461:2921(1460) ack 1
+0.1  < . 1:1(0) ack 7301 win 510
+0    write 100 = 100
+0    > P. 7301:7401(100) ack 1
+0.21 > P. 7301:7401(100) ack 1`},
		{name: "with timestamps an ACK of a retransmission does give a sample (the echo tells which copy it answers; RFC 7323 §4), so the RTO collapses",
			script: `
+1    connect
+0    > S 0:0(0) <mss 1460,sackOK,TS val 1000 ecr 0,nop,wscale 7>
+0.01 < S. 0:0(0) ack 1 win 65535 <mss 1460,sackOK,TS val 5 ecr 1000,nop,wscale 7>
+0    > . 1:1(0) ack 1 <nop,nop,TS val 1010 ecr 5>
+0    write 100 = 100
+0    > P. 1:101(100) ack 1 <nop,nop,TS val 1010 ecr 5>
+0.21 > P. 1:101(100) ack 1 <nop,nop,TS val 1220 ecr 5>
+0.01 < . 1:1(0) ack 101 win 510 <nop,nop,TS val 6 ecr 1220>
+0    write 100 = 100
+0    > P. 101:201(100) ack 1
+0.21 > P. 101:201(100) ack 1`},
	})
}

// TestSynRetries: the SYN and SYN-ACK are retransmitted with backoff from
// the 1 s initial RTO (RFC 6298 §2.1) and the attempt ends after
// tcp_syn_retries (6) or tcp_synack_retries (5).
func TestSynRetries(t *testing.T) {
	runScriptTests(t, []scriptTest{
		{name: "SYN: retransmitted at 1, 3, 7, 15, 31 and 63 s with the same options, connect fails with ETIMEDOUT at 127 s (tcp_syn_retries 6)",
			script: inSynSent + `
+1    > S 0:0(0) win 64240 <mss 1460,sackOK,TS val 1000 ecr 0,nop,wscale 7>
+2    > S 0:0(0) win 64240 <mss 1460,sackOK,TS val 3000 ecr 0,nop,wscale 7>
+4    > S 0:0(0) win 64240 <mss 1460,sackOK,TS val 7000 ecr 0,nop,wscale 7>
+8    > S 0:0(0) win 64240 <mss 1460,sackOK,TS val 15000 ecr 0,nop,wscale 7>
+16   > S 0:0(0) win 64240 <mss 1460,sackOK,TS val 31000 ecr 0,nop,wscale 7>
+32   > S 0:0(0) win 64240 <mss 1460,sackOK,TS val 63000 ecr 0,nop,wscale 7>
+63.999 state SYN_SENT
+0.001 state CLOSED
+0    read 10 = ETIMEDOUT`,
			states: "SYN_SENT,CLOSED"},
		{name: "SynRetries 2: the attempt ends at 7 s",
			cfg: func(c *Config) { c.SynRetries = 2 },
			script: inSynSent + `
+1    > S 0:0(0)
+2    > S 0:0(0)
+4    state CLOSED
+0    write 1 = ETIMEDOUT`},
		{name: "SYN-ACK: retransmitted at 1, 3, 7, 15 and 31 s, the embryonic connection dropped at 63 s (tcp_synack_retries 5)",
			script: inSynRcvd + `
+1    > S. 0:0(0) ack 1 <mss 1460,sackOK,TS val 1000 ecr 100,nop,wscale 7>
+2    > S. 0:0(0) ack 1
+4    > S. 0:0(0) ack 1
+8    > S. 0:0(0) ack 1
+16   > S. 0:0(0) ack 1
+31.999 state SYN_RCVD
+0.001 state CLOSED`,
			states: "SYN_RCVD,CLOSED"},
		{name: "a late ACK of a retransmitted SYN-ACK still completes the handshake",
			script: inSynRcvd + `
+1    > S. 0:0(0) ack 1
+0.5  < . 1:1(0) ack 1 win 502
+0    state ESTABLISHED
+10   state ESTABLISHED`},
		{name: "handshake after a lost SYN, no timestamps: no RTT sample, so the RTO falls back to 3 s (RFC 6298 §5.7, Linux TCP_TIMEOUT_FALLBACK)",
			script: inSynSent + `
+1    > S 0:0(0)
+0.01 < S. 0:0(0) ack 1 win 65535 <mss 1460,nop,wscale 7>
+0    > . 1:1(0) ack 1
+0    write 100 = 100
+0    > P. 1:101(100) ack 1
+3    > P. 1:101(100) ack 1`},
		{name: "handshake after a lost SYN, with timestamps: the echo of the second SYN's TSval gives a 10 ms sample, RTO 210 ms",
			script: inSynSent + `
+1    > S 0:0(0)
+0.01 < S. 0:0(0) ack 1 win 65535 <mss 1460,sackOK,TS val 100 ecr 1000,nop,wscale 7>
+0    > . 1:1(0) ack 1
+0    write 100 = 100
+0    > P. 1:101(100) ack 1
+0.21 > P. 1:101(100) ack 1`},
	})
}
