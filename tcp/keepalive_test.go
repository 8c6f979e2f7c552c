package tcp

import (
	"testing"
	"time"
)

// TestKeepAlive: SO_KEEPALIVE as Linux's tcp_keepalive_timer runs it.
func TestKeepAlive(t *testing.T) {
	runScriptTests(t, []scriptTest{
		{name: "a silent peer: a probe (SND.UNA-1, no data) after the idle time, then one every interval; after the count, R. with the window and ETIMEDOUT",
			script: passiveOpen + `
+0    keepalive on 10s 5s 2
+10   > . 0:0(0) ack 1 win 510
+5    > . 0:0(0) ack 1 win 510
+5    > R. 1:1(0) ack 1 win 510
+0    state CLOSED
+0    read 10 = ETIMEDOUT
+0    count KeepAlive 2
+0    count AbortOnTimeout 1`},
		{name: "an answer resets the count, and the idle time runs from it",
			script: passiveOpen + `
+0    keepalive on 10s 5s 2
+10   > . 0:0(0) ack 1
+5    > . 0:0(0) ack 1
+1    < . 1:1(0) ack 1 win 502
+10   > . 0:0(0) ack 1
+5    > . 0:0(0) ack 1
+5    > R. 1:1(0) ack 1
+0    count KeepAlive 4`},
		{name: "data received restarts the idle time",
			script: passiveOpen + `
+0    keepalive on 10s 5s 2
+8    < P. 1:11(10) ack 1 win 502
+0    > . 1:1(0) ack 11
+10   > . 0:0(0) ack 11
+0    state ESTABLISHED`},
		{name: "no probes while data is unacknowledged: the retransmission timer watches the connection",
			cfg: func(c *Config) { c.TLP = false },
			script: passiveOpen + `
+0    keepalive on 1s 1s 1
+0    write 10 = 10
+0    > P. 1:11(10) ack 1
+0.21 > P. 1:11(10) ack 1
+0.42 > P. 1:11(10) ack 1
+0.84 > P. 1:11(10) ack 1
+0.1  < . 1:1(0) ack 11 win 502
+1    > . 10:10(0) ack 1
+0    count KeepAlive 1`},
		{name: "off: nothing is sent however long the silence",
			script: passiveOpen + `
+0    keepalive on 10s 5s 2
+5    keepalive off
+3h   state ESTABLISHED
+0    count KeepAlive 0`},
		{name: "an active open starts the timer when established",
			script: `
+0    connect
+0    keepalive on 10s 5s 2
+0    > S 0:0(0) <mss 1460,sackOK,TS val 0 ecr 0,nop,wscale 7>
+0.5  < S. 0:0(0) ack 1 win 65535 <mss 1460,sackOK,TS val 700 ecr 0,nop,wscale 7>
+0    > . 1:1(0) ack 1
+10   > . 0:0(0) ack 1`},
	})
}

// TestKeepAliveParams: the settings Linux accepts, and zero meaning the
// Config's.
func TestKeepAliveParams(t *testing.T) {
	tests := []struct {
		p  KeepAliveParams
		ok bool
	}{
		{KeepAliveParams{}, true},
		{KeepAliveParams{Idle: time.Second, Interval: time.Second, Count: 1}, true},
		{KeepAliveParams{Idle: 32767 * time.Second, Interval: 32767 * time.Second, Count: 127}, true},
		{KeepAliveParams{Idle: 32768 * time.Second}, false},
		{KeepAliveParams{Interval: 32768 * time.Second}, false},
		{KeepAliveParams{Count: 128}, false},
		{KeepAliveParams{Idle: -time.Second}, false},
		{KeepAliveParams{Idle: time.Millisecond}, false},
		{KeepAliveParams{Count: -1}, false},
	}
	for _, tt := range tests {
		if err := tt.p.Validate(); (err == nil) != tt.ok {
			t.Errorf("Validate(%+v) = %v, want ok %v", tt.p, err, tt.ok)
		}
	}
	cfg := DefaultConfig()
	c := NewActive(&cfg, nil, 0, 1000, 0)
	if on, p := c.KeepAlive(); on || p != (KeepAliveParams{Idle: 2 * time.Hour, Interval: 75 * time.Second, Count: 9}) {
		t.Errorf("a new connection's keepalive: %v %+v, want off with Linux's defaults", on, p)
	}
	if err := c.SetKeepAliveParams(0, KeepAliveParams{Count: 3}); err != nil {
		t.Fatal(err)
	}
	if _, p := c.KeepAlive(); p != (KeepAliveParams{Idle: 2 * time.Hour, Interval: 75 * time.Second, Count: 3}) {
		t.Errorf("after setting the count: %+v", p)
	}
}
