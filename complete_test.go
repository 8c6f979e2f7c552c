package tcpwave

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"testing"
	"testing/synctest"
	"time"
)

// holdsOf returns how many times s's lock has been taken, this look
// included.
func holdsOf(s *Stack) uint64 {
	var n uint64
	s.run(func() { n = s.holds })
	return n
}

// waitPending waits until k has a blocked call that the host will finish.
func waitPending(t *testing.T, s *Stack, k *sock, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var p bool
		s.run(func() { p = k.parked() })
		if p {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never blocked", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// A Read blocked for data is finished by the host when the data arrives:
// its goroutine takes the lock no more, the reader's one hold (the data
// segment) is all; a Write blocked for room and an Accept blocked for a
// connection likewise.
func TestBlockedCallsFinishedByHost(t *testing.T) {
	t.Run("read", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a, b := hosts(t)
			client, server := connPair(t, a, b)
			defer client.Close()
			defer server.Close()
			got := make(chan error, 1)
			buf := make([]byte, 8)
			go func() {
				n, err := client.Read(buf)
				if err == nil && string(buf[:n]) != "hi" {
					err = errors.New("read " + string(buf[:n]))
				}
				got <- err
			}()
			waitPending(t, b, client.k, "Read")
			before := holdsOf(b)
			if _, err := server.Write([]byte("hi")); err != nil {
				t.Fatal(err)
			}
			if err := recvErr(t, got, "Read"); err != nil {
				t.Fatal(err)
			}
			if n := holdsOf(b) - before - 1; n != 1 { // less the second look
				t.Errorf("the client's host took its lock %d times for the blocked Read's data, want 1 (the reader)", n)
			}
		})
	})
	t.Run("write", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a, b := hosts(t)
			client, server := connPair(t, a, b)
			defer client.Close()
			defer server.Close()
			const size = 4 << 20 // more than both buffers hold
			got := make(chan error, 1)
			go func() {
				n, err := client.Write(make([]byte, size))
				if err == nil && n != size {
					err = fmt.Errorf("wrote %d bytes, want %d", n, size)
				}
				got <- err
			}()
			synctest.Wait() // the Write blocks
			var parked bool
			b.run(func() { parked = client.k.wr.c != nil })
			if !parked {
				t.Fatal("the blocked Write is not parked for the host to finish")
			}
			if _, err := io.ReadFull(server, make([]byte, size)); err != nil {
				t.Fatal(err)
			}
			if err := recvErr(t, got, "Write"); err != nil {
				t.Fatal(err)
			}
		})
	})
	t.Run("accept", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a, b := hosts(t)
			ln, err := a.Listen("tcp", "10.0.0.1:80")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			got := make(chan error, 1)
			go func() {
				c, err := ln.AcceptConn()
				if err == nil {
					c.Close()
				}
				got <- err
			}()
			waitPending(t, a, ln.k, "Accept")
			c, err := b.Dial("tcp", "10.0.0.1:80")
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := recvErr(t, got, "Accept"); err != nil {
				t.Fatal(err)
			}
		})
	})
}

// A blocked call the host was to finish still ends on Close, on the
// deadline and on CloseRead from another handle, and later calls work.
func TestPendingCallEnds(t *testing.T) {
	tests := []struct {
		name string
		end  func(c *Conn) error // ends the blocked Read of c
		want func(err error) bool
	}{
		{"close", func(c *Conn) error { return c.Close() }, func(err error) bool { return errors.Is(err, net.ErrClosed) }},
		{"deadline", func(c *Conn) error { return c.SetReadDeadline(time.Now()) }, func(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }},
		{"shutdown", func(c *Conn) error {
			d, err := c.Dup()
			if err != nil {
				return err
			}
			defer d.Close()
			return d.CloseRead()
		}, func(err error) bool { return err == io.EOF }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a, b := hosts(t)
				client, server := connPair(t, a, b)
				defer client.Close()
				defer server.Close()
				got := make(chan error, 1)
				go func() {
					_, err := client.Read(make([]byte, 1))
					got <- err
				}()
				synctest.Wait() // the Read blocks
				waitPending(t, b, client.k, "Read")
				if err := tt.end(client); err != nil {
					t.Fatal(err)
				}
				if err := recvErr(t, got, "Read"); !tt.want(err) {
					t.Fatalf("Read returned %v", err)
				}
				var p bool
				b.run(func() { p = client.k.parked() })
				if p {
					t.Error("the ended Read is still pending on the socket")
				}
			})
		})
	}
}

// Reads with deadlines that race the data lose nothing and reorder
// nothing: whichever ends a Read, the data the host read for it, the
// deadline or both, every byte arrives once and in order. Run with -race.
func TestReadDeadlineRaceLosesNothing(t *testing.T) {
	a, b := hosts(t)
	client, server := connPair(t, a, b)
	defer client.Close()
	defer server.Close()
	const total = 3000
	rng := rand.New(rand.NewPCG(1, 2))
	gaps := make([]time.Duration, total)
	for i := range gaps {
		gaps[i] = time.Duration(rng.IntN(60)) * time.Microsecond
	}
	go func() {
		for i := range total {
			server.Write([]byte{byte(i)})
			if gaps[i] > 20*time.Microsecond {
				time.Sleep(gaps[i])
			}
		}
		server.CloseWrite()
	}()
	var recv []byte
	timeouts := 0
	buf := make([]byte, 7)
	end := time.Now().Add(20 * time.Second)
	for time.Now().Before(end) {
		client.SetReadDeadline(time.Now().Add(time.Duration(rng.IntN(50)) * time.Microsecond))
		n, err := client.Read(buf)
		recv = append(recv, buf[:n]...)
		if err == io.EOF {
			break
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if n != 0 {
				t.Fatalf("a Read returned %d bytes and a deadline error", n)
			}
			timeouts++
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(recv) != total {
		t.Fatalf("received %d bytes, want %d", len(recv), total)
	}
	for i, c := range recv {
		if c != byte(i) {
			t.Fatalf("byte %d is %d, want %d", i, c, byte(i))
		}
	}
	t.Logf("%d bytes in order, %d reads ended by their deadline", total, timeouts)
	if timeouts == 0 {
		t.Log("no deadline passed: the race was not exercised this run")
	}
}
