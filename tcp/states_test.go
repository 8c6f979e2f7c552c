package tcp

import (
	"testing"
)

// scriptTest is one packet script: its name says what it shows and why.
type scriptTest struct {
	name   string
	cfg    func(*Config)
	script string
	states string // if set, the whole state sequence must match
}

func runScriptTests(t *testing.T, tests []scriptTest) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			h := runScript(t, cfg, tt.script)
			if tt.states != "" {
				if got := joinStates(h.states); got != tt.states {
					t.Errorf("states %s, want %s", got, tt.states)
				}
			}
		})
	}
}

// Each prefix leaves a connection (opened by activeOpen: timestamps, SACK,
// window scale 7 both ways, RTO 210 ms, our receive window 262144 bytes) in
// one state with known sequence numbers: ours relative to our ISN, the
// peer's relative to its ISN. The peer's segments use win 510 (65280 bytes).
const (
	// ESTABLISHED. RCV.NXT 1; SND.UNA = SND.NXT 1.
	inEstablished = activeOpen

	// FIN_WAIT_1 after shutdown(SHUT_WR), so the user can still read.
	// RCV.NXT 1; SND.UNA 1, SND.NXT 2 (our FIN not yet ACKed).
	inFinWait1 = activeOpen + `
+0    shutdown_wr
+0    > F. 1:1(0) ack 1
+0    state FIN_WAIT_1
`
	// FIN_WAIT_1 after close(): the same numbers, but orphaned.
	inFinWait1Orphan = activeOpen + `
+0    close
+0    > F. 1:1(0) ack 1
+0    state FIN_WAIT_1
`
	// FIN_WAIT_2 after shutdown(SHUT_WR). RCV.NXT 1; SND.UNA = SND.NXT 2.
	inFinWait2 = inFinWait1 + `
+0.01 < . 1:1(0) ack 2 win 510
+0    state FIN_WAIT_2
`
	// FIN_WAIT_2 after close(): orphaned, tcp_fin_timeout running.
	inFinWait2Orphan = inFinWait1Orphan + `
+0.01 < . 1:1(0) ack 2 win 510
+0    state FIN_WAIT_2
`
	// CLOSE_WAIT. RCV.NXT 2 (the peer's FIN is at 1); SND.UNA = SND.NXT 1.
	inCloseWait = activeOpen + `
+0.01 < F. 1:1(0) ack 1 win 510
+0    > . 1:1(0) ack 2
+0    state CLOSE_WAIT
`
	// CLOSING (simultaneous close after shutdown(SHUT_WR)).
	// RCV.NXT 2; SND.UNA 1, SND.NXT 2.
	inClosing = inFinWait1 + `
+0.01 < F. 1:1(0) ack 1 win 510
+0    > . 2:2(0) ack 2
+0    state CLOSING
`
	// LAST_ACK after shutdown(SHUT_WR) in CLOSE_WAIT.
	// RCV.NXT 2; SND.UNA 1, SND.NXT 2.
	inLastAck = inCloseWait + `
+0    shutdown_wr
+0    > F. 1:1(0) ack 2
+0    state LAST_ACK
`
	// TIME_WAIT after shutdown(SHUT_WR). RCV.NXT 2; SND.NXT 2.
	inTimeWait = inFinWait1 + `
+0.01 < F. 1:1(0) ack 2 win 510
+0    > . 2:2(0) ack 2
+0    state TIME_WAIT
`
	// SYN_SENT: our SYN is out. SND.UNA 0, SND.NXT 1.
	inSynSent = `
+0    connect
+0    > S 0:0(0) win 64240 <mss 1460,sackOK,TS val 0 ecr 0,nop,wscale 7>
+0    state SYN_SENT
`
	// SYN_RCVD on a listener's connection: the SYN-ACK is out.
	// RCV.NXT 1; SND.UNA 0, SND.NXT 1.
	inSynRcvd = `
+0    < S 0:0(0) win 64240 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>
+0    > S. 0:0(0) ack 1 win 65160 <mss 1460,sackOK,TS val 0 ecr 100,nop,wscale 7>
+0    state SYN_RCVD
`
)

