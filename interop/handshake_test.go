package interop

import (
	"io"
	"net"
	"net/netip"
	"testing"

	"github.com/tcpwave/tcpwave/tcp"
)

// TestHandshake connects each stack to the other, over IPv4 and IPv6,
// and checks that both ends are ESTABLISHED, agree on the addresses and
// carry a message each way; that the SYN and the SYN-ACK offer the MSS a
// 1500-byte MTU allows (1460 over IPv4, 1440 over IPv6); and that every
// segment's checksums verify when gVisor's header package, not the
// receiving stack, checks them.
func TestHandshake(t *testing.T) {
	for _, k := range mixed {
		for _, network := range networks {
			t.Run(string(k.client)+"-dials-"+string(k.server)+"/"+network, func(t *testing.T) {
				t.Parallel()
				e := newEnv(t, k.client, k.server, Config{})
				e.cport.Capture()
				e.sport.Capture()
				c, s := e.connect(t, network)
				deadline(c, s)
				waitState(t, "client", c, tcp.Established)
				waitState(t, "server", s, tcp.Established)
				wantMSS := uint16(1460)
				if network == "tcp6" {
					wantMSS = 1440
				}
				tr := newTrace(addrPort(c.LocalAddr()), addrPort(s.LocalAddr()), "A", "B")
				sides := []struct {
					who  Kind
					segs []segment
					flag string
				}{{k.client, decodeAll(t, e.cport.Captured()), "S"}, {k.server, decodeAll(t, e.sport.Captured()), "S."}}
				tr.learn(sides[0].segs...)
				tr.learn(sides[1].segs...)
				for _, d := range sides {
					if len(d.segs) == 0 {
						t.Fatalf("%s sent nothing", d.who)
					}
					for i, seg := range d.segs {
						t.Logf("%s: %s", d.who, tr.line(seg))
						if !seg.csumOK {
							t.Errorf("%s: packet %d has a bad checksum", d.who, i)
						}
						if i == 0 && (flagString(seg.flags) != d.flag || seg.syn.MSS != wantMSS) {
							t.Errorf("%s: first segment %s, want %s with mss %d", d.who, tr.line(seg), d.flag, wantMSS)
						}
					}
				}
				checkAddrs(t, c.LocalAddr(), s.RemoteAddr())
				checkAddrs(t, c.RemoteAddr(), s.LocalAddr())
				for _, d := range []struct {
					name     string
					from, to Conn
				}{{"client to server", c, s}, {"server to client", s, c}} {
					msg := []byte("hello from " + d.name)
					if _, err := d.from.Write(msg); err != nil {
						t.Fatalf("%s: write: %v", d.name, err)
					}
					got := make([]byte, len(msg))
					if _, err := io.ReadFull(d.to, got); err != nil || string(got) != string(msg) {
						t.Fatalf("%s: read %q, %v", d.name, got, err)
					}
				}
			})
		}
	}
}

// decodeAll decodes captured packets, and fails the test if one is not
// TCP.
func decodeAll(t *testing.T, pkts [][]byte) []segment {
	t.Helper()
	segs := make([]segment, len(pkts))
	for i, p := range pkts {
		var ok bool
		if segs[i], ok = decode(p); !ok {
			t.Fatalf("packet %d is not TCP: % x", i, p)
		}
	}
	return segs
}

// checkAddrs fails unless two ends name the same address.
func checkAddrs(t *testing.T, a, b net.Addr) {
	t.Helper()
	if addrPort(a) != addrPort(b) {
		t.Errorf("addresses differ: %v and %v", a, b)
	}
}

// addrPort is a TCP address as an unmapped netip.AddrPort.
func addrPort(a net.Addr) netip.AddrPort {
	ap := a.(*net.TCPAddr).AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
