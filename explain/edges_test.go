package explain

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/tcpwave/tcpwave/wire"
)

// TestDecodeIPEdges: the lengths and chains an IP header controls, at 0,
// 1, the maximum and garbage, decode to the right kind and never panic.
func TestDecodeIPEdges(t *testing.T) {
	c4, s4 := netip.MustParseAddrPort("192.0.2.1:1"), netip.MustParseAddrPort("192.0.2.2:2")
	c6, s6 := netip.MustParseAddrPort("[fd00::1]:1"), netip.MustParseAddrPort("[fd00::2]:2")
	v4 := ipPackets(t, c4, s4, []seg{{true, wire.ACK, 1, 1, 10}}, false)[0] // 20 + 20 + 10 bytes
	v6 := ipPackets(t, c6, s6, []seg{{true, wire.ACK, 1, 1, 10}}, false)[0] // 40 + 20 + 10 bytes
	// withExt puts ext between v6's fixed header and its TCP header,
	// first the next header field's value.
	withExt := func(first byte, ext []byte) []byte {
		n := append(slices.Clone(v6[:40]), ext...)
		n = append(n, v6[40:]...)
		n[6] = first
		binary.BigEndian.PutUint16(n[4:6], uint16(len(n)-40))
		return n
	}
	// destOpts is a chain of n destination options headers, 8 bytes each,
	// ending in TCP.
	destOpts := func(n int) []byte {
		var b []byte
		for i := range n {
			next := byte(60)
			if i == n-1 {
				next = 6
			}
			b = append(b, next, 0, 1, 4, 0, 0, 0, 0)
		}
		return b
	}
	edit := func(b []byte, f func(b []byte)) []byte {
		b = slices.Clone(b)
		f(b)
		return b
	}
	for _, tc := range []struct {
		name    string
		ip      []byte
		wireLen int
		want    int
		payload int
	}{
		{"v4", v4, len(v4), decodedTCP, 10},
		{"v4 empty", nil, 0, decodedOther, 0},
		{"v4 version only", v4[:1], 1, decodedOther, 0},
		{"v4 header cut", v4[:19], len(v4), decodedOther, 0},
		{"v4 IHL 0", edit(v4, func(b []byte) { b[0] = 0x40 }), len(v4), decodedOther, 0},
		{"v4 IHL 4", edit(v4, func(b []byte) { b[0] = 0x44 }), len(v4), decodedOther, 0},
		{"v4 IHL 15 past the data", edit(v4, func(b []byte) { b[0] = 0x4f }), len(v4), decodedOther, 0},
		{"v4 total 0 (TSO)", edit(v4, func(b []byte) { b[2], b[3] = 0, 0 }), len(v4), decodedTCP, 10},
		{"v4 total 0, wire length 0", edit(v4, func(b []byte) { b[2], b[3] = 0, 0 }), 0, decodedTCP, 0},
		{"v4 total 1", edit(v4, func(b []byte) { b[2], b[3] = 0, 1 }), len(v4), decodedTCP, 0},
		{"v4 total max, snap cut", edit(v4, func(b []byte) { b[2], b[3] = 0xff, 0xff }), len(v4), decodedTCP, 0xffff - 40},
		{"v4 not TCP", edit(v4, func(b []byte) { b[9] = 17 }), len(v4), decodedOther, 0},
		{"v4 more fragments", edit(v4, func(b []byte) { b[6] = 0x20 }), len(v4), decodedFragment, 0},
		{"v4 offset", edit(v4, func(b []byte) { b[7] = 1 }), len(v4), decodedFragment, 0},
		{"v4 DF", edit(v4, func(b []byte) { b[6] = 0x40 }), len(v4), decodedTCP, 10},
		{"v4 TCP cut", v4[:39], len(v4), decodedTruncated, 0},
		{"v4 TCP data offset 4", edit(v4, func(b []byte) { b[32] = 0x40 }), len(v4), decodedTruncated, 0},
		{"v4 TCP data offset 15 past the data", edit(v4, func(b []byte) { b[32] = 0xf0 }), len(v4), decodedTruncated, 0},
		{"version 5", edit(v4, func(b []byte) { b[0] = 0x55 }), len(v4), decodedOther, 0},
		{"v6", v6, len(v6), decodedTCP, 10},
		{"v6 header cut", v6[:39], len(v6), decodedOther, 0},
		{"v6 payload 0 (TSO)", edit(v6, func(b []byte) { b[4], b[5] = 0, 0 }), len(v6), decodedTCP, 10},
		{"v6 payload 0, wire length 0", edit(v6, func(b []byte) { b[4], b[5] = 0, 0 }), 0, decodedTCP, 0},
		{"v6 payload 1", edit(v6, func(b []byte) { b[4], b[5] = 0, 1 }), len(v6), decodedTCP, 0},
		{"v6 payload max, snap cut", edit(v6, func(b []byte) { b[4], b[5] = 0xff, 0xff }), len(v6), decodedTCP, 0xffff - 20},
		{"v6 UDP", edit(v6, func(b []byte) { b[6] = 17 }), len(v6), decodedOther, 0},
		{"v6 no next header", edit(v6, func(b []byte) { b[6] = 59 }), len(v6), decodedOther, 0},
		{"v6 one dest opts", withExt(60, destOpts(1)), 0, decodedTCP, 10},
		{"v6 100 dest opts", withExt(60, destOpts(100)), 0, decodedTCP, 10},
		{"v6 ext length past the data", withExt(60, []byte{6, 255, 1, 4, 0, 0, 0, 0}), 0, decodedOther, 0},
		{"v6 ext cut to 1 byte", withExt(60, nil)[:41], 0, decodedOther, 0},
		{"v6 ext chain into an unknown header", withExt(60, []byte{17, 0, 1, 4, 0, 0, 0, 0}), 0, decodedOther, 0},
		{"v6 ext chain back to hop-by-hop", withExt(0, append([]byte{0, 0, 1, 4, 0, 0, 0, 0}, destOpts(1)...)), 0, decodedTCP, 10},
		{"v6 AH", withExt(51, []byte{6, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}), 0, decodedTCP, 10},
		{"v6 AH cut", withExt(51, []byte{6, 200, 0, 0, 0, 0, 0, 0}), 0, decodedOther, 0},
		{"v6 atomic fragment", withExt(44, []byte{6, 0, 0, 0, 0, 0, 0, 1}), 0, decodedTCP, 10},
		{"v6 first fragment", withExt(44, []byte{6, 0, 0, 1, 0, 0, 0, 1}), 0, decodedFragment, 0},
		{"v6 fragment header cut", withExt(44, nil)[:44], 0, decodedOther, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p Packet
			got := decodeIP(tc.ip, tc.wireLen, &p)
			if got != tc.want {
				t.Fatalf("decodeIP = %d, want %d", got, tc.want)
			}
			if got == decodedTCP && p.PayloadLen != tc.payload {
				t.Errorf("payload %d, want %d", p.PayloadLen, tc.payload)
			}
		})
	}
}

