package explain

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/tcpwave/tcpwave/tcp"
	"github.com/tcpwave/tcpwave/wire"
)

// seg is one segment of a hand-written conversation.
type seg struct {
	fromClient bool
	flags      wire.Flags
	seq, ack   uint32 // relative to each side's ISN
	data       int
}

// closeConv is a whole connection: handshake, 100 bytes each way, a
// four-way close.
var closeConv = []seg{
	{true, wire.SYN, 0, 0, 0},
	{false, wire.SYN | wire.ACK, 0, 1, 0},
	{true, wire.ACK, 1, 1, 0},
	{true, wire.ACK | wire.PSH, 1, 1, 100},
	{false, wire.ACK | wire.PSH, 1, 101, 100},
	{true, wire.ACK | wire.FIN, 101, 101, 0},
	{false, wire.ACK, 101, 102, 0},
	{false, wire.ACK | wire.FIN, 101, 102, 0},
	{true, wire.ACK, 102, 102, 0},
}

const isnC, isnS = 1000, 5000000

// ipPackets builds conv's IP packets between client and server, with
// correct checksums unless badSum.
func ipPackets(t testing.TB, client, server netip.AddrPort, conv []seg, badSum bool) [][]byte {
	t.Helper()
	var out [][]byte
	for _, s := range conv {
		p := wire.Packet{Src: client.Addr(), Dst: server.Addr(), TCP: wire.TCPFields{SrcPort: client.Port(), DstPort: server.Port(),
			Seq: isnC + s.seq, Ack: isnS + s.ack, Flags: s.flags, Window: 1000}, Payload: make([]byte, s.data)}
		if !s.fromClient {
			p.Src, p.Dst = p.Dst, p.Src
			p.TCP.SrcPort, p.TCP.DstPort = p.TCP.DstPort, p.TCP.SrcPort
			p.TCP.Seq, p.TCP.Ack = isnS+s.seq, isnC+s.ack
		}
		if !s.flags.Has(wire.ACK) {
			p.TCP.Ack = 0
		}
		buf := make([]byte, 2000)
		n, err := wire.EncodePacket(buf, &p, 64, uint16(len(out)+1))
		if err != nil {
			t.Fatal(err)
		}
		b := buf[:n]
		if badSum { // an offloaded capture: the checksums are not filled in
			if b[0]>>4 == 4 {
				b[10], b[11] = 0, 0
				b[20+16], b[20+17] = 0xde, 0xad
			} else {
				b[40+16], b[40+17] = 0xde, 0xad
			}
		}
		out = append(out, b)
	}
	return out
}

// frame wraps the IP packet ip in link type lt's header.
func frame(lt uint32, ip []byte, order binary.ByteOrder) []byte {
	v6 := ip[0]>>4 == 6
	et := []byte{0x08, 0x00}
	if v6 {
		et = []byte{0x86, 0xdd}
	}
	var h []byte
	switch lt {
	case linkEther:
		h = append(make([]byte, 12), 0x81, 0x00, 0x00, 0x05, 0x88, 0xa8, 0x00, 0x07) // 802.1Q, then 802.1ad (odd, but read)
		h = append(h, et...)
	case linkSLL:
		h = append(make([]byte, 14), et...)
	case linkSLL2:
		h = append(et, make([]byte, 18)...)
	case linkNull:
		h = make([]byte, 4)
		fam := uint32(2)
		if v6 {
			fam = 30
		}
		order.PutUint32(h, fam)
	case linkLoop:
		h = make([]byte, 4)
		fam := uint32(2)
		if v6 {
			fam = 24
		}
		binary.BigEndian.PutUint32(h, fam)
	}
	return append(h, ip...)
}

