package stack

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/tcpwave/tcpwave/wire"
)

// TestStrayRST: a segment for no connection is answered exactly as RFC
// 9293 §3.10.7.1 says: a RST is dropped; with ACK, <SEQ=SEG.ACK><CTL=RST>;
// otherwise <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>. A LISTEN port
// answers an ACK the same way (§3.10.7.2) and ignores a RST or a segment
// with neither SYN nor ACK.
func TestStrayRST(t *testing.T) {
	const closed, listening = 81, 80
	peer := ap(addrA, 40000)
	tests := []struct {
		name    string
		dport   uint16
		flags   wire.Flags
		seq     uint32
		ack     uint32
		payload string
		reply   bool
		rflags  wire.Flags
		rseq    uint32
		rack    uint32
	}{
		{"SYN", closed, wire.SYN, 1000, 0, "", true, wire.RST | wire.ACK, 0, 1001},
		{"SYN with data", closed, wire.SYN, 1000, 0, "hello", true, wire.RST | wire.ACK, 0, 1006},
		{"SYN at the top of sequence space", closed, wire.SYN, 0xffffffff, 0, "", true, wire.RST | wire.ACK, 0, 0},
		{"FIN without ACK", closed, wire.FIN, 7, 0, "", true, wire.RST | wire.ACK, 0, 8},
		{"data without ACK", closed, 0, 7, 0, "abc", true, wire.RST | wire.ACK, 0, 10},
		{"data and FIN without ACK", closed, wire.FIN | wire.PSH, 7, 0, "abc", true, wire.RST | wire.ACK, 0, 11},
		{"no flags, no data", closed, 0, 7, 0, "", true, wire.RST | wire.ACK, 0, 7},
		{"bare ACK", closed, wire.ACK, 1000, 5000, "", true, wire.RST, 5000, 0},
		{"ACK with data", closed, wire.ACK | wire.PSH, 1000, 5000, "data", true, wire.RST, 5000, 0},
		{"FIN ACK", closed, wire.FIN | wire.ACK, 1000, 0xfffffff0, "", true, wire.RST, 0xfffffff0, 0},
		{"SYN ACK", closed, wire.SYN | wire.ACK, 1000, 77, "", true, wire.RST, 77, 0},
		{"RST", closed, wire.RST, 1000, 0, "", false, 0, 0, 0},
		{"RST ACK", closed, wire.RST | wire.ACK, 1000, 5, "", false, 0, 0, 0},
		{"ACK to a listener", listening, wire.ACK, 1000, 4242, "", true, wire.RST, 4242, 0},
		{"data ACK to a listener", listening, wire.ACK | wire.PSH, 1000, 4242, "xyz", true, wire.RST, 4242, 0},
		{"SYN ACK to a listener", listening, wire.SYN | wire.ACK, 1000, 9, "", true, wire.RST, 9, 0},
		{"RST to a listener", listening, wire.RST, 1000, 0, "", false, 0, 0, 0},
		{"FIN to a listener", listening, wire.FIN, 1000, 0, "", false, 0, 0, 0},
		{"no flags to a listener", listening, 0, 1000, 0, "abc", false, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, obs := newStack(t)
			l := st.NewSocket()
			wantErr(t, "bind", l.Bind(ap(addrB, listening)), nil)
			wantErr(t, "listen", l.Listen(0, 8), nil)
			bound := st.NewSocket() // bound but not listening: still "no connection"
			wantErr(t, "bind", bound.Bind(ap(addrB, closed)), nil)
			st.HandlePacket(0, build(t, segment(peer, ap(addrB, tt.dport), tt.flags, tt.seq, tt.ack, tt.payload)))
			out := drain(t, st, 0)
			if !tt.reply {
				if len(out) != 0 {
					t.Fatalf("replied %v %d ack %d, want nothing", out[0].TCP.Flags, out[0].TCP.Seq, out[0].TCP.Ack)
				}
				if c := st.Counters(); c.OutRsts != 0 || c.OutSegs != 0 {
					t.Errorf("counters %+v, want no output", c)
				}
				return
			}
			if len(out) != 1 {
				t.Fatalf("%d replies, want 1", len(out))
			}
			r := out[0]
			if r.Src != addrB || r.Dst != addrA || r.TCP.SrcPort != tt.dport || r.TCP.DstPort != peer.Port() {
				t.Errorf("reply %v:%d > %v:%d, want the segment's addresses swapped", r.Src, r.TCP.SrcPort, r.Dst, r.TCP.DstPort)
			}
			if r.TCP.Flags != tt.rflags || r.TCP.Seq != tt.rseq || r.TCP.Ack != tt.rack {
				t.Errorf("reply %v seq %d ack %d, want %v seq %d ack %d", r.TCP.Flags, r.TCP.Seq, r.TCP.Ack, tt.rflags, tt.rseq, tt.rack)
			}
			if r.TCP.Window != 0 || len(r.Payload) != 0 || r.TCP.Options != (wire.Options{}) {
				t.Errorf("reply win %d, %d bytes, options %+v; want win 0, empty, no options (Linux tcp_v4_send_reset)", r.TCP.Window, len(r.Payload), r.TCP.Options)
			}
			if c := st.Counters(); c.OutRsts != 1 || c.OutSegs != 1 || c.InSegs != 1 {
				t.Errorf("counters OutRsts %d OutSegs %d InSegs %d, want 1 1 1", c.OutRsts, c.OutSegs, c.InSegs)
			}
			if len(obs.of("sent")) != 1 || len(obs.of("recv")) != 1 {
				t.Errorf("observer saw %d sent, %d received; want 1, 1", len(obs.of("sent")), len(obs.of("recv")))
			}
			if len(st.Connections(0)) != 1 {
				t.Errorf("a stray created state: %+v", st.Connections(0))
			}
		})
	}
}