// TestSegmentArrivesEstablished walks RFC 9293 §3.10.7.4 (with RFC 5961)
// for ESTABLISHED: every kind of segment, in and out of the window.
func TestSegmentArrivesEstablished(t *testing.T) {
	runScriptTests(t, []scriptTest{
		{name: "RST at RCV.NXT resets: read ECONNRESET once, then EOF; write EPIPE (RFC 9293 §3.10.7.4 second, Linux tcp_reset)",
			script: inEstablished + `
+0.01 < R. 1:1(0) ack 1 win 0
+0    state CLOSED
+0    read 10 = ECONNRESET
+0    read 10 = EOF
+0    write 10 = EPIPE`},
		{name: "RST without the ACK bit at RCV.NXT also resets: RSTs are judged by their sequence number only",
			script: inEstablished + `
+0.01 < R 1:1(0) win 0
+0    state CLOSED
+0    read 10 = ECONNRESET`},
		{name: "RST in the window but not at RCV.NXT draws a challenge ACK and changes nothing (RFC 5961 §3.2)",
			script: inEstablished + `
+0.01 < R. 1001:1001(0) ack 1 win 0
+0    > . 1:1(0) ack 1
+0    state ESTABLISHED
+0    write 10 = 10
+0    > P. 1:11(10) ack 1`},
		{name: "RST beyond the window is dropped silently (RFC 5961 §3.2 rule 1)",
			script: inEstablished + `
+0.01 < R. 300001:300001(0) ack 1 win 0
+0.5  state ESTABLISHED`},
		{name: "RST before RCV.NXT (an old one) is dropped silently",
			script: inEstablished + `
+0.01 < R. 4294967000:4294967000(0) ack 1 win 0
+0.5  state ESTABLISHED`},
		{name: "SYN in the window draws a challenge ACK, not a reset (RFC 5961 §4.2)",
			script: inEstablished + `
+0.01 < S 1001:1001(0) win 65535 <mss 1460>
+0    > . 1:1(0) ack 1
+0.5  state ESTABLISHED`},
		{name: "SYN below the window (the peer's old SYN-ACK again) draws a challenge ACK too: any SYN, whatever its sequence number (RFC 5961 §4.2)",
			script: inEstablished + `
+0.01 < S. 0:0(0) ack 1 win 65535 <mss 1460>
+0    > . 1:1(0) ack 1
+0    state ESTABLISHED`},
		{name: "ACK of data never sent draws a challenge ACK and the segment's data is dropped (RFC 5961 §5.2)",
			script: inEstablished + `
+0.01 < P. 1:11(10) ack 1001 win 510
+0    > . 1:1(0) ack 1
+0    recvq 0
+0    state ESTABLISHED`},
		{name: "ACK older than SND.UNA minus the bytes ever ACKed is a blind injection: challenge ACK, data dropped (RFC 5961 §5.2, Linux tcp_ack)",
			script: inEstablished + `
+0.01 < P. 1:11(10) ack 4294966296 win 510
+0    > . 1:1(0) ack 1
+0    recvq 0`},
		{name: "duplicate ACK with nothing outstanding: nothing to do, nothing sent",
			script: inEstablished + `
+0.01 < . 1:1(0) ack 1 win 510
+0.5  state ESTABLISHED`},
		{name: "bare ACK outside the window: a duplicate ACK, at most one per 500 ms so two stacks cannot loop (Linux tcp_oow_rate_limited)",
			script: inEstablished + `
+0.01 < . 300001:300001(0) ack 1 win 510
+0    > . 1:1(0) ack 1
+0.1  < . 300001:300001(0) ack 1 win 510
+0.4  < . 300001:300001(0) ack 1 win 510
+0    > . 1:1(0) ack 1`},
		{name: "data at RCV.NXT is queued and ACKed at once in quick-ACK mode (start of connection)",
			script: inEstablished + `
+0.01 < P. 1:11(10) ack 1 win 510
+0    > . 1:1(0) ack 11
+0    read 100 = data 1:11`},
		{name: "data beyond the window is not queued; a duplicate ACK says what we expect (RFC 9293 §3.10.7.4 first)",
			script: inEstablished + `
+0.01 < P. 300001:300011(10) ack 1 win 510
+0    > . 1:1(0) ack 1
+0    recvq 0`},
		{name: "data entirely below RCV.NXT (a retransmission) draws a duplicate ACK and is not queued twice",
			script: inEstablished + `
+0.01 < P. 1:11(10) ack 1 win 510
+0    > . 1:1(0) ack 11
+0.01 < P. 1:11(10) ack 1 win 510
+0    > . 1:1(0) ack 11
+0    recvq 10
+0    read 100 = data 1:11`},
		{name: "data overlapping RCV.NXT is trimmed: only the new bytes are queued, in order",
			script: inEstablished + `
+0.01 < P. 1:11(10) ack 1 win 510
+0    > . 1:1(0) ack 11
+0.01 < P. 6:16(10) ack 1 win 510
+0    > . 1:1(0) ack 16
+0    read 100 = data 1:16`},
		{name: "a segment without the ACK bit is dropped, data and all (RFC 9293 §3.10.7.4 fifth)",
			script: inEstablished + `
+0.01 < P 1:11(10) win 510
+0.5  recvq 0`},
		{name: "FIN at RCV.NXT: CLOSE_WAIT, ACKed at once on an idle connection, read EOF",
			script: inEstablished + `
+0.01 < F. 1:1(0) ack 1 win 510
+0    > . 1:1(0) ack 2
+0    state CLOSE_WAIT
+0    read 10 = EOF
+0    write 5 = 5
+0    > P. 1:6(5) ack 2`},
		{name: "FIN with data: both taken, the ACK covers the FIN, read gives the data then EOF",
			script: inEstablished + `
+0.01 < FP. 1:11(10) ack 1 win 510
+0    > . 1:1(0) ack 12
+0    state CLOSE_WAIT
+0    read 100 = data 1:11
+0    read 100 = EOF`},
		{name: "FIN beyond the window is not taken: duplicate ACK, still ESTABLISHED",
			script: inEstablished + `
+0.01 < F. 300001:300001(0) ack 1 win 510
+0    > . 1:1(0) ack 1
+0    state ESTABLISHED`},
		{name: "FIN beyond a hole waits for the hole: immediate ACK of RCV.NXT, still ESTABLISHED",
			script: inEstablished + `
+0.01 < F. 11:11(0) ack 1 win 510
+0    > . 1:1(0) ack 1
+0    state ESTABLISHED
+0    read 10 = EAGAIN`},
	})
}

