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
// identification; in IPv6 (none) new timestamps, or, with the same ones
// (a fast retransmission within the same millisecond), the peer's
// duplicate ACK comes between, even when the capture dates it in the same
// microsecond as the first copy. With neither, an IPv6 copy is skipped.
func TestResentNotCopy(t *testing.T) {
	for _, tc := range []struct {
		name       string
		client     string
		newTS      bool // the second copy has a newer timestamp
		ackBetween bool // the server sends a duplicate ACK between the two
		ackAt      time.Duration
		duplicates int
	}{
		{"v4 new id", "192.0.2.1:40000", false, false, 0, 0},
		{"v6 new timestamp", "[2001:db8::1]:40000", true, false, 0, 0},
		{"v6 dup ACK between", "[2001:db8::1]:40000", false, true, 50 * time.Microsecond, 0},
		{"v6 dup ACK between, same time", "[2001:db8::1]:40000", false, true, 0, 0},
		{"v6 copy", "[2001:db8::1]:40000", false, false, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := netip.MustParseAddrPort(tc.client)
			s := netip.AddrPortFrom(c.Addr().Next(), 443)
			encode := func(p *wire.Packet, id uint16) []byte {
				b := make([]byte, 2000)
				n, err := wire.EncodePacket(b, p, 64, id)
				if err != nil {
					t.Fatal(err)
				}
				return b[:n]
			}
			var frames [][]byte
			var times []time.Duration
			add := func(f []byte, at time.Duration) { frames, times = append(frames, f), append(times, at) }
			for i, p := range ipPackets(t, c, s, closeConv, false) {
				at := time.Duration(i) * 10 * time.Millisecond
				if i != 3 {
					add(p, at)
					continue
				}
				// The client's data, and again 100 µs later.
				q := wire.Packet{Src: c.Addr(), Dst: s.Addr(), TCP: wire.TCPFields{SrcPort: c.Port(), DstPort: s.Port(),
					Seq: isnC + 1, Ack: isnS + 1, Flags: wire.ACK | wire.PSH, Window: 1000}, Payload: make([]byte, 100)}
				q.TCP.Options.HasTimestamp, q.TCP.Options.TSVal = true, 77
				add(encode(&q, 99), at)
				if tc.ackBetween {
					d := wire.Packet{Src: s.Addr(), Dst: c.Addr(), TCP: wire.TCPFields{SrcPort: s.Port(), DstPort: c.Port(),
						Seq: isnS + 1, Ack: isnC + 1, Flags: wire.ACK, Window: 1000}}
					add(encode(&d, 98), at+tc.ackAt)
				}
				if tc.newTS {
					q.TCP.Options.TSVal = 78
				}
				id := uint16(100)
				if !c.Addr().Is4() || tc.duplicates > 0 {
					id = 99
				}
				add(encode(&q, id), at+100*time.Microsecond)
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
			if len(conns) != 1 {
				t.Fatalf("%d connections", len(conns))
			}
			if want := 1 - tc.duplicates; sum.Duplicate != tc.duplicates || conns[0].Sent[Client].Retransmits != want {
				t.Errorf("%d duplicates, client %+v; want %d duplicates, %d retransmissions", sum.Duplicate, conns[0].Sent[Client], tc.duplicates, want)
			}
		})
	}
}
