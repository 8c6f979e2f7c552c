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

// TestNoProbeInDisorder: with SACKed data outstanding there is no loss
// probe (RFC 8985 §7.2 condition 2, Linux's Open state only): RACK's
// reordering timer decides, and a probe armed before the SACK came is
// dropped when that timer is set.
func TestNoProbeInDisorder(t *testing.T) {
	// sack1msOpen opens a SACK connection whose SRTT is 1 ms and sends
	// ten segments.
	sack1msOpen := sackOpenRTT("0.001", 5)
	runScriptTests(t, []scriptTest{
		{name: "SRTT 1 ms: the probe would be due 4 ms after the flight, the reordering timer 8 ms after the SACK; the timer goes, marks the hole lost and recovery retransmits it, no probe",
			script: sack1msOpen + `+0.0005 < . 1:1(0) ack 1 win 510 <sack 2921:4381>
+0.008125 > . 1:1461(1460) ack 1
+0      count LossProbes 0
+0      count SACKRecovery 1`},
		{name: "an ACK that moves SND.UNA with SACKed data still out arms no probe either",
			script: sack1msOpen + `+0.0005 < . 1:1(0) ack 1461 win 510 <sack 4381:5841>
+0.008125 > . 1461:2921(1460) ack 1
+0      count LossProbes 0
+0      count SACKRecovery 1`},
	})
}

// TestNoProbeAfterSACK: a probe armed before any data was SACKed does not
// go once a SACK has come, whatever detects the losses (RFC 8985 §7.2
// condition 2; Linux re-arms its one timer on an ACK that SACKs new
// data, and in Disorder that is the RTO, not the probe). Under the RFC
// 6675 rules a SACK of the last segment alone marks no loss and sets no
// reordering timer (RACK's case is TestNoProbeInDisorder): the RTO
// goes, not a probe.
func TestNoProbeAfterSACK(t *testing.T) {
	script := sackOpen + `
+0.005 < . 1:1(0) ack 1 win 510 <sack 13141:14601>
+0.205 > . 1:1461(1460) ack 1
+0    count LossProbes 0
+0    count Timeouts 1
`
	runScriptTests(t, []scriptTest{
		{name: "RFC 6675 rules (no RACK)", cfg: func(c *Config) { c.RACK = false }, script: script},
	})
}
