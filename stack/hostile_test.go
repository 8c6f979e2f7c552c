package stack

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"sort"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/wire"
)

// The hostile suite replays every probe of issue 13 as packets into a lone
// Stack (sans-IO, virtual time) and expects what Linux does with them. The
// rows of TestHostileInput were checked against Linux 6.18 by sending the
// same packets into a TUN device of a network namespace holding a
// listener; the MSS rows are conformance/min-snd-mss*.pkt's cases at the
// stack's level.

var (
	addr6A = netip.MustParseAddr("fd00::1")
	addr6B = netip.MustParseAddr("fd00::2")
)

// rawPkt is a packet built byte by byte, for what wire.EncodePacket will
// not build: malformed TCP options, IPv4 options, other protocols, any
// source.
type rawPkt struct {
	src, dst     netip.Addr
	sport, dport uint16
	flags        wire.Flags
	seq, ack     uint32
	tcpOpts      []byte // padded with EOL to a multiple of 4
	ipOpts       []byte // IPv4 options, padded with EOL to a multiple of 4
	proto        uint8  // 0 is TCP
	badSum       bool   // spoil the TCP checksum
}

// padEOL pads option bytes with EOL to a multiple of 4.
func padEOL(b []byte) []byte {
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// bytes encodes r.
func (r rawPkt) bytes() []byte {
	opts := padEOL(append([]byte(nil), r.tcpOpts...))
	seg := make([]byte, 20+len(opts))
	binary.BigEndian.PutUint16(seg[0:], r.sport)
	binary.BigEndian.PutUint16(seg[2:], r.dport)
	binary.BigEndian.PutUint32(seg[4:], r.seq)
	binary.BigEndian.PutUint32(seg[8:], r.ack)
	seg[12] = byte(len(seg)/4) << 4
	seg[13] = byte(r.flags)
	binary.BigEndian.PutUint16(seg[14:], 65535)
	copy(seg[20:], opts)
	binary.BigEndian.PutUint16(seg[16:], wire.TCPChecksum(r.src, r.dst, seg))
	if r.badSum {
		seg[17] ^= 1
	}
	proto := r.proto
	if proto == 0 {
		proto = 6
	}
	if r.src.Is6() && !r.src.Is4In6() || r.dst.Is6() && !r.dst.Is4In6() {
		b := make([]byte, 40, 40+len(seg))
		b[0] = 6 << 4
		binary.BigEndian.PutUint16(b[4:], uint16(len(seg)))
		b[6], b[7] = proto, 64
		s, d := r.src.As16(), r.dst.As16()
		copy(b[8:], s[:])
		copy(b[24:], d[:])
		return append(b, seg...)
	}
	ipo := padEOL(append([]byte(nil), r.ipOpts...))
	hl := 20 + len(ipo)
	b := make([]byte, hl, hl+len(seg))
	b[0] = 0x40 | byte(hl/4)
	binary.BigEndian.PutUint16(b[2:], uint16(hl+len(seg)))
	binary.BigEndian.PutUint16(b[6:], 0x4000)
	b[8], b[9] = 64, proto
	s, d := r.src.As4(), r.dst.As4()
	copy(b[12:], s[:])
	copy(b[16:], d[:])
	copy(b[20:], ipo)
	binary.BigEndian.PutUint16(b[10:], wire.Checksum(b[:hl]))
	return append(b, seg...)
}

// TCP options as a Linux client sends them in a SYN.
var (
	optMSS1460 = []byte{2, 4, 0x05, 0xb4}
	optSACKOK  = []byte{4, 2}
	optTS      = []byte{8, 10, 0, 0, 0, 7, 0, 0, 0, 0}
	optWS7     = []byte{1, 3, 3, 7}
)

// optBytes joins option bytes.
func optBytes(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// wantNstat checks every counter but TcpOutSegs against want, by nstat
// name (0 where want has none).
func wantNstat(t *testing.T, c Counters, want map[string]uint64) {
	t.Helper()
	seen := map[string]bool{}
	for _, r := range c.NstatRows() {
		seen[r.Name] = true
		if r.Name != "TcpOutSegs" && r.Value != want[r.Name] {
			t.Errorf("%s = %d, want %d", r.Name, r.Value, want[r.Name])
		}
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("no counter %s", name)
		}
	}
}

// TestHostileInput: Linux's input rules (issue 13 item 6). Each row sends
// one packet to a fresh host holding a wildcard listener on port 80 of
// 10.0.0.2 and fd00::2, and expects Linux's answer and counters.
func TestHostileInput(t *testing.T) {
	syn4 := func(src, dst netip.Addr) rawPkt {
		return rawPkt{src: src, dst: dst, sport: 40000, dport: port, flags: wire.SYN, seq: 1000, tcpOpts: optMSS1460}
	}
	with := func(r rawPkt, fn func(*rawPkt)) rawPkt { fn(&r); return r }
	good := syn4(addrA, addrB)
	good6 := syn4(addr6A, addr6B)
	answered := map[string]uint64{"TcpInSegs": 1}
	dropped := map[string]uint64{}
	tests := []struct {
		name  string
		linux string // what Linux does, and where
		pkt   rawPkt
		reply wire.Flags // 0: no reply
		want  map[string]uint64
		check func(t *testing.T, synAck *wire.Packet)
	}{
		{"a SYN", "answered", good, wire.SYN | wire.ACK, answered, nil},
		{"an IPv6 SYN", "answered", good6, wire.SYN | wire.ACK, answered, nil},

		// Martian and LAND sources: ip_route_input_slow drops them before
		// TCP sees them (IPv4: no SNMP counter; tcpwave counts
		// IpInAddrErrors).
		{"source 0.0.0.0", "martian source", syn4(netip.MustParseAddr("0.0.0.0"), addrB), 0, map[string]uint64{"IpInAddrErrors": 1}, nil},
		{"source 255.255.255.255", "martian source", syn4(netip.MustParseAddr("255.255.255.255"), addrB), 0, map[string]uint64{"IpInAddrErrors": 1}, nil},
		{"source 224.0.0.5", "martian source: multicast", syn4(netip.MustParseAddr("224.0.0.5"), addrB), 0, map[string]uint64{"IpInAddrErrors": 1}, nil},
		{"source 127.0.0.1", "martian source: loopback on the link", syn4(netip.MustParseAddr("127.0.0.1"), addrB), 0, map[string]uint64{"IpInAddrErrors": 1}, nil},
		{"LAND: source and destination ours", "fib_validate_source: a local source (accept_local=0)", syn4(addrB, addrB), 0, map[string]uint64{"IpInAddrErrors": 1}, nil},
		{"IPv6 source ::1", "ip6_rcv_core: loopback on the link, Ip6InHdrErrors", syn4(netip.IPv6Loopback(), addr6B), 0, map[string]uint64{"IpInHdrErrors": 1}, nil},
		{"IPv6 source ff02::1", "ip6_rcv_core: a multicast source, Ip6InHdrErrors", syn4(netip.MustParseAddr("ff02::1"), addr6B), 0, map[string]uint64{"IpInHdrErrors": 1}, nil},
		{"IPv6 source ::ffff:10.0.0.1", "tcp_v6_conn_request: an IPv4-mapped source, Ip6InHdrErrors", syn4(netip.MustParseAddr("::ffff:10.0.0.1"), addr6B), 0, map[string]uint64{"IpInHdrErrors": 1}, nil},
		{"IPv6 LAND", "answered on the kernel's loopback, never on the link", syn4(addr6B, addr6B), 0, map[string]uint64{"IpInAddrErrors": 1}, nil},
		{"IPv6 source ::", "no route for the SYN-ACK: TcpInSegs, ListenDrops", syn4(netip.IPv6Unspecified(), addr6B), 0, map[string]uint64{"TcpInSegs": 1, "TcpExtListenDrops": 1}, nil},

		// Destinations that are not a unicast address of ours.
		{"destination 255.255.255.255", "tcp_v4_conn_request never answers a broadcast SYN: ListenDrops", syn4(addrA, netip.MustParseAddr("255.255.255.255")), 0, map[string]uint64{"TcpInSegs": 1, "TcpExtListenDrops": 1}, nil},
		{"destination 224.0.0.1", "tcp_v4_conn_request never answers a multicast SYN: ListenDrops", syn4(addrA, netip.MustParseAddr("224.0.0.1")), 0, map[string]uint64{"TcpInSegs": 1, "TcpExtListenDrops": 1}, nil},
		{"an ACK to 255.255.255.255", "tcp_v4_send_reset sends no RST for a broadcast", with(syn4(addrA, netip.MustParseAddr("255.255.255.255")), func(r *rawPkt) { r.flags = wire.ACK; r.tcpOpts = nil }), 0, map[string]uint64{"TcpInSegs": 1}, nil},
		{"IPv6 destination ff02::1", "tcp_v6_conn_request: not a unicast destination, ListenDrops", syn4(addr6A, netip.MustParseAddr("ff02::1")), 0, map[string]uint64{"TcpInSegs": 1, "TcpExtListenDrops": 1}, nil},
		{"IPv6 destination ff01::1", "ip6_rcv_core: interface-local multicast from the link, Ip6InHdrErrors", syn4(addr6A, netip.MustParseAddr("ff01::1")), 0, map[string]uint64{"IpInHdrErrors": 1}, nil},
		{"destination 127.0.0.1", "martian destination", syn4(addrA, netip.MustParseAddr("127.0.0.1")), 0, map[string]uint64{"IpInAddrErrors": 1}, nil},
		{"destination of another host", "no route, forwarding off: IpInAddrErrors", syn4(addrA, netip.MustParseAddr("10.0.0.7")), 0, map[string]uint64{"IpInAddrErrors": 1}, nil},

		// Flags.
		{"SYN+FIN", "tcp_rcv_state_process (LISTEN) discards a SYN with FIN", with(good, func(r *rawPkt) { r.flags = wire.SYN | wire.FIN }), 0, answered, nil},
		{"IPv6 SYN+FIN", "discarded", with(good6, func(r *rawPkt) { r.flags = wire.SYN | wire.FIN }), 0, answered, nil},
		{"SYN+FIN+ACK", "an ACK to a listener: RST", with(good, func(r *rawPkt) { r.flags = wire.SYN | wire.FIN | wire.ACK; r.ack = 5 }), wire.RST, map[string]uint64{"TcpInSegs": 1, "TcpOutRsts": 1}, nil},
		{"SYN+RST", "discarded", with(good, func(r *rawPkt) { r.flags = wire.SYN | wire.RST }), 0, answered, nil},

		// Counters: only TCP segments touch TCP's.
		{"bad TCP checksum", "TcpInSegs, TcpInErrs, TcpInCsumErrors", with(good, func(r *rawPkt) { r.badSum = true }), 0, map[string]uint64{"TcpInSegs": 1, "TcpInErrs": 1, "TcpInCsumErrors": 1}, nil},
		{"UDP", "not TCP's: no TCP counter", with(good, func(r *rawPkt) { r.proto = 17 }), 0, map[string]uint64{"IpInUnknownProtos": 1}, nil},
		{"ICMP", "not TCP's", with(good, func(r *rawPkt) { r.proto = 1 }), 0, map[string]uint64{"IpInUnknownProtos": 1}, nil},
		{"IPv6 ICMPv6", "not TCP's", with(good6, func(r *rawPkt) { r.proto = 58 }), 0, map[string]uint64{"IpInUnknownProtos": 1}, nil},

		// IPv4 options (ip_rcv_options).
		{"IP options: NOPs", "answered", with(good, func(r *rawPkt) { r.ipOpts = []byte{1, 1, 1, 1} }), wire.SYN | wire.ACK, answered, nil},
		{"IP options: record route", "answered", with(good, func(r *rawPkt) { r.ipOpts = []byte{7, 7, 4, 0, 0, 0, 0} }), wire.SYN | wire.ACK, answered, nil},
		{"IP options: router alert", "answered", with(good, func(r *rawPkt) { r.ipOpts = []byte{0x94, 4, 0, 0} }), wire.SYN | wire.ACK, answered, nil},
		{"IP options: loose source route", "accept_source_route=0: dropped, uncounted", with(good, func(r *rawPkt) { r.ipOpts = []byte{0x83, 7, 4, 10, 0, 0, 9} }), 0, dropped, nil},
		{"IP options: strict source route", "accept_source_route=0: dropped, uncounted", with(good, func(r *rawPkt) { r.ipOpts = []byte{0x89, 7, 4, 10, 0, 0, 9} }), 0, dropped, nil},
		{"IP options: length 1", "ip_options_compile: IpInHdrErrors", with(good, func(r *rawPkt) { r.ipOpts = []byte{7, 1, 1, 1} }), 0, map[string]uint64{"IpInHdrErrors": 1}, nil},
		{"IP options: past the header", "ip_options_compile: IpInHdrErrors", with(good, func(r *rawPkt) { r.ipOpts = []byte{7, 9, 4, 0} }), 0, map[string]uint64{"IpInHdrErrors": 1}, nil},
		{"IP options: record route pointer 3", "ip_options_compile: IpInHdrErrors", with(good, func(r *rawPkt) { r.ipOpts = []byte{7, 7, 3, 0, 0, 0, 0} }), 0, map[string]uint64{"IpInHdrErrors": 1}, nil},
		{"IP options: timestamp overflow 15", "ip_options_compile: IpInHdrErrors", with(good, func(r *rawPkt) { r.ipOpts = []byte{0x44, 8, 9, 0xf0, 0, 0, 0, 0} }), 0, map[string]uint64{"IpInHdrErrors": 1}, nil},
		{"IP options: CIPSO", "no CIPSO domain: IpInHdrErrors", with(good, func(r *rawPkt) { r.ipOpts = []byte{0x86, 4, 0, 0} }), 0, map[string]uint64{"IpInHdrErrors": 1}, nil},

		// One malformed TCP option on a SYN: tcp_parse_options ignores it.
		{"MSS option of length 3 first", "answered, with SACK, timestamps and window scale",
			with(good, func(r *rawPkt) { r.tcpOpts = optBytes([]byte{2, 3, 5}, optSACKOK, optTS, optWS7) }), wire.SYN | wire.ACK, answered,
			func(t *testing.T, p *wire.Packet) {
				if o := p.TCP.Options; !o.SACKPermitted || !o.HasTimestamp || !o.HasWScale {
					t.Errorf("SYN-ACK options %+v, want SACK-OK, TS and WS", o)
				}
			}},
		{"timestamp option of length 9", "answered without timestamps",
			with(good, func(r *rawPkt) {
				r.tcpOpts = optBytes(optMSS1460, optSACKOK, []byte{8, 9, 0, 0, 0, 7, 0, 0, 0}, optWS7)
			}), wire.SYN | wire.ACK, answered,
			func(t *testing.T, p *wire.Packet) {
				if o := p.TCP.Options; !o.SACKPermitted || o.HasTimestamp || !o.HasWScale {
					t.Errorf("SYN-ACK options %+v, want SACK-OK and WS without TS", o)
				}
			}},
		{"window scale past the end", "answered: parsing stops, the options before it count",
			with(good, func(r *rawPkt) { r.tcpOpts = optBytes(optMSS1460, optSACKOK, optTS, []byte{1, 3, 8, 7}) }), wire.SYN | wire.ACK, answered,
			func(t *testing.T, p *wire.Packet) {
				if o := p.TCP.Options; !o.SACKPermitted || !o.HasTimestamp || o.HasWScale {
					t.Errorf("SYN-ACK options %+v, want SACK-OK and TS without WS", o)
				}
			}},
		{"option of length 1 with 18 bytes left", "tcp_inbound_hash (tcp_parse_auth_options) drops the segment",
			with(good, func(r *rawPkt) { r.tcpOpts = optBytes(optMSS1460, optSACKOK, []byte{0x22, 1}, optTS, optWS7) }), 0, answered, nil},
		{"TCP MD5 option of length 17", "tcp_inbound_hash drops the segment",
			with(good, func(r *rawPkt) { r.tcpOpts = optBytes([]byte{19, 17}, make([]byte, 15), optMSS1460) }), 0, answered, nil},
		{"TCP MD5 signature", "no key: dropped, TCPMD5Unexpected",
			with(good, func(r *rawPkt) { r.tcpOpts = optBytes(optMSS1460, []byte{19, 18}, make([]byte, 16)) }), 0,
			map[string]uint64{"TcpInSegs": 1, "TcpExtTCPMD5Unexpected": 1}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, obs := newStack(t, func(o *Options) { o.Addrs = []netip.Addr{addrB, addr6B} })
			for _, a := range []netip.Addr{netip.IPv4Unspecified(), netip.IPv6Unspecified()} {
				l := st.NewSocket()
				wantErr(t, "bind", l.Bind(ap(a, port)), nil)
				wantErr(t, "listen", l.Listen(0, 8), nil)
			}
			st.HandlePacket(0, tt.pkt.bytes())
			out := drain(t, st, 0)
			switch {
			case tt.reply == 0 && len(out) != 0:
				t.Errorf("Linux: %s; tcpwave answered %v", tt.linux, out[0].TCP.Flags)
			case tt.reply != 0 && (len(out) != 1 || out[0].TCP.Flags != tt.reply):
				t.Errorf("Linux: %s (%v); tcpwave sent %d packets %v", tt.linux, tt.reply, len(out), out)
			case tt.check != nil && len(out) == 1:
				tt.check(t, &out[0])
			}
			if d, r := len(obs.of("drop")), len(obs.of("recv")); d+r != 1 {
				t.Errorf("observer saw %d drops and %d received packets", d, r)
			}
			if tt.reply&wire.SYN == 0 && len(st.conns) != 0 {
				t.Errorf("Linux: %s; tcpwave made %d connections", tt.linux, len(st.conns))
			}
			wantNstat(t, st.Counters(), tt.want)
		})
	}
}

