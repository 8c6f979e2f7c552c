package tcp

import (
	"reflect"
	"testing"
	"time"
	"unsafe"
)

// TestCounts: each MIB event a connection counts moves when its event
// happens, where Linux moves it, and not for the near miss beside it.
func TestCounts(t *testing.T) {
	runScriptTests(t, []scriptTest{
		{name: "challenge ACKs are counted when sent: the second within tcp_invalid_ratelimit is not sent and not counted (Linux tcp_send_challenge_ack)",
			script: inEstablished + `
+0.01 < R. 1001:1001(0) ack 1 win 0
+0    > . 1:1(0) ack 1
+0    count ChallengeACK 1
+0.1  < R. 1001:1001(0) ack 1 win 0
+0    count ChallengeACK 1
+0.5  < R. 1001:1001(0) ack 1 win 0
+0    > . 1:1(0) ack 1
+0    count ChallengeACK 2
+0    count InErrs 0`},
		{name: "a RST at RCV.NXT resets without a challenge ACK; an established connection's reset is no failed attempt",
			script: inEstablished + `
+0.01 < R. 1:1(0) ack 1 win 0
+0    state CLOSED
+0    count ChallengeACK 0
+0    count AttemptFails 0`},
		{name: "a SYN in ESTABLISHED is an input error each time, even when its challenge ACK is rate-limited (Linux tcp_validate_incoming, syn_inerr)",
			script: inEstablished + `
+0.01 < S 1001:1001(0) win 65535 <mss 1460>
+0    > . 1:1(0) ack 1
+0.1  < S 1001:1001(0) win 65535 <mss 1460>
+0    count InErrs 2
+0    count ChallengeACK 1`},
		{name: "a SYN in CLOSE_WAIT is challenged but no input error: Linux's slow path passes syn_inerr 0",
			script: inCloseWait + `
+0.01 < S 7:7(0) win 65535
+0    > . 1:1(0) ack 2
+0    count InErrs 0
+0    count ChallengeACK 1`},
		{name: "data after close() is an abort on data (Linux TCPAbortOnData)",
			script: inFinWait2Orphan + `
+0.01 < P. 1:101(100) ack 2 win 510
+0    > R 2:2(0)
+0    count AbortOnData 1
+0    count AttemptFails 0`},
		{name: "data after shutdown(SHUT_WR) is received: no abort",
			script: inFinWait2 + `
+0.01 < P. 1:101(100) ack 2 win 510
+0    > . 2:2(0) ack 101
+0    count AbortOnData 0`},
		{name: "a retransmission counts in RetransSegs",
			script: activeOpen + `
+0    write 100 = 100
+0    > P. 1:101(100) ack 1
+0    count RetransSegs 0
+0.21 > P. 1:101(100) ack 1
+0    count RetransSegs 1`},
		{name: "tcp_retries2 running out is an abort on timeout, not a failed attempt (Linux tcp_write_err)",
			cfg: func(c *Config) { c.Retries2 = 3; c.TLP = false },
			script: activeOpen + `
+0    write 100 = 100
+0    > P. 1:101(100) ack 1
` + backoffScript("P. 1:101(100) ack 1", 210*time.Millisecond, 4, 120*time.Second) + `
+0    count RetransSegs 4
+0    count AbortOnTimeout 1
+0    count AttemptFails 0`},
		{name: "tcp_syn_retries running out is an abort on timeout and a failed attempt",
			cfg: func(c *Config) { c.SynRetries = 2 },
			script: inSynSent + `
+1    > S 0:0(0)
+2    > S 0:0(0)
+4    state CLOSED
+0    count RetransSegs 2
+0    count AbortOnTimeout 1
+0    count AttemptFails 1`},
		{name: "a passive SYN_RCVD whose SYN-ACK retries run out is neither: Linux drops a request socket without a count (reqsk_timer_handler)",
			cfg: func(c *Config) { c.SynAckRetries = 1 },
			script: inSynRcvd + `
+1    > S. 0:0(0) ack 1
+2    state CLOSED
+0    count RetransSegs 1
+0    count AbortOnTimeout 0
+0    count AttemptFails 0`},
		{name: "a RST in SYN_SENT is a failed attempt (Linux tcp_reset, tcp_done)",
			script: inSynSent + `
+0.01 < R. 0:0(0) ack 1 win 0
+0    state CLOSED
+0    count AttemptFails 1`},
		{name: "close() in SYN_SENT is not a failed attempt: Linux closes it with tcp_set_state, not tcp_done",
			script: inSynSent + `
+0.01 close
+0    state CLOSED
+0    count AttemptFails 0`},
		{name: "a RST in a passive SYN_RCVD is a failed attempt (Linux tcp_check_req)",
			script: inSynRcvd + `
+0.01 < R 1:1(0) win 0
+0    state CLOSED
+0    count AttemptFails 1`},
		{name: "a new SYN in a passive SYN_RCVD is a failed attempt, answered with RST (Linux tcp_check_req)",
			script: inSynRcvd + `
+0.01 < S 1000:1000(0) win 65535
+0    > R. 2147483648:2147483648(0) ack 1001
+0    state CLOSED
+0    count AttemptFails 1`},
	})
}

// TestCountFieldsComplete: the script runner's "count" knows every field
// of Counts, so that a new one cannot go untested by name.
func TestCountFieldsComplete(t *testing.T) {
	var k Counts
	fields := countFields(&k)
	typ := reflect.TypeOf(k)
	if len(fields) != typ.NumField() {
		t.Fatalf("countFields has %d names, Counts %d fields", len(fields), typ.NumField())
	}
	for i := range typ.NumField() {
		if _, ok := fields[typ.Field(i).Name]; !ok {
			t.Errorf("countFields lacks %s", typ.Field(i).Name)
		}
	}
}

// TestTakeCounts: TakeCounts hands each event over once.
func TestTakeCounts(t *testing.T) {
	c := &Conn{}
	c.counts.ChallengeACK = 2
	if k := c.TakeCounts(); k.ChallengeACK != 2 {
		t.Errorf("first TakeCounts: %+v, want ChallengeACK 2", k)
	}
	if k := c.TakeCounts(); k != (Counts{}) {
		t.Errorf("second TakeCounts: %+v, want nothing", k)
	}
}

// TestConnSize: a connection's control block fits Go's 512-byte size
// class; its yes/no state is one flags word, so that the counters and the
// sub-structs do not push it into the next one (576 bytes: 64 more for
// every connection).
func TestConnSize(t *testing.T) {
	if n := unsafe.Sizeof(Conn{}); n > 512 {
		t.Errorf("Conn is %d bytes, want at most 512", n)
	}
}
