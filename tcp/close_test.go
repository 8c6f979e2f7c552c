package tcp

import (
	"testing"
)

// handshake opens an active connection with timestamps, SACK and window
// scaling, as two Linux hosts would.
const activeOpen = `
+0    connect
+0    > S 0:0(0) win 64240 <mss 1460,sackOK,TS val 0 ecr 0,nop,wscale 7>
+0.01 < S. 0:0(0) ack 1 win 65160 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>
+0    > . 1:1(0) ack 1
+0    state ESTABLISHED
`

// passiveOpen has the peer open a connection to our listener.
const passiveOpen = `
+0    < S 0:0(0) win 64240 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>
+0    > S. 0:0(0) ack 1 win 65160 <mss 1460,sackOK,TS val 0 ecr 100,nop,wscale 7>
+0.01 < . 1:1(0) ack 1 win 502
+0    state ESTABLISHED
`

func TestCloseScripts(t *testing.T) {
	runScriptTests(t, []scriptTest{
		{
			name: "active close, four-way, TIME_WAIT 60s",
			script: activeOpen + `
+1    close
+0    > F. 1:1(0) ack 1
+0    state FIN_WAIT_1
+0.01 < . 1:1(0) ack 2 win 510
+0    state FIN_WAIT_2
+1    < F. 1:1(0) ack 2 win 510
+0    > . 2:2(0) ack 2
+0    state TIME_WAIT
+59.999 state TIME_WAIT
+0.001 state CLOSED`,
			states: "SYN_SENT,ESTABLISHED,FIN_WAIT_1,FIN_WAIT_2,TIME_WAIT,CLOSED",
		},
		{
			name: "passive close: CLOSE_WAIT, LAST_ACK, idle FIN ACKed at once",
			script: passiveOpen + `
+1    < F. 1:1(0) ack 1 win 502
+0    > . 1:1(0) ack 2
+0    state CLOSE_WAIT
+0    read 100 = EOF
+1    close
+0    > F. 1:1(0) ack 2
+0    state LAST_ACK
+0.01 < . 2:2(0) ack 2 win 502
+0    state CLOSED`,
			states: "SYN_RCVD,ESTABLISHED,CLOSE_WAIT,LAST_ACK,CLOSED",
		},
		{
			name: "FIN and ACK of our FIN together: FIN_WAIT_1 straight to TIME_WAIT",
			script: activeOpen + `
+0    close
+0    > F. 1:1(0) ack 1
+0.01 < F. 1:1(0) ack 2 win 510
+0    > . 2:2(0) ack 2
+0    state TIME_WAIT`,
			states: "SYN_SENT,ESTABLISHED,FIN_WAIT_1,TIME_WAIT",
		},
		{
			name: "simultaneous close goes through CLOSING",
			script: activeOpen + `
+0    close
+0    > F. 1:1(0) ack 1
+0    < F. 1:1(0) ack 1 win 510
+0    > . 2:2(0) ack 2
+0    state CLOSING
+0.01 < . 2:2(0) ack 2 win 510
+0    state TIME_WAIT`,
			states: "SYN_SENT,ESTABLISHED,FIN_WAIT_1,CLOSING,TIME_WAIT",
		},
		{
			name: "FIN rides on the last data",
			script: activeOpen + `
+0    write 5 = 5; close
+0    > FP. 1:6(5) ack 1
+0.01 < . 1:1(0) ack 7 win 510
+0    state FIN_WAIT_2`,
		},
		{
			name: "half-close: FIN_WAIT_2 still receives and ACKs data, then EOF",
			script: activeOpen + `
+0    shutdown_wr
+0    > F. 1:1(0) ack 1
+0.01 < . 1:1(0) ack 2 win 510
+0.5  < P. 1:11(10) ack 2 win 510
+0    > . 2:2(0) ack 11
+0    read 100 = 10
+0.5  < F. 11:11(0) ack 2 win 510
+0    > . 2:2(0) ack 12
+0    read 100 = EOF
+0    state TIME_WAIT`,
		},
		{
			name: "data after close() draws RST with seq = the segment's ack",
			script: activeOpen + `
+0    close
+0    > F. 1:1(0) ack 1
+0.01 < . 1:1(0) ack 2 win 510
+0.5  < P. 1:11(10) ack 2 win 510
+0    > R 2:2(0)
+0    state CLOSED`,
		},
		{
			name: "close with unread data sends RST, not FIN",
			script: activeOpen + `
+0.1  < P. 1:11(10) ack 1 win 510
+0    > . 1:1(0) ack 11
+0    close
+0    > R. 1:1(0) ack 11
+0    state CLOSED`,
		},
		{
			name: "abort (SO_LINGER 0) sends RST",
			script: activeOpen + `
+0    abort
+0    > R. 1:1(0) ack 1
+0    state CLOSED`,
		},
		{
			name: "retransmitted FIN in TIME_WAIT is ACKed again and restarts 2MSL",
			script: activeOpen + `
+0    close
+0    > F. 1:1(0) ack 1
+0.01 < F. 1:1(0) ack 2 win 510
+0    > . 2:2(0) ack 2
+30   < F. 1:1(0) ack 2 win 510
+0    > . 2:2(0) ack 2
+59   state TIME_WAIT
+1    state CLOSED`,
		},
		{
			name: "orphaned FIN_WAIT_2 times out after tcp_fin_timeout",
			script: activeOpen + `
+0    close
+0    > F. 1:1(0) ack 1
+0.01 < . 1:1(0) ack 2 win 510
+59.9 state FIN_WAIT_2
+0.1  state CLOSED`,
		},
		{
			name: "shutdown(SHUT_WR) FIN_WAIT_2 has no timeout",
			script: activeOpen + `
+0    shutdown_wr
+0    > F. 1:1(0) ack 1
+0.01 < . 1:1(0) ack 2 win 510
+600  state FIN_WAIT_2`,
		},
		{
			// Checked against Linux (conformance/lost-fin-1.pkt): a tail
			// loss probe at the RTO, then RTO backoff; the limit is the
			// time two backoffs from 200 ms take (1.4 s), counted from the
			// first RTO retransmission and checked when the timer fires.
			name: "lost FIN: a tail loss probe, retransmissions with backoff, then dropped silently once tcp_orphan_retries' worth of time has passed",
			cfg:  func(c *Config) { c.OrphanRetries = 2 },
			script: activeOpen + `
+0    close
+0    > F. 1:1(0) ack 1
+0.21 > F. 1:1(0) ack 1
+0    count LossProbes 1
+0    count Timeouts 0
+0.21 > F. 1:1(0) ack 1
+0.42 > F. 1:1(0) ack 1
+0.84 > F. 1:1(0) ack 1
+1.679 state FIN_WAIT_1
+0.001 state CLOSED
+0    count Timeouts 4
+0    count RetransSegs 4`,
		},
		{
			name: "CLOSE_WAIT: the peer retransmits its FIN, we ACK the duplicate with a D-SACK of it when SACK is on (Linux tcp_send_dupack; conformance/lost-ack-2-passive.pkt)",
			script: passiveOpen + `
+0    < F. 1:1(0) ack 1 win 502
+0    > . 1:1(0) ack 2
+0.2  < F. 1:1(0) ack 1 win 502
+0    > . 1:1(0) ack 2
+0    state CLOSE_WAIT
+0    count DSACKOldSent 1`,
		},
		{
			name: "LAST_ACK retransmits its FIN on RTO",
			script: passiveOpen + `
+0    < F. 1:1(0) ack 1 win 502
+0    > . 1:1(0) ack 2
+0    close
+0    > F. 1:1(0) ack 2
+0.21 > F. 1:1(0) ack 2
+0.05 < . 2:2(0) ack 2 win 502
+0    state CLOSED`,
		},
		{
			name: "RST in CLOSE_WAIT: read EOF, write EPIPE",
			script: passiveOpen + `
+0    < F. 1:1(0) ack 1 win 502
+0    > . 1:1(0) ack 2
+0.1  < R. 2:2(0) ack 1 win 0
+0    state CLOSED
+0    read 10 = EOF
+0    write 10 = EPIPE`,
		},
	})
}

func joinStates(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ","
		}
		out += x
	}
	return out
}
