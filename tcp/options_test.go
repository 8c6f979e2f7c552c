package tcp

import "testing"

// TestOptionNegotiation: MSS (RFC 9293 §3.7.1), window scaling and
// timestamps (RFC 7323) and SACK-permitted (RFC 2018) are used only when
// both SYNs carry them, and the wire shows Linux's option layout.
func TestOptionNegotiation(t *testing.T) {
	runScriptTests(t, []scriptTest{
		{name: "peer without options (active open): MSS 536 default, no timestamps, no window scaling, no SACK",
			script: `
+0    connect
+0    > S 0:0(0) win 64240 <mss 1460,sackOK,TS val 0 ecr 0,nop,wscale 7>
+0.01 < S. 0:0(0) ack 1 win 8760
+0    > . 1:1(0) ack 1 win 64240 <>
+0    mss 536
+0    write 1000 = 1000
+0    > . 1:537(536) ack 1 win 64240 <>
+0    > P. 537:1001(464) ack 1 win 64240 <>`},
		{name: "peer without options (passive open): the SYN-ACK carries only our MSS; data segments carry no options",
			script: `
+0    < S 0:0(0) win 8760
+0    > S. 0:0(0) ack 1 win 64240 <mss 1460>
+0.01 < . 1:1(0) ack 1 win 8760
+0    mss 536
+0    write 600 = 600
+0    > . 1:537(536) ack 1 <>
+0    > P. 537:601(64) ack 1 <>`},
		{name: "a peer without window scaling: its window is plain bytes, ours is at most 65535 and unscaled",
			script: `
+0    connect
+0    > S 0:0(0)
+0.01 < S. 0:0(0) ack 1 win 3000 <mss 1460,sackOK,TS val 100 ecr 0>
+0    > . 1:1(0) ack 1 win 64240 <nop,nop,TS val 10 ecr 100>
+0    write 5000 = 5000
+0    > . 1:1449(1448) ack 1 win 64240
+0    > P. 1449:2897(1448) ack 1 win 64240`},
		{name: "window scaling negotiated: the SYN-ACK's window is not scaled (RFC 7323 §2.2), later windows are (peer shift 2), ours is shifted by 7: the SYN's 64240 bytes, aligned up to 502 units (Linux rcv_ssthresh; conformance/data-window.pkt)",
			script: `
+0    connect
+0    > S 0:0(0)
+0.01 < S. 0:0(0) ack 1 win 4000 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 2>
+0    > . 1:1(0) ack 1 win 502
+0    write 10000 = 10000
+0    > . 1:1449(1448) ack 1 win 502
+0    > P. 1449:2897(1448) ack 1 win 502
+0.01 < . 1:1(0) ack 2897 win 1000
+0    > . 2897:4345(1448) ack 1
+0    > P. 4345:5793(1448) ack 1`},
		{name: "we do not offer window scaling: no wscale in our SYN, and the peer's wscale is then ignored (RFC 7323 §1.3)",
			cfg: func(c *Config) { c.WScale, c.RcvBuf = -1, 65535 },
			script: `
+0    connect
+0    > S 0:0(0) win 64240 <mss 1460,sackOK,TS val 0 ecr 0>
+0.01 < S. 0:0(0) ack 1 win 2896 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>
+0    > . 1:1(0) ack 1 win 64240
+0    write 5000 = 5000
+0    > . 1:1449(1448) ack 1
+0    > P. 1449:2897(1448) ack 1
+0.01 < . 1:1(0) ack 2897 win 1448
+0    > . 2897:4345(1448) ack 1`},
		{name: "timestamps negotiated: every segment carries TSval from our 1 kHz clock and echoes the peer's latest in-order TSval (RFC 7323 §3, §4.3)",
			script: `
+0    connect
+0    > S 0:0(0) <mss 1460,sackOK,TS val 0 ecr 0,nop,wscale 7>
+0.01 < S. 0:0(0) ack 1 win 65535 <mss 1460,sackOK,TS val 700 ecr 0,nop,wscale 7>
+0    > . 1:1(0) ack 1 <nop,nop,TS val 10 ecr 700>
+0    mss 1448
+1.234 < P. 1:11(10) ack 1 win 510 <nop,nop,TS val 900 ecr 10>
+0    > . 1:1(0) ack 11 <nop,nop,TS val 1244 ecr 900>
+0.1  < P. 21:31(10) ack 1 win 510 <nop,nop,TS val 950 ecr 10>
+0    > . 1:1(0) ack 11 <nop,nop,TS val 1344 ecr 900,nop,nop,sack 21:31>
+0    write 5 = 5
+0    > P. 1:6(5) ack 11 <nop,nop,TS val 1344 ecr 900,nop,nop,sack 21:31>`},
		{name: "timestamps offered by the peer but not by us: none used, MSS not reduced",
			cfg: func(c *Config) { c.Timestamps = false },
			script: `
+0    < S 0:0(0) win 64240 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>
+0    > S. 0:0(0) ack 1 win 64240 <mss 1460,nop,nop,sackOK,nop,wscale 7>
+0.01 < . 1:1(0) ack 1 win 502
+0    mss 1460
+0    write 10 = 10
+0    > P. 1:11(10) ack 1 <>`},
		{name: "SACK offered without timestamps: SYN-ACK layout mss,nop,nop,sackOK,nop,wscale (Linux)",
			script: `
+0    < S 0:0(0) win 64240 <mss 1460,nop,nop,sackOK,nop,wscale 7>
+0    > S. 0:0(0) ack 1 win 64240 <mss 1460,nop,nop,sackOK,nop,wscale 7>`},
		{name: "timestamps without SACK: the SYN-ACK has no sackOK and our out-of-order ACKs no SACK blocks",
			script: `
+0    < S 0:0(0) win 64240 <mss 1460,nop,nop,TS val 100 ecr 0,nop,wscale 7>
+0    > S. 0:0(0) ack 1 win 65160 <mss 1460,nop,nop,TS val 0 ecr 100,nop,wscale 7>
+0.01 < . 1:1(0) ack 1 win 502
+0.01 < P. 101:201(100) ack 1 win 502
+0    > . 1:1(0) ack 1 <nop,nop,TS val 20 ecr 100>`},
		{name: "the peer's MSS below ours bounds our segments (less 12 bytes for timestamps)",
			script: `
+0    connect
+0    > S 0:0(0)
+0.01 < S. 0:0(0) ack 1 win 65535 <mss 1000,sackOK,TS val 100 ecr 0,nop,wscale 7>
+0    > . 1:1(0) ack 1
+0    mss 988
+0    write 2000 = 2000
+0    > . 1:989(988) ack 1
+0    > P. 989:1977(988) ack 1
+0    > P. 1977:2001(24) ack 1`},
	})
}
