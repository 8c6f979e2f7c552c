package tcp

import "testing"

// TestSACKRenegingOnRTO: when the retransmission timer fires and the
// segment at SND.UNA is SACKed, the peer has reneged on its SACKs (RFC 2018
// §8): Linux's tcp_timeout_mark_lost forgets every SACKed mark and the
// head goes again, and tcp_retransmit_timer re-arms the timer whatever it
// sent. Skipping the SACKed head left nothing to send and no timer: a peer
// that SACKed our FIN without ACKing it kept the connection in FIN_WAIT_1
// forever (FuzzHostilePeer found it).
func TestSACKRenegingOnRTO(t *testing.T) {
	runScriptTests(t, []scriptTest{
		{name: "a SACKed FIN that is never ACKed is sent again at each RTO until it is ACKed",
			cfg: noTLP,
			script: activeOpen + `
+0    close
+0    > F. 1:1(0) ack 1
+0.01 < . 1:1(0) ack 1 win 510 <sack 1:2>
+0.2  > F. 1:1(0) ack 1
+0.42 > F. 1:1(0) ack 1
+0.84 > F. 1:1(0) ack 1
+0    < . 1:1(0) ack 2 win 510
+0    state FIN_WAIT_2`},
		{name: "SACKed data that is never ACKed goes again from SND.UNA at the RTO",
			cfg: noTLP,
			script: activeOpen + `
+0    write 100 = 100
+0    > P. 1:101(100) ack 1
+0.01 < . 1:1(0) ack 1 win 510 <sack 1:101>
+0.2  > P. 1:101(100) ack 1
+0.01 < . 1:1(0) ack 101 win 510
+0    sendq 0`},
	})
}
