package tcp

import (
	"fmt"
	"strings"
	"testing"
)

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
