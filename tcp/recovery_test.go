package tcp

import (
	"math"
	"testing"
)

// sackOpen opens a connection to a peer that does SACK and window scaling
// but not timestamps (so MSS 1460), and sends ten full segments: the
// initial window.
const sackOpen = `
+0    connect
+0    > S 0:0(0) win 64240 <mss 1460,sackOK,TS val 0 ecr 0,nop,wscale 7>
+0.01 < S. 0:0(0) ack 1 win 65535 <mss 1460,sackOK,nop,wscale 7>
+0    > . 1:1(0) ack 1 <>
+0    write 14600 = 14600
+0    > . 1:1461(1460) ack 1
+0    > . 1461:2921(1460) ack 1
+0    > . 2921:4381(1460) ack 1
+0    > . 4381:5841(1460) ack 1
+0    > . 5841:7301(1460) ack 1
+0    > . 7301:8761(1460) ack 1
+0    > . 8761:10221(1460) ack 1
+0    > . 10221:11681(1460) ack 1
+0    > . 11681:13141(1460) ack 1
+0    > P. 13141:14601(1460) ack 1
`

// TestSACKLossRecovery: RFC 6675 loss recovery from the SACK scoreboard.
func TestSACKLossRecovery(t *testing.T) {
	runScriptTests(t, []scriptTest{
		{name: "a hole is lost once more than 2*SMSS above it is SACKed: retransmitted at once, one ACK later, no RTO (RFC 6675 §4 IsLost)",
			script: sackOpen + `
+0.01 < . 1:1(0) ack 1461 win 510 <sack 2921:4381>
+0    < . 1:1(0) ack 1461 win 510 <sack 2921:5841>
+0    < . 1:1(0) ack 1461 win 510 <sack 2921:7301>
+0    > . 1461:2921(1460) ack 1
+0    count SACKRecovery 1
+0.01 < . 1:1(0) ack 14601 win 510
+1    sendq 0
+0    retrans 1
+0    count Timeouts 0`},
		{name: "one ACK whose SACK blocks show three holes: all three retransmitted at once, in one round trip",
			script: sackOpen + `
+0.01 < . 1:1(0) ack 1461 win 510 <sack 2921:4381>
+0    < . 1:1(0) ack 1461 win 510 <sack 8761:14601 5841:7301 2921:4381>
+0    > . 1461:2921(1460) ack 1
+0    > . 4381:5841(1460) ack 1
+0    > . 7301:8761(1460) ack 1
+0.01 < . 1:1(0) ack 14601 win 510
+1    retrans 3
+0    count Timeouts 0`},
		{name: "a lost retransmission is sent again once data sent after it is SACKed, without waiting for the RTO (lost-retransmission detection)",
			script: sackOpen + `
+0    write 14600 = 14600
+0.01 < . 1:1(0) ack 1461 win 510 <sack 2921:7301>
+0    > . 1461:2921(1460) ack 1
+0    < . 1:1(0) ack 1461 win 510 <sack 2921:14601>
+0    > . 14601:16061(1460) ack 1
+0    > . 16061:17521(1460) ack 1
+0    > . 17521:18981(1460) ack 1
+0    > . 18981:20441(1460) ack 1
+0    > . 20441:21901(1460) ack 1
+0.01 < . 1:1(0) ack 1461 win 510 <sack 2921:16061>
+0    > . 1461:2921(1460) ack 1
+0    > . 21901:23361(1460) ack 1
+0    retrans 2
+0    count Timeouts 0`},
		{name: "SACKed segments let new data out before recovery (limited transmit, RFC 3042): the pipe, not SND.NXT-SND.UNA, is what cwnd limits",
			script: sackOpen + `
+0    write 2920 = 2920
+0.01 < . 1:1(0) ack 1 win 510 <sack 1461:2921>
+0    > . 14601:16061(1460) ack 1
+0    < . 1:1(0) ack 1 win 510 <sack 1461:4381>
+0    > P. 16061:17521(1460) ack 1
+0    count SACKRecovery 0`},
		{name: "a D-SACK block is counted, not taken as a SACK (RFC 2883 §4)",
			script: sackOpen + `
+0.01 < . 1:1(0) ack 14601 win 510 <sack 1461:2921>
+0    count DSACKRecv 1
+0    count SACKRecovery 0
+1    sendq 0`},
		{name: "SACK blocks beyond what we sent are ignored",
			script: sackOpen + `
+0.01 < . 1:1(0) ack 1461 win 510 <sack 20000:30000 15000:16000 14601:14700>
+0    < . 1:1(0) ack 1461 win 510 <sack 20000:30000 15000:16000 14601:14700>
+0    count SACKRecovery 0`},
		{name: "after an RTO the retransmission skips what the peer SACKed",
			cfg: noTLP,
			script: sackOpen + `
+0.01 < . 1:1(0) ack 1461 win 510 <sack 2921:4381>
+0.21 > . 1461:2921(1460) ack 1
+0    count Timeouts 1
+0.01 < . 1:1(0) ack 2921 win 510 <sack 2921:4381>
+0    > . 4381:5841(1460) ack 1
+0    > . 5841:7301(1460) ack 1`},
	})
}