func TestSegmentArrivesFinWait1(t *testing.T) {
	runScriptTests(t, []scriptTest{
		{name: "ACK of our FIN: FIN_WAIT_2",
			script: inFinWait1 + `
+0.01 < . 1:1(0) ack 2 win 510
+0    state FIN_WAIT_2`},
		{name: "ACK that does not cover our FIN leaves FIN_WAIT_1 and the FIN is retransmitted on RTO",
			script: inFinWait1 + `
+0.01 < . 1:1(0) ack 1 win 510
+0    state FIN_WAIT_1
+0.2  > F. 1:1(0) ack 1`},
		{name: "ACK beyond our FIN (unsent) draws a challenge ACK and changes nothing (RFC 5961 §5.2)",
			script: inFinWait1 + `
+0.01 < . 1:1(0) ack 3 win 510
+0    > . 2:2(0) ack 1
+0    state FIN_WAIT_1`},
		{name: "RST at RCV.NXT resets: read ECONNRESET",
			script: inFinWait1 + `
+0.01 < R. 1:1(0) ack 2 win 0
+0    state CLOSED
+0    read 10 = ECONNRESET`},
		{name: "RST in window, not at RCV.NXT: challenge ACK (RFC 5961 §3.2)",
			script: inFinWait1 + `
+0.01 < R. 501:501(0) ack 2 win 0
+0    > . 2:2(0) ack 1
+0    state FIN_WAIT_1`},
		{name: "SYN: challenge ACK (RFC 5961 §4.2)",
			script: inFinWait1 + `
+0.01 < S 501:501(0) win 65535
+0    > . 2:2(0) ack 1
+0    state FIN_WAIT_1`},
		{name: "old SYN below the window: challenge ACK too (RFC 5961 §4.2)",
			script: inFinWait1 + `
+0.01 < S 0:0(0) win 65535
+0    > . 2:2(0) ack 1
+0    state FIN_WAIT_1`},
		{name: "RST beyond the window: dropped",
			script: inFinWait1 + `
+0.01 < R. 300001:300001(0) ack 2 win 0
+0.1  state FIN_WAIT_1`},
		{name: "data after shutdown(SHUT_WR) is still received and ACKed: half-close",
			script: inFinWait1 + `
+0.01 < P. 1:11(10) ack 1 win 510
+0    > . 2:2(0) ack 11
+0    read 100 = data 1:11`},
		{name: "data after close() draws RST with seq = the segment's ACK, and the connection is gone (RFC 1122 §4.2.2.13, Linux TCPAbortOnData)",
			script: inFinWait1Orphan + `
+0.01 < P. 1:11(10) ack 1 win 510
+0    > R 1:1(0)
+0    state CLOSED`},
		{name: "data beyond the window: duplicate ACK",
			script: inFinWait1 + `
+0.01 < P. 300001:300011(10) ack 1 win 510
+0    > . 2:2(0) ack 1
+0    state FIN_WAIT_1`},
		{name: "FIN that does not ACK ours: ACK at once, CLOSING",
			script: inFinWait1 + `
+0.01 < F. 1:1(0) ack 1 win 510
+0    > . 2:2(0) ack 2
+0    state CLOSING`},
		{name: "FIN that ACKs ours: straight to TIME_WAIT",
			script: inFinWait1 + `
+0.01 < F. 1:1(0) ack 2 win 510
+0    > . 2:2(0) ack 2
+0    state TIME_WAIT`,
			states: "SYN_SENT,ESTABLISHED,FIN_WAIT_1,TIME_WAIT"},
	})
}

func TestSegmentArrivesFinWait2(t *testing.T) {
	runScriptTests(t, []scriptTest{
		{name: "FIN: ACK at once, TIME_WAIT",
			script: inFinWait2 + `
+0.01 < F. 1:1(0) ack 2 win 510
+0    > . 2:2(0) ack 2
+0    state TIME_WAIT`},
		{name: "data after shutdown(SHUT_WR): received, ACKed, readable",
			script: inFinWait2 + `
+0.01 < P. 1:101(100) ack 2 win 510
+0    > . 2:2(0) ack 101
+0    read 1000 = data 1:101`},
		{name: "data after close(): RST seq = its ACK, connection gone (Linux TCPAbortOnData)",
			script: inFinWait2Orphan + `
+0.01 < P. 1:101(100) ack 2 win 510
+0    > R 2:2(0)
+0    state CLOSED`},
		{name: "RST at RCV.NXT resets: read ECONNRESET",
			script: inFinWait2 + `
+0.01 < R. 1:1(0) ack 2 win 0
+0    state CLOSED
+0    read 10 = ECONNRESET`},
		{name: "RST in window, not at RCV.NXT: challenge ACK (RFC 5961 §3.2)",
			script: inFinWait2 + `
+0.01 < R. 2:2(0) ack 2 win 0
+0    > . 2:2(0) ack 1
+0    state FIN_WAIT_2`},
		{name: "SYN: challenge ACK (RFC 5961 §4.2)",
			script: inFinWait2 + `
+0.01 < S 7:7(0) win 65535
+0    > . 2:2(0) ack 1
+0    state FIN_WAIT_2`},
		{name: "RST beyond the window or before RCV.NXT: dropped",
			script: inFinWait2 + `
+0.01 < R. 300001:300001(0) ack 2 win 0
+0.01 < R 0:0(0) win 0
+0.1  state FIN_WAIT_2`},
		{name: "ACK of unsent data: challenge ACK (RFC 5961 §5.2)",
			script: inFinWait2 + `
+0.01 < . 1:1(0) ack 3 win 510
+0    > . 2:2(0) ack 1
+0    state FIN_WAIT_2`},
		{name: "FIN or data beyond the window: duplicate ACK each, nothing taken",
			script: inFinWait2 + `
+0.01 < F. 300001:300001(0) ack 2 win 510
+0    > . 2:2(0) ack 1
+0    state FIN_WAIT_2
+0.01 < P. 300001:300011(10) ack 2 win 510
+0    > . 2:2(0) ack 1
+0    recvq 0`},
		{name: "orphaned FIN_WAIT_2 still takes a FIN before tcp_fin_timeout: TIME_WAIT",
			script: inFinWait2Orphan + `
+30   < F. 1:1(0) ack 2 win 510
+0    > . 2:2(0) ack 2
+0    state TIME_WAIT`},
	})
}

