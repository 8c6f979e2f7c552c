package wire

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"testing"
)

// roundTripPackets returns packets covering both families, every option
// combination that fits, and payloads of a few sizes.
func roundTripPackets() []Packet {
	var out []Packet
	payloads := [][]byte{nil, []byte("x"), []byte("hello, world"), bytes.Repeat([]byte{0xa5}, 1461)}
	fams := []struct{ src, dst netip.Addr }{{v4A, v4B}, {v6A, v6B}}
	for i, o := range allOptionCombos() {
		if o.encodedLen() > MaxOptionsLen {
			continue
		}
		for _, fam := range fams {
			out = append(out, Packet{
				Src: fam.src, Dst: fam.dst,
				TCP: TCPFields{
					SrcPort: uint16(1000 + i), DstPort: 443,
					Seq: 0xfffffff0 + uint32(i), Ack: uint32(i) * 7919,
					Flags: Flags(i*37) | ACK, Window: uint16(i * 1021), Urgent: uint16(i),
					Options: o,
				},
				Payload: payloads[i%len(payloads)],
			})
		}
	}
	return out
}

func TestPacketRoundTrip(t *testing.T) {
	for _, p := range roundTripPackets() {
		name := fmt.Sprintf("%v/%v/%d", p.Src, &p.TCP.Options, len(p.Payload))
		t.Run(name, func(t *testing.T) {
			b := encodePacket(t, &p)
			var q Packet
			if err := ParsePacket(b, &q); err != nil {
				t.Fatalf("ParsePacket: %v", err)
			}
			if q.Src != p.Src || q.Dst != p.Dst {
				t.Errorf("addresses %v > %v, want %v > %v", q.Src, q.Dst, p.Src, p.Dst)
			}
			if want := (TCPFields{SrcPort: p.TCP.SrcPort, DstPort: p.TCP.DstPort, Seq: p.TCP.Seq, Ack: p.TCP.Ack,
				Flags: p.TCP.Flags, Window: p.TCP.Window, Urgent: p.TCP.Urgent, Options: normalize(p.TCP.Options)}); q.TCP != want {
				t.Errorf("fields\n got %+v\nwant %+v", q.TCP, want)
			}
			if !bytes.Equal(q.Payload, p.Payload) {
				t.Errorf("payload %q, want %q", q.Payload, p.Payload)
			}
			if len(q.Payload) > 0 && &q.Payload[0] != &b[len(b)-len(q.Payload)] {
				t.Error("payload does not alias the buffer")
			}
			// Encoding the parsed packet gives the same bytes (unless a
			// window scale above 14 was clamped).
			if b2 := encodePacket(t, &q); p.TCP.Options.WScale <= MaxWScale && !bytes.Equal(b, b2) {
				t.Errorf("re-encoding differs:\n%x\n%x", b[:min(len(b), 100)], b2[:min(len(b2), 100)])
			}
		})
	}
}

func TestEncodePacketOptionsTooLong(t *testing.T) {
	n := 0
	for _, o := range allOptionCombos() {
		if o.encodedLen() <= MaxOptionsLen {
			continue
		}
		n++
		p := Packet{Src: v4A, Dst: v4B, TCP: TCPFields{Options: o}}
		if _, err := EncodePacket(make([]byte, 200), &p, 64, 0); !errors.Is(err, ErrOptionsTooLong) {
			t.Errorf("%+v: %v, want ErrOptionsTooLong", o, err)
		}
	}
	if n == 0 {
		t.Fatal("no option combination is too long")
	}
}

