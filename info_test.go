package tcpwave

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/tcpwave/tcpwave/tcp"
	"github.com/tcpwave/tcpwave/trace"
)

// TestConnInfo: Info reports what the connection did: bytes acknowledged
// and received, the MSS less the timestamp option, Linux's window scale
// 7 both ways, an RTT; trace.FormatInfo writes it as ss -i does; after
// Close, Info fails.
func TestConnInfo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := hosts(t)
		client, server := connPair(t, a, b)
		go io.Copy(server, server)
		msg := make([]byte, 10000)
		if _, err := client.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(client, msg); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		i, err := client.Info()
		if err != nil {
			t.Fatal(err)
		}
		if i.State != tcp.Established || i.BytesAcked != 10000 || i.BytesReceived != 10000 || i.MSS != 1448 ||
			i.SndWScale != 7 || i.RcvWScale != 7 || i.SRTT <= 0 || i.CongestionControl != "cubic" {
			t.Errorf("Info = %+v", i)
		}
		line := trace.FormatInfo(i)
		for _, want := range []string{"cubic wscale:7,7 rto:", " mss:1448 ", " bytes_acked:10000 bytes_received:10000 "} {
			if !strings.Contains(line, want) {
				t.Errorf("FormatInfo = %q, lacks %q", line, want)
			}
		}
		client.Close()
		if _, err := client.Info(); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Info after Close: %v, want net.ErrClosed", err)
		}
		server.Close()
	})
}

// TestConnInfoEnded: once the connection has ended, Info (before Close)
// reports how, CLOSED after a RST, TIME_WAIT after an orderly close, with
// what the connection had (its MSS).
func TestConnInfoEnded(t *testing.T) {
	for _, tt := range []struct {
		name  string
		reset bool
		state tcp.State
	}{{"reset", true, tcp.Closed}, {"time-wait", false, tcp.TimeWait}} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a, b := hosts(t)
				client, server := connPair(t, a, b)
				if tt.reset {
					server.SetLinger(0)
					server.Close() // a RST
				} else {
					client.CloseWrite()
					server.Close()
				}
				synctest.Wait()
				i, err := client.Info()
				if err != nil {
					t.Fatal(err)
				}
				if i.State != tt.state || i.MSS != 1448 {
					t.Errorf("Info = %+v, want %v and MSS 1448", i, tt.state)
				}
				client.Close()
			})
		})
	}
}
