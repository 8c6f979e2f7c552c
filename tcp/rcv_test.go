package tcp

import (
	"fmt"
	"strings"
	"testing"
)

// TestReassembly: out-of-order segments are held and handed to the reader
// in order, byte for byte, once the holes are filled (RFC 9293 §3.10.7.4
// seventh; RFC 5681 §4.2: every out-of-order segment and every segment that
// fills a hole is ACKed at once; RFC 2018: the first SACK block reports the
// segment that triggered the ACK).
func TestReassembly(t *testing.T) {
	// threeHoles leaves three out-of-order runs held: 101:201, 301:401
	// and 501:601, received from the top down.
	const threeHoles = inEstablished + `
+0.01 < P. 501:601(100) ack 1 win 510
+0    > . 1:1(0) ack 1 <nop,nop,TS val 20 ecr 100,nop,nop,sack 501:601>
+0    < P. 301:401(100) ack 1 win 510
+0    > . 1:1(0) ack 1 <nop,nop,TS val 20 ecr 100,nop,nop,sack 301:401 501:601>
+0    < P. 101:201(100) ack 1 win 510
+0    > . 1:1(0) ack 1 <nop,nop,TS val 20 ecr 100,nop,nop,sack 101:201 501:601 301:401>
`

	runScriptTests(t, []scriptTest{
		{name: "holes filled from the top down: SACK blocks grow and merge, the last fill ACKs everything",
			script: inEstablished + `
+0.01 < P. 301:401(100) ack 1 win 510
+0    > . 1:1(0) ack 1 <nop,nop,TS val 20 ecr 100,nop,nop,sack 301:401>
+0    < P. 101:201(100) ack 1 win 510
+0    > . 1:1(0) ack 1 <nop,nop,TS val 20 ecr 100,nop,nop,sack 101:201 301:401>
+0    < P. 201:301(100) ack 1 win 510
+0    > . 1:1(0) ack 1 <nop,nop,TS val 20 ecr 100,nop,nop,sack 101:401>
+0    read 1000 = EAGAIN
+0    < P. 1:101(100) ack 1 win 510
+0    > . 1:1(0) ack 401 <nop,nop,TS val 20 ecr 100>
+0    read 1000 = data 1:401
+0    read 1000 = EAGAIN`},
		{name: "the first SACK block is the one holding the segment just received, even when it is not the highest (RFC 2018 §4)",
			script: threeHoles + `
+0    < P. 601:701(100) ack 1 win 510
+0    > . 1:1(0) ack 1 <nop,nop,TS val 20 ecr 100,nop,nop,sack 501:701 301:401 101:201>`},
		{name: "an out-of-order segment that overlaps data we hold is reported first as a D-SACK of the overlap, then the SACK blocks, three in all beside timestamps (RFC 2883 §4, Linux tcp_data_queue_ofo)",
			script: threeHoles + `
+0    < P. 551:651(100) ack 1 win 510
+0    > . 1:1(0) ack 1 <nop,nop,TS val 20 ecr 100,nop,nop,sack 551:601 501:651 301:401>
+0    count DSACKOfoSent 1
+0    < P. 1:101(100) ack 1 win 510
+0    > . 1:1(0) ack 201 <nop,nop,TS val 20 ecr 100,nop,nop,sack 501:651 301:401>`},
		{name: "a retransmission of data already received is answered at once with a D-SACK of it (RFC 2883 §4, Linux tcp_data_queue)",
			script: inEstablished + `
+0.01 < P. 1:101(100) ack 1 win 510
+0    > . 1:1(0) ack 101 <nop,nop,TS val 20 ecr 100>
+0.01 < P. 1:101(100) ack 1 win 510
+0    > . 1:1(0) ack 101 <nop,nop,TS val 30 ecr 100,nop,nop,sack 1:101>
+0    count DSACKOldSent 1
+0.01 < P. 51:201(150) ack 1 win 510
+0    > . 1:1(0) ack 201 <nop,nop,TS val 40 ecr 100,nop,nop,sack 51:101>
+0    count DSACKOldSent 2`},
		{name: "with tcp_dsack=0 a duplicate draws a plain ACK",
			cfg: func(c *Config) { c.DSACK = false },
			script: inEstablished + `
+0.01 < P. 1:101(100) ack 1 win 510
+0    > . 1:1(0) ack 101 <nop,nop,TS val 20 ecr 100>
+0.01 < P. 1:101(100) ack 1 win 510
+0    > . 1:1(0) ack 101 <nop,nop,TS val 30 ecr 100>
+0    count DSACKOldSent 0`},
		{name: "in-order data can be read while later data waits behind a hole",
			script: inEstablished + `
+0.01 < P. 1:101(100) ack 1 win 510
+0    > . 1:1(0) ack 101
+0    < P. 201:301(100) ack 1 win 510
+0    > . 1:1(0) ack 101
+0    read 1000 = data 1:101
+0    read 1000 = EAGAIN
+0    < P. 101:201(100) ack 1 win 510
+0    > . 1:1(0) ack 301
+0    read 50 = data 101:151
+0    read 1000 = data 151:301`},
		{name: "a FIN beyond a hole is kept; when the hole fills, data and FIN are taken together: CLOSE_WAIT, then EOF after the data",
			script: inEstablished + `
+0.01 < FP. 201:301(100) ack 1 win 510
+0    > . 1:1(0) ack 1
+0    state ESTABLISHED
+0    < P. 1:101(100) ack 1 win 510
+0    > . 1:1(0) ack 101
+0    state ESTABLISHED
+0    < P. 101:201(100) ack 1 win 510
+0    > . 1:1(0) ack 302
+0    state CLOSE_WAIT
+0    read 1000 = data 1:301
+0    read 1000 = EOF`},
		{name: "a retransmission overlapping held data and RCV.NXT is merged without duplicating bytes",
			script: inEstablished + `
+0.01 < P. 51:151(100) ack 1 win 510
+0    > . 1:1(0) ack 1
+0    < P. 301:401(100) ack 1 win 510
+0    > . 1:1(0) ack 1
+0    < P. 101:351(250) ack 1 win 510
+0    > . 1:1(0) ack 1
+0    < P. 1:61(60) ack 1 win 510
+0    > . 1:1(0) ack 401
+0    recvq 400
+0    read 1000 = data 1:401`},
		{name: "the receive ring wraps: reads move its head while out-of-order data lands across the end of the buffer. The windows are Linux's memory accounting (rcvwin.go): 2920 bytes unread in 1000-byte segments charge all of a 6000-byte sk_rcvbuf, so the window is 0 (as Linux 6.18 with SO_RCVBUF 3000); reads give it back byte by byte (Linux frees whole skbs), and the window is offered in whole segments, as Linux offers an unscaled one",
			cfg: func(c *Config) { c.RcvBuf, c.WScale = 3000, -1 },
			script: `
+0    connect
+0    > S 0:0(0) win 2920
+0.01 < S. 0:0(0) ack 1 win 65535 <mss 1000>
+0    > . 1:1(0) ack 1 win 2920
+0.01 < P. 1:1001(1000) ack 1 win 65535
+0    > . 1:1(0) ack 1001 win 1920
+0    read 1000 = data 1:1001
+0    < P. 1921:2921(1000) ack 1 win 65535
+0    > . 1:1(0) ack 1001
+0    < P. 1001:1921(920) ack 1 win 65535
+0    > . 1:1(0) ack 2921 win 0
+0    read 700 = data 1001:1701
+0    > . 1:1(0) ack 2921 win 1000
+0    < P. 3421:3921(500) ack 1 win 65535
+0    > . 1:1(0) ack 2921
+0    < P. 2921:3421(500) ack 1 win 65535
+0    > . 1:1(0) ack 3921 win 0
+0    read 5000 = data 1701:3921
+0    > . 1:1(0) ack 3921 win 2000`},
	})
}