func TestSegmentArrivesCloseWait(t *testing.T) {
	runScriptTests(t, []scriptTest{
		{name: "RST at RCV.NXT-1 (the FIN's sequence number) resets after a FIN (Linux tcp_reset_check)",
			script: inCloseWait + `
+0.01 < R. 1:1(0) ack 1 win 0
+0    state CLOSED
+0    read 10 = EOF
+0    write 10 = EPIPE`},
		{name: "RST in window, not at RCV.NXT: challenge ACK (RFC 5961 §3.2)",
			script: inCloseWait + `
+0.01 < R. 100:100(0) ack 1 win 0
+0    > . 1:1(0) ack 2
+0    state CLOSE_WAIT`},
		{name: "RST at RCV.NXT resets; RST beyond the window or two below RCV.NXT is dropped",
			script: inCloseWait + `
+0.01 < R. 300002:300002(0) ack 1 win 0
+0    < R. 0:0(0) ack 1 win 0
+0    state CLOSE_WAIT
+0.01 < R. 2:2(0) ack 1 win 0
+0    state CLOSED`},
		{name: "SYN: challenge ACK (RFC 5961 §4.2)",
			script: inCloseWait + `
+0.01 < S 100:100(0) win 65535
+0    > . 1:1(0) ack 2
+0    state CLOSE_WAIT`},
		{name: "data after the peer's FIN is ignored: no ACK, nothing queued (RFC 9293 §3.10.7.4 seventh)",
			script: inCloseWait + `
+0.01 < P. 2:12(10) ack 1 win 510
+0.5  recvq 0
+0    read 10 = EOF`},
		{name: "old data from before the FIN: duplicate ACK",
			script: inCloseWait + `
+0.01 < P. 4294967287:1(10) ack 1 win 510
+0    > . 1:1(0) ack 2`},
		{name: "ACK of unsent data: challenge ACK (RFC 5961 §5.2)",
			script: inCloseWait + `
+0.01 < . 2:2(0) ack 5 win 510
+0    > . 1:1(0) ack 2`},
		{name: "our data still flows in CLOSE_WAIT and its ACK is taken",
			script: inCloseWait + `
+0    write 100 = 100
+0    > P. 1:101(100) ack 2
+0.01 < . 2:2(0) ack 101 win 510
+0    sendq 0`},
	})
}

func TestSegmentArrivesClosing(t *testing.T) {
	runScriptTests(t, []scriptTest{
		{name: "ACK of our FIN: TIME_WAIT",
			script: inClosing + `
+0.01 < . 2:2(0) ack 2 win 510
+0    state TIME_WAIT`,
			states: "SYN_SENT,ESTABLISHED,FIN_WAIT_1,CLOSING,TIME_WAIT"},
		{name: "RST at RCV.NXT: CLOSED; read still gives EOF since the FIN came first",
			script: inClosing + `
+0.01 < R. 2:2(0) ack 2 win 0
+0    state CLOSED
+0    read 10 = EOF`},
		{name: "RST at RCV.NXT-1 after a FIN resets (Linux tcp_reset_check)",
			script: inClosing + `
+0.01 < R. 1:1(0) ack 2 win 0
+0    state CLOSED`},
		{name: "RST in window, not at RCV.NXT: challenge ACK (RFC 5961 §3.2)",
			script: inClosing + `
+0.01 < R. 50:50(0) ack 2 win 0
+0    > . 2:2(0) ack 2
+0    state CLOSING`},
		{name: "RST beyond the window: dropped",
			script: inClosing + `
+0.01 < R. 300002:300002(0) ack 2 win 0
+0    state CLOSING`},
		{name: "ACK beyond our FIN (unsent): challenge ACK (RFC 5961 §5.2)",
			script: inClosing + `
+0.01 < . 2:2(0) ack 3 win 510
+0    > . 2:2(0) ack 2
+0    state CLOSING`},
		{name: "SYN: challenge ACK (RFC 5961 §4.2)",
			script: inClosing + `
+0.01 < S 50:50(0) win 65535
+0    > . 2:2(0) ack 2
+0    state CLOSING`},
		{name: "retransmitted FIN: ACKed again",
			script: inClosing + `
+0.01 < F. 1:1(0) ack 1 win 510
+0    > . 2:2(0) ack 2
+0    state CLOSING`},
		{name: "data after the peer's FIN is ignored",
			script: inClosing + `
+0.01 < P. 2:12(10) ack 1 win 510
+0.1  recvq 0`},
		{name: "our FIN is retransmitted on RTO while CLOSING",
			script: inClosing + `
+0.2  > F. 1:1(0) ack 2
+0.01 < . 2:2(0) ack 2 win 510
+0    state TIME_WAIT`},
	})
}

