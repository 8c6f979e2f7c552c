package tcp

import "testing"

// TestSynInSynchronizedStates: a SYN that passes the sequence check in a
// synchronized state is never trimmed into data: it draws a challenge ACK
// and is dropped with whatever it carries (RFC 5961 §4.2, Linux
// tcp_validate_incoming); and no data leaves before our own SYN is ACKed.
func TestSynInSynchronizedStates(t *testing.T) {
	runScriptTests(t, []scriptTest{
		{name: "a SYN with data that straddles RCV.NXT: challenge ACK, nothing delivered",
			script: inEstablished + `
+0.01 < S. 0:100(100) ack 1 win 510
+0    > . 1:1(0) ack 1
+0    count ChallengeACK 1
+0    recvq 0`},
		{name: "a retransmitted SYN-ACK in ESTABLISHED is answered with the ACK it lacks",
			script: inEstablished + `
+0.3  < S. 0:0(0) ack 1 win 65535 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>
+0    > . 1:1(0) ack 1
+0    state ESTABLISHED`},
		{name: "data written in SYN_RCVD of a simultaneous open waits for the ACK of our SYN; the FIN of a close() waits behind it",
			script: inSynSent + `
+0.01 < S 0:0(0) win 65535 <mss 1460>
+0    > S. 0:0(0) ack 1
+0    write 100 = 100
+0    close
+0    state FIN_WAIT_1
+0.01 < . 1:1(0) ack 1 win 8192
+0    > FP. 1:101(100) ack 1`},
	})
}
