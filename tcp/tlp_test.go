package tcp

import "testing"

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