// TestSequenceWrap: a connection whose sequence numbers wrap past 2^32
// in both directions (each ISN just below it) is explained as one that
// does not.
func TestSequenceWrap(t *testing.T) {
	c, s := netip.MustParseAddrPort("192.0.2.1:40000"), netip.MustParseAddrPort("192.0.2.2:443")
	for _, tc := range []struct {
		name       string
		isnC, isnS uint32
	}{
		{"client wraps in data", 1<<32 - 50, isnS},
		{"server wraps at its first byte", isnC, 1<<32 - 1},
		{"both wrap at the SYN", 1<<32 - 1, 1<<32 - 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pkts := ipPackets(t, c, s, closeConv, false)
			for i, ip := range pkts {
				dSeq, dAck := tc.isnC-isnC, tc.isnS-isnS
				if !closeConv[i].fromClient {
					dSeq, dAck = dAck, dSeq
				}
				tcp := ip[20:]
				binary.BigEndian.PutUint32(tcp[4:8], binary.BigEndian.Uint32(tcp[4:8])+dSeq)
				if closeConv[i].flags.Has(wire.ACK) {
					binary.BigEndian.PutUint32(tcp[8:12], binary.BigEndian.Uint32(tcp[8:12])+dAck)
				}
			}
			conns, _, err := explainAll(t, pcapFile(binary.LittleEndian, false, linkRaw, 0, pkts, time.Unix(0, 0)))
			if err != nil {
				t.Fatal(err)
			}
			checkClose(t, conns, c)
			if got := conns[0].Findings; len(got) != 1 || got[0].Kind != "time-wait" {
				t.Errorf("findings %v, want the client's TIME_WAIT only\n%s", got, dump(conns[0]))
			}
		})
	}
}