// pcapFile writes a classic pcap: byte order, µs or ns, link type,
// and a snap length that cuts records (0: none).
func pcapFile(order binary.ByteOrder, nanos bool, lt uint32, snap int, frames [][]byte, start time.Time) []byte {
	var b bytes.Buffer
	h := make([]byte, 24)
	magic := uint32(0xa1b2c3d4)
	if nanos {
		magic = 0xa1b23c4d
	}
	order.PutUint32(h[0:], magic)
	order.PutUint16(h[4:], 2)
	order.PutUint16(h[6:], 4)
	order.PutUint32(h[16:], 65535)
	order.PutUint32(h[20:], lt)
	b.Write(h)
	for i, f := range frames {
		ts := start.Add(time.Duration(i) * 10 * time.Millisecond)
		r := make([]byte, 16)
		order.PutUint32(r[0:], uint32(ts.Unix()))
		frac := uint32(ts.Nanosecond() / 1000)
		if nanos {
			frac = uint32(ts.Nanosecond())
		}
		order.PutUint32(r[4:], frac)
		cl := len(f)
		if snap > 0 && cl > snap {
			cl = snap
		}
		order.PutUint32(r[8:], uint32(cl))
		order.PutUint32(r[12:], uint32(len(f)))
		b.Write(r)
		b.Write(f[:cl])
	}
	return b.Bytes()
}

// explainAll explains data and returns its connections.
func explainAll(t testing.TB, data []byte) ([]*Conn, Summary, error) {
	t.Helper()
	var conns []*Conn
	sum, err := Explain(bytes.NewReader(data), Options{}, func(c *Conn) { conns = append(conns, c) })
	return conns, sum, err
}

// checkClose checks that conns is the one four-way close of closeConv.
func checkClose(t *testing.T, conns []*Conn, client netip.AddrPort) {
	t.Helper()
	if len(conns) != 1 {
		t.Fatalf("%d connections, want 1", len(conns))
	}
	c := conns[0]
	if c.Addr[Client] != client || c.Close != CloseFourWay || c.Sent[Client].Bytes != 100 || c.Sent[Server].Bytes != 100 {
		t.Fatalf("client %v close %q bytes %d/%d, want %v four-way 100/100\n%s", c.Addr[Client], c.Close, c.Sent[Client].Bytes, c.Sent[Server].Bytes, client, dump(c))
	}
	want := []string{"CLOSED", "SYN_SENT", "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "TIME_WAIT", "CLOSED"}
	if got := explainedStates(c, Client); !slices.Equal(got, want) {
		t.Errorf("client states %v, want %v", got, want)
	}
	if c.Final[Client] != tcp.TimeWait || c.Final[Server] != tcp.Closed {
		t.Errorf("final states %v %v", c.Final[Client], c.Final[Server])
	}
	if got := c.End - c.Start; got != 80*time.Millisecond {
		t.Errorf("duration %v, want 80ms (timestamps misread)", got)
	}
}

// TestLinkTypes: the same connection in every link type, byte order and
// timestamp resolution, IPv4 and IPv6, cut by a snap length and with bad
// checksums, is explained the same.
func TestLinkTypes(t *testing.T) {
	v4c, v4s := netip.MustParseAddrPort("192.0.2.1:40000"), netip.MustParseAddrPort("192.0.2.2:443")
	v6c, v6s := netip.MustParseAddrPort("[2001:db8::1]:40000"), netip.MustParseAddrPort("[2001:db8::2]:443")
	start := time.Date(2026, 12, 7, 10, 0, 0, 123456000, time.UTC)
	for _, lt := range []uint32{linkEther, linkSLL, linkSLL2, linkRaw, linkRaw12, linkRaw14, linkNull, linkLoop, linkIPv4, linkIPv6} {
		for _, v6 := range []bool{false, true} {
			if (lt == linkIPv4 && v6) || (lt == linkIPv6 && !v6) {
				continue
			}
			for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
				for _, nanos := range []bool{false, true} {
					name := strings.Join([]string{ltName(lt), map[bool]string{false: "v4", true: "v6"}[v6], order.String(), map[bool]string{false: "us", true: "ns"}[nanos]}, "/")
					t.Run(name, func(t *testing.T) {
						c, s := v4c, v4s
						if v6 {
							c, s = v6c, v6s
						}
						var frames [][]byte
						for _, ip := range ipPackets(t, c, s, closeConv, true) {
							frames = append(frames, frame(lt, ip, order))
						}
						snap := 0
						if nanos { // cut every record after the TCP header
							snap = len(frame(lt, ipPackets(t, c, s, closeConv[:1], false)[0], order))
						}
						conns, sum, err := explainAll(t, pcapFile(order, nanos, lt, snap, frames, start))
						if err != nil {
							t.Fatal(err)
						}
						if sum.Segments != len(closeConv) || !sum.Start.Equal(start) {
							t.Fatalf("summary %+v", sum)
						}
						checkClose(t, conns, c)
					})
				}
			}
		}
	}
}

