package tcp

import "testing"

// TestTransmissionUnits: a burst leaves in Linux's transmission units
// (push.go), each unit of more than one segment ending with PSH. The
// unit sizes at each round trip are what Linux 6.18 with cubic sent for
// the same burst in a passive open (measured at 1, 3, 5, 6, 7, 8 and 10
// ms; conformance/push-units-1ms.pkt, push-units-5ms.pkt and
// push-every-skb.pkt keep three of them): the pacing rate's millisecond
// of data, at least two segments, at most half the congestion window.
// The second burst and the window-limited case follow from the same
// rules (tcp_mss_split_point) and were not run on the kernel.
func TestTransmissionUnits(t *testing.T) {
	runScriptTests(t, []scriptTest{
		{name: "1 ms: half the window, five segments", script: sackOpenRTT("0.001", 5)},
		{name: "3 ms: half the window still", script: sackOpenRTT("0.003", 5)},
		{name: "5 ms: the pacing rate's three segments", script: sackOpenRTT("0.005", 3)},
		{name: "6 ms: three", script: sackOpenRTT("0.006", 3)},
		{name: "7 ms: two", script: sackOpenRTT("0.007", 2)},
		{name: "10 ms: two, tcp_min_tso_segs", script: sackOpenRTT("0.01", 2)},
		{name: "a second burst after an ACK of all ten: the window is 20, the rate twice, so units of three at 10 ms",
			script: sackOpen + `
+0.01 < . 1:1(0) ack 14601 win 510
+0    write 29200 = 29200
` + flight(14601, 20, 1460, 3, true, "")},
		{name: "the peer's window cuts the unit: three segments of window at 1 ms leave as one unit of three, with PSH, and so do the next three the ACK lets go (tcp_mss_split_point)",
			script: `
+0    connect
+0    > S 0:0(0) win 64240 <mss 1460,sackOK,TS val 0 ecr 0,nop,wscale 7>
+0.001 < S. 0:0(0) ack 1 win 4380 <mss 1460,sackOK,nop,wscale 0>
+0    > . 1:1(0) ack 1 <>
+0    write 14600 = 14600
` + flight(1, 3, 1460, 3, false, "") + `+0.001 < . 1:1(0) ack 4381 win 4380
` + flight(4381, 3, 1460, 3, false, "")},
	})
}
