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