func ltName(lt uint32) string {
	return map[uint32]string{linkEther: "ether", linkSLL: "sll", linkSLL2: "sll2", linkRaw: "raw", linkRaw12: "raw12", linkRaw14: "raw14",
		linkNull: "null", linkLoop: "loop", linkIPv4: "ipv4", linkIPv6: "ipv6"}[lt]
}

// TestPcapngInterfaces: a pcapng file with two interfaces of different
// link types (Ethernet and Linux cooked v2) and ns timestamps, the
// connection's segments split between them, and a UDP packet between.
func TestPcapngInterfaces(t *testing.T) {
	c, s := netip.MustParseAddrPort("198.51.100.7:51000"), netip.MustParseAddrPort("198.51.100.8:80")
	var b bytes.Buffer
	w, err := pcapgo.NewNgWriterInterface(&b, pcapgo.NgInterface{Name: "eth0", LinkType: layers.LinkTypeEthernet, SnapLength: 65535, TimestampResolution: 9}, pcapgo.NgWriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	any, err := w.AddInterface(pcapgo.NgInterface{Name: "any", LinkType: layers.LinkType(linkSLL2), SnapLength: 65535, TimestampResolution: 9})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	for i, ip := range ipPackets(t, c, s, closeConv, false) {
		lt, iface := uint32(linkEther), 0
		if i%2 == 1 {
			lt, iface = linkSLL2, any
		}
		f := frame(lt, ip, binary.LittleEndian)
		ci := gopacket.CaptureInfo{Timestamp: start.Add(time.Duration(i) * 10 * time.Millisecond), CaptureLength: len(f), Length: len(f), InterfaceIndex: iface}
		if err := w.WritePacket(ci, f); err != nil {
			t.Fatal(err)
		}
		if i == 3 {
			udp := frame(linkEther, []byte{0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 0, 53, 0, 53, 0, 8, 0, 0}, binary.LittleEndian)
			w.WritePacket(gopacket.CaptureInfo{Timestamp: ci.Timestamp, CaptureLength: len(udp), Length: len(udp)}, udp)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	conns, sum, err := explainAll(t, b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if sum.NotTCP != 1 || sum.Records != len(closeConv)+1 {
		t.Errorf("summary %+v, want 1 record not TCP", sum)
	}
	checkClose(t, conns, c)
}

// TestIPv6ExtensionHeaders: hop-by-hop and destination options before
// TCP are skipped; a non-first fragment is not taken for TCP.
func TestIPv6ExtensionHeaders(t *testing.T) {
	c, s := netip.MustParseAddrPort("[fd00::1]:40000"), netip.MustParseAddrPort("[fd00::2]:80")
	var frames [][]byte
	for _, ip := range ipPackets(t, c, s, closeConv, false) {
		tcpPart := ip[40:]
		ext := []byte{60, 0, 1, 4, 0, 0, 0, 0, 6, 0, 1, 4, 0, 0, 0, 0} // hop-by-hop → dest opts → TCP
		n := append(slices.Clone(ip[:40]), ext...)
		n = append(n, tcpPart...)
		n[6] = 0
		binary.BigEndian.PutUint16(n[4:6], uint16(len(ext)+len(tcpPart)))
		frames = append(frames, n)
	}
	frag := slices.Clone(frames[3])
	frag[6] = 44
	copy(frag[40:], []byte{6, 0, 0x01, 0x00, 0, 0, 0, 1}) // offset 32: not the first fragment
	frames = append(frames, frag)
	conns, sum, err := explainAll(t, pcapFile(binary.LittleEndian, false, linkRaw, 0, frames, time.Unix(0, 0)))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Fragments != 1 {
		t.Errorf("%d fragments counted, want 1", sum.Fragments)
	}
	checkClose(t, conns, c)
}

// TestBadInput: every kind of bad input gives a clear error, never a panic.
func TestBadInput(t *testing.T) {
	c, s := netip.MustParseAddrPort("192.0.2.1:40000"), netip.MustParseAddrPort("192.0.2.2:443")
	good := pcapFile(binary.LittleEndian, false, linkRaw, 0, ipPackets(t, c, s, closeConv, false), time.Unix(100, 0))
	udp := []byte{0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 0, 53, 0, 53, 0, 8, 0, 0}
	for _, tc := range []struct {
		name  string
		data  []byte
		want  error
		text  string
		conns int
	}{
		{"empty", nil, ErrNotCapture, "empty", 0},
		{"three bytes", []byte{0xd4, 0xc3, 0xb2}, ErrNotCapture, "only 3 bytes", 0},
		{"garbage", bytes.Repeat([]byte("not a capture "), 10), ErrNotCapture, "it begins with 6e 6f 74 20", 0},
		{"header cut", good[:20], ErrNotCapture, "cut short", 0},
		{"header only", good[:24], ErrNoTCP, "no packet", 0},
		{"udp only", pcapFile(binary.LittleEndian, false, linkRaw, 0, [][]byte{udp, udp}, time.Unix(0, 0)), ErrNoTCP, "2 packets, none of them TCP", 0},
		{"unknown link type", pcapFile(binary.LittleEndian, false, 147, 0, ipPackets(t, c, s, closeConv, false), time.Unix(0, 0)), ErrNoTCP, "", 0},
		{"truncated record", good[:len(good)-10], ErrTruncated, "after 8 records", 1},
		{"pcapng cut", []byte{0x0a, 0x0d, 0x0d, 0x0a, 0x1c, 0, 0, 0, 0x4d, 0x3c}, nil, "pcapng", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conns, _, err := explainAll(t, tc.data)
			if err == nil {
				t.Fatal("no error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("error %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.text) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q: want one line containing %q", err, tc.text)
			}
			if len(conns) != tc.conns {
				t.Errorf("%d connections, want %d", len(conns), tc.conns)
			}
		})
	}
}

// TestLengthFromWire: a segmentation-offload capture leaves the IPv4 total
// length (or the IPv6 payload length) 0; the payload's length then comes
// from the packet's length on the wire.
func TestLengthFromWire(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		c, s := netip.MustParseAddrPort("192.0.2.1:1"), netip.MustParseAddrPort("192.0.2.2:2")
		if v6 {
			c, s = netip.MustParseAddrPort("[fd00::1]:1"), netip.MustParseAddrPort("[fd00::2]:2")
		}
		ip := ipPackets(t, c, s, []seg{{true, wire.ACK, 1, 1, 0}}, false)[0]
		if v6 {
			ip[4], ip[5] = 0, 0
		} else {
			ip[2], ip[3] = 0, 0
		}
		var p Packet
		if got := decodeIP(ip, len(ip)+30000, &p); got != decodedTCP || p.PayloadLen != 30000 {
			t.Errorf("v6 %v: decoded %d, payload %d, want TCP with 30000", v6, got, p.PayloadLen)
		}
		if p.Src != c || p.Dst != s {
			t.Errorf("endpoints %v %v", p.Src, p.Dst)
		}
	}
}

// TestCapturedTwice: a capture that sees every packet twice (tcpdump -i
// any on a bridge and its port) explains as if it saw each once (the
// duplicate ACKs of TestDiagnoses, each with its own IP identification,
// are not taken for copies).
func TestCapturedTwice(t *testing.T) {
	c, s := netip.MustParseAddrPort("192.0.2.1:40000"), netip.MustParseAddrPort("192.0.2.2:443")
	pkts := ipPackets(t, c, s, closeConv, false)
	var frames [][]byte
	for _, p := range pkts {
		frames = append(frames, p, p)
	}
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	w.WriteFileHeader(65535, layers.LinkTypeRaw)
	start := time.Unix(50, 0)
	for i, f := range frames {
		at := start.Add(time.Duration(i/2)*10*time.Millisecond + time.Duration(i%2)*20*time.Microsecond)
		w.WritePacket(gopacket.CaptureInfo{Timestamp: at, CaptureLength: len(f), Length: len(f)}, f)
	}
	conns, sum, err := explainAll(t, buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Duplicate != len(pkts) {
		t.Errorf("%d duplicates, want %d", sum.Duplicate, len(pkts))
	}
	checkClose(t, conns, c)
	if n := conns[0].Sent[Client]; n.Packets != 5 || n.Retransmits != 0 || n.DupACKs != 0 {
		t.Errorf("client counters %+v", n)
	}
}