func TestSegmentArrivesLastAck(t *testing.T) {
	runScriptTests(t, []scriptTest{
		{name: "ACK of our FIN: CLOSED",
			script: inLastAck + `
+0.01 < . 2:2(0) ack 2 win 510
+0    state CLOSED`},
		{name: "ACK that does not cover our FIN: still LAST_ACK",
			script: inLastAck + `
+0.01 < . 2:2(0) ack 1 win 510
+0    state LAST_ACK`},
		{name: "ACK beyond our FIN (unsent): challenge ACK, still LAST_ACK (RFC 5961 §5.2)",
			script: inLastAck + `
+0.01 < . 2:2(0) ack 3 win 510
+0    > . 2:2(0) ack 2
+0    state LAST_ACK`},
		{name: "RST at RCV.NXT: CLOSED",
			script: inLastAck + `
+0.01 < R. 2:2(0) ack 2 win 0
+0    state CLOSED
+0    read 10 = EOF`},
		{name: "RST at RCV.NXT-1 after a FIN resets (Linux tcp_reset_check)",
			script: inLastAck + `
+0.01 < R 1:1(0) win 0
+0    state CLOSED`},
		{name: "RST in window, not at RCV.NXT: challenge ACK (RFC 5961 §3.2)",
			script: inLastAck + `
+0.01 < R. 77:77(0) ack 2 win 0
+0    > . 2:2(0) ack 2
+0    state LAST_ACK`},
		{name: "RST beyond the window: dropped",
			script: inLastAck + `
+0.01 < R. 300002:300002(0) ack 2 win 0
+0    state LAST_ACK`},
		{name: "SYN: challenge ACK (RFC 5961 §4.2)",
			script: inLastAck + `
+0.01 < S 77:77(0) win 65535
+0    > . 2:2(0) ack 2
+0    state LAST_ACK`},
		{name: "retransmitted FIN (our ACK was lost): ACKed again",
			script: inLastAck + `
+0.01 < F. 1:1(0) ack 1 win 510
+0    > . 2:2(0) ack 2
+0    state LAST_ACK`},
		{name: "data after the peer's FIN is ignored",
			script: inLastAck + `
+0.01 < P. 2:12(10) ack 1 win 510
+0.1  state LAST_ACK
+0    recvq 0`},
	})
}

func TestSegmentArrivesTimeWait(t *testing.T) {
	runScriptTests(t, []scriptTest{
		{name: "RST at RCV.NXT removes TIME_WAIT (Linux tcp_rfc1337=0)",
			script: inTimeWait + `
+1    < R. 2:2(0) ack 2 win 0
+0    state CLOSED`},
		{name: "RST elsewhere in the window is dropped and does not restart 2MSL",
			script: inTimeWait + `
+30   < R. 100:100(0) ack 2 win 0
+29.99 state TIME_WAIT
+0.01 state CLOSED`},
		{name: "a bare ACK at RCV.NXT is absorbed and restarts 2MSL",
			script: inTimeWait + `
+30   < . 2:2(0) ack 2 win 510
+59.99 state TIME_WAIT
+0.01 state CLOSED`},
		{name: "data in TIME_WAIT is ACKed with RCV.NXT and restarts 2MSL",
			script: inTimeWait + `
+1    < P. 2:12(10) ack 2 win 510
+0    > . 2:2(0) ack 2
+59.99 state TIME_WAIT
+0.01 state CLOSED`},
		{name: "an old SYN (below RCV.NXT) is ACKed, not taken as a new connection, and does not restart 2MSL",
			script: inTimeWait + `
+1    < S 0:0(0) win 65535 <mss 1460>
+0    > . 2:2(0) ack 2
+58.99 state TIME_WAIT
+0.01 state CLOSED`},
		{name: "a new SYN is left to the stack (TWNewSyn): the connection itself sends nothing",
			script: inTimeWait + `
+1    < S 1000:1000(0) win 65535 <mss 1460>
+0.1  state TIME_WAIT`},
		{name: "data beyond the window in TIME_WAIT: ACKed with RCV.NXT too",
			script: inTimeWait + `
+1    < P. 300002:300012(10) ack 2 win 510
+0    > . 2:2(0) ack 2
+0    state TIME_WAIT`},
	})
}

