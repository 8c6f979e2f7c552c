package tcp

import "testing"

// TestNagle: Nagle's algorithm with Minshall's change, as Linux has it
// (tcp_nagle_check, tcp_minshall_check): a segment smaller than the MSS is
// held while an earlier *small* segment is unACKed; full-sized segments
// always go; TCP_NODELAY turns it off (RFC 9293 §3.7.4).
func TestNagle(t *testing.T) {
	runScriptTests(t, []scriptTest{
		{name: "a second small write waits for the ACK of the first small segment",
			script: inEstablished + `
+0    write 100 = 100
+0    > P. 1:101(100) ack 1
+0    write 100 = 100
+0.01 < . 1:1(0) ack 101 win 510
+0    > P. 101:201(100) ack 1`},
		{name: "held small writes coalesce into one segment when the ACK comes",
			script: inEstablished + `
+0    write 100 = 100
+0    > P. 1:101(100) ack 1
+0    write 100 = 100
+0.001 write 100 = 100
+0.001 write 100 = 100
+0.01 < . 1:1(0) ack 101 win 510
+0    > P. 101:401(300) ack 1`},
		{name: "Minshall: a small write after a full-sized segment goes at once; classic Nagle would hold it behind any unACKed data",
			script: inEstablished + `
+0    write 1448 = 1448
+0    > P. 1:1449(1448) ack 1
+0    write 100 = 100
+0    > P. 1449:1549(100) ack 1
+0    write 100 = 100
+0.01 < . 1:1(0) ack 1449 win 510
+0.01 < . 1:1(0) ack 1549 win 510
+0    > P. 1549:1649(100) ack 1`},
		{name: "full-sized segments are never held, only the small tail",
			script: inEstablished + `
+0    write 100 = 100
+0    > P. 1:101(100) ack 1
+0    write 3000 = 3000
+0    > . 101:1549(1448) ack 1
+0    > P. 1549:2997(1448) ack 1
+0.01 < . 1:1(0) ack 101 win 510
+0    > P. 2997:3101(104) ack 1`},
		{name: "TCP_NODELAY: small writes go at once",
			cfg: func(c *Config) { c.NoDelay = true },
			script: inEstablished + `
+0    write 100 = 100
+0    > P. 1:101(100) ack 1
+0    write 100 = 100
+0    > P. 101:201(100) ack 1
+0.001 write 1 = 1
+0    > P. 201:202(1) ack 1`},
		{name: "close() pushes a held tail out with the FIN: no Nagle after close (Linux tcp_send_fin)",
			script: inEstablished + `
+0    write 100 = 100
+0    > P. 1:101(100) ack 1
+0    write 100 = 100
+0.005 close
+0    > FP. 101:201(100) ack 1`},
	})
}

// TestSendWindow: the sender never puts more in flight than the peer's
// window (RFC 9293 §3.8.6).
func TestSendWindow(t *testing.T) {
	runScriptTests(t, []scriptTest{
		{name: "the peer's window limits what is in flight; its ACK moves the window and the rest goes",
			script: `
+0    connect
+0    > S 0:0(0)
+0.01 < S. 0:0(0) ack 1 win 2920 <mss 1460>
+0    > . 1:1(0) ack 1
+0    write 5000 = 5000
+0    > . 1:1461(1460) ack 1
+0    > P. 1461:2921(1460) ack 1
+0.01 < . 1:1(0) ack 2921 win 2920
+0    > . 2921:4381(1460) ack 1
+0    > P. 4381:5001(620) ack 1`},
		{name: "a window that opens without new data ACKed (a pure window update) lets data out (in segments of half the largest window offered, tcp_bound_to_half_wnd)",
			script: `
+0    connect
+0    > S 0:0(0)
+0.01 < S. 0:0(0) ack 1 win 1460 <mss 1460>
+0    > . 1:1(0) ack 1
+0    write 2920 = 2920
+0    > . 1:731(730) ack 1
+0    > P. 731:1461(730) ack 1
+0.01 < . 1:1(0) ack 1461 win 0
+0.01 < . 1:1(0) ack 1461 win 1460
+0    > . 1461:2191(730) ack 1
+0    > P. 2191:2921(730) ack 1`},
		{name: "a reordered older ACK (same SEG.SEQ, lower SEG.ACK) does not reopen a shut window (RFC 9293 §3.10.7.4, SND.WL1/SND.WL2)",
			script: plainOpen + `
+0    write 100 = 100
+0    > P. 1:101(100) ack 1
+0.01 < . 1:1(0) ack 101 win 0
+0    < . 1:1(0) ack 1 win 65535
+0    write 100 = 100
+0.21 > . 100:100(0) ack 1`},
	})
}
