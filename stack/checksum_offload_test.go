package stack

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/tcpwave/tcpwave/wire"
)

// TestHandleCheckedPacket: a SYN whose TCP checksum the link vouched for
// (HandleCheckedPacket) is taken whatever its checksum field holds: a bad
// one, or the pseudo-header's sum a local sender leaves for the link to
// complete (virtio-net NEEDS_CSUM). The same SYNs without the vouch
// (HandlePacket) are dropped as checksum errors, and the vouch covers the
// TCP checksum alone: a bad IPv4 header checksum is still dropped.
func TestHandleCheckedPacket(t *testing.T) {
	good := build(t, segment(ap(addrA, 40000), ap(addrB, 80), wire.SYN, 1, 0, "payload"))
	const tcpAt = wire.IPv4HeaderLen
	bad := bytes.Clone(good)
	bad[tcpAt+16] ^= 0x5a
	partial := bytes.Clone(good)
	binary.BigEndian.PutUint16(partial[tcpAt+16:], wire.PseudoHeaderSum(addrA, addrB, len(good)-tcpAt))
	badIP := bytes.Clone(good)
	badIP[10] ^= 1
	tests := []struct {
		name    string
		pkt     []byte
		checked bool
		synAck  bool     // answered with a SYN-ACK
		want    Counters // the input counters afterwards
	}{
		{"good, unchecked", good, false, true, Counters{InSegs: 1}},
		{"bad checksum, unchecked", bad, false, false, Counters{InSegs: 1, InErrs: 1, InCsumErrors: 1}},
		{"partial checksum, unchecked", partial, false, false, Counters{InSegs: 1, InErrs: 1, InCsumErrors: 1}},
		{"good, checked", good, true, true, Counters{InSegs: 1}},
		{"bad checksum, checked", bad, true, true, Counters{InSegs: 1}},
		{"partial checksum, checked", partial, true, true, Counters{InSegs: 1}},
		{"bad IPv4 header checksum, checked", badIP, true, false, Counters{InHdrErrors: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, _ := newStack(t)
			l := st.NewSocket()
			wantErr(t, "bind", l.Bind(ap(addrB, 80)), nil)
			wantErr(t, "listen", l.Listen(0, 8), nil)
			if tt.checked {
				st.HandleCheckedPacket(0, bytes.Clone(tt.pkt))
			} else {
				st.HandlePacket(0, bytes.Clone(tt.pkt))
			}
			out := drain(t, st, 0)
			gotSynAck := len(out) == 1 && out[0].TCP.Flags == wire.SYN|wire.ACK
			if gotSynAck != tt.synAck || len(out) > 1 {
				t.Errorf("answered %v, want a SYN-ACK: %v", out, tt.synAck)
			}
			c := st.Counters()
			got := Counters{InSegs: c.InSegs, InErrs: c.InErrs, InCsumErrors: c.InCsumErrors, InHdrErrors: c.InHdrErrors}
			if got != tt.want {
				t.Errorf("counters %+v, want %+v", countsOf(got), countsOf(tt.want))
			}
		})
	}
}

// TestPartialChecksum: with Options.PartialChecksum every packet a stack
// sends, a SYN-ACK, a super-packet of data (PollPacketGSO) and a RST, over
// IPv4 and IPv6, has the pseudo-header's sum in its TCP checksum field,
// and completed as a link completes it (wire.Checksum from the TCP header
// on) it is byte for byte what the same stack without the option sends.
func TestPartialChecksum(t *testing.T) {
	for _, tc := range []struct {
		name   string
		client netip.Addr
		server netip.Addr
	}{
		{"ipv4", addrA, addrB},
		{"ipv6", netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			full := sendAll(t, tc.client, tc.server, false)
			part := sendAll(t, tc.client, tc.server, true)
			if len(full) != len(part) || len(full) < 3 {
				t.Fatalf("%d packets with partial checksums, %d without; want the same, at least 3", len(part), len(full))
			}
			supers := 0
			for i, p := range part {
				ipLen, _, err := wire.TCPHeaders(p.b)
				if err != nil {
					t.Fatalf("packet %d: %v", i, err)
				}
				seg := p.b[ipLen:]
				if f, want := binary.BigEndian.Uint16(seg[16:]), wire.PseudoHeaderSum(tc.server, tc.client, len(seg)); f != want {
					t.Errorf("packet %d: checksum field %#04x, want the pseudo-header sum %#04x", i, f, want)
				}
				binary.BigEndian.PutUint16(seg[16:], wire.Checksum(seg))
				if !bytes.Equal(p.b, full[i].b) || p.segSize != full[i].segSize {
					t.Errorf("packet %d, completed: % x (segment size %d)\nwant % x (segment size %d)", i, p.b, p.segSize, full[i].b, full[i].segSize)
				}
				if p.segSize > 0 {
					supers++
				}
			}
			if supers == 0 {
				t.Error("no super-packet was sent: GSO not tested")
			}
		})
	}
}

// sent is a packet a stack sent, with its segment size (PollPacketGSO).
type sent struct {
	b       []byte
	segSize int
}

// sendAll has a stack at server, with or without partial checksums and
// with GSO, accept a connection from client, send 20 KB on it and answer
// a stray segment with a RST; it returns every packet the stack sent.
func sendAll(t *testing.T, client, server netip.Addr, partial bool) []sent {
	t.Helper()
	o := DefaultOptions(server)
	o.GSOMaxSize = 65535
	o.PartialChecksum = partial
	st, err := New(o, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []sent
	buf := make([]byte, o.GSOMaxSize)
	poll := func() {
		for range 1000 {
			n, size := st.PollPacketGSO(0, buf)
			if n == 0 {
				return
			}
			out = append(out, sent{bytes.Clone(buf[:n]), size})
		}
		t.Fatal("the stack never stopped sending")
	}
	l := st.NewSocket()
	wantErr(t, "bind", l.Bind(ap(server, 80)), nil)
	wantErr(t, "listen", l.Listen(0, 8), nil)
	st.HandlePacket(0, build(t, segment(ap(client, 40000), ap(server, 80), wire.SYN, 1, 0, "")))
	poll()
	if len(out) != 1 {
		t.Fatalf("sent %d packets for a SYN", len(out))
	}
	ipLen, _, err := wire.TCPHeaders(out[0].b)
	if err != nil {
		t.Fatal(err)
	}
	iss := binary.BigEndian.Uint32(out[0].b[ipLen+4:]) // the SYN-ACK's, whose checksum may be partial
	st.HandlePacket(0, build(t, segment(ap(client, 40000), ap(server, 80), wire.ACK, 2, iss+1, "")))
	so, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := so.Write(0, make([]byte, 20000)); err != nil {
		t.Fatal(err)
	}
	poll()
	st.HandlePacket(0, build(t, segment(ap(client, 40001), ap(server, 80), wire.ACK, 1, 1, "")))
	poll()
	return out
}