// TestHostileSynBacklog: the host's limits are Linux's defaults for
// tcp_max_tw_buckets 262144: tcp_max_syn_backlog 4096 and somaxconn 4096,
// so that 500 clients connecting at once (ab -c500) all get a SYN-ACK from
// the SYN queue and none a cookie.
func TestHostileSynBacklog(t *testing.T) {
	o := DefaultOptions(addrB)
	if o.MaxSynBacklog != 4096 || o.SomaxConn != 4096 || o.MaxTimeWait != 262144 {
		t.Errorf("MaxSynBacklog %d SomaxConn %d MaxTimeWait %d, want 4096 4096 262144", o.MaxSynBacklog, o.SomaxConn, o.MaxTimeWait)
	}
	st, _ := newStack(t)
	l := st.NewSocket()
	wantErr(t, "bind", l.Bind(ap(addrB, port)), nil)
	wantErr(t, "listen", l.Listen(0, 4096), nil)
	for i := range 500 {
		src := netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
		st.HandlePacket(0, rawPkt{src: src, dst: addrB, sport: 40000, dport: port, flags: wire.SYN, seq: 1, tcpOpts: optBytes(optMSS1460, optSACKOK, optTS, optWS7)}.bytes())
	}
	out := drain(t, st, 0)
	if c := st.Counters(); len(out) != 500 || c.SyncookiesSent != 0 || l.synRcvd != 500 {
		t.Errorf("500 SYNs: %d SYN-ACKs, %d of them cookies, %d in the SYN queue; want 500, 0, 500", len(out), c.SyncookiesSent, l.synRcvd)
	}
}

