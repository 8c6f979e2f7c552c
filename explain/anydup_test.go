//go:build linux

package explain

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/internal/netns"
)

// bridged is three namespaces: a and b, each with one end of a veth pair
// whose other end is a port of the bridge br0 in mid, as a host with
// containers is (a capture on "any" in mid sees each packet twice: as it
// enters the bridge from one port and as it leaves by the other).
type bridged struct {
	a, b, mid *netns.NS
}

// The addresses of a and b.
const (
	bridgedA4 = "10.77.0.1"
	bridgedB4 = "10.77.0.2"
	bridgedA6 = "fd77::1"
	bridgedB6 = "fd77::2"
)

// newBridged makes the three namespaces; the test's cleanup deletes them.
func newBridged(t *testing.T) *bridged {
	t.Helper()
	br := &bridged{a: netns.NewT(t), b: netns.NewT(t), mid: netns.NewT(t)}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ip := func(ns *netns.NS, args ...string) {
		t.Helper()
		if _, err := ns.Exec(ctx, append([]string{"ip"}, args...)...); err != nil {
			t.Fatal(err)
		}
	}
	ip(br.mid, "link", "add", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "0")
	for _, end := range []struct {
		ns          *netns.NS
		port        string
		addr, addr6 string
	}{{br.a, "pa", bridgedA4, bridgedA6}, {br.b, "pb", bridgedB4, bridgedB6}} {
		ip(br.mid, "link", "add", end.port, "type", "veth", "peer", "name", "eth0", "netns", end.ns.Name())
		ip(br.mid, "link", "set", end.port, "master", "br0", "up")
		ip(end.ns, "addr", "add", end.addr+"/24", "dev", "eth0")
		ip(end.ns, "addr", "add", end.addr6+"/64", "dev", "eth0", "nodad")
		ip(end.ns, "link", "set", "eth0", "up")
	}
	ip(br.mid, "link", "set", "br0", "up")
	return br
}

// TestCapturedTwiceOnAny: a capture on "any" in a namespace whose bridge
// joins two others sees every segment between them twice, in on one
// bridge port and out of the other (Linux cooked capture v1, which names
// the packet type, and v2, which names the interface too). Explained,
// each connection counts each segment once, IPv4 and IPv6 alike: no
// retransmission, duplicate ACK or SYN-ACK sent again that the kernels
// did not send, and every record but the first of each pair skipped.
func TestCapturedTwiceOnAny(t *testing.T) {
	if testing.Short() {
		t.Skip("captures for a few seconds")
	}
	needTool(t, "dumpcap")
	needTool(t, "nstat")
	for _, link := range []string{"LINUX_SLL", "LINUX_SLL2"} {
		t.Run(link, func(t *testing.T) { capturedTwiceOnAny(t, link) })
	}
}

// capturedTwiceOnAny is TestCapturedTwiceOnAny with the link type link.
func capturedTwiceOnAny(t *testing.T, link string) {
	br := newBridged(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	file := filepath.Join(t.TempDir(), "any.pcapng")
	stop := startDumpcap(t, br.mid, file, "any", "-y", link)
	defer stop()

	payload := bytes.Repeat([]byte("0123456789abcdef"), 64<<10/16) // 64 KiB each way
	families := []struct{ net, srv string }{{"tcp4", bridgedA4}, {"tcp6", "[" + bridgedA6 + "]"}}
	for _, family := range families {
		var ln net.Listener
		if err := br.a.Run(func() error {
			var err error
			ln, err = net.Listen(family.net, family.srv+":7000")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		served := make(chan error, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				served <- err
				return
			}
			defer c.Close()
			if _, err := io.CopyN(io.Discard, c, int64(len(payload))); err != nil {
				served <- err
				return
			}
			_, err = c.Write(payload)
			served <- err
		}()
		var c net.Conn
		if err := br.b.Run(func() error {
			var err error
			c, err = net.DialTimeout(family.net, family.srv+":7000", 10*time.Second)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		c.Write(payload)
		if n, err := io.Copy(io.Discard, c); err != nil || n != int64(len(payload)) {
			t.Fatalf("%s: read %d bytes, %v", family.net, n, err)
		}
		c.Close()
		if err := <-served; err != nil {
			t.Fatal(err)
		}
		ln.Close()
	}
	time.Sleep(300 * time.Millisecond)
	retrans := 0
	for _, ns := range []*netns.NS{br.a, br.b} {
		out, err := ns.Exec(ctx, "nstat", "-asz")
		if err != nil {
			t.Fatal(err)
		}
		retrans += parseNstat(string(out))["TcpRetransSegs"]
	}
	if d := stop(); d != 0 {
		t.Fatalf("dumpcap dropped %d packets", d)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	conns, sum, err := explainAll(t, data)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d records, %d segments, %d captured twice, %d connections; the kernels retransmitted %d segments", sum.Records, sum.Segments, sum.Duplicate, sum.Conns, retrans)
	if len(conns) != len(families) {
		t.Fatalf("%d connections, want %d", len(conns), len(families))
	}
	packets := 0
	for i, c := range conns {
		if c.Addr[Server].Addr().Is4() != (i == 0) || c.Close != CloseFourWay && c.Close != CloseThreeWay {
			t.Errorf("%v-%v: close %s\n%s", c.Addr[Client], c.Addr[Server], c.Close, dump(c))
		}
		for s := Client; s <= Server; s++ {
			n := c.Sent[s]
			packets += n.Packets
			if n.Bytes != uint64(len(payload)) || retrans == 0 && (n.SYNs != 1 || n.FINs != 1 || n.DupACKs != 0 || n.Retransmits != 0) {
				t.Errorf("%v-%v %s: %+v, want %d bytes, 1 SYN, 1 FIN, no duplicate ACK, no retransmission", c.Addr[Client], c.Addr[Server], s, n, len(payload))
			}
		}
	}
	if sum.Duplicate != packets || sum.Segments != 2*packets {
		t.Errorf("%d segments, %d captured twice, %d counted: want every segment twice", sum.Segments, sum.Duplicate, packets)
	}
}
