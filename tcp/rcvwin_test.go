package tcp

import (
	"math"
	"testing"
)

// The window offered while data sits unread, as Linux 6.18 offers it
// (conformance/window-unread-edge.pkt, window-unread-ts.pkt,
// window-free-space.pkt; rcvwin.go has the rules).
func TestWindowUnread(t *testing.T) {
	const passive = `
+0    < S 0:0(0) win 65535 <mss 1460,sackOK,wscale 7>
+0    > S. 0:0(0) ack 1 win 64240 <mss 1460,sackOK,wscale 7>
+0.01 < . 1:1(0) ack 1 win 502`
	const passiveTS = `
+0    < S 0:0(0) win 65535 <mss 1460,sackOK,TS val 100 ecr 0,wscale 7>
+0    > S. 0:0(0) ack 1 win 65160 <mss 1460,sackOK,TS val * ecr 100,wscale 7>
+0.01 < . 1:1(0) ack 1 win 502 <TS val 110 ecr 1>`
	runScriptTests(t, []scriptTest{
		{name: "1000-byte segments unread hold the right edge (495, 488); full-sized ones open the window from the one last offered (511, 534, 557)",
			script: passive + `
+0    < P. 1:1001(1000) ack 1 win 502
+0    > . 1:1(0) ack 1001 win 495
+0    < P. 1001:2001(1000) ack 1 win 502
+0    > . 1:1(0) ack 2001 win 488
+0    < . 2001:3461(1460) ack 1 win 502
+0    > . 1:1(0) ack 3461 win 511
+0    < . 3461:4921(1460) ack 1 win 502
+0    > . 1:1(0) ack 4921 win 534
+0.1  read 1000 = 1000
+0.1  read 100000 = 3920
+0.1  < . 4921:6381(1460) ack 1 win 502
+0    > . 1:1(0) ack 6381 win 557`},
		{name: "with timestamps: 1000 bytes unread keep the edge (502), full-sized segments open the window (525, 548, 570)",
			script: passiveTS + `
+0    < P. 1:1001(1000) ack 1 win 502 <TS val 120 ecr 1>
+0    > . 1:1(0) ack 1001 win 502
+0    < P. 1001:2449(1448) ack 1 win 502 <TS val 120 ecr 1>
+0    > . 1:1(0) ack 2449 win 525
+0    < P. 2449:3897(1448) ack 1 win 502 <TS val 120 ecr 1>
+0    > . 1:1(0) ack 3897 win 548
+0.1  read 10000 = 3896
+0.1  < P. 3897:5345(1448) ack 1 win 502 <TS val 130 ecr 1>
+0    > . 1:1(0) ack 5345 win 570`},
		{name: "full-sized segments unread: the window grows to 594, then the free space takes 11 units a segment off it; after a read it grows again",
			script: passive + `
+0    < . 1:1461(1460) ack 1 win 502
+0    > . 1:1(0) ack 1461 win 525
+0    < . 1461:2921(1460) ack 1 win 502
+0    > . 1:1(0) ack 2921 win 548
+0    < . 2921:4381(1460) ack 1 win 502
+0    > . 1:1(0) ack 4381 win 571
+0    < . 4381:5841(1460) ack 1 win 502
+0    > . 1:1(0) ack 5841 win 594
+0    < . 5841:7301(1460) ack 1 win 502
+0    > . 1:1(0) ack 7301 win 592
+0    < . 7301:8761(1460) ack 1 win 502
+0    > . 1:1(0) ack 8761 win 581
+0    < . 8761:10221(1460) ack 1 win 502
+0    > . 1:1(0) ack 10221 win 570
+0    < . 10221:11681(1460) ack 1 win 502
+0    > . 1:1(0) ack 11681 win 559
+0    < . 11681:13141(1460) ack 1 win 502
+0    > . 1:1(0) ack 13141 win 548
+0    < . 13141:14601(1460) ack 1 win 502
+0    > . 1:1(0) ack 14601 win 537
+0    < . 14601:16061(1460) ack 1 win 502
+0    > . 1:1(0) ack 16061 win 526
+0    < . 16061:17521(1460) ack 1 win 502
+0    > . 1:1(0) ack 17521 win 515
+0    < . 17521:18981(1460) ack 1 win 502
+0    > . 1:1(0) ack 18981 win 504
+0    < . 18981:20441(1460) ack 1 win 502
+0    > . 1:1(0) ack 20441 win 493
+0.1  read 100000 = 20440
+0.1  < . 20441:21901(1460) ack 1 win 502
+0    > . 1:1(0) ack 21901 win 616
+0.1  < . 21901:23361(1460) ack 1 win 502
+0    > . 1:1(0) ack 23361 win 626`},
		{name: "a RST for unread data carries the held edge (Linux: 509, conformance/rst-close-unread-ts.pkt)",
			script: passiveTS + `
+0    < P. 1:11(10) ack 1 win 502 <TS val 120 ecr 1>
+0    > . 1:1(0) ack 11 win 509
+0.1  close
+0    > R. 1:1(0) ack 11 win 509`},
	})
}