// TestHostileMaxSynBacklog: tcp_max_syn_backlog limits a listener only
// without SYN cookies, keeping its last quarter for peers proven alive;
// with cookies the backlog alone sizes the SYN queue. Linux 6.18 with
// tcp_max_syn_backlog 16 and listen(100) answered 50 SYNs with 50 SYN-ACKs
// and no cookie, and with tcp_syncookies=0 answered 13 of them and counted
// 37 in ListenDrops.
func TestHostileMaxSynBacklog(t *testing.T) {
	for _, tt := range []struct {
		cookies        int
		synAcks, drops int
	}{
		{1, 50, 0},
		{0, 13, 37},
	} {
		t.Run(fmt.Sprintf("tcp_syncookies=%d", tt.cookies), func(t *testing.T) {
			st, _ := newStack(t, func(o *Options) { o.MaxSynBacklog, o.SynCookies = 16, tt.cookies })
			l := st.NewSocket()
			wantErr(t, "bind", l.Bind(ap(addrB, port)), nil)
			wantErr(t, "listen", l.Listen(0, 100), nil)
			for i := range 50 {
				src := netip.AddrFrom4([4]byte{10, 1, 0, byte(10 + i)})
				st.HandlePacket(0, rawPkt{src: src, dst: addrB, sport: 41000, dport: port, flags: wire.SYN, seq: 1, tcpOpts: optMSS1460}.bytes())
			}
			out := drain(t, st, 0)
			if c := st.Counters(); len(out) != tt.synAcks || c.SyncookiesSent != 0 || c.ListenDrops != uint64(tt.drops) {
				t.Errorf("%d SYN-ACKs, %d cookies, ListenDrops %d; want %d, 0, %d", len(out), c.SyncookiesSent, c.ListenDrops, tt.synAcks, tt.drops)
			}
		})
	}
}