func TestSegmentArrivesSynSent(t *testing.T) {
	runScriptTests(t, []scriptTest{
		{name: "SYN-ACK: ESTABLISHED, ACK at once",
			script: inSynSent + `
+0.01 < S. 0:0(0) ack 1 win 65160 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>
+0    > . 1:1(0) ack 1 <nop,nop,TS val 10 ecr 100>
+0    state ESTABLISHED`},
		{name: "RST with an acceptable ACK: connection refused (RFC 9293 §3.10.7.3)",
			script: inSynSent + `
+0.01 < R. 0:0(0) ack 1 win 0
+0    state CLOSED
+0    read 10 = ECONNREFUSED`},
		{name: "RST without ACK is ignored in SYN_SENT: it cannot be matched to our SYN (RFC 9293 §3.10.7.3)",
			script: inSynSent + `
+0.01 < R 0:0(0) win 0
+0    state SYN_SENT
+0.99 > S 0:0(0)`},
		{name: "RST with a bad ACK is ignored (blind reset protection, RFC 5961 §3.2)",
			script: inSynSent + `
+0.01 < R. 0:0(0) ack 5 win 0
+0    state SYN_SENT
+0.99 > S 0:0(0)`},
		{name: "SYN-ACK with a bad ACK draws RST <SEQ=SEG.ACK> and we stay in SYN_SENT (RFC 9293 §3.10.7.3)",
			script: inSynSent + `
+0.01 < S. 0:0(0) ack 5 win 65535 <mss 1460>
+0    > R 5:5(0)
+0    state SYN_SENT`},
		{name: "bare ACK of our ISN (nothing new) is unacceptable too: RST",
			script: inSynSent + `
+0.01 < . 0:0(0) ack 0 win 65535
+0    > R 0:0(0)
+0    state SYN_SENT`},
		{name: "acceptable ACK without SYN is dropped: the peer's ISN is unknown (RFC 9293 §3.10.7.3 fifth)",
			script: inSynSent + `
+0.01 < . 0:0(0) ack 1 win 65535
+0    state SYN_SENT`},
		{name: "data or FIN without SYN is dropped",
			script: inSynSent + `
+0.01 < FP. 1:11(10) ack 1 win 65535
+0    state SYN_SENT`},
		{name: "data written in SYN_SENT leaves with the ACK of the SYN-ACK: no separate ACK",
			script: inSynSent + `
+0.005 write 10 = 10
+0.005 < S. 0:0(0) ack 1 win 65160 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>
+0    > P. 1:11(10) ack 1
+0    state ESTABLISHED`},
		{name: "SYN without ACK: simultaneous open, SYN_RCVD and a SYN-ACK from our ISN",
			script: inSynSent + `
+0.01 < S 0:0(0) win 65535 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>
+0    > S. 0:0(0) ack 1 <mss 1460,sackOK,TS val 10 ecr 100,nop,wscale 7>
+0    state SYN_RCVD`},
	})
}

func TestSegmentArrivesSynRcvd(t *testing.T) {
	runScriptTests(t, []scriptTest{
		{name: "ACK of our SYN-ACK: ESTABLISHED",
			script: inSynRcvd + `
+0.01 < . 1:1(0) ack 1 win 502
+0    state ESTABLISHED`},
		{name: "third ACK carrying data: ESTABLISHED and the data is taken",
			script: inSynRcvd + `
+0.01 < P. 1:11(10) ack 1 win 502
+0    > . 1:1(0) ack 11
+0    state ESTABLISHED
+0    read 100 = data 1:11`},
		{name: "third ACK carrying FIN: straight on to CLOSE_WAIT",
			script: inSynRcvd + `
+0.01 < F. 1:1(0) ack 1 win 502
+0    > . 1:1(0) ack 2
+0    state CLOSE_WAIT`,
			states: "SYN_RCVD,ESTABLISHED,CLOSE_WAIT"},
		{name: "ACK that does not ACK our SYN draws RST <SEQ=SEG.ACK> (RFC 9293 §3.10.7.4 fifth)",
			script: inSynRcvd + `
+0.01 < . 1:1(0) ack 0 win 502
+0    > R 0:0(0)
+0    state SYN_RCVD`},
		{name: "ACK of unsent data draws RST <SEQ=SEG.ACK>",
			script: inSynRcvd + `
+0.01 < . 1:1(0) ack 5 win 502
+0    > R 5:5(0)
+0    state SYN_RCVD
+0.01 < . 1:1(0) ack 1 win 502
+0    state ESTABLISHED`},
		{name: "segment without ACK is dropped",
			script: inSynRcvd + `
+0.01 < P 1:11(10) win 502
+0    state SYN_RCVD`},
		{name: "retransmitted SYN: the SYN-ACK is sent again (Linux request sockets)",
			script: inSynRcvd + `
+0.5  < S 0:0(0) win 64240 <mss 1460,sackOK,TS val 600 ecr 0,nop,wscale 7>
+0    > S. 0:0(0) ack 1 <mss 1460,sackOK,TS val 500 ecr 100,nop,wscale 7>
+0    state SYN_RCVD`},
		{name: "RST at RCV.NXT: the embryonic connection is dropped silently, back to LISTEN (RFC 9293 §3.10.7.4 second)",
			script: inSynRcvd + `
+0.01 < R. 1:1(0) ack 1 win 0
+0    state CLOSED
+5    state CLOSED`},
		{name: "RST in window, not at RCV.NXT: challenge ACK (RFC 5961 §3.2)",
			script: inSynRcvd + `
+0.01 < R 100:100(0) win 0
+0    > . 1:1(0) ack 1
+0    state SYN_RCVD`},
		{name: "RST beyond the window: dropped",
			script: inSynRcvd + `
+0.01 < R 100000:100000(0) win 0
+0    state SYN_RCVD`},
		{name: "a different SYN in the window: request dropped with RST, back to LISTEN (RFC 9293 §3.10.7.4 fourth, Linux tcp_check_req)",
			script: inSynRcvd + `
+0.01 < S 100:100(0) win 64240 <mss 1460>
+0    > R. 2147483648:2147483648(0) ack 101
+0    state CLOSED`},
		{name: "data beyond the window: duplicate ACK, still SYN_RCVD",
			script: inSynRcvd + `
+0.01 < P. 100000:100010(10) ack 1 win 502
+0    > . 1:1(0) ack 1
+0    state SYN_RCVD`},
	})
}

