package tcp

import "testing"

// prrOpen opens a SACK connection without timestamps (MSS 1000, so that
// the arithmetic reads plainly) with an initial window of 20 segments and
// sends them, 20000 bytes more waiting to be sent, in units of three
// (Linux's pacing rate for 20 segments in 10 ms; push.go).
func prrOpen() string {
	return sackConnect("0.01", "win 65535 <mss 1000,sackOK,nop,wscale 7>") + "+0    write 40000 = 40000\n" + flight(1, 20, 1000, 3, false, "")
}

// prrOneLoss follows prrOpen: the first segment is lost, and the SACKs
// of the other 19 come one by one; 7 of every 10 let a new segment go.
const prrOneLoss = `
+0.01 < . 1:1(0) ack 1 win 510 <sack 1001:2001>
+0    > . 20001:21001(1000) ack 1
+0    < . 1:1(0) ack 1 win 510 <sack 1001:3001>
+0    > . 21001:22001(1000) ack 1
+0    < . 1:1(0) ack 1 win 510 <sack 1001:4001>
+0    > . 1:1001(1000) ack 1
+0    count SACKRecovery 1
+0    < . 1:1(0) ack 1 win 510 <sack 1001:5001>
+0    > . 22001:23001(1000) ack 1
+0    < . 1:1(0) ack 1 win 510 <sack 1001:6001>
+0    > . 23001:24001(1000) ack 1
+0    < . 1:1(0) ack 1 win 510 <sack 1001:7001>
+0    < . 1:1(0) ack 1 win 510 <sack 1001:8001>
+0    > . 24001:25001(1000) ack 1
+0    < . 1:1(0) ack 1 win 510 <sack 1001:9001>
+0    > . 25001:26001(1000) ack 1
+0    < . 1:1(0) ack 1 win 510 <sack 1001:10001>
+0    < . 1:1(0) ack 1 win 510 <sack 1001:11001>
+0    > . 26001:27001(1000) ack 1
+0    < . 1:1(0) ack 1 win 510 <sack 1001:12001>
+0    > . 27001:28001(1000) ack 1
+0    count Timeouts 0
+0    retrans 1`

// TestPRR: in SACK recovery the window comes down to ssthresh as Linux's
// tcp_cwnd_reduction brings it (RFC 6937): at the rate of ssthresh/cwnd
// of the data delivered while the pipe is above ssthresh, by slow start
// bounded by what was delivered once it is below.
func TestPRR(t *testing.T) {
	cfg := func(c *Config) { c.InitCwnd = 20 }
	runScriptTests(t, []scriptTest{
		{name: "one loss in 20 segments: new data goes on 7 of every 10 SACKs all through the recovery, not only once the pipe has drained to ssthresh (RFC 6675)",
			cfg:    cfg,
			script: prrOpen() + prrOneLoss},
		{name: "ten segments found lost by the reordering timer: below ssthresh the pipe is rebuilt by what was delivered, one segment more when SND.UNA moves (Linux PRR-SSRB), not all at once",
			cfg: cfg,
			script: prrOpen() + `
+0.01 < . 1:1(0) ack 1 win 510 <sack 10001:11001>
+0    > . 20001:21001(1000) ack 1
+0.0105 > . 1:1001(1000) ack 1
+0    count SACKRecovery 1
+0.001 < . 1:1(0) ack 1 win 510 <sack 10001:12001>
+0    > . 1001:2001(1000) ack 1
+0    < . 1:1(0) ack 1001 win 510 <sack 10001:12001>
+0    > . 2001:3001(1000) ack 1
+0    > . 3001:4001(1000) ack 1
+0    count Timeouts 0`},
		{name: "the same without RACK: the RFC 6675 pipe, the same counts",
			cfg:    func(c *Config) { c.InitCwnd, c.RACK = 20, false },
			script: prrOpen() + prrOneLoss},
	})
}