// TestReassemblyAllOrders delivers four 100-byte segments and a FIN in
// every one of the 24 orders: each arrival not at RCV.NXT, and each that
// fills a hole, is ACKed at once with the new RCV.NXT; the reader gets the
// 400 bytes intact and in order, then EOF.
func TestReassemblyAllOrders(t *testing.T) {
	segs := []struct {
		start, end uint32
		fin        bool
	}{{1, 101, false}, {101, 201, false}, {201, 301, false}, {301, 401, true}}
	var perms [][]int
	var permute func(p []int, k int)
	permute = func(p []int, k int) {
		if k == len(p) {
			perms = append(perms, append([]int(nil), p...))
			return
		}
		for i := k; i < len(p); i++ {
			p[k], p[i] = p[i], p[k]
			permute(p, k+1)
			p[k], p[i] = p[i], p[k]
		}
	}
	permute([]int{0, 1, 2, 3}, 0)
	var tests []scriptTest
	for _, order := range perms {
		var b strings.Builder
		b.WriteString(inEstablished)
		have := map[int]bool{}
		rcvNxt := uint32(1)
		names := []string{}
		for _, i := range order {
			sg := segs[i]
			flags := "P."
			if sg.fin {
				flags = "FP."
			}
			fmt.Fprintf(&b, "+0.001 < %s %d:%d(%d) ack 1 win 510\n", flags, sg.start, sg.end, sg.end-sg.start)
			have[i] = true
			for k := 0; k < len(segs) && have[k]; k++ {
				rcvNxt = segs[k].end
				if segs[k].fin {
					rcvNxt++
				}
			}
			fmt.Fprintf(&b, "+0 > . 1:1(0) ack %d\n", rcvNxt)
			names = append(names, fmt.Sprintf("%d:%d", sg.start, sg.end))
		}
		b.WriteString("+0 state CLOSE_WAIT\n+0 read 1000 = data 1:401\n+0 read 1000 = EOF\n")
		tests = append(tests, scriptTest{name: strings.Join(names, ","), script: b.String()})
	}
	runScriptTests(t, tests)
}