func TestEncodePacketErrors(t *testing.T) {
	big := make([]byte, 65516)
	tests := []struct {
		name string
		p    Packet
		buf  int
		want error
	}{
		{"zero addresses", Packet{}, 100, ErrBadAddress},
		{"zero dst", Packet{Src: v4A}, 100, ErrBadAddress},
		{"v4 to v6", Packet{Src: v4A, Dst: v6B}, 100, ErrBadAddress},
		{"mapped to v6", Packet{Src: netip.AddrFrom16(v4A.As16()), Dst: v6B}, 100, ErrBadAddress},
		{"short buffer v4", Packet{Src: v4A, Dst: v4B}, 39, ErrBufferTooSmall},
		{"short buffer v6", Packet{Src: v6A, Dst: v6B, Payload: []byte("x")}, 60, ErrBufferTooSmall},
		{"v4 too long", Packet{Src: v4A, Dst: v4B, Payload: big[:65516]}, 70000, ErrPacketTooLong},
		{"v6 too long", Packet{Src: v6A, Dst: v6B, Payload: big[:65516]}, 70000, ErrPacketTooLong},
		{"too many SACK blocks", Packet{Src: v6A, Dst: v6B, TCP: TCPFields{Options: Options{NumSACK: 5}}}, 200, ErrOptionsTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n, err := EncodePacket(make([]byte, tt.buf), &tt.p, 64, 1); n != 0 || !errors.Is(err, tt.want) {
				t.Errorf("EncodePacket = %d, %v; want 0, %v", n, err, tt.want)
			}
		})
	}
	// The largest packets fit.
	p := Packet{Src: v4A, Dst: v4B, Payload: big[:65515-20]}
	if n, err := EncodePacket(make([]byte, 65535), &p, 64, 1); err != nil || n != 65535 {
		t.Errorf("largest v4: %d, %v", n, err)
	}
	p = Packet{Src: v6A, Dst: v6B, Payload: big[:65515]}
	if n, err := EncodePacket(make([]byte, 65575), &p, 64, 1); err != nil || n != 65575 {
		t.Errorf("largest v6: %d, %v", n, err)
	}
}

func TestEncodePacketUnmapsAddresses(t *testing.T) {
	p := Packet{Src: netip.AddrFrom16(v4A.As16()), Dst: netip.AddrFrom16(v4B.As16()), TCP: linuxSYN()}
	if PacketLen(&p) != 60 {
		t.Errorf("PacketLen = %d, want 60", PacketLen(&p))
	}
	got := encodePacket(t, &p)
	if want := unhex(t, knownSYN4); !bytes.Equal(got, want) {
		t.Errorf("got  %x\nwant %x", got, want)
	}
	var q Packet
	if err := ParsePacket(got, &q); err != nil || q.Src != v4A || q.Dst != v4B {
		t.Errorf("parsed %v > %v, %v", q.Src, q.Dst, err)
	}
	// One mapped, one plain IPv4 is fine too.
	p.Dst = v4B
	if got2 := encodePacket(t, &p); !bytes.Equal(got2, got) {
		t.Errorf("half-mapped differs: %x", got2)
	}
}

func TestParsePacketRejectsMappedIPv6(t *testing.T) {
	mapped := netip.AddrFrom16(v4A.As16())
	for _, tt := range []struct {
		name     string
		src, dst netip.Addr
		offset   int
	}{
		{"mapped src", mapped, v6B, 8},
		{"mapped dst", v6A, mapped, 24},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := unhex(t, knownSYN6)
			s, d := tt.src.As16(), tt.dst.As16()
			copy(b[8:], s[:])
			copy(b[24:], d[:])
			fixTCPChecksum(tt.src, tt.dst, b[40:])
			var p Packet
			err := ParsePacket(b, &p)
			wantErr(t, err, ErrBadAddress, "ipv6")
			if pe := err.(*ParseError); pe.Offset != tt.offset {
				t.Errorf("offset %d, want %d", pe.Offset, tt.offset)
			}
		})
	}
}