// TestMalformed: bad checksums, truncated packets and garbage are
// counted where Linux counts them (a bad IP header in IpInHdrErrors,
// another protocol in IpInUnknownProtos, a bad TCP checksum in TcpInSegs,
// TcpInErrs and TcpInCsumErrors), reported to the observer, never
// answered, and never panic.
func TestMalformed(t *testing.T) {
	st, obs := newStack(t)
	l := st.NewSocket()
	wantErr(t, "bind", l.Bind(ap(addrB, 80)), nil)
	wantErr(t, "listen", l.Listen(0, 8), nil)
	good := build(t, segment(ap(addrA, 40000), ap(addrB, 80), wire.SYN, 1, 0, "payload"))

	type bad struct {
		b    []byte
		want Counters // what the packet adds
	}
	var tests []bad
	for n := range len(good) { // every truncation: the IP header or its total length
		tests = append(tests, bad{good[:n], Counters{InHdrErrors: 1}})
	}
	flip := func(i int, bit byte) []byte {
		b := append([]byte(nil), good...)
		b[i] ^= bit
		return b
	}
	fixed := func(b []byte) []byte { fixIPv4Checksum(b); return b }
	csum := Counters{InSegs: 1, InErrs: 1, InCsumErrors: 1}
	tests = append(tests,
		bad{flip(len(good)-1, 0x01), csum},                      // payload: TCP checksum
		bad{flip(24, 0x80), csum},                               // TCP sequence number: TCP checksum
		bad{flip(36, 0x01), csum},                               // TCP checksum field itself
		bad{flip(32, 0x70), Counters{InSegs: 1, InErrs: 1}},     // TCP data offset 5 -> 2
		bad{flip(32, 0x80), Counters{InSegs: 1}},                // TCP data offset 5 -> 13: past the segment
		bad{flip(10, 0x01), Counters{InHdrErrors: 1}},           // IPv4 header checksum
		bad{flip(0, 0x20), Counters{InAddrErrors: 1}},           // IP version 4 -> 6: garbage addresses
		bad{fixed(flip(9, 0x02)), Counters{InUnknownProtos: 1}}, // protocol 6 -> 4: not TCP
		bad{flip(0, 0x80), Counters{InHdrErrors: 1}},            // IP version 4 -> 12
		bad{good[:0], Counters{InHdrErrors: 1}},                 // nothing
		bad{fixed(flip(6, 0x20)), Counters{InDiscards: 1}},      // a fragment (MF)
		bad{fixed(flip(19, 0x01)), Counters{InAddrErrors: 1}},   // destination 10.0.0.3
	)
	for i, tt := range tests {
		before := st.Counters()
		st.HandlePacket(0, tt.b)
		if out := drain(t, st, 0); len(out) != 0 {
			t.Errorf("packet %d (%d bytes): answered %d packets", i, len(tt.b), len(out))
		}
		got := st.Counters()
		got.InHdrErrors -= before.InHdrErrors
		got.InAddrErrors -= before.InAddrErrors
		got.InUnknownProtos -= before.InUnknownProtos
		got.InDiscards -= before.InDiscards
		got.InSegs -= before.InSegs
		got.InErrs -= before.InErrs
		got.InCsumErrors -= before.InCsumErrors
		if got != tt.want {
			t.Errorf("packet %d (%d bytes): counters moved by %+v\nwant %+v", i, len(tt.b), countsOf(got), countsOf(tt.want))
		}
	}
	drops := obs.of("drop")
	if len(drops) != len(tests) {
		t.Errorf("observer saw %d drops, want %d", len(drops), len(tests))
	}
	for _, d := range drops {
		if d.err == nil {
			t.Errorf("drop without an error")
		}
	}
	if len(st.Connections(0)) != 1 {
		t.Errorf("malformed packets created state: %+v", st.Connections(0))
	}
	// The good packet still works afterwards.
	st.HandlePacket(0, good)
	if out := drain(t, st, 0); len(out) != 1 || out[0].TCP.Flags != wire.SYN|wire.ACK {
		t.Errorf("good SYN after the bad ones: %v", out)
	}
}

