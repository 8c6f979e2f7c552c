package tcp

import "testing"

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