// rxTruesize models the skb a TUN device makes for a segment.
func TestRxTruesize(t *testing.T) {
	tests := []struct {
		n    int
		ts   bool
		want int
	}{
		{1000, true, 2304}, {1448, true, 2304}, {1460, false, 2304},
		{100, false, 1280}, {10, false, 768}, {3000, false, 4352},
	}
	for _, tt := range tests {
		c := &Conn{cfg: &Config{}}
		c.flags.put(tsOK, tt.ts)
		if got := c.rxTruesize(tt.n); got != tt.want {
			t.Errorf("rxTruesize(%d, ts %v) = %d, want %d", tt.n, tt.ts, got, tt.want)
		}
	}
}

// TestWindowLoopback: on a link that hands over the sender's buffers
// (Config.RxOverhead), a segment costs its payload and an skb head, as on
// Linux's loopback, not a TUN device's power-of-two head, which at a 64
// KiB MSS halves the window a buffer offers. Linux 6.18 on lo with a
// 65535-byte MTU and tcp_rmem[2] of 6 MiB (window scale 7) answers the
// first 32741-byte segment with win 741.
func TestWindowLoopback(t *testing.T) {
	const open = `
+0    < S 0:0(0) win 65535 <mss 65495,sackOK,TS val 100 ecr 0,wscale 7>
+0    > S. 0:0(0) ack 1 win 65483 <mss 65495,sackOK,TS val * ecr 100,wscale 7>
+0.01 < . 1:1(0) ack 1 win 512 <TS val 110 ecr 1>
+0    < . 1:32742(32741) ack 1 win 512 <TS val 120 ecr 1>`
	jumbo := func(overhead int) func(*Config) {
		return func(c *Config) {
			c.MSS = 65495
			c.RxOverhead = overhead
		}
	}
	runScriptTests(t, []scriptTest{
		{name: "loopback: the window opens to 741 units (94848 bytes), as Linux's lo", cfg: jumbo(LoopbackRxOverhead),
			script: open + `
+0    > . 1:1(0) ack 32742 win 741`},
		{name: "TUN: a 65792-byte skb for the segment (ratio 127) holds the window at 256 units", cfg: jumbo(0),
			script: open + `
+0    > . 1:1(0) ack 32742 win 256`},
	})
}

// TestRxOverheadValidate: Config.RxOverhead takes 0 (a TUN device's skb)
// up to 64 KiB; a negative or larger one is a configuration error.
func TestRxOverheadValidate(t *testing.T) {
	tests := []struct {
		overhead int
		ok       bool
	}{
		{0, true}, {1, true}, {LoopbackRxOverhead, true}, {1 << 16, true},
		{-1, false}, {1<<16 + 1, false}, {math.MaxInt, false},
	}
	for _, tt := range tests {
		cfg := DefaultConfig()
		cfg.RxOverhead = tt.overhead
		if err := cfg.Validate(); (err == nil) != tt.ok {
			t.Errorf("RxOverhead %d: Validate() = %v, want ok %v", tt.overhead, err, tt.ok)
		}
	}
}