// mssPeer is a hostile client of a lone stack's listener: it announces a
// tiny MSS, and checks every data segment the stack sends it.
type mssPeer struct {
	t        *testing.T
	st       *Stack
	now      clock.Instant
	mss      uint16
	ts       bool
	irs      uint32 // the stack's ISN
	rcvNxt   uint32 // next byte expected from the stack
	tsVal    uint32
	minData  int // every data segment carries at least this many bytes
	maxData  int // and at most this many
	got      int // data bytes received in order
	segments []int
}

const mssPeerISN = 1000

// send hands the stack one segment from the peer and returns the stack's
// output for it, bounded.
func (m *mssPeer) send(flags wire.Flags, sq uint32, payload []byte, sack ...wire.SACKBlock) []wire.Packet {
	m.t.Helper()
	p := segment(ap(addrA, 40000), ap(addrB, port), flags, sq, m.rcvNxt, string(payload))
	if flags&wire.SYN != 0 {
		p.TCP.Options = wire.Options{MSS: m.mss, SACKPermitted: true, HasTimestamp: m.ts, TSVal: 1, HasWScale: true, WScale: 7}
	} else if m.ts {
		m.tsVal++
		p.TCP.Options = wire.Options{HasTimestamp: true, TSVal: m.tsVal}
	}
	p.TCP.Options.NumSACK = uint8(copy(p.TCP.Options.SACK[:], sack))
	m.st.HandlePacket(m.now, build(m.t, p))
	return m.take()
}

