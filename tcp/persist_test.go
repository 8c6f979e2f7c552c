package tcp

import (
	"fmt"
	"testing"
	"time"
)

// TestPersist: a zero window stops the sender; the persist timer probes
// it with backoff (RFC 9293 §3.8.6.1, RFC 1122 §4.2.2.17).
func TestPersist(t *testing.T) {
	const zeroWindow = plainOpen + `
+0    write 4000 = 4000
+0    > . 1:1461(1460) ack 1
+0    > P. 1461:2921(1460) ack 1
+0    > P. 2921:4001(1080) ack 1
+0.01 < . 1:1(0) ack 4001 win 0
+0    write 1000 = 1000
`
	answered := zeroWindow
	d := 210 * time.Millisecond
	for range 20 {
		answered += fmt.Sprintf("+%v > . 4000:4000(0) ack 1\n+0 < . 1:1(0) ack 4001 win 0\n", d)
		d = min(2*d, 120*time.Second)
	}
	unanswered := zeroWindow
	d = 210 * time.Millisecond
	for range 15 {
		unanswered += fmt.Sprintf("+%v > . 4000:4000(0) ack 1\n", d)
		d = min(2*d, 120*time.Second)
	}
	unanswered += fmt.Sprintf("+%v state ESTABLISHED\n+1ms state CLOSED\n+0 read 1 = ETIMEDOUT\n", d-time.Millisecond)

	runScriptTests(t, []scriptTest{
		{name: "zero window: probes of one old byte (SND.UNA-1, no data) at RTO, 2 RTO, 4 RTO; the window opens and the data goes (Linux tcp_xmit_probe_skb)",
			script: zeroWindow + `
+0.21 > . 4000:4000(0) ack 1
+0.01 < . 1:1(0) ack 4001 win 0
+0.41 > . 4000:4000(0) ack 1
+0.01 < . 1:1(0) ack 4001 win 0
+0.83 > . 4000:4000(0) ack 1
+0.01 < . 1:1(0) ack 4001 win 1000
+0    > P. 4001:5001(1000) ack 1
+0.01 < . 1:1(0) ack 5001 win 1000
+5    sendq 0`},
		{name: "a window update between probes sends the data at once and stops the probes",
			script: zeroWindow + `
+0.21 > . 4000:4000(0) ack 1
+0.1  < . 1:1(0) ack 4001 win 65535
+0    > P. 4001:5001(1000) ack 1
+0.01 < . 1:1(0) ack 5001 win 65535
+10   state ESTABLISHED`},
		{name: "a peer that keeps answering the probes keeps the connection open however long its window stays shut (RFC 1122 §4.2.2.17, Linux resets icsk_probes_out on every ACK)",
			script: answered + `
+0    state ESTABLISHED
+0    sendq 1000`},
		{name: "unanswered probes: the connection is dropped after tcp_retries2 (15) of them, ETIMEDOUT (Linux tcp_probe_timer); probes are no retransmissions, the drop an abort on timeout",
			script: unanswered + `
+0    count AbortOnTimeout 1
+0    count RetransSegs 0`},
		{name: "close() into a zero window: the FIN needs a sequence number of window, so it waits and the window is probed; it goes when the window opens",
			script: plainOpen + `
+0    write 1460 = 1460
+0    > P. 1:1461(1460) ack 1
+0.01 < . 1:1(0) ack 1461 win 0
+0    close
+0    state FIN_WAIT_1
+0.21 > . 1460:1460(0) ack 1
+0.01 < . 1:1(0) ack 1461 win 1000
+0    > F. 1461:1461(0) ack 1
+0.01 < . 1:1(0) ack 1462 win 1000
+0    state FIN_WAIT_2`},
		{name: "window smaller than an MSS and than half the largest window: hold (sender SWS avoidance), then the persist timer sends what fits (RFC 9293 §3.8.6.2.1, Linux tcp_write_wakeup)",
			script: plainOpen + `
+0    write 1460 = 1460
+0    > P. 1:1461(1460) ack 1
+0.01 < . 1:1(0) ack 1461 win 500
+0    write 1460 = 1460
+0.21 > . 1461:1961(500) ack 1
+0.01 < . 1:1(0) ack 1961 win 65535
+0    > P. 1961:2921(960) ack 1`},
		{name: "the peer shrinks its window to zero under data in flight: the RTO still retransmits the head into the zero window, as a probe (Linux tcp_retransmit_timer)",
			script: plainOpen + `
+0    write 2920 = 2920
+0    > . 1:1461(1460) ack 1
+0    > P. 1461:2921(1460) ack 1
+0.01 < . 1:1(0) ack 1461 win 0
+0.21 > P. 1461:2921(1460) ack 1
+0.01 < . 1:1(0) ack 2921 win 65535
+0    sendq 0`},
	})
}
