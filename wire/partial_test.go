package wire

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
)

// TestEncodePacketPartial: EncodePacketPartial writes what EncodePacket
// writes but for the TCP checksum field, which holds PseudoHeaderSum; a
// link completing it (Checksum from the TCP header on) gets EncodePacket's
// checksum, over IPv4, IPv6 and IPv4-mapped addresses, with and without
// options and payload.
func TestEncodePacketPartial(t *testing.T) {
	v4a, v4b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	v6a, v6b := netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2")
	payload := bytes.Repeat([]byte("tcpwave!"), 1000)
	tests := []struct {
		name     string
		src, dst netip.Addr
		opts     Options
		payload  []byte
	}{
		{"ipv4 ack", v4a, v4b, Options{}, nil},
		{"ipv4 data", v4a, v4b, Options{}, payload},
		{"ipv4 odd data with options", v4a, v4b, Options{HasTimestamp: true, TSVal: 7, TSEcr: 9}, payload[:1001]},
		{"mapped", netip.AddrFrom16(v4a.As16()), netip.AddrFrom16(v4b.As16()), Options{}, payload[:3]},
		{"ipv6 data", v6a, v6b, Options{MSS: 1440, SACKPermitted: true}, payload},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Packet{Src: tt.src, Dst: tt.dst, TCP: TCPFields{
				SrcPort: 1, DstPort: 2, Seq: 0xfffffff0, Ack: 3, Flags: ACK | PSH, Window: 100, Options: tt.opts,
			}, Payload: tt.payload}
			full, part := make([]byte, 9000), make([]byte, 9000)
			n, err := EncodePacket(full, &p, 64, 5)
			if err != nil {
				t.Fatal(err)
			}
			m, err := EncodePacketPartial(part, &p, 64, 5)
			if err != nil || m != n {
				t.Fatalf("EncodePacketPartial: %d, %v; want %d bytes", m, err, n)
			}
			ipLen, _, err := TCPHeaders(part[:m])
			if err != nil {
				t.Fatal(err)
			}
			seg := part[ipLen:m]
			if got, want := binary.BigEndian.Uint16(seg[16:]), PseudoHeaderSum(tt.src, tt.dst, len(seg)); got != want {
				t.Errorf("checksum field %#04x, want the pseudo-header sum %#04x", got, want)
			}
			binary.BigEndian.PutUint16(seg[16:], Checksum(seg))
			if !bytes.Equal(part[:m], full[:n]) {
				t.Errorf("completed:\n% x\nwant\n% x", part[:m], full[:n])
			}
		})
	}
}

// BenchmarkEncodeSuperPacket measures EncodePacket against
// EncodePacketPartial for a 64 KiB super-packet: the cost of the checksum
// pass over the payload that a link with checksum offload saves.
func BenchmarkEncodeSuperPacket(b *testing.B) {
	p := Packet{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"),
		TCP: TCPFields{SrcPort: 1, DstPort: 2, Flags: ACK, Options: Options{HasTimestamp: true}}, Payload: make([]byte, 65000)}
	for i := range p.Payload {
		p.Payload[i] = byte(i * 7)
	}
	buf := make([]byte, PacketLen(&p))
	for _, tc := range []struct {
		name   string
		encode func([]byte, *Packet, uint8, uint16) (int, error)
	}{{"complete", EncodePacket}, {"partial", EncodePacketPartial}} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				if _, err := tc.encode(buf, &p, 64, 1); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
