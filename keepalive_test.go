package tcpwave

import (
	"net"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tcpwave/tcpwave/tcp"
)

// TestKeepAliveDeadPeer: with keepalive on, a connection whose peer
// vanished (the cable cut, no FIN, no RST) fails: an idle Read returns
// ETIMEDOUT after the idle time plus count × interval, the probes and the
// abort are counted as Linux counts them, and the idle side's table shows
// the keepalive timer meanwhile. Without keepalive the same Read waits on.
func TestKeepAliveDeadPeer(t *testing.T) {
	tests := []struct {
		name string
		set  func(c *Conn) error
		want time.Duration // when Read fails; 0: it does not within 3 hours
	}{
		{"Go's defaults: 15 s idle, 15 s interval, 9 probes", func(c *Conn) error {
			return c.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true})
		}, 15*time.Second + 9*15*time.Second},
		{"SetKeepAlive alone: Linux's 2 h, 75 s, 9", func(c *Conn) error {
			return c.SetKeepAlive(true)
		}, 2*time.Hour + 9*75*time.Second},
		{"SetKeepAlivePeriod sets the idle time only", func(c *Conn) error {
			if err := c.SetKeepAlive(true); err != nil {
				return err
			}
			return c.SetKeepAlivePeriod(1500 * time.Millisecond) // rounded up to 2 s
		}, 2*time.Second + 9*75*time.Second},
		{"explicit config", func(c *Conn) error {
			return c.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: 10 * time.Second, Interval: 2 * time.Second, Count: 3})
		}, 10*time.Second + 3*2*time.Second},
		{"off", func(c *Conn) error { return c.SetKeepAlive(false) }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a, b, cut := lossyHosts(t)
				client, server := connPair(t, a, b)
				defer server.Close()
				defer client.Close()
				if err := tt.set(client); err != nil {
					t.Fatal(err)
				}
				cut.drop.Store(true) // the server vanishes
				start := time.Now()
				done := make(chan error, 1)
				go func() {
					_, err := client.Read(make([]byte, 10))
					done <- err
				}()
				if tt.want == 0 {
					time.Sleep(3 * time.Hour)
					synctest.Wait()
					select {
					case err := <-done:
						t.Fatalf("Read = %v without keepalive", err)
					default:
					}
					if n := b.Counters().TCPKeepAlive; n != 0 {
						t.Errorf("%d keepalive probes with keepalive off", n)
					}
					return
				}
				time.Sleep(tt.want / 2)
				synctest.Wait()
				if rows := b.Connections(); len(rows) != 1 || rows[0].Timer != "keepalive" {
					t.Errorf("halfway, the client's table is %+v; want one row with the keepalive timer", rows)
				}
				err := <-done
				if d := time.Since(start); d != tt.want {
					t.Errorf("Read failed after %v, want %v", d, tt.want)
				}
				checkOpError(t, err, "read", syscall.ETIMEDOUT)
				c := b.Counters()
				_, p := tcpKeepAlive(t, tt.set)
				if c.TCPKeepAlive != uint64(p.Count) || c.TCPAbortOnTimeout != 1 {
					t.Errorf("TCPKeepAlive %d, TCPAbortOnTimeout %d; want %d and 1", c.TCPKeepAlive, c.TCPAbortOnTimeout, p.Count)
				}
			})
		})
	}
}

// tcpKeepAlive applies set to a fresh connection's socket and returns the
// settings it left, as the tcp core holds them.
func tcpKeepAlive(t *testing.T, set func(c *Conn) error) (bool, tcp.KeepAliveParams) {
	t.Helper()
	a, b := hosts(t)
	client, server := connPair(t, a, b)
	defer server.Close()
	defer client.Close()
	if err := set(client); err != nil {
		t.Fatal(err)
	}
	var on bool
	var p tcp.KeepAliveParams
	b.run(func() { on, p = client.k.so.Conn().KeepAlive() })
	return on, p
}
