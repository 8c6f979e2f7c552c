package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
)

// fuzzSeeds returns valid packets and damaged variants of them.
func fuzzSeeds(t testing.TB) [][]byte {
	t.Helper()
	var seeds [][]byte
	for i, p := range roundTripPackets() {
		// A few packets, small ones: minimising a large interesting input
		// stalls the fuzzer.
		if i%7 != 0 || len(p.Payload) > 100 {
			continue
		}
		b := encodePacket(t, &p)
		seeds = append(seeds, b)
		bad := bytes.Clone(b)
		bad[len(bad)-1] ^= 0x40
		seeds = append(seeds, bad, b[:len(b)/2])
	}
	seeds = append(seeds, unhex(t, knownSYN4), unhex(t, knownSYN6), nil, []byte{0x45}, []byte{0x60})
	frag := unhex(t, knownSYN4)
	frag[6] |= 0x20
	fixIPv4Checksum(frag)
	badOpt := unhex(t, knownSYN4)
	badOpt[57] = 1 // wscale length 1
	fixTCPChecksum(v4A, v4B, badOpt[20:])
	seeds = append(seeds, frag, badOpt)
	return seeds
}

// checkParseError fails unless err is a *ParseError with a sane offset.
func checkParseError(t *testing.T, err error, n int) {
	t.Helper()
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *ParseError", err, err)
	}
	if pe.Offset < 0 || pe.Offset > n || pe.Reason == nil || pe.Layer == "" {
		t.Fatalf("bad ParseError %+v for %d bytes", pe, n)
	}
}

// checkPacketRoundTrip re-encodes a parsed packet and parses it again.
func checkPacketRoundTrip(t *testing.T, p *Packet) {
	t.Helper()
	if p.Src.Is4In6() || p.Dst.Is4In6() || p.Src.Is4() != p.Dst.Is4() {
		t.Fatalf("parsed addresses %v > %v", p.Src, p.Dst)
	}
	buf := make([]byte, PacketLen(p))
	n, err := EncodePacket(buf, p, 64, 1)
	if errors.Is(err, ErrOptionsTooLong) && p.TCP.Options.encodedLen() > MaxOptionsLen {
		return // parsed options (e.g. TS and 4 SACK blocks) the Linux layout cannot hold
	}
	if err != nil || n != len(buf) {
		t.Fatalf("re-encoding %+v: %d, %v", p, n, err)
	}
	var q Packet
	if err := ParsePacket(buf, &q); err != nil {
		t.Fatalf("parsing re-encoded %x: %v", buf, err)
	}
	if q.Src != p.Src || q.Dst != p.Dst || q.TCP != p.TCP || !bytes.Equal(q.Payload, p.Payload) {
		t.Fatalf("round trip changed the packet:\n%+v\n%+v", *p, q)
	}
}

func FuzzParsePacket(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Packet
		if err := ParsePacket(b, &p); err != nil {
			checkParseError(t, err, len(b))
		} else {
			checkPacketRoundTrip(t, &p)
		}
		// Repair the checksums so that the fuzzer reaches the TCP parser and
		// the round trip through ParsePacket.
		c := bytes.Clone(b)
		var src, dst netip.Addr
		var seg []byte
		var err error
		switch {
		case len(c) >= 20 && c[0]>>4 == 4:
			fixIPv4Checksum(c)
			src, dst, _, seg, err = ParseIPv4(c)
		case len(c) >= 40 && c[0]>>4 == 6:
			src, dst, _, seg, err = ParseIPv6(c)
		default:
			return
		}
		if err != nil || len(seg) < 20 {
			return
		}
		fixTCPChecksum(src, dst, seg)
		if err := ParsePacket(c, &p); err != nil {
			checkParseError(t, err, len(c))
			if errors.Is(err, ErrBadChecksum) {
				t.Fatalf("repaired packet %x: %v", c, err)
			}
			return
		}
		checkPacketRoundTrip(t, &p)
	})
}

