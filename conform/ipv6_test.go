package conform

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/tcpwave/tcpwave/wire"
)

const oneCall = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"

func TestFamilies(t *testing.T) {
	tests := []struct {
		name        string
		header      string
		want        IPVersion
		runs        []IPVersion
		local, peer string // the addresses in the last family of runs
	}{
		{"agnostic, both", "", IPAny, []IPVersion{IPv4, IPv6}, "fd3d:fa7b:d17d::1", "2001:db8::1"},
		{"agnostic, ipv4 asked", "", IPv4, []IPVersion{IPv4}, "192.168.0.1", "192.0.2.1"},
		{"agnostic, ipv6 asked", "", IPv6, []IPVersion{IPv6}, "fd3d:fa7b:d17d::1", "2001:db8::1"},
		{"pinned ipv4", "--ip_version=ipv4\n", IPAny, []IPVersion{IPv4}, "192.168.0.1", "192.0.2.1"},
		{"pinned ipv4, ipv6 asked", "--ip_version=ipv4\n", IPv6, []IPVersion{IPv4}, "192.168.0.1", "192.0.2.1"},
		{"pinned ipv6, ipv4 asked", "--ip_version=ipv6\n", IPv4, []IPVersion{IPv6}, "fd3d:fa7b:d17d::1", "2001:db8::1"},
		{"pinned ipv6", "--ip_version=ipv6\n", IPAny, []IPVersion{IPv6}, "fd3d:fa7b:d17d::1", "2001:db8::1"},
		{"pinned ipv6, own address", "--ip_version=ipv6\n--local_ip=fd3d:fa7b:d17d::7\n", IPAny, []IPVersion{IPv6}, "fd3d:fa7b:d17d::7", "2001:db8::1"},
		{"address before the pin", "--remote_ip=2001:db8::9\n--ip_version=ipv6\n", IPAny, []IPVersion{IPv6}, "fd3d:fa7b:d17d::1", "2001:db8::9"},
		{"explicit ipv4 addresses pin ipv4", "--local_ip=192.168.0.2\n", IPAny, []IPVersion{IPv4}, "192.168.0.2", "192.0.2.1"},
		{"agnostic, mapped asked", "", IPv4MappedIPv6, []IPVersion{IPv4MappedIPv6}, "192.168.0.1", "192.0.2.1"},
		{"pinned mapped", "--ip_version=ipv4-mapped-ipv6\n", IPAny, []IPVersion{IPv4MappedIPv6}, "192.168.0.1", "192.0.2.1"},
		{"pinned ipv6, mapped asked", "--ip_version=ipv6\n", IPv4MappedIPv6, []IPVersion{IPv6}, "fd3d:fa7b:d17d::1", "2001:db8::1"},
		{"explicit ipv6 addresses pin ipv6", "--local_ip=fd00::1\n--remote_ip=fd01::1\n", IPAny, []IPVersion{IPv6}, "fd00::1", "fd01::1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse("x.pkt", tc.header+oneCall)
			if err != nil {
				t.Fatal(err)
			}
			runs := s.Families(tc.want)
			if !slices.Equal(runs, tc.runs) {
				t.Fatalf("Families(%v) = %v, want %v", tc.want, runs, tc.runs)
			}
			for _, v := range []IPVersion{IPv4, IPv6} {
				c, ok := s.InFamily(v)
				if ok != slices.Contains(s.Families(IPAny), v) {
					t.Errorf("InFamily(%v) ok = %v", v, ok)
				}
				if ok && (c.Options.Family() != v || c.Options.RemoteIP.Is6() != (v == IPv6)) {
					t.Errorf("InFamily(%v): addresses %v, %v", v, c.Options.LocalIP, c.Options.RemoteIP)
				}
			}
			if len(tc.runs) == 0 {
				return
			}
			c, _ := s.InFamily(tc.runs[len(tc.runs)-1])
			if c.Options.LocalIP.String() != tc.local || c.Options.RemoteIP.String() != tc.peer {
				t.Errorf("addresses %v, %v, want %s, %s", c.Options.LocalIP, c.Options.RemoteIP, tc.local, tc.peer)
			}
			if s.Options.Family() == IPv4 && s.Options.IPVersion == IPAny && !s.Options.localSet && s.Options.LocalIP.String() != "192.168.0.1" {
				t.Errorf("InFamily changed the script it copies: %v", s.Options.LocalIP)
			}
		})
	}
}

func TestLinkMTU(t *testing.T) {
	for _, tc := range []struct {
		v   IPVersion
		mtu int
	}{{IPv4, 1500}, {IPv6, 1520}} {
		s, err := Parse("x.pkt", oneCall)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := s.InFamily(tc.v)
		if got := c.Options.linkMTU(); got != tc.mtu {
			t.Errorf("%v: MTU %d, want %d", tc.v, got, tc.mtu)
		}
		// The MSS a family-agnostic script sees: 1460 in both.
		hdr := 40
		if tc.v == IPv6 {
			hdr = 60
		}
		if mss := tc.mtu - hdr; mss != 1460 {
			t.Errorf("%v: MSS %d, want 1460", tc.v, mss)
		}
	}
}