// TestSegmentArrivesClosed: a CLOSED connection answers nothing itself;
// strays are the stack's to answer with RST.
func TestSegmentArrivesClosed(t *testing.T) {
	runScriptTests(t, []scriptTest{
		{name: "after RST, every kind of segment is ignored by the connection",
			script: inEstablished + `
+0.01 < R. 1:1(0) ack 1 win 0
+0    state CLOSED
+0.01 < P. 1:11(10) ack 1 win 510
+0.01 < S 0:0(0) win 65535
+0.01 < F. 1:1(0) ack 1 win 510
+0.01 < . 1:1(0) ack 1 win 510
+1    state CLOSED`},
	})
}

// TestChallengeAckRateLimit: challenge ACKs share one per-connection budget
// of one per tcp_invalid_ratelimit (500 ms), whatever provoked them
// (RFC 5961 §7, Linux tcp_send_challenge_ack).
func TestChallengeAckRateLimit(t *testing.T) {
	runScriptTests(t, []scriptTest{
		{name: "a second in-window RST within 500 ms gets no challenge ACK; one 500 ms after the first does",
			script: inEstablished + `
+0.01 < R. 1001:1001(0) ack 1 win 0
+0    > . 1:1(0) ack 1
+0.1  < R. 1002:1002(0) ack 1 win 0
+0.399 < R. 1003:1003(0) ack 1 win 0
+0.001 < R. 1004:1004(0) ack 1 win 0
+0    > . 1:1(0) ack 1
+0    state ESTABLISHED`},
		{name: "SYN, RST and ACK-of-unsent-data challenges share the budget",
			script: inEstablished + `
+0.01 < S 1001:1001(0) win 65535
+0    > . 1:1(0) ack 1
+0.1  < R. 1001:1001(0) ack 1 win 0
+0.1  < . 1:1(0) ack 999 win 510
+0.1  < S. 0:0(0) ack 1 win 65535
+0.2  < . 1:1(0) ack 999 win 510
+0    > . 1:1(0) ack 1`},
		{name: "the limit never blocks a real reset: RST at RCV.NXT right after a challenge still resets",
			script: inEstablished + `
+0.01 < R. 1001:1001(0) ack 1 win 0
+0    > . 1:1(0) ack 1
+0.01 < R. 1:1(0) ack 1 win 0
+0    state CLOSED`},
		{name: "ChallengeAck 0 turns the limit off",
			cfg: func(c *Config) { c.ChallengeAck = 0 },
			script: inEstablished + `
+0.01 < R. 1001:1001(0) ack 1 win 0
+0    > . 1:1(0) ack 1
+0    < R. 1002:1002(0) ack 1 win 0
+0    > . 1:1(0) ack 1`},
	})
}

// TestSimultaneousOpen: both ends send SYN at once (RFC 9293 §3.5,
// figure 7); each answers the other's SYN with a SYN-ACK from its ISN.
func TestSimultaneousOpen(t *testing.T) {
	runScriptTests(t, []scriptTest{
		{name: "crossed SYNs then crossed SYN-ACKs: the peer's SYN-ACK completes the handshake with no extra ACK (RFC 9293 figure 7, Linux tcp_validate_incoming)",
			script: inSynSent + `
+0.01 < S 0:0(0) win 65535 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>
+0    > S. 0:0(0) ack 1 <mss 1460,sackOK,TS val 10 ecr 100,nop,wscale 7>
+0    state SYN_RCVD
+0.01 < S. 0:0(0) ack 1 win 65535 <mss 1460,sackOK,TS val 110 ecr 10,nop,wscale 7>
+0    state ESTABLISHED
+0    write 10 = 10
+0    > P. 1:11(10) ack 1`,
			states: "SYN_SENT,SYN_RCVD,ESTABLISHED"},
		{name: "crossed SYNs, then a plain ACK of our SYN-ACK: ESTABLISHED",
			script: inSynSent + `
+0.01 < S 0:0(0) win 65535 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>
+0    > S. 0:0(0) ack 1 <mss 1460,sackOK,TS val 10 ecr 100,nop,wscale 7>
+0.01 < . 1:1(0) ack 1 win 510
+0    state ESTABLISHED`},
		{name: "our SYN-ACK lost: it is retransmitted from SYN_RCVD on RTO",
			script: inSynSent + `
+0.01 < S 0:0(0) win 65535 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>
+0    > S. 0:0(0) ack 1
+0.99 > S. 0:0(0) ack 1
+0.01 < . 1:1(0) ack 1 win 510
+0    state ESTABLISHED`},
		{name: "simultaneous open with a peer without options: only MSS, defaults elsewhere",
			script: inSynSent + `
+0.01 < S 0:0(0) win 8192
+0    > S. 0:0(0) ack 1 win 64240 <mss 1460>
+0.01 < . 1:1(0) ack 1 win 8192
+0    mss 536`},
	})
}