// TestReceiveWindow: our advertised window follows the free space in the
// receive buffer; a full buffer shuts it, a read opens it again (RFC 9293
// §3.8.6.2.2 receiver SWS avoidance, Linux tcp_cleanup_rbuf).
func TestReceiveWindow(t *testing.T) {
	small := func(c *Config) { c.RcvBuf, c.WScale = 4380, -1 }
	const filled = `
+0    connect
+0    > S 0:0(0) win 4380 <mss 1460,sackOK,TS val 0 ecr 0>
+0.01 < S. 0:0(0) ack 1 win 65535 <mss 1460>
+0    > . 1:1(0) ack 1 win 4380
+0.01 < . 1:1461(1460) ack 1 win 65535
+0    > . 1:1(0) ack 1461 win 2920
+0    < . 1461:2921(1460) ack 1 win 65535
+0    > . 1:1(0) ack 2921 win 1460
+0    < P. 2921:4381(1460) ack 1 win 65535
+0    > . 1:1(0) ack 4381 win 0
`
	runScriptTests(t, []scriptTest{
		{name: "the buffer fills: the window shrinks segment by segment to zero; the peer's probe (SND.UNA-1) is answered with the zero window",
			cfg: small,
			script: filled + `
+0.2  < . 4380:4380(0) ack 1 win 65535
+0    > . 1:1(0) ack 4381 win 0`},
		{name: "a one-byte probe into the zero window is not taken but is answered with an ACK of the zero window (RFC 9293 §3.8.6.1)",
			cfg: small,
			script: filled + `
+0.2  < P. 4381:4382(1) ack 1 win 65535
+0    > . 1:1(0) ack 4381 win 0
+0    recvq 4380`},
		{name: "reading opens the window: a small read does not announce it (SWS avoidance), a read that frees an MSS does",
			cfg: small,
			script: filled + `
+0.1  read 100 = data 1:101
+0.1  read 1360 = data 101:1461
+0    > . 1:1(0) ack 4381 win 1460
+0.01 < P. 4381:5841(1460) ack 1 win 65535
+0    > . 1:1(0) ack 5841 win 0
+0    read 10000 = data 1461:5841
+0    > . 1:1(0) ack 5841 win 4380`},
		{name: "no window update after the peer's FIN: it will send no more (Linux tcp_cleanup_rbuf)",
			cfg: small,
			script: `
+0    connect
+0    > S 0:0(0) win 4380
+0.01 < S. 0:0(0) ack 1 win 65535 <mss 1460>
+0    > . 1:1(0) ack 1 win 4380
+0.01 < . 1:1461(1460) ack 1 win 65535
+0    > . 1:1(0) ack 1461 win 2920
+0    < . 1461:2921(1460) ack 1 win 65535
+0    > . 1:1(0) ack 2921 win 1460
+0    < FP. 2921:4381(1460) ack 1 win 65535
+0    > . 1:1(0) ack 4382 win 0
+0    state CLOSE_WAIT
+0.1  read 10000 = data 1:4381
+0    read 10 = EOF
+1    state CLOSE_WAIT`},
		{name: "data beyond a shut window is dropped and answered with the zero window",
			cfg: small,
			script: filled + `
+0.01 < P. 4381:5841(1460) ack 1 win 65535
+0    > . 1:1(0) ack 4381 win 0
+0    recvq 4380`},
	})
}