func FuzzParseTCP(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		if len(s) > 0 && s[0]>>4 == 6 && len(s) > 40 {
			f.Add(s[40:])
		} else if len(s) > 20 {
			f.Add(s[20:])
		}
	}
	f.Add(rawTCP(f, []byte{5, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 1}, []byte("x")))
	f.Add(rawTCP(f, []byte{30, 3, 0, 0}, nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		var tf TCPFields
		payload, err := ParseTCP(b, &tf)
		if err != nil {
			checkParseError(t, err, len(b))
			return
		}
		if len(payload) > 0 && &payload[0] != &b[len(b)-len(payload)] {
			t.Fatal("payload is not a suffix of the input")
		}
		if tf.Options.WScale > MaxWScale || tf.Options.NumSACK > MaxSACKBlocks {
			t.Fatalf("out-of-range options %+v", tf.Options)
		}
		for _, fam := range [][2]netip.Addr{{v4A, v4B}, {v6A, v6B}} {
			buf := make([]byte, tf.HeaderLen()+len(payload))
			n, err := EncodeTCP(buf, &tf, payload, fam[0], fam[1])
			if errors.Is(err, ErrOptionsTooLong) && tf.Options.encodedLen() > MaxOptionsLen {
				return
			}
			if err != nil || n != len(buf) {
				t.Fatalf("EncodeTCP: %d, %v", n, err)
			}
			if !VerifyTCPChecksum(fam[0], fam[1], buf) {
				t.Fatal("re-encoded checksum does not verify")
			}
			var tf2 TCPFields
			payload2, err := ParseTCP(buf, &tf2)
			if err != nil || tf2 != tf || !bytes.Equal(payload, payload2) {
				t.Fatalf("round trip: %v\n%+v\n%+v", err, tf, tf2)
			}
		}
	})
}

func FuzzParseIPv4(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		src, dst, proto, payload, err := ParseIPv4(b)
		if err != nil {
			checkParseError(t, err, len(b))
			return
		}
		if !src.Is4() || !dst.Is4() {
			t.Fatalf("addresses %v %v", src, dst)
		}
		buf := make([]byte, IPv4HeaderLen+len(payload))
		if _, err := EncodeIPv4Header(buf, src, dst, proto, 9, 9, len(payload)); err != nil {
			t.Fatal(err)
		}
		copy(buf[IPv4HeaderLen:], payload)
		src2, dst2, proto2, payload2, err := ParseIPv4(buf)
		if err != nil || src2 != src || dst2 != dst || proto2 != proto || !bytes.Equal(payload, payload2) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

func FuzzParseIPv6(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		src, dst, proto, payload, err := ParseIPv6(b)
		if err != nil {
			checkParseError(t, err, len(b))
			if !errors.Is(err, ErrNotTCP) {
				return
			}
		}
		if src.Is4In6() || dst.Is4In6() {
			return // EncodeIPv6Header refuses IPv4-mapped addresses
		}
		buf := make([]byte, IPv6HeaderLen+len(payload))
		if _, err := EncodeIPv6Header(buf, src, dst, proto, 9, len(payload)); err != nil {
			t.Fatal(err)
		}
		copy(buf[IPv6HeaderLen:], payload)
		src2, dst2, proto2, payload2, err2 := ParseIPv6(buf)
		if (err == nil) != (err2 == nil) || src2 != src || dst2 != dst || proto2 != proto || !bytes.Equal(payload, payload2) {
			t.Fatalf("round trip: %v / %v", err, err2)
		}
	})
}

