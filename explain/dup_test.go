package explain

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/tcpwave/tcpwave/wire"
)

// cooked wraps ip in a Linux cooked capture header (v1 or v2) that says
// it was seen on interface ifindex (v2 only) with packet type pkttype.
func cooked(lt uint32, ip []byte, ifindex uint32, pkttype byte) []byte {
	f := frame(lt, ip, binary.LittleEndian)
	if lt == linkSLL {
		f[1] = pkttype
	} else {
		binary.BigEndian.PutUint32(f[4:8], ifindex)
		f[10] = pkttype
	}
	return f
}

// TestCapturedTwiceCooked: "tcpdump -i any" where a packet crosses two
// interfaces (a bridge's ports, a router's) records it twice, 20 µs apart.
// A copy seen at another point (packet type in v1, interface in v2) is
// skipped, IPv4 and IPv6 alike; at the same point an IPv4 copy is told by
// its identification, an IPv6 one (no identification) only when it
// carries SYN, FIN, RST or data: bare ACKs are alike when sent twice.
func TestCapturedTwiceCooked(t *testing.T) {
	for _, tc := range []struct {
		name       string
		client     string
		lt         uint32
		second     [2]uint32 // the copy's interface index and packet type
		duplicates int
	}{
		{"v4 sll in and out", "192.0.2.1:40000", linkSLL, [2]uint32{0, 4}, 9},
		{"v6 sll in and out", "[2001:db8::1]:40000", linkSLL, [2]uint32{0, 4}, 9},
		{"v4 sll2 two ports", "192.0.2.1:40000", linkSLL2, [2]uint32{7, 3}, 9},
		{"v6 sll2 two ports", "[2001:db8::1]:40000", linkSLL2, [2]uint32{7, 3}, 9},
		{"v4 sll2 one port", "192.0.2.1:40000", linkSLL2, [2]uint32{6, 3}, 9},
		{"v6 sll2 one port", "[2001:db8::1]:40000", linkSLL2, [2]uint32{6, 3}, 6}, // 3 bare ACKs
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := netip.MustParseAddrPort(tc.client)
			s := netip.AddrPortFrom(c.Addr().Next(), 443)
			var buf bytes.Buffer
			w := pcapgo.NewWriter(&buf)
			w.WriteFileHeader(65535, layers.LinkType(tc.lt))
			start := time.Unix(50, 0)
			pkts := ipPackets(t, c, s, closeConv, false)
			for i, p := range pkts {
				for k, f := range [][]byte{cooked(tc.lt, p, 6, 3), cooked(tc.lt, p, tc.second[0], byte(tc.second[1]))} {
					at := start.Add(time.Duration(i)*10*time.Millisecond + time.Duration(k)*20*time.Microsecond)
					w.WritePacket(gopacket.CaptureInfo{Timestamp: at, CaptureLength: len(f), Length: len(f)}, f)
				}
			}
			conns, sum, err := explainAll(t, buf.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if sum.Duplicate != tc.duplicates {
				t.Errorf("%d duplicates, want %d", sum.Duplicate, tc.duplicates)
			}
			if tc.duplicates < len(pkts) {
				return
			}
			checkClose(t, conns, c)
			for side := Client; side <= Server; side++ {
				if n := conns[0].Sent[side]; n.SYNs != 1 || n.FINs != 1 || n.Retransmits != 0 || n.DupACKs != 0 {
					t.Errorf("%s counters %+v", side, n)
				}
			}
		})
	}
}

// TestResentNotCopy: a data segment sent again 100 µs later, not
// captured twice, is not skipped: in IPv4 it carries a new
// identification, in IPv6 (none) new timestamps.
func TestResentNotCopy(t *testing.T) {
	for _, client := range []string{"192.0.2.1:40000", "[2001:db8::1]:40000"} {
		c := netip.MustParseAddrPort(client)
		s := netip.AddrPortFrom(c.Addr().Next(), 443)
		pkts := ipPackets(t, c, s, closeConv, false)
		var frames [][]byte
		var times []time.Duration
		for i, p := range pkts {
			frames, times = append(frames, p), append(times, time.Duration(i)*10*time.Millisecond)
			if i == 3 { // the client's data, sent again 100 µs later with new timestamps
				q := wire.Packet{Src: c.Addr(), Dst: s.Addr(), TCP: wire.TCPFields{SrcPort: c.Port(), DstPort: s.Port(),
					Seq: isnC + 1, Ack: isnS + 1, Flags: wire.ACK | wire.PSH, Window: 1000}, Payload: make([]byte, 100)}
				q.TCP.Options.HasTimestamp, q.TCP.Options.TSVal = true, 77
				b := make([]byte, 2000)
				n, err := wire.EncodePacket(b, &q, 64, 99)
				if err != nil {
					t.Fatal(err)
				}
				q.TCP.Options.TSVal = 78
				b2 := make([]byte, 2000)
				n2, err := wire.EncodePacket(b2, &q, 64, 100)
				if err != nil {
					t.Fatal(err)
				}
				frames[len(frames)-1] = b[:n]
				frames, times = append(frames, b2[:n2]), append(times, times[len(times)-1]+100*time.Microsecond)
			}
		}
		var buf bytes.Buffer
		w := pcapgo.NewWriter(&buf)
		w.WriteFileHeader(65535, layers.LinkTypeRaw)
		for i, f := range frames {
			w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Unix(50, 0).Add(times[i]), CaptureLength: len(f), Length: len(f)}, f)
		}
		conns, sum, err := explainAll(t, buf.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if sum.Duplicate != 0 || len(conns) != 1 || conns[0].Sent[Client].Retransmits != 1 {
			t.Errorf("%s: %d duplicates, %d connections, client %+v; want the data sent again counted once as a retransmission", client, sum.Duplicate, len(conns), conns[0].Sent[Client])
		}
	}
}