// TestTailLossProbe: RFC 8985 §7 as Linux does it.
func TestTailLossProbe(t *testing.T) {
	runScriptTests(t, []scriptTest{
		{name: "no ACK for 2*SRTT + 2 ms with several segments out: the last segment goes again as a probe",
			script: sackOpen + `
+0.022 > P. 13141:14601(1460) ack 1
+0    count LossProbes 1
+0    retrans 1`},
		{name: "the probe's D-SACK says nothing was lost: no window reduction",
			script: sackOpen + `
+0.022 > P. 13141:14601(1460) ack 1
+0.01 < . 1:1(0) ack 14601 win 510 <sack 13141:14601>
+0    count DSACKRecv 1
+0    count LossProbeRecovery 0`},
		{name: "an ACK beyond the probe without a D-SACK says the probe repaired a loss: the window is reduced (LossProbeRecovery)",
			script: sackOpen + `
+0.022 > P. 13141:14601(1460) ack 1
+0.01 < . 1:1(0) ack 14601 win 510
+0    write 1460 = 1460
+0    > P. 14601:16061(1460) ack 1
+0.01 < . 1:1(0) ack 16061 win 510
+0    count LossProbeRecovery 1`},
		{name: "with unsent data the probe is a new segment, sent beyond the congestion window",
			script: sackOpen + `
+0    write 1460 = 1460
+0.022 > P. 14601:16061(1460) ack 1
+0    count LossProbes 1
+0    retrans 0`},
		{name: "one probe per tail: after it only the RTO",
			script: sackOpen + `
+0.022 > P. 13141:14601(1460) ack 1
+0.21 > . 1:1461(1460) ack 1
+0    count LossProbes 1
+0    count Timeouts 1`},
		{name: "no probe without SACK",
			script: plainOpen + `
+0    write 100 = 100
+0    > P. 1:101(100) ack 1
+0.21 > P. 1:101(100) ack 1
+0    count LossProbes 0
+0    count Timeouts 1`},
	})
}

// TestPAWSScript: RFC 7323 §5 as Linux applies it.
func TestPAWSScript(t *testing.T) {
	const tsData = inEstablished + `
+0.01 < P. 1:101(100) ack 1 win 510 <nop,nop,TS val 200 ecr 10>
+0    > . 1:1(0) ack 101 <nop,nop,TS val 20 ecr 200>
`
	runScriptTests(t, []scriptTest{
		{name: "data with a TSval older than TS.Recent is dropped and answered with a duplicate ACK",
			script: tsData + `
+0.01 < P. 101:201(100) ack 1 win 510 <nop,nop,TS val 150 ecr 10>
+0    > . 1:1(0) ack 101 <nop,nop,TS val 30 ecr 200>
+0    count PAWSEstab 1
+0    recvq 100
+0    < P. 101:201(100) ack 1 win 510 <nop,nop,TS val 201 ecr 10>
+0    > . 1:1(0) ack 201 <nop,nop,TS val 30 ecr 201>
+0    recvq 200`},
		{name: "one tick behind is tolerated (Linux TCP_PAWS_WINDOW)",
			script: tsData + `
+0.01 < P. 101:201(100) ack 1 win 510 <nop,nop,TS val 199 ecr 10>
+0    > . 1:1(0) ack 201 <nop,nop,TS val 30 ecr 200>
+0    count PAWSEstab 0`},
		{name: "a RST is accepted even with an old TSval",
			script: tsData + `
+0.01 < R. 101:101(0) ack 1 win 510 <nop,nop,TS val 1 ecr 10>
+0    state CLOSED
+0    count PAWSEstab 0`},
		{name: "a reordered pure duplicate ACK within an RTO's worth of ticks is not dropped (Linux tcp_disordered_ack)",
			script: tsData + `
+0.01 < . 101:101(0) ack 1 win 510 <nop,nop,TS val 100 ecr 10>
+0    count PAWSEstab 0`},
		{name: "a pure ACK far older than that is dropped, its duplicate ACK rate-limited",
			script: tsData + `
+0.01 < . 101:101(0) ack 1 win 510 <nop,nop,TS val 100000 ecr 10>
+0    < . 101:101(0) ack 1 win 510 <nop,nop,TS val 300 ecr 10>
+0    > . 1:1(0) ack 101 <nop,nop,TS val 30 ecr 100000>
+0    < . 101:101(0) ack 1 win 510 <nop,nop,TS val 200 ecr 10>
+0    count PAWSEstab 2`},
		{name: "after 24 days without an update TS.Recent is stale and any TSval passes (RFC 7323 §5.5)",
			script: tsData + `
+2073600 < P. 101:201(100) ack 1 win 510 <nop,nop,TS val 150 ecr 10>
+0    > . 1:1(0) ack 201 <nop,nop,TS val * ecr 150>
+0    count PAWSEstab 0`},
	})
}

// TestCubicCurve: the window CUBIC aims at is W_max at K, concave before
// and convex after (RFC 9438 eq. 1 and 2).
func TestCubicCurve(t *testing.T) {
	const mss, wMax = 1000.0, 100000.0
	w0 := wMax * cubicBeta
	k := math.Cbrt(wMax / mss * (1 - cubicBeta) / cubicC)
	tests := []struct {
		t    float64
		want float64
	}{
		{0, w0},
		{k, wMax},
		{2 * k, wMax + (wMax - w0)},
	}
	for _, tt := range tests {
		k, origin := cubicEpoch(mss, w0, wMax)
		if got := cubicAt(mss, k, origin, tt.t); math.Abs(got-tt.want) > 1 {
			t.Errorf("W(%.2f s) = %.0f, want %.0f", tt.t, got, tt.want)
		}
	}
	// At or above W_max the curve starts at once (K = 0) from the current
	// window, not from W_max.
	for _, cur := range []float64{wMax, 1.2 * wMax} {
		if k, origin := cubicEpoch(mss, cur, wMax); k != 0 || cubicAt(mss, k, origin, 0) != cur {
			t.Errorf("window %.0f, W_max %.0f: K %v, W(0) %.0f; want 0, %.0f", cur, wMax, k, cubicAt(mss, k, origin, 0), cur)
		}
	}
}