func FuzzRoundTrip(f *testing.F) {
	f.Add(false, []byte{192, 0, 2, 1, 198, 51, 100, 2}, uint16(40000), uint16(80), uint32(1), uint32(0),
		uint8(SYN), uint16(65535), uint16(0), uint16(1460), uint8(0x0f), uint8(7), uint64(100), uint8(0), []byte{}, []byte{})
	f.Add(true, bytes.Repeat([]byte{0x20, 0x01, 0x0d, 0xb8}, 8), uint16(443), uint16(5555), uint32(0xffffffff), uint32(7),
		uint8(ACK|PSH), uint16(502), uint16(3), uint16(0), uint8(0x04), uint8(0), uint64(1<<40|5), uint8(3),
		bytes.Repeat([]byte{1, 2, 3}, 9), []byte("payload"))
	f.Add(false, []byte{0, 0, 0, 0, 255, 255, 255, 255}, uint16(0), uint16(0), uint32(0), uint32(0),
		uint8(0xff), uint16(0), uint16(0xffff), uint16(1), uint8(0xff), uint8(200), uint64(0), uint8(4), []byte{}, []byte{0})
	f.Fuzz(func(t *testing.T, v6 bool, addrs []byte, sport, dport uint16, seq, ack uint32, flags uint8,
		win, urg, mss uint16, which, ws uint8, ts uint64, nsack uint8, sack, payload []byte) {
		var p Packet
		if v6 {
			var a [32]byte
			copy(a[:], addrs)
			p.Src, p.Dst = netip.AddrFrom16([16]byte(a[:16])), netip.AddrFrom16([16]byte(a[16:]))
		} else {
			var a [8]byte
			copy(a[:], addrs)
			p.Src, p.Dst = netip.AddrFrom4([4]byte(a[:4])), netip.AddrFrom4([4]byte(a[4:]))
		}
		o := Options{MSS: mss, HasWScale: which&1 != 0, WScale: ws, SACKPermitted: which&2 != 0,
			HasTimestamp: which&4 != 0, TSVal: uint32(ts >> 32), TSEcr: uint32(ts), NumSACK: nsack % 6}
		var sb [32]byte
		copy(sb[:], sack)
		for k := 0; k < int(min(o.NumSACK, MaxSACKBlocks)); k++ {
			o.SACK[k] = SACKBlock{binary.BigEndian.Uint32(sb[8*k:]), binary.BigEndian.Uint32(sb[8*k+4:])}
		}
		if which&8 != 0 {
			// Leave junk in the unused fields: encoding must ignore it.
			o.SACK[MaxSACKBlocks-1].Left ^= 0xdead
		}
		p.TCP = TCPFields{SrcPort: sport, DstPort: dport, Seq: seq, Ack: ack, Flags: Flags(flags),
			Window: win, Urgent: urg, Options: o}
		p.Payload = payload

		buf := make([]byte, PacketLen(&p)+3)
		n, err := EncodePacket(buf, &p, 64, 1)
		if mapped := p.Src.Is4In6() != p.Dst.Is4In6(); mapped {
			if !errors.Is(err, ErrBadAddress) {
				t.Fatalf("half-mapped IPv6 addresses: %v", err)
			}
			return
		}
		if o.encodedLen() > MaxOptionsLen {
			if !errors.Is(err, ErrOptionsTooLong) {
				t.Fatalf("options of %d bytes: %v", o.encodedLen(), err)
			}
			return
		}
		if err != nil || n != PacketLen(&p) {
			t.Fatalf("EncodePacket = %d, %v (PacketLen %d)", n, err, PacketLen(&p))
		}
		var q Packet
		if err := ParsePacket(buf[:n], &q); err != nil {
			t.Fatalf("ParsePacket(%x): %v", buf[:n], err)
		}
		want := p.TCP
		want.Options = normalize(o)
		if q.Src != p.Src.Unmap() || q.Dst != p.Dst.Unmap() || q.TCP != want || !bytes.Equal(q.Payload, payload) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", q, p)
		}
		// Trailing bytes after the packet are ignored.
		if err := ParsePacket(buf, &q); err != nil {
			t.Fatalf("with trailing bytes: %v", err)
		}
	})
}