func TestParsePacketErrors(t *testing.T) {
	v4 := unhex(t, knownSYN4)
	v6 := unhex(t, knownSYN6)
	tests := []struct {
		name   string
		pkt    []byte
		mutate func([]byte) []byte
		want   error
		layer  string
		offset int
	}{
		{"empty", v4, func(b []byte) []byte { return b[:0] }, ErrTruncated, "ip", 0},
		{"version 5", v4, func(b []byte) []byte { b[0] = 0x55; return b }, ErrBadVersion, "ip", 0},
		{"version 0", v4, func(b []byte) []byte { b[0] = 0; return b }, ErrBadVersion, "ip", 0},
		{"v4 UDP", v4, func(b []byte) []byte { b[9] = 17; fixIPv4Checksum(b); return b }, ErrNotTCP, "ipv4", 9},
		{"v6 UDP", v6, func(b []byte) []byte { b[6] = 17; return b }, ErrNotTCP, "ipv6", 6},
		{"v4 fragment", v4, func(b []byte) []byte { b[6] |= 0x20; fixIPv4Checksum(b); return b }, ErrFragment, "ipv4", 6},
		{"v4 tcp checksum", v4, func(b []byte) []byte { b[37]++; return b }, ErrBadChecksum, "tcp", 36},
		{"v6 tcp checksum", v6, func(b []byte) []byte { b[57]++; return b }, ErrBadChecksum, "tcp", 56},
		{"v4 data offset 4", v4, func(b []byte) []byte { b[32] = 0x40; return b }, ErrBadLength, "tcp", 32},
		{"v6 short segment", v6, func(b []byte) []byte { b[5] = 19; return b[:59] }, ErrTruncated, "tcp", 59},
		{"v4 ip checksum", v4, func(b []byte) []byte { b[10]++; return b }, ErrBadChecksum, "ipv4", 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Packet
			err := ParsePacket(tt.mutate(bytes.Clone(tt.pkt)), &p)
			wantErr(t, err, tt.want, tt.layer)
			if pe := err.(*ParseError); pe.Offset != tt.offset {
				t.Errorf("offset %d, want %d", pe.Offset, tt.offset)
			}
		})
	}
}

// checksumCovered reports whether bit bit of byte i of packet b is checked
// by the parser: everything but the IPv6 traffic class, flow label and hop
// limit.
func checksumCovered(b []byte, i, bit int) bool {
	if b[0]>>4 != 6 {
		return true
	}
	switch i {
	case 0:
		return bit >= 4 // version
	case 1, 2, 3, 7:
		return false
	}
	return true
}

func TestParsePacketCorruption(t *testing.T) {
	for _, p := range roundTripPackets()[:40] {
		good := encodePacket(t, &p)
		// Truncation at every length fails and never panics.
		for i := 0; i < len(good); i++ {
			var q Packet
			if err := ParsePacket(bytes.Clone(good[:i]), &q); err == nil {
				t.Fatalf("%x truncated to %d bytes parsed", good, i)
			}
		}
		// Every single-bit flip the parser can see is caught.
		b := bytes.Clone(good)
		ipLen := len(b) - p.TCP.HeaderLen() - len(p.Payload)
		for i := range b {
			for bit := 0; bit < 8; bit++ {
				b[i] ^= 1 << bit
				var q Packet
				err := ParsePacket(b, &q)
				switch {
				case !checksumCovered(good, i, bit):
					if err != nil {
						t.Fatalf("flip of byte %d bit %d rejected: %v", i, bit, err)
					}
				case err == nil:
					t.Fatalf("flip of byte %d bit %d accepted in %x", i, bit, b)
				case i >= ipLen+20+p.TCP.Options.encodedLen() && !errors.Is(err, ErrBadChecksum):
					t.Fatalf("payload flip at %d: %v", i, err)
				}
				b[i] ^= 1 << bit
			}
		}
	}
}

func TestParsePacketTrailingBytes(t *testing.T) {
	for _, pkt := range []string{knownSYN4, knownSYN6} {
		b := append(unhex(t, pkt), 0xde, 0xad, 0xbe, 0xef)
		var p Packet
		if err := ParsePacket(b, &p); err != nil || len(p.Payload) != 0 || p.TCP != linuxSYN() {
			t.Errorf("padded packet: %v, %+v", err, p)
		}
	}
}

