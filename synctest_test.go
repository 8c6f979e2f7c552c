package tcpwave

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tcpwave/tcpwave/tcp"
)

// These tests run in a testing/synctest bubble: time is virtual, so a
// 60-second TIME_WAIT takes no wall time, and instants are exact.

// elapsed runs fn and returns the virtual time it took.
func elapsed(fn func()) time.Duration {
	start := time.Now()
	fn()
	return time.Since(start)
}

func TestDeadlinesVirtual(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := hosts(t)
		client, server := connPair(t, a, b)
		defer client.Close()
		defer server.Close()

		client.SetReadDeadline(time.Now().Add(5 * time.Second))
		var err error
		d := elapsed(func() { _, err = client.Read(make([]byte, 10)) })
		checkOpError(t, err, "read", os.ErrDeadlineExceeded)
		if d != 5*time.Second {
			t.Errorf("Read timed out after %v, want 5s", d)
		}

		// Nobody reads on the server: the client's Write fills both buffers
		// and blocks until its deadline.
		client.SetWriteDeadline(time.Now().Add(3 * time.Second))
		var n int
		d = elapsed(func() { n, err = client.Write(make([]byte, 8<<20)) })
		checkOpError(t, err, "write", os.ErrDeadlineExceeded)
		if d != 3*time.Second {
			t.Errorf("Write timed out after %v, want 3s", d)
		}
		if n == 0 || n >= 8<<20 {
			t.Errorf("Write queued %d bytes before its deadline, want part of 8 MiB", n)
		}

		// A deadline moved while a Read waits applies to that Read.
		client.SetReadDeadline(time.Time{})
		go func() {
			time.Sleep(time.Second)
			client.SetReadDeadline(time.Now().Add(time.Second))
		}()
		d = elapsed(func() { _, err = client.Read(make([]byte, 10)) })
		if !errors.Is(err, os.ErrDeadlineExceeded) || d != 2*time.Second {
			t.Errorf("Read = %v after %v, want a timeout after 2s", err, d)
		}
	})
}

func TestTimeWaitVirtual(t *testing.T) {
	for _, tw := range []time.Duration{60 * time.Second, 5 * time.Second} {
		t.Run(tw.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a, b := hosts(t, WithTCP(func(c *tcp.Config) { c.TimeWait = tw }))
				client, server := connPair(t, a, b)
				client.Close() // the client closes first: it will hold TIME_WAIT
				if _, err := server.Read(make([]byte, 1)); err != io.EOF {
					t.Fatalf("server Read = %v, want io.EOF", err)
				}
				server.Close()
				synctest.Wait()
				if got := states(b); !slices.Equal(got, []string{"TIME-WAIT"}) {
					t.Fatalf("client host: %v, want [TIME-WAIT]", got)
				}
				if got := states(a); len(got) != 0 {
					t.Fatalf("server host: %v, want nothing (LAST_ACK is over)", got)
				}
				if r := b.Connections()[0]; r.Timer != "timewait" || r.TimerLeft != tw {
					t.Errorf("timer %q %v, want timewait %v", r.Timer, r.TimerLeft, tw)
				}
				time.Sleep(tw - time.Millisecond)
				synctest.Wait()
				if got := states(b); len(got) != 1 {
					t.Fatalf("1ms before 2MSL: %v, want TIME-WAIT", got)
				}
				time.Sleep(time.Millisecond)
				synctest.Wait()
				if got := states(b); len(got) != 0 {
					t.Fatalf("at 2MSL: %v, want nothing", got)
				}
			})
		})
	}
}

func TestFinWait2TimeoutVirtual(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := hosts(t, WithTCP(func(c *tcp.Config) { c.FinTimeout = 30 * time.Second }))
		client, server := connPair(t, a, b)
		defer server.Close()
		client.Close() // the server never closes: the client waits in FIN_WAIT_2
		synctest.Wait()
		if got := states(b); !slices.Equal(got, []string{"FIN-WAIT-2"}) {
			t.Fatalf("client host: %v, want [FIN-WAIT-2]", got)
		}
		time.Sleep(30 * time.Second)
		synctest.Wait()
		if got := states(b); len(got) != 0 {
			t.Fatalf("after tcp_fin_timeout: %v, want nothing", got)
		}
		if got := states(a); !slices.Equal(got, []string{"CLOSE-WAIT"}) {
			t.Fatalf("server host: %v, want [CLOSE-WAIT]", got)
		}
	})
}

func TestDialTimeoutVirtual(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, b, cut := lossyHosts(t)
		cut.drop.Store(true)
		var err error
		d := elapsed(func() { _, err = b.Dial("tcp", "10.0.0.1:80") })
		checkOpError(t, err, "dial", syscall.ETIMEDOUT)
		// Linux: the SYN and 6 retries (tcp_syn_retries), 1+2+...+64 s apart.
		if d != 127*time.Second {
			t.Errorf("Dial gave up after %v, want 127s", d)
		}
	})
}