// TestCloseInEveryState: close() (RFC 9293 §3.10.4, Linux tcp_close) in each
// state the user can hold a connection in.
func TestCloseInEveryState(t *testing.T) {
	runScriptTests(t, []scriptTest{
		{name: "SYN_SENT: CLOSED at once, nothing sent",
			script: inSynSent + `
+0.5  close
+0    state CLOSED
+5    state CLOSED`},
		{name: "SYN_RCVD of a simultaneous open: FIN at once, FIN_WAIT_1 (RFC 9293 §3.10.4)",
			script: inSynSent + `
+0.01 < S 0:0(0) win 65535 <mss 1460>
+0    > S. 0:0(0) ack 1
+0    close
+0    > F. 1:1(0) ack 1
+0    state FIN_WAIT_1
+0.01 < . 1:1(0) ack 2 win 8192
+0    state FIN_WAIT_2`},
		{name: "SYN_RCVD of a simultaneous open, everything lost: the RTO resends the SYN-ACK (our SYN is still unACKed) and the FIN",
			script: inSynSent + `
+0.01 < S 0:0(0) win 65535 <mss 1460>
+0    > S. 0:0(0) ack 1
+0    close
+0    > F. 1:1(0) ack 1
+0.99 > S. 0:0(0) ack 1
+0    > F. 1:1(0) ack 1
+0.01 < . 1:1(0) ack 2 win 8192
+0    state FIN_WAIT_2`},
		{name: "ESTABLISHED: FIN, FIN_WAIT_1",
			script: inEstablished + `
+0    close
+0    > F. 1:1(0) ack 1
+0    state FIN_WAIT_1`},
		{name: "ESTABLISHED with unsent data: the data goes first and the FIN rides on its last segment",
			script: inEstablished + `
+0    write 2000 = 2000; close
+0    > . 1:1449(1448) ack 1
+0    > FP. 1449:2001(552) ack 1
+0.01 < . 1:1(0) ack 2002 win 510
+0    state FIN_WAIT_2`},
		{name: "ESTABLISHED with out-of-order data only: FIN, not RST; only the in-order receive queue counts as unread (Linux tcp_close)",
			script: inEstablished + `
+0.01 < P. 11:21(10) ack 1 win 510
+0    > . 1:1(0) ack 1 <nop,nop,TS val 20 ecr 100,nop,nop,sack 11:21>
+0    close
+0    > F. 1:1(0) ack 1
+0    state FIN_WAIT_1`},
		{name: "FIN_WAIT_1 after shutdown(SHUT_WR): nothing more sent; the ACK of the FIN starts tcp_fin_timeout",
			script: inFinWait1 + `
+0    close
+0.01 < . 1:1(0) ack 2 win 510
+0    state FIN_WAIT_2
+60   state CLOSED`},
		{name: "FIN_WAIT_2 after shutdown(SHUT_WR): nothing sent; the orphan now lives tcp_fin_timeout",
			script: inFinWait2 + `
+1    close
+59.99 state FIN_WAIT_2
+0.01 state CLOSED`},
		{name: "CLOSE_WAIT: FIN, LAST_ACK",
			script: inCloseWait + `
+0    close
+0    > F. 1:1(0) ack 2
+0    state LAST_ACK`},
		{name: "CLOSING: nothing new sent; the ACK still leads to TIME_WAIT",
			script: inClosing + `
+0    close
+0.01 < . 2:2(0) ack 2 win 510
+0    state TIME_WAIT`},
		{name: "LAST_ACK: nothing new sent; the ACK still closes",
			script: inLastAck + `
+0    close
+0.01 < . 2:2(0) ack 2 win 510
+0    state CLOSED`},
		{name: "TIME_WAIT: nothing sent, TIME_WAIT runs out as before",
			script: inTimeWait + `
+1    close
+58.99 state TIME_WAIT
+0.01 state CLOSED`},
		{name: "CLOSED after RST: nothing sent",
			script: inEstablished + `
+0.01 < R. 1:1(0) ack 1 win 0
+0    close
+1    state CLOSED`},
		{name: "close twice: the second is a no-op",
			script: inEstablished + `
+0    close
+0    > F. 1:1(0) ack 1
+0    close
+0.01 < . 1:1(0) ack 2 win 510
+0    state FIN_WAIT_2`},
	})
}

// TestAbortInEveryState: ABORT (SO_LINGER {on, 0}) sends RST only where the
// peer may hold state for us (RFC 9293 §3.10.5, Linux tcp_disconnect).
func TestAbortInEveryState(t *testing.T) {
	runScriptTests(t, []scriptTest{
		{name: "SYN_SENT: no RST", script: inSynSent + `
+0    abort
+0    state CLOSED`},
		{name: "SYN_RCVD: RST", script: inSynRcvd + `
+0    abort
+0    > R. 1:1(0) ack 1
+0    state CLOSED`},
		{name: "FIN_WAIT_1: RST from SND.NXT", script: inFinWait1 + `
+0    abort
+0    > R. 2:2(0) ack 1`},
		{name: "FIN_WAIT_2: RST", script: inFinWait2 + `
+0    abort
+0    > R. 2:2(0) ack 1`},
		{name: "CLOSE_WAIT: RST", script: inCloseWait + `
+0    abort
+0    > R. 1:1(0) ack 2`},
		{name: "LAST_ACK: no RST, the peer has closed", script: inLastAck + `
+0    abort
+0    state CLOSED`},
		{name: "TIME_WAIT: no RST", script: inTimeWait + `
+0    abort
+0    state CLOSED`},
	})
}