// TestPeerIPv6 builds a script packet in IPv6 and reads packets the host
// sends: TCP over IPv6 between the two addresses is the script's, ICMPv6,
// MLD (a hop-by-hop header) and IPv4 are ignored.
func TestPeerIPv6(t *testing.T) {
	local, remote := netip.MustParseAddr("fd3d:fa7b:d17d::1"), netip.MustParseAddr("2001:db8::1")
	pr := &peer{local: local, remote: remote, localPort: 8080, remotePort: 48000}
	s, err := Parse("x.pkt", "0 < S 0:0(0) win 65535 <mss 1460>")
	if err != nil {
		t.Fatal(err)
	}
	pkt, err := pr.build(s.Events[0].Packet)
	if err != nil {
		t.Fatal(err)
	}
	var p wire.Packet
	if err := wire.ParsePacket(pkt, &p); err != nil {
		t.Fatalf("the script's packet does not parse: %v", err)
	}
	if pkt[0]>>4 != 6 || p.Src != remote || p.Dst != local || p.TCP.SrcPort != 48000 || p.TCP.DstPort != 8080 || len(pkt) != 40+24 {
		t.Fatalf("script packet: version %d, %v > %v ports %d > %d, %d bytes", pkt[0]>>4, p.Src, p.Dst, p.TCP.SrcPort, p.TCP.DstPort, len(pkt))
	}

	// The host's answer: the same packet the other way round.
	out := make([]byte, 100)
	reply := wire.Packet{Src: local, Dst: remote, TCP: wire.TCPFields{SrcPort: 8080, DstPort: 48000, Seq: 5, Flags: wire.SYN | wire.ACK, Ack: remoteISN + 1, Window: 100}}
	n, err := wire.EncodePacket(out, &reply, 64, 0)
	if err != nil {
		t.Fatal(err)
	}
	if o, ok, err := pr.parseOut(out[:n]); err != nil || !ok || o.p.TCP.Seq != 5 {
		t.Fatalf("parseOut(TCP over IPv6) = %v, %v, %v", o, ok, err)
	}

	ipv6 := func(next byte, payload int) []byte {
		b := make([]byte, 40+payload)
		b[0] = 6 << 4
		binary.BigEndian.PutUint16(b[4:], uint16(payload))
		b[6], b[7] = next, 255
		copy(b[8:], local.AsSlice())
		copy(b[24:], remote.AsSlice())
		return b
	}
	v4 := wire.Packet{Src: netip.MustParseAddr("192.168.0.1"), Dst: netip.MustParseAddr("192.0.2.1"), TCP: reply.TCP}
	n4, err := wire.EncodePacket(out, &v4, 64, 0)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"ICMPv6 router solicitation": ipv6(58, 8),
		"MLD report (hop-by-hop)":    ipv6(0, 28),
		"IPv4 TCP":                   out[:n4],
		"empty":                      nil,
	} {
		if o, ok, err := pr.parseOut(b); err != nil || ok {
			t.Errorf("parseOut(%s) = %v, %v, %v, want it ignored", name, o, ok, err)
		}
	}
	// A TCP packet the host sends that does not parse is a failure, in
	// IPv6 as in IPv4.
	bad := ipv6(6, 20)
	if _, _, err := pr.parseOut(bad); err == nil {
		t.Errorf("parseOut(a TCP segment with a bad checksum) = nil error")
	}
}

func TestSSPortFilter(t *testing.T) {
	tests := []struct {
		args        string
		local, peer uint16
		match       bool
		err         bool
	}{
		{"dport = :48000", 8080, 48000, true, false},
		{"dport = :48000", 48000, 8080, false, false},
		{"sport == :8080", 8080, 48000, true, false},
		{"sport eq :8080", 8081, 48000, false, false},
		{"dport = :48000 sport = :8080", 8080, 48000, true, false},
		{"dport = :48000 sport = :8081", 8080, 48000, false, false},
		{"dport :48000", 0, 0, false, true},
		{"dport = 48000", 0, 0, false, true},
		{"dport = :70000", 0, 0, false, true},
		{"dport =", 0, 0, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.args, func(t *testing.T) {
			var fs []ssPortFilter
			var err error
			f := strings.Fields(tc.args)
			for i := 0; i < len(f) && err == nil; {
				var pf ssPortFilter
				var n int
				pf, n, err = parseSSPort(f[i:])
				fs = append(fs, pf)
				i += n
			}
			if (err != nil) != tc.err {
				t.Fatalf("parse: %v, want error %v", err, tc.err)
			}
			if err == nil && matchSSPorts(fs, tc.local, tc.peer) != tc.match {
				t.Errorf("match(%d, %d) = %v, want %v", tc.local, tc.peer, !tc.match, tc.match)
			}
		})
	}
}

// TestSSListenerIPv6 checks the emulated ss's listener row in IPv6.
func TestSSListenerIPv6(t *testing.T) {
	for addr, want := range map[string]string{"fd3d:fa7b:d17d::1": "[::]:*", "192.168.0.1": "0.0.0.0:*", "::ffff:192.168.0.1": "*:*"} {
		if got := ssListenerPeer(netip.MustParseAddr(addr)); got != want {
			t.Errorf("ssListenerPeer(%s) = %q, want %q", addr, got, want)
		}
	}
}

func TestMTUOption(t *testing.T) {
	for _, tc := range []struct {
		header string
		want   int
	}{
		{"--mtu=1500\n--ip_version=ipv6\n", 1500},
		{"--mtu=9000\n", 9000},
		{"--ip_version=ipv6\n", 1520},
	} {
		s, err := Parse("x.pkt", tc.header+oneCall)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := s.InFamily(s.Families(IPAny)[0])
		if got := c.Options.linkMTU(); got != tc.want {
			t.Errorf("%q: MTU %d, want %d", tc.header, got, tc.want)
		}
	}
}