// take collects the stack's output, checks its data segments and advances
// rcvNxt over in-order data.
func (m *mssPeer) take() []wire.Packet {
	m.t.Helper()
	// One ACK may release twice the segments it acknowledged (slow start
	// counts every byte delivered, as Linux's tcp_slow_start counts
	// packets). The window counts bytes of the 36-byte MSS while SACK
	// blocks leave 8 bytes a segment, so it holds 4.5 times the segments
	// Linux's would: with the 1,920 bytes pump sends, one input releases
	// up to about 105. A send loop goes on past any bound.
	out := pollBounded(m.t, m.st, m.now, 128)
	for _, p := range out {
		if p.TCP.Flags&wire.SYN != 0 {
			m.irs, m.rcvNxt = p.TCP.Seq, p.TCP.Seq+1
			continue
		}
		n := len(p.Payload)
		if n == 0 {
			continue
		}
		m.segments = append(m.segments, n)
		if n < m.minData || n > m.maxData {
			m.t.Errorf("peer MSS %d (timestamps %v): a data segment of %d bytes, want %d to %d", m.mss, m.ts, n, m.minData, m.maxData)
		}
		if p.TCP.Seq == m.rcvNxt {
			m.rcvNxt += uint32(n)
			m.got += n
		}
	}
	return out
}