func TestRetransmitTimeoutVirtual(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b, cut := lossyHosts(t)
		client, server := connPair(t, a, b)
		defer client.Close()
		defer server.Close()
		cut.drop.Store(true)
		client.Write([]byte("lost"))
		var err error
		d := elapsed(func() { _, err = client.Read(make([]byte, 10)) })
		checkOpError(t, err, "read", syscall.ETIMEDOUT)
		if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
			t.Errorf("Timeout() is not true for %v", err)
		}
		if d < 10*time.Minute || d > 20*time.Minute {
			t.Errorf("gave up after %v, want about 15 min (tcp_retries2 = 15)", d)
		}
	})
}

func TestLingerVirtual(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b, cut := lossyHosts(t)
		// The FIN is acknowledged at once: Close returns at once.
		client, server := connPair(t, a, b)
		client.SetLinger(3)
		if d := elapsed(func() { client.Close() }); d != 0 {
			t.Errorf("Close with an answering peer took %v", d)
		}
		synctest.Wait()
		if got := states(b); !slices.Equal(got, []string{"FIN-WAIT-2"}) {
			t.Errorf("client host after Close: %v", got)
		}
		server.Close()

		// The FIN is lost: Close waits for the linger time.
		client, server = connPair(t, a, b)
		defer server.Close()
		client.SetLinger(3)
		cut.drop.Store(true)
		if d := elapsed(func() { client.Close() }); d != 3*time.Second {
			t.Errorf("Close with a silent peer took %v, want 3s", d)
		}
	})
}

func TestStackCloseTimeoutVirtual(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b, cut := lossyHosts(t)
		client, server := connPair(t, a, b)
		defer client.Close()
		defer server.Close()
		cut.drop.Store(true)
		if d := elapsed(func() {
			if err := b.Close(); err != nil {
				t.Errorf("Close = %v", err)
			}
		}); d != DefaultCloseTimeout {
			t.Errorf("Close with a silent peer took %v, want %v", d, DefaultCloseTimeout)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		a, b, cut := lossyHosts(t)
		client, server := connPair(t, a, b)
		defer client.Close()
		defer server.Close()
		cut.drop.Store(true)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		var err error
		if d := elapsed(func() { err = b.CloseContext(ctx) }); d != time.Second {
			t.Errorf("CloseContext took %v, want 1s", d)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("CloseContext = %v, want context.DeadlineExceeded", err)
		}
	})
}

// A call that makes a socket readier wakes the calls blocked on it, from
// whichever handle or goroutine it comes: a shutdown from one goroutine
// ends a Read or a Write another goroutine is blocked in, on the same
// handle or on a Dup.
func TestShutdownWakesBlockedCall(t *testing.T) {
	tests := []struct {
		name  string
		block func(c *Conn) error // blocks until the shutdown
		shut  func(c *Conn) error // from another goroutine
		want  func(err error) bool
	}{
		{"read, CloseRead", readOne, (*Conn).CloseRead, isEOF},
		{"read, CloseRead on a dup", readOne, onDup((*Conn).CloseRead), isEOF},
		{"write, CloseWrite", writeMuch, (*Conn).CloseWrite, isEPIPE},
		{"write, CloseWrite on a dup", writeMuch, onDup((*Conn).CloseWrite), isEPIPE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a, b := hosts(t)
				client, server := connPair(t, a, b)
				defer server.Close()
				got := make(chan error, 1)
				go func() { got <- tt.block(client) }()
				synctest.Wait() // the call is blocked
				select {
				case err := <-got:
					t.Fatalf("the call did not block: %v", err)
				default:
				}
				if err := tt.shut(client); err != nil {
					t.Fatal(err)
				}
				synctest.Wait()
				select {
				case err := <-got:
					if !tt.want(err) {
						t.Errorf("the blocked call returned %v", err)
					}
				default:
					t.Error("the shutdown did not wake the blocked call")
				}
				client.Close() // ends the call if it is still blocked
			})
		})
	}
}

func readOne(c *Conn) error {
	_, err := c.Read(make([]byte, 1))
	return err
}

// writeMuch writes more than both hosts' buffers hold, to a peer that
// does not read.
func writeMuch(c *Conn) error {
	_, err := c.Write(make([]byte, 16<<20))
	return err
}

// onDup is shut applied to a Dup of the connection.
func onDup(shut func(c *Conn) error) func(c *Conn) error {
	return func(c *Conn) error {
		d, err := c.Dup()
		if err != nil {
			return err
		}
		defer d.Close()
		return shut(d)
	}
}

func isEOF(err error) bool   { return err == io.EOF }
func isEPIPE(err error) bool { return errors.Is(err, syscall.EPIPE) }
