package tcp

import (
	"testing"
	"time"
)

// TestUserTimeout: TCP_USER_TIMEOUT bounds how long the peer may leave us
// unanswered, as Linux applies it (tcp_write_timeout, tcp_probe_timer,
// tcp_keepalive_timer); conformance/user-timeout.pkt shows the kernel's
// retransmissions for the first case.
func TestUserTimeout(t *testing.T) {
	runScriptTests(t, []scriptTest{
		{name: "retransmissions end TCP_USER_TIMEOUT after the timer's first (a loss probe does not count); the last timer is shortened to end there; ETIMEDOUT, no RST",
			script: passiveOpen + `
+0    usertimeout 1500ms
+0    write 10 = 10
+0    > P. 1:11(10) ack 1
+0.21 > P. 1:11(10) ack 1
+0.21 > P. 1:11(10) ack 1
+0.42 > P. 1:11(10) ack 1
+0.84 > P. 1:11(10) ack 1
+0.24 state CLOSED
+0    read 10 = ETIMEDOUT
+0    count AbortOnTimeout 1`},
		{name: "an orphan's FIN is bounded too",
			cfg: func(c *Config) { c.TLP = false },
			script: passiveOpen + `
+0    usertimeout 1s
+0    close
+0    > F. 1:1(0) ack 1
+0.21 > F. 1:1(0) ack 1
+0.42 > F. 1:1(0) ack 1
+0.57 state FIN_WAIT_1
+0.01 state CLOSED`},
		{name: "zero-window probes: unanswered for TCP_USER_TIMEOUT after the probe timer first fired, the connection is dropped; the last probe interval is shortened to end there",
			script: `
+0    < S 0:0(0) win 64240 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>
+0    > S. 0:0(0) ack 1 win 65160 <mss 1460,sackOK,TS val 0 ecr 100,nop,wscale 7>
+0.01 < . 1:1(0) ack 1 win 0
+0    usertimeout 1s
+0    write 10 = 10
+0.21 > . 0:0(0) ack 1
+0.42 > . 0:0(0) ack 1
+0.57 state ESTABLISHED
+0.01 state CLOSED
+0    read 10 = ETIMEDOUT`},
		{name: "with keepalive, a probe sent and the peer silent for TCP_USER_TIMEOUT: reset, whatever TCP_KEEPCNT",
			script: passiveOpen + `
+0    keepalive on 10s 5s 9
+0    usertimeout 12s
+10   > . 0:0(0) ack 1
+5    > R. 1:1(0) ack 1
+0    read 10 = ETIMEDOUT`},
		{name: "off (0): the retry limits decide",
			cfg: func(c *Config) { c.Retries2 = 1; c.TLP = false },
			script: passiveOpen + `
+0    usertimeout 5s
+0    usertimeout 0s
+0    write 10 = 10
+0    > P. 1:11(10) ack 1
+0.21 > P. 1:11(10) ack 1
+0.42 > P. 1:11(10) ack 1
+0.83 state ESTABLISHED
+0.01 state CLOSED`},
	})
}

// TestLinger2: TCP_LINGER2 as Linux's tcp_close and tcp_fin_time use it;
// conformance/linger2*.pkt show the kernel.
func TestLinger2(t *testing.T) {
	runScriptTests(t, []scriptTest{
		{name: "a positive value is the orphaned FIN_WAIT_2's lifetime",
			script: passiveOpen + `
+0    linger2 5s
+0    close
+0    > F. 1:1(0) ack 1
+0.01 < . 1:1(0) ack 2 win 502
+4.99 state FIN_WAIT_2
+0.01 state CLOSED`},
		{name: "negative: close() in FIN_WAIT_2 resets the connection with the window",
			script: passiveOpen + `
+0    linger2 -1s
+0    shutdown_wr
+0    > F. 1:1(0) ack 1
+0.01 < . 1:1(0) ack 2 win 502
+0    state FIN_WAIT_2
+0.1  close
+0    > R. 2:2(0) ack 1 win 510
+0    state CLOSED
+0    count AbortOnLinger 1`},
		{name: "negative: an orphan that reaches FIN_WAIT_2 is closed without a RST",
			script: passiveOpen + `
+0    linger2 -1s
+0    close
+0    > F. 1:1(0) ack 1
+0.01 < . 1:1(0) ack 2 win 502
+0    state CLOSED
+0    count AbortOnData 1`},
	})
	cfg := DefaultConfig()
	c := NewActive(&cfg, nil, 0, 1000, 0)
	for _, tt := range []struct{ set, want time.Duration }{
		{0, 60 * time.Second}, {5 * time.Second, 5 * time.Second}, {time.Hour, 120 * time.Second}, {-time.Second, 60 * time.Second},
	} {
		c.SetLinger2(0, tt.set)
		if got := c.FinTimeout(); got != tt.want {
			t.Errorf("TCP_LINGER2 %v: FIN_WAIT_2 lifetime %v, want %v", tt.set, got, tt.want)
		}
	}
}