// connect runs the handshake and returns the accepted socket.
func (m *mssPeer) connect(l *Socket) *Socket {
	m.t.Helper()
	if out := m.send(wire.SYN, mssPeerISN, nil); len(out) != 1 {
		m.t.Fatalf("SYN: %d packets, want a SYN-ACK", len(out))
	}
	m.send(wire.ACK, mssPeerISN+1, nil)
	so, err := l.Accept()
	if err != nil {
		m.t.Fatalf("accept: %v", err)
	}
	return so
}

// pump writes data from the application and ACKs what arrives until all
// of it has, advancing the clock a little each round.
func (m *mssPeer) pump(so *Socket, peerSeq uint32, data []byte, sack ...wire.SACKBlock) {
	m.t.Helper()
	if k, err := so.Write(m.now, data); k != len(data) || err != nil {
		m.t.Fatalf("write: %d, %v", k, err)
	}
	m.take()
	for round := 0; m.got < len(data); round++ {
		if round == 1000 {
			m.t.Fatalf("%d of %d bytes after %d rounds", m.got, len(data), round)
		}
		m.now = m.now.Add(time.Millisecond)
		m.send(wire.ACK, peerSeq, nil, sack...)
		if m.st.Deadline() <= m.now {
			m.st.HandleTimeout(m.now)
			m.take()
		}
	}
}