// TestTimeBackwards: a capture whose timestamps go backwards (merged
// interfaces, a clock stepped back) or jump to the largest a pcap holds
// is still read whole: one connection, its four-way close, no panic.
func TestTimeBackwards(t *testing.T) {
	c, s := netip.MustParseAddrPort("192.0.2.1:40000"), netip.MustParseAddrPort("192.0.2.2:443")
	start := time.Unix(1000, 0)
	for _, tc := range []struct {
		name string
		at   func(i int) time.Time
	}{
		{"one a second back", func(i int) time.Time {
			if i == 4 {
				return start.Add(-time.Second)
			}
			return start.Add(time.Duration(i) * 10 * time.Millisecond)
		}},
		{"every one back", func(i int) time.Time { return start.Add(-time.Duration(i) * 10 * time.Millisecond) }},
		{"the first an hour ahead, then back", func(i int) time.Time {
			if i == 0 {
				return start.Add(time.Hour)
			}
			return start.Add(time.Duration(i) * 10 * time.Millisecond)
		}},
		{"the last at the largest time", func(i int) time.Time {
			if i == len(closeConv)-1 {
				return time.Unix(1<<32-1, 999999000)
			}
			return start.Add(time.Duration(i) * 10 * time.Millisecond)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			w := pcapgo.NewWriter(&b)
			if err := w.WriteFileHeader(65535, layers.LinkTypeRaw); err != nil {
				t.Fatal(err)
			}
			for i, ip := range ipPackets(t, c, s, closeConv, false) {
				ci := gopacket.CaptureInfo{Timestamp: tc.at(i), CaptureLength: len(ip), Length: len(ip)}
				if err := w.WritePacket(ci, ip); err != nil {
					t.Fatal(err)
				}
			}
			conns, _, err := explainAll(t, b.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if len(conns) != 1 {
				t.Fatalf("%d connections, want 1", len(conns))
			}
			if cn := conns[0]; cn.Close != CloseFourWay || cn.Sent[Client].Bytes != 100 || cn.Sent[Server].Bytes != 100 {
				t.Errorf("close %q bytes %d/%d, want four-way 100/100\n%s", cn.Close, cn.Sent[Client].Bytes, cn.Sent[Server].Bytes, dump(cn))
			}
		})
	}
}

// ngBlock returns a pcapng block of type typ with body, padded, little
// endian.
func ngBlock(typ uint32, body []byte) []byte {
	body = append(slices.Clone(body), make([]byte, (4-len(body)%4)%4)...)
	n := uint32(12 + len(body))
	b := binary.LittleEndian.AppendUint32(nil, typ)
	b = binary.LittleEndian.AppendUint32(b, n)
	b = append(b, body...)
	return binary.LittleEndian.AppendUint32(b, n)
}

// TestPcapngInterfaceCounts: pcapng packets that name an interface the
// section has not described (none described, or an index past the last)
// end the read with an error on one line, never a panic; the packets of
// a described interface before them are explained.
func TestPcapngInterfaceCounts(t *testing.T) {
	c, s := netip.MustParseAddrPort("192.0.2.1:40000"), netip.MustParseAddrPort("192.0.2.2:443")
	shb := ngBlock(0x0a0d0d0a, []byte{0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	idb := ngBlock(1, []byte{byte(linkRaw), 0, 0, 0, 0, 0, 0, 0}) // snap length 0: none
	epb := func(iface uint32, ip []byte) []byte {
		b := binary.LittleEndian.AppendUint32(nil, iface)
		b = append(b, make([]byte, 8)...) // time 0
		b = binary.LittleEndian.AppendUint32(b, uint32(len(ip)))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(ip)))
		return ngBlock(6, append(b, ip...))
	}
	pkts := ipPackets(t, c, s, closeConv, false)
	for _, tc := range []struct {
		name   string
		blocks [][]byte
		tcp    int // segments read before the error
	}{
		{"no interface", [][]byte{shb, epb(0, pkts[0])}, 0},
		{"index past the last", [][]byte{shb, idb, epb(0, pkts[0]), epb(1, pkts[1])}, 1},
		{"largest index", [][]byte{shb, idb, epb(0, pkts[0]), epb(1<<32-1, pkts[1])}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sum, err := Explain(bytes.NewReader(slices.Concat(tc.blocks...)), Options{}, func(*Conn) {})
			if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "not present in section") {
				t.Fatalf("error %v, want one line saying the interface is not in the section", err)
			}
			if sum.Segments != tc.tcp {
				t.Errorf("%d segments read before the error %v, want %d", sum.Segments, err, tc.tcp)
			}
		})
	}
}