// TestDelayedAck: Linux's delayed ACK. Quick-ACK mode ACKs every segment at
// the start of a connection; afterwards an ACK is delayed by up to 40 ms
// (TCP_DELACK_MIN) but sent at once for every second full-sized segment
// (RFC 1122 §4.2.3.2, RFC 5681 §4.2).
func TestDelayedAck(t *testing.T) {
	// 16 segments (TCP_MAX_QUICKACKS) use up quick-ACK mode.
	var quick strings.Builder
	quick.WriteString(inEstablished)
	next := 1
	for range 16 {
		fmt.Fprintf(&quick, "+0.001 < P. %d:%d(100) ack 1 win 510\n+0 > . 1:1(0) ack %d\n", next, next+100, next+100)
		next += 100
	}
	fmt.Fprintf(&quick, "+0 read 10000 = data 1:%d\n", next)
	afterQuick := quick.String()
	seg := func(from, n int, flags string) string {
		return fmt.Sprintf("%s %d:%d(%d) ack 1 win 510", flags, from, from+n, n)
	}

	runScriptTests(t, []scriptTest{
		{name: "the first 16 data segments are each ACKed at once (quick-ACK mode, TCP_MAX_QUICKACKS), the 17th 40 ms later",
			script: afterQuick + `
+0.001 < ` + seg(next, 100, "P.") + `
+0.039 state ESTABLISHED
+0.001 > . 1:1(0) ack ` + fmt.Sprint(next+100)},
		{name: "segments arriving within the delay share one delayed ACK",
			script: afterQuick + `
+0.001 < ` + seg(next, 100, "P.") + `
+0.01 < ` + seg(next+100, 100, "P.") + `
+0.03 > . 1:1(0) ack ` + fmt.Sprint(next+200)},
		{name: "two full-sized segments are ACKed at once, without waiting (RFC 1122 §4.2.3.2)",
			script: afterQuick + `
+0.001 < ` + seg(next, 1448, ".") + `
+0.001 < ` + seg(next+1448, 1448, ".") + `
+0    > . 1:1(0) ack ` + fmt.Sprint(next+2*1448)},
		{name: "an ACK carried by our data cancels the delayed ACK",
			script: afterQuick + `
+0.001 < ` + seg(next, 100, "P.") + `
+0.01 write 10 = 10
+0    > P. 1:11(10) ack ` + fmt.Sprint(next+100) + `
+0.1  state ESTABLISHED`},
		{name: "an out-of-order segment is ACKed at once even out of quick-ACK mode (RFC 5681 §4.2)",
			script: afterQuick + `
+0.001 < ` + seg(next+100, 100, "P.") + `
+0    > . 1:1(0) ack ` + fmt.Sprint(next) + `
+0.001 < ` + seg(next, 100, "P.") + `
+0    > . 1:1(0) ack ` + fmt.Sprint(next+200)},
	})
}