// TestHostileMSS: issue 13's tiny-MSS probes. A peer announcing an MSS
// below tcp_min_snd_mss (48) gets segments of 48 bytes less options
// (Linux tcp_mss_to_mtu and tcp_current_mss); the stack's output for one
// input stays bounded, every data segment carries data, and the data all
// arrives.
func TestHostileMSS(t *testing.T) {
	tests := []struct {
		name     string
		mss      uint16
		ts       bool
		ooo      int // out-of-order pieces the peer sends first (SACK blocks on the stack's segments)
		min, max int // payload bounds of each data segment
	}{
		{"MSS 11 with timestamps", 11, true, 0, 8, 36},
		{"MSS 20 without timestamps, three SACK blocks", 20, false, 3, 1, 48},
		{"MSS 24 with timestamps, three SACK blocks", 24, true, 3, 1, 36},
		{"MSS 1 without timestamps: 48-byte segments", 1, false, 0, 48, 48},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, _ := newStack(t)
			l := st.NewSocket()
			wantErr(t, "bind", l.Bind(ap(addrB, port)), nil)
			wantErr(t, "listen", l.Listen(0, 8), nil)
			m := &mssPeer{t: t, st: st, mss: tt.mss, ts: tt.ts, minData: tt.min, maxData: tt.max}
			so := m.connect(l)
			// A few bytes of data, then out-of-order pieces: the stack's
			// segments carry one SACK block per piece.
			sq := uint32(mssPeerISN + 1)
			m.send(wire.ACK|wire.PSH, sq, []byte("hello"))
			sq += 5
			var sack []wire.SACKBlock
			for i := range tt.ooo {
				at := sq + uint32(10+20*i)
				out := m.send(wire.ACK, at, []byte("piece"))
				sack = append(sack, wire.SACKBlock{Left: at, Right: at + 5})
				if len(out) != 1 || int(out[0].TCP.Options.NumSACK) != min(i+1, 3) {
					t.Fatalf("out-of-order piece %d: answered %v", i, out)
				}
			}
			data := make([]byte, 48*40)
			m.pump(so, sq, data)
			if m.got != len(data) {
				t.Fatalf("%d of %d bytes arrived", m.got, len(data))
			}
			if tt.ooo > 0 {
				// With SACK blocks the room is tcp_current_mss's: 48 less
				// the options.
				room := 48 - 4 - 8*min(tt.ooo, 3)
				if tt.ts {
					room = 48 - 12 - 4 - 8*min(tt.ooo, 3)
				}
				sorted := append([]int(nil), m.segments...)
				sort.Ints(sorted)
				if sorted[len(sorted)-1] > room {
					t.Errorf("segments of up to %d bytes beside %d SACK blocks, want at most %d", sorted[len(sorted)-1], tt.ooo, room)
				}
			}
			t.Logf("%d data segments, sizes %s", len(m.segments), segSizes(m.segments))
		})
	}
}

