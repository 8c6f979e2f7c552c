package tcp

import "testing"

// SO_RCVBUF and SO_SNDBUF (WithBuffers before the SYN, SetBuffers after).
// The SYN and SYN-ACK windows and scales, and the windows of the first
// script, are Linux 6.18's (conformance/rcvbuf-listen.pkt,
// rcvbuf-connect.pkt).
func TestSockBuffers(t *testing.T) {
	locked := func(rcv, snd int) func(*Config) {
		return func(c *Config) { *c = *WithBuffers(c, rcv, snd) }
	}
	runScriptTests(t, []scriptTest{
		{name: "SO_RCVBUF 20000 before listen: the SYN-ACK offers 13 segments and no scale; the measured ratio lifts the clamp to 25000, the window grows to 15 segments, then the free space holds the edge (Linux 6.18, conformance/rcvbuf-listen.pkt)",
			cfg: locked(40000, 0),
			script: `
+0    < S 0:0(0) win 65535 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>
+0    > S. 0:0(0) ack 1 win 18824 <mss 1460,sackOK,TS val * ecr 100,nop,wscale 0>
+0.01 < . 1:1(0) ack 1 win 502 <nop,nop,TS val 110 ecr 1>
+0    < . 1:1449(1448) ack 1 win 502 <TS val 120 ecr 1>
+0    > . 1:1(0) ack 1449 win 21720
+0    < . 1449:2897(1448) ack 1 win 502 <TS val 120 ecr 1>
+0    > . 1:1(0) ack 2897 win 21720
+0    < . 2897:4345(1448) ack 1 win 502 <TS val 120 ecr 1>
+0    > . 1:1(0) ack 4345 win 20272
+0    < . 4345:5793(1448) ack 1 win 502 <TS val 120 ecr 1>
+0    > . 1:1(0) ack 5793 win 18824
+0    < . 5793:7241(1448) ack 1 win 502 <TS val 120 ecr 1>
+0    > . 1:1(0) ack 7241 win 17376
+0    < . 7241:8689(1448) ack 1 win 502 <TS val 120 ecr 1>
+0    > . 1:1(0) ack 8689 win 15928
+0    < . 8689:10137(1448) ack 1 win 502 <TS val 120 ecr 1>
+0    > . 1:1(0) ack 10137 win 14480
+0    < . 10137:11585(1448) ack 1 win 502 <TS val 120 ecr 1>
+0    > . 1:1(0) ack 11585 win 13032
+0.1  read 100000 = 11584
+0.1  < . 11585:13033(1448) ack 1 win 502 <TS val 130 ecr 1>
+0    > . 1:1(0) ack 13033 win 23168`},
		{name: "no SO_RCVBUF: the SYN-ACK offers 45 segments and scale 7",
			script: `
+0    < S 0:0(0) win 65535 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>
+0    > S. 0:0(0) ack 1 win 65160 <mss 1460,sackOK,TS val * ecr 100,nop,wscale 7>`},
		{name: "SO_RCVBUF 100000 before connect: the SYN offers 65535 and scale 1, the first ACK the 99280 bytes the handshake opened",
			cfg: locked(200000, 0),
			script: `
+0    connect
+0    > S 0:0(0) win 65535 <mss 1460,sackOK,TS val * ecr 0,nop,wscale 1>
+0.01 < S. 0:0(0) ack 1 win 65535 <mss 1460,sackOK,TS val 100 ecr 1,wscale 7>
+0    > . 1:1(0) ack 1 win 49640
+0    < . 1:1449(1448) ack 1 win 502 <TS val 110 ecr 1>
+0    > . 1:1(0) ack 1449 win 51088`},
		{name: "SO_RCVBUF at the floor (2304): a 1152-byte window, no scale",
			cfg: locked(SockMinRcvBuf, 0),
			script: `
+0    connect
+0    > S 0:0(0) win 1152 <mss 1460,sackOK,TS val * ecr 0,nop,wscale 0>`},
		{name: "SO_SNDBUF 5000: Write takes 10000 bytes, not the default 256 KiB",
			cfg: locked(0, 10000),
			script: `
+0    connect
+0    > S 0:0(0)
+0.01 < S. 0:0(0) ack 1 win 65535 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>
+0    > . 1:1(0) ack 1
+0    write 20000 = 10000
+0    write 1 = EAGAIN
+0    > . 1:1449(1448) ack 1
+0    > P. 1449:2897(1448) ack 1
+0    > . 2897:4345(1448) ack 1
+0    > P. 4345:5793(1448) ack 1
+0    > . 5793:7241(1448) ack 1
+0    > P. 7241:8689(1448) ack 1
+0    > P. 8689:10001(1312) ack 1
+0.01 < . 1:1(0) ack 10001 win 1000 <nop,nop,TS val 110 ecr 10>
+0    sendq 0`},
		{name: "SO_SNDBUF set on an established connection: Write stops at the new size",
			script: `
+0    connect
+0    > S 0:0(0)
+0.01 < S. 0:0(0) ack 1 win 0 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>
+0    > . 1:1(0) ack 1
+0    bufs 0 4608
+0    write 20000 = 4608
+0    write 1 = EAGAIN`},
		{name: "SO_RCVBUF shrunk on an established connection: the right edge stays, the window closes as data fills it",
			script: `
+0    < S 0:0(0) win 65535 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>
+0    > S. 0:0(0) ack 1 win 65160 <mss 1460,sackOK,TS val * ecr 100,nop,wscale 7>
+0.01 < . 1:1(0) ack 1 win 502 <nop,nop,TS val 110 ecr 1>
+0    bufs 8192 0
+0    < . 1:1449(1448) ack 1 win 502 <nop,nop,TS val 120 ecr 1>
+0    > . 1:1(0) ack 1449 win 497
+0    < . 1449:5793(4344) ack 1 win 502 <nop,nop,TS val 120 ecr 1>
+0    > . 1:1(0) ack 5793 win 463
+0.1  read 10000 = 5792
+0.1  read 1 = EAGAIN`},
	})
}

// SockBuf is setsockopt's doubling with Linux's bounds.
func TestSockBuf(t *testing.T) {
	tests := []struct{ v, max, least, want int }{
		{20000, 212992, SockMinRcvBuf, 40000},
		{1, 212992, SockMinRcvBuf, 2304},
		{1, 212992, SockMinSndBuf, 4608},
		{1 << 20, 212992, SockMinRcvBuf, 425984},
		{-5, 212992, SockMinRcvBuf, 425984}, // u32(-5) is above any maximum
		{-1, 4194304, SockMinSndBuf, 8388608},
		{0, 212992, SockMinRcvBuf, 2304},
	}
	for _, tt := range tests {
		if got := SockBuf(tt.v, tt.max, tt.least); got != tt.want {
			t.Errorf("SockBuf(%d, %d, %d) = %d, want %d", tt.v, tt.max, tt.least, got, tt.want)
		}
	}
}
