package tcpwave

import (
	"context"
	"errors"
	"io"
	"os"
	"testing"
	"testing/synctest"
	"time"
)

// SO_RCVBUF and SO_SNDBUF through the API: a listener's ReadBuffer bounds
// what its connections hold unread (the window closes at about the
// buffer's size: 18824 to 25000 bytes for 20000, as Linux's accounting
// allows), and the client's WriteBuffer bounds what Write queues behind
// it. With neither set, auto-tuning lets the same Write queue far
// more.
func TestReadWriteBuffer(t *testing.T) {
	tests := []struct {
		name         string
		lc           ListenConfig
		clientSndBuf int // SetWriteBuffer on the client, 0 for none
		serverRcvBuf int // SetReadBuffer on the accepted conn, 0 for none
		least, most  int // bytes a Write queues before its deadline
	}{
		{name: "defaults", least: 200000, most: 8 << 20},
		{name: "ReadBuffer 20000 on the listener, SetWriteBuffer 5000", lc: ListenConfig{ReadBuffer: 20000},
			clientSndBuf: 5000, least: 10000 + 18824, most: 10000 + 25000},
		{name: "SetReadBuffer 20000 on the accepted conn, SetWriteBuffer 5000", clientSndBuf: 5000,
			serverRcvBuf: 20000, least: 10000 + 18824, most: 10000 + 65536},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a, b := hosts(t)
				ln, err := a.ListenWith(tt.lc, "tcp", "10.0.0.1:80")
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
				ch := make(chan *Conn, 1)
				go func() {
					c, err := ln.AcceptConn()
					if err != nil {
						t.Error(err)
					}
					ch <- c
				}()
				client, err := b.DialContext(context.Background(), "tcp", "10.0.0.1:80")
				if err != nil {
					t.Fatal(err)
				}
				defer client.Close()
				server := <-ch
				if server == nil {
					return
				}
				defer server.Close()
				if tt.clientSndBuf > 0 {
					if err := client.SetWriteBuffer(tt.clientSndBuf); err != nil {
						t.Fatal(err)
					}
				}
				if tt.serverRcvBuf > 0 {
					if err := server.SetReadBuffer(tt.serverRcvBuf); err != nil {
						t.Fatal(err)
					}
				}
				client.SetWriteDeadline(time.Now().Add(2 * time.Second))
				n, err := client.Write(make([]byte, 8<<20))
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("Write = %d, %v; want a timeout", n, err)
				}
				if n < tt.least || n > tt.most {
					t.Errorf("Write queued %d bytes before its deadline, want %d to %d", n, tt.least, tt.most)
				}
				// All of it arrives once the server reads.
				client.Close()
				got, err := io.Copy(io.Discard, server)
				if err != nil || got != int64(n) {
					t.Errorf("server read %d bytes (%v), want %d", got, err, n)
				}
			})
		})
	}
}
