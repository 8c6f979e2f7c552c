package tcpwave

import (
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

// TestUserTimeoutVirtual: through the API, TCP_USER_TIMEOUT ends a Write
// whose data the vanished peer never acknowledges after about the user
// timeout, not after tcp_retries2's 15 minutes.
func TestUserTimeoutVirtual(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b, cut := lossyHosts(t)
		client, server := connPair(t, a, b)
		defer server.Close()
		defer client.Close()
		if err := client.SetUserTimeout(-time.Second); err == nil {
			t.Error("a negative user timeout was accepted")
		}
		if err := client.SetUserTimeout(10 * time.Second); err != nil {
			t.Fatal(err)
		}
		cut.drop.Store(true)
		start := time.Now()
		if _, err := client.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		_, err := client.Read(make([]byte, 10))
		checkOpError(t, err, "read", syscall.ETIMEDOUT)
		// The timer's first retransmission comes an RTO (at least 200 ms)
		// after the data, a loss probe before it; then 10 s.
		if d := time.Since(start); d < 10*time.Second || d > 11*time.Second {
			t.Errorf("the connection failed after %v, want 10-11 s", d)
		}
	})
}