// serverPingpong: our listener gets a request, ACKs it at once (quick-ACK
// mode) and answers 5 ms later. Data sent within the ATO of data received
// turns on Linux's pingpong (interactive) mode: from now on ACKs wait to
// ride on the next answer.
const serverPingpong = passiveOpen + `
+0.01 < P. 1:101(100) ack 1 win 502
+0    > . 1:1(0) ack 101
+0.005 read 1000 = data 1:101
+0    write 200 = 200
+0    > P. 1:201(200) ack 101
`

func TestPingpong(t *testing.T) {
	runScriptTests(t, []scriptTest{
		{name: "after request/response the next request's ACK is delayed and rides on the response",
			script: serverPingpong + `
+0.01 < P. 101:201(100) ack 201 win 502
+0.005 read 1000 = data 101:201
+0    write 200 = 200
+0    > P. 201:401(200) ack 201`},
		{name: "in pingpong mode an unanswered request is ACKed by the delayed-ACK timer, which ends pingpong mode: the next segment is ACKed at once (Linux tcp_delack_timer_handler)",
			script: serverPingpong + `
+0.01 < P. 101:201(100) ack 201 win 502
+0.04 > . 201:201(0) ack 201
+0.1  < P. 201:301(100) ack 201 win 502
+0    > . 201:201(0) ack 301`},
		{name: "three-way close: the ACK of the client's FIN is delayed and merges with our FIN (SCENARIOS three-way-close)",
			script: serverPingpong + `
+0.01 < F. 101:101(0) ack 201 win 502
+0    state CLOSE_WAIT
+0.001 read 10 = EOF
+0    close
+0    > F. 201:201(0) ack 102
+0    state LAST_ACK
+0.01 < . 102:102(0) ack 202 win 502
+0    state CLOSED`,
			states: "SYN_RCVD,ESTABLISHED,CLOSE_WAIT,LAST_ACK,CLOSED"},
		{name: "if we do not close within the delay, the ACK of the FIN goes alone after 40 ms and the close takes four segments",
			script: serverPingpong + `
+0.01 < F. 101:101(0) ack 201 win 502
+0.04 > . 201:201(0) ack 102
+1    close
+0    > F. 201:201(0) ack 102`},
		{name: "a FIN after data is ACKed by the delayed-ACK timer: the FIN enters pingpong mode and data has set the timeout (Linux tcp_fin; conformance/fin-ack-delayed-after-data.pkt)",
			script: passiveOpen + `
+0.01 < P. 1:101(100) ack 1 win 502
+0    > . 1:1(0) ack 101
+0.1  < F. 101:101(0) ack 1 win 502
+0.04 > . 1:1(0) ack 102`},
		{name: "a FIN on a connection that received no data is ACKed at once: the delayed-ACK timeout is still zero (conformance/four-way-close-passive.pkt)",
			script: passiveOpen + `
+0.1  < F. 1:1(0) ack 1 win 502
+0    > . 1:1(0) ack 2`},
	})
}

// TestReceiveWindowGrowth: the window starts at the SYN's (64240 bytes)
// and opens by two segments for each data segment received, up to the
// receive buffer (Linux rcv_ssthresh and tcp_grow_window).
func TestReceiveWindowGrowth(t *testing.T) {
	var b strings.Builder
	b.WriteString(passiveOpen + "+0    read 100000 = EAGAIN\n")
	// Each full segment read at once: the window is limited by
	// rcv_ssthresh alone, 65160 (the SYN-ACK's window: 45 segments of 1448 bytes, as timestamps are on) + 2*1448 per segment, aligned up to 128.
	for i := range 5 {
		start := 1 + i*1448
		w := (65160 + 2*1448*(i+1) + 127) / 128
		// quick-ACK mode: every segment is ACKed at once
		fmt.Fprintf(&b, "+0.001 < . %d:%d(1448) ack 1 win 502\n+0    > . 1:1(0) ack %d win %d\n+0    read 100000 = 1448\n",
			start, start+1448, start+1448, w)
	}
	runScriptTests(t, []scriptTest{{name: "two segments more per segment received", script: b.String()}})
}