// TestLinkPayloadEdges: link-layer headers cut at every length up to
// their end carry no IP (and never panic), a known link type without
// IP is not an unknown one, and a stack of VLAN tags of any depth is
// walked to its IP packet.
func TestLinkPayloadEdges(t *testing.T) {
	ip := ipPackets(t, netip.MustParseAddrPort("192.0.2.1:1"), netip.MustParseAddrPort("192.0.2.2:2"), closeConv[:1], false)[0]
	for _, lt := range []uint32{linkNull, linkLoop, linkEther, linkSLL, linkSLL2} {
		f := frame(lt, ip, binary.LittleEndian)
		hdr := len(f) - len(ip)
		for n := range hdr {
			if got, ok := linkPayload(f[:n], lt); !ok || len(got) != 0 {
				t.Errorf("%s cut to %d bytes: %d bytes of IP, known %v; want none, known", ltName(lt), n, len(got), ok)
			}
		}
		if got, ok := linkPayload(f, lt); !ok || !bytes.Equal(got, ip) {
			t.Errorf("%s: payload % x, known %v; want the IP packet", ltName(lt), got, ok)
		}
	}
	if _, ok := linkPayload(ip, 147); ok {
		t.Error("link type 147 (user-defined) taken as known")
	}
	eth := frame(linkEther, ip, binary.LittleEndian)
	arp := withBytes(eth, 12, 0x08, 0x06)
	if got, ok := linkPayload(arp, linkEther); !ok || got != nil {
		t.Errorf("ARP: % x, known %v; want no IP, known", got, ok)
	}
	for _, depth := range []int{1, 2, 1000} {
		tagged := slices.Clone(eth[:12])
		for i := range depth {
			tpid := []byte{0x81, 0x00}
			if i%2 == 1 {
				tpid = []byte{0x88, 0xa8}
			}
			tagged = append(tagged, tpid[0], tpid[1], 0, byte(i))
		}
		tagged = append(tagged, eth[12:]...)
		if got, ok := linkPayload(tagged, linkEther); !ok || !bytes.Equal(got, ip) {
			t.Errorf("%d VLAN tags: payload % x, known %v; want the IP packet", depth, got, ok)
		}
		if got, ok := linkPayload(tagged[:12+4*depth+1], linkEther); !ok || got != nil {
			t.Errorf("%d VLAN tags, the EtherType cut: % x, known %v; want no IP", depth, got, ok)
		}
	}
}

// withBytes returns a copy of b with the bytes at off replaced by v.
func withBytes(b []byte, off int, v ...byte) []byte {
	b = slices.Clone(b)
	copy(b[off:], v)
	return b
}