func TestParsePacketIPv4Options(t *testing.T) {
	syn := unhex(t, knownSYN4)
	b := append([]byte{}, syn[:20]...)
	b[0] = 0x47
	b[3] += 8
	b = append(b, 0x01, 0x01, 0x94, 0x04, 0x00, 0x00, 0x01, 0x00) // NOP NOP router alert, NOP EOL
	b = append(b, syn[20:]...)
	fixIPv4Checksum(b)
	var p Packet
	if err := ParsePacket(b, &p); err != nil || p.TCP != linuxSYN() || p.Src != v4A {
		t.Fatalf("with IP options: %v %+v", err, p)
	}
	// Offsets in errors count from the start of the packet.
	b[28+12] = 0x30
	err := ParsePacket(b, &p)
	wantErr(t, err, ErrBadLength, "tcp")
	if pe := err.(*ParseError); pe.Offset != 40 {
		t.Errorf("offset %d, want 40", pe.Offset)
	}
}

func TestZeroAllocs(t *testing.T) {
	for _, src := range []netip.Addr{v4A, v6A} {
		dst := v4B
		if src.Is6() {
			dst = v6B
		}
		p := Packet{Src: src, Dst: dst, TCP: linuxSYN(), Payload: []byte("some data")}
		p.TCP.Options.NumSACK = 1
		p.TCP.Options.HasTimestamp = false
		buf := make([]byte, 200)
		n, err := EncodePacket(buf, &p, 64, 7)
		if err != nil {
			t.Fatal(err)
		}
		pkt := bytes.Clone(buf[:n])
		var q Packet
		var f TCPFields
		seg := pkt[n-len(p.Payload)-p.TCP.HeaderLen():]
		for _, tt := range []struct {
			name string
			fn   func()
		}{
			{"ParsePacket", func() {
				if err := ParsePacket(pkt, &q); err != nil {
					panic(err)
				}
			}},
			{"EncodePacket", func() {
				if _, err := EncodePacket(buf, &p, 64, 7); err != nil {
					panic(err)
				}
			}},
			{"EncodePacketPartial", func() {
				if _, err := EncodePacketPartial(buf, &p, 64, 7); err != nil {
					panic(err)
				}
			}},
			{"ParseTCP", func() {
				if _, err := ParseTCP(seg, &f); err != nil {
					panic(err)
				}
			}},
			{"EncodeTCP", func() {
				if _, err := EncodeTCP(buf, &p.TCP, p.Payload, src, dst); err != nil {
					panic(err)
				}
			}},
			{"TCPChecksum", func() { VerifyTCPChecksum(src, dst, seg) }},
			{"ParseIP", func() {
				var err error
				if src.Is4() {
					_, _, _, _, err = ParseIPv4(pkt)
				} else {
					_, _, _, _, err = ParseIPv6(pkt)
				}
				if err != nil {
					panic(err)
				}
			}},
		} {
			if a := testing.AllocsPerRun(200, tt.fn); a != 0 {
				t.Errorf("%v %s: %v allocations per run, want 0", src, tt.name, a)
			}
		}
	}
}

func BenchmarkParsePacket(b *testing.B) {
	p := Packet{Src: v4A, Dst: v4B, TCP: linuxSYN(), Payload: make([]byte, 1400)}
	pkt := encodePacket(b, &p)
	b.SetBytes(int64(len(pkt)))
	var q Packet
	for b.Loop() {
		if err := ParsePacket(pkt, &q); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodePacket(b *testing.B) {
	p := Packet{Src: v6A, Dst: v6B, TCP: linuxSYN(), Payload: make([]byte, 1400)}
	buf := make([]byte, PacketLen(&p))
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if _, err := EncodePacket(buf, &p, 64, 1); err != nil {
			b.Fatal(err)
		}
	}
}
