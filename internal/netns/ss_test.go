//go:build linux

package netns

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// ssOutput is real "ss -Htan -o" output from a namespace.
const ssOutput = `LISTEN    0      128         0.0.0.0:80      0.0.0.0:*                               
LISTEN    0      128    127.0.0.1%lo:83      0.0.0.0:*                               
ESTAB     0      0         127.0.0.1:50418 127.0.0.1:80    timer:(keepalive,119min,0)
TIME-WAIT 0      0         127.0.0.1:50424 127.0.0.1:80    timer:(timewait,59sec,0)  
LISTEN    0      128           [::1]:82         [::]:*                               
LISTEN    0      128               *:81            *:*                               
ESTAB     10     0             [::1]:81        [::1]:57316                           
ESTAB     0      0     [fe80::1]%tw0:22   [fe80::2]:4000
`

func TestParseSS(t *testing.T) {
	ap := netip.MustParseAddrPort
	want := []SSRow{
		{State: "LISTEN", SendQ: 128, Local: ap("0.0.0.0:80"), Peer: ap("0.0.0.0:0")},
		{State: "LISTEN", SendQ: 128, Local: ap("127.0.0.1:83"), Dev: "lo", Peer: ap("0.0.0.0:0")},
		{State: "ESTAB", Local: ap("127.0.0.1:50418"), Peer: ap("127.0.0.1:80"), Timer: "keepalive,119min,0"},
		{State: "TIME-WAIT", Local: ap("127.0.0.1:50424"), Peer: ap("127.0.0.1:80"), Timer: "timewait,59sec,0"},
		{State: "LISTEN", SendQ: 128, Local: ap("[::1]:82"), Peer: ap("[::]:0")},
		{State: "LISTEN", SendQ: 128, Local: ap("[::]:81"), Peer: ap("[::]:0")},
		{State: "ESTAB", RecvQ: 10, Local: ap("[::1]:81"), Peer: ap("[::1]:57316")},
		{State: "ESTAB", Local: ap("[fe80::1]:22"), Dev: "tw0", Peer: ap("[fe80::2]:4000")},
	}
	for _, in := range []string{ssOutput, "State Recv-Q Send-Q Local Address:Port Peer Address:PortProcess\n" + ssOutput} {
		got, err := ParseSS(in)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("%d rows, want %d: %v", len(got), len(want), got)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("row %d:\n got %+v\nwant %+v", i, got[i], want[i])
			}
		}
	}
	if s := want[3].String(); s != "TIME-WAIT  0      0      127.0.0.1:50424 127.0.0.1:80 timer:(timewait,59sec,0)" {
		t.Errorf("String() = %q", s)
	}
	if s := want[1].String(); !strings.Contains(s, "127.0.0.1%lo:83") {
		t.Errorf("String() = %q, want the device after the address", s)
	}
	for _, bad := range []string{
		"ESTAB 0 0 127.0.0.1:1",
		"ESTAB x 0 127.0.0.1:1 127.0.0.1:2",
		"ESTAB 0 x 127.0.0.1:1 127.0.0.1:2",
		"ESTAB 0 0 127.0.0.1 127.0.0.1:2",
		"ESTAB 0 0 127.0.0.1:1 127.0.0.1:70000",
		"ESTAB 0 0 nonsense:1 127.0.0.1:2",
	} {
		if rows, err := ParseSS(bad); err == nil {
			t.Errorf("ParseSS(%q) = %v, want an error", bad, rows)
		}
	}
}

// TestSS lists kernel sockets of a namespace: a listener, both ends of a
// connection to it, and, once the client closed first, its TIME-WAIT
// with the timewait timer running.
func TestSS(t *testing.T) {
	ns := NewT(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for _, network := range []string{"tcp4", "tcp6"} {
		t.Run(network, func(t *testing.T) {
			loopback := "127.0.0.1:0"
			if network == "tcp6" {
				loopback = "[::1]:0"
			}
			var ln net.Listener
			var client net.Conn
			err := ns.Run(func() error {
				var err error
				if ln, err = net.Listen(network, loopback); err != nil {
					return err
				}
				client, err = net.DialTimeout(network, ln.Addr().String(), timeout)
				return err
			})
			if ln != nil {
				defer ln.Close()
			}
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			server, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer server.Close()
			lnAddr := ln.Addr().(*net.TCPAddr).AddrPort()
			cAddr := client.LocalAddr().(*net.TCPAddr).AddrPort()

			rows, err := ns.SS(ctx)
			if err != nil {
				t.Fatal(err)
			}
			wantRow(t, rows, "LISTEN", lnAddr, netip.AddrPort{})
			wantRow(t, rows, "ESTAB", cAddr, lnAddr)
			wantRow(t, rows, "ESTAB", lnAddr, cAddr)

			client.Close()
			server.Close()
			for range 100 {
				rows, err = ns.SS(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if r, ok := findRow(rows, "TIME-WAIT", cAddr, lnAddr); ok {
					if !strings.HasPrefix(r.Timer, "timewait,") {
						t.Errorf("TIME-WAIT row %v has timer %q, want timewait", r, r.Timer)
					}
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
			t.Fatalf("no TIME-WAIT for %v in %v", cAddr, rows)
		})
	}
}

// findRow finds the row with that state and addresses; a zero peer
// matches any.
func findRow(rows []SSRow, state string, local, peer netip.AddrPort) (SSRow, bool) {
	for _, r := range rows {
		if r.State == state && r.Local == local && (!peer.IsValid() || r.Peer == peer) {
			return r, true
		}
	}
	return SSRow{}, false
}

func wantRow(t *testing.T, rows []SSRow, state string, local, peer netip.AddrPort) {
	t.Helper()
	if _, ok := findRow(rows, state, local, peer); !ok {
		t.Errorf("no %s row %v -> %v in\n%v", state, local, peer, rows)
	}
}