// segSizes summarises segment sizes as "size×count" pairs.
func segSizes(seg []int) string {
	count := map[int]int{}
	for _, n := range seg {
		count[n]++
	}
	var keys []int
	for k := range count {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	s := ""
	for _, k := range keys {
		s += fmt.Sprintf(" %d×%d", k, count[k])
	}
	return s
}

// TestHostileBurstDeadline: after 1000 connections open and close at once
// (issue 13 item 2: the timing wheel's deadline stayed in the past after a
// burst, and an idle host's timer fired without end), every deadline the
// stack gives is in the future, and running the timers at their deadlines
// makes progress until the last TIME_WAIT record is gone.
func TestHostileBurstDeadline(t *testing.T) {
	f, a, b := pair(t)
	f.nolog = true
	a.st.obs, b.st.obs = nil, nil
	l := f.listen(b, port, 2048)
	const n = 1000
	clients := make([]*Socket, n)
	for i := range clients {
		clients[i] = f.dial(a, b, port, 0)
	}
	f.run(10 * time.Millisecond)
	servers := make([]*Socket, n)
	for i := range servers {
		so, err := l.Accept()
		if err != nil {
			t.Fatalf("accept %d: %v", i, err)
		}
		servers[i] = so
	}
	for i := range clients {
		clients[i].Close(f.now)
		servers[i].Close(f.now)
	}
	f.run(time.Second)
	l.Close(f.now)
	f.flush()
	if k := a.st.tw.len() + b.st.tw.len(); k < n { // both sides closed at once: mostly on both
		t.Fatalf("%d TIME_WAIT records after the burst, want %d or more", k, n)
	}
	for _, nd := range []*node{a, b} {
		now := f.now
		for fires := 0; ; fires++ {
			d := nd.st.Deadline()
			if d == clock.Never {
				break
			}
			if d <= now {
				t.Fatalf("%s: after %d timer runs the deadline %v is not after now %v", nd.name, fires, d, now)
			}
			if fires == 10_000 {
				t.Fatalf("%s: 10000 timer runs and the deadline is still %v (%v ahead)", nd.name, d, time.Duration(d-now))
			}
			now = d
			nd.st.HandleTimeout(now)
			pollBounded(t, nd.st, now, 2*n)
		}
		if !nd.st.Idle() {
			t.Errorf("%s: not idle when its timers are done: %d connections, %d TIME_WAIT records", nd.name, len(nd.st.conns), nd.st.tw.len())
		}
	}
}

// TestHostileLocalAddrs: a host's own addresses are unicast, and 127/8
// only with RouteLocalnet (route_localnet), for Linux drops loopback
// addresses on any link as martian: two hosts on 127.0.0.1 and 127.0.0.2
// talk only with it set, as two Linux hosts on a wire would.
func TestHostileLocalAddrs(t *testing.T) {
	lo1, lo2 := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")
	for _, tt := range []struct {
		addr          netip.Addr
		routeLocalnet bool
		ok            bool
	}{
		{addrB, false, true},
		{lo1, false, false},
		{lo1, true, true},
		{netip.IPv6Loopback(), true, false},
		{netip.MustParseAddr("224.0.0.1"), false, false},
		{netip.MustParseAddr("255.255.255.255"), false, false},
		{netip.MustParseAddr("ff02::1"), false, false},
		{netip.MustParseAddr("::ffff:10.0.0.2"), false, false},
	} {
		o := DefaultOptions(tt.addr)
		o.RouteLocalnet = tt.routeLocalnet
		if err := o.Validate(); (err == nil) != tt.ok {
			t.Errorf("%v (route_localnet %v): Validate = %v, want ok %v", tt.addr, tt.routeLocalnet, err, tt.ok)
		}
	}
	f := newFixture(t)
	localnet := func(o *Options) { o.RouteLocalnet = true }
	a := f.add("A", []netip.Addr{lo1}, localnet)
	b := f.add("B", []netip.Addr{lo2}, localnet)
	f.connect(a, b, f.listen(b, port, 8))
}