// fixIPv4Checksum recomputes the header checksum of the IPv4 packet b.
func fixIPv4Checksum(b []byte) {
	hl := int(b[0]&0x0f) * 4
	b[10], b[11] = 0, 0
	binary.BigEndian.PutUint16(b[10:12], wire.Checksum(b[:hl]))
}

// TestMalformedFuzz throws random bytes and random bit flips of good
// packets at a stack: every packet is either counted as an error or
// handled, and nothing panics.
func TestMalformedFuzz(t *testing.T) {
	st, _ := newStack(t)
	l := st.NewSocket()
	wantErr(t, "listen", l.Listen(0, 8), nil)
	r := rand.New(rand.NewPCG(1, 2))
	good := [][]byte{
		build(t, segment(ap(addrA, 40000), ap(addrB, 80), wire.SYN, 1, 0, "")),
		build(t, segment(ap(addrA, 40001), ap(addrB, 81), wire.ACK|wire.FIN, 1, 2, "xyz")),
	}
	const n = 20000
	for i := range n {
		var b []byte
		if i%2 == 0 {
			b = make([]byte, r.IntN(120))
			for j := range b {
				b[j] = byte(r.Uint32())
			}
			if len(b) > 0 && r.IntN(2) == 0 {
				b[0] = 0x45 // make it look like IPv4
			}
		} else {
			b = append([]byte(nil), good[r.IntN(len(good))]...)
			for range 1 + r.IntN(3) {
				b[r.IntN(len(b))] ^= 1 << r.IntN(8)
			}
		}
		st.HandlePacket(clockAt(i), b)
		drain(t, st, clockAt(i))
	}
	// Every packet is counted once, by IP or as a TCP segment, but for
	// the rare ones dropped uncounted, as Linux does: source-routed, or
	// too short for their TCP header.
	c := st.Counters()
	if k := c.InHdrErrors + c.InAddrErrors + c.InUnknownProtos + c.InDiscards + c.InSegs; k > n || k < n*9/10 || c.InErrs > c.InSegs {
		t.Errorf("%d of %d packets counted: %+v", k, n, countsOf(c))
	}
}

// TestForeignAddress: a packet for an address that is not the host's is
// dropped: no reply, no InSegs, no InErrs, an observer drop.
func TestForeignAddress(t *testing.T) {
	st, obs := newStack(t)
	l := st.NewSocket()
	wantErr(t, "listen", l.Listen(0, 8), nil)
	for _, dst := range []netip.Addr{addrX, addrA, netip.MustParseAddr("2001:db8::9")} {
		src := addrA
		if dst.Is6() {
			src = netip.MustParseAddr("2001:db8::1")
		}
		st.HandlePacket(0, build(t, segment(ap(src, 40000), ap(dst, l.Local().Port()), wire.SYN, 1, 0, "")))
	}
	if out := drain(t, st, 0); len(out) != 0 {
		t.Errorf("answered %d packets for other hosts", len(out))
	}
	if c := st.Counters(); c.InSegs != 0 || c.InErrs != 0 {
		t.Errorf("InSegs %d InErrs %d, want 0 0", c.InSegs, c.InErrs)
	}
	drops := obs.of("drop")
	if len(drops) != 3 {
		t.Fatalf("observer saw %d drops, want 3", len(drops))
	}
	if !errors.Is(drops[0].err, errNotOurs) {
		t.Errorf("drop reason %v", drops[0].err)
	}
	if len(obs.of("recv")) != 0 {
		t.Errorf("observer saw a received packet")
	}
}
