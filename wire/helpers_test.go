package wire

import (
	"encoding/hex"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

var (
	v4A = netip.MustParseAddr("192.0.2.1")
	v4B = netip.MustParseAddr("198.51.100.2")
	v6A = netip.MustParseAddr("2001:db8::1")
	v6B = netip.MustParseAddr("2001:db8::2")
)

// unhex decodes hex, ignoring spaces and newlines.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	s = strings.Join(strings.Fields(s), "")
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// linuxSYN returns the TCP fields of a typical Linux SYN.
func linuxSYN() TCPFields {
	return TCPFields{
		SrcPort: 40000, DstPort: 80,
		Seq: 0x01020304, Flags: SYN, Window: 65535,
		Options: Options{
			MSS: 1460, SACKPermitted: true,
			HasTimestamp: true, TSVal: 100,
			HasWScale: true, WScale: 7,
		},
	}
}

// rawTCP builds a TCP segment by hand with the given option bytes (whose
// length must be a multiple of 4) and payload; the checksum is left 0.
func rawTCP(t testing.TB, opts, payload []byte) []byte {
	t.Helper()
	if len(opts)%4 != 0 || len(opts) > 40 {
		t.Fatalf("rawTCP: option length %d", len(opts))
	}
	hl := 20 + len(opts)
	b := make([]byte, hl+len(payload))
	b[0], b[1] = 0x9c, 0x40 // 40000
	b[2], b[3] = 0, 80
	b[7] = 1 // seq 1
	b[12] = byte(hl/4) << 4
	b[13] = byte(ACK)
	b[14], b[15] = 0x01, 0xf6 // 502
	copy(b[20:], opts)
	copy(b[hl:], payload)
	return b
}

// encodePacket encodes p or fails the test.
func encodePacket(t testing.TB, p *Packet) []byte {
	t.Helper()
	buf := make([]byte, PacketLen(p))
	n, err := EncodePacket(buf, p, 64, 0x1234)
	if err != nil {
		t.Fatalf("EncodePacket: %v", err)
	}
	if n != len(buf) {
		t.Fatalf("EncodePacket wrote %d bytes, PacketLen says %d", n, len(buf))
	}
	return buf
}

// wantErr checks that err wraps want and is a *ParseError with the layer
// given (unless layer is "").
func wantErr(t testing.TB, err, want error, layer string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want %v", err, want)
	}
	if layer == "" {
		return
	}
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *ParseError", err, err)
	}
	if pe.Layer != layer {
		t.Fatalf("error %v: layer %q, want %q", err, pe.Layer, layer)
	}
}

// fixIPv4Checksum recomputes the IPv4 header checksum of b in place, if b
// holds the whole header.
func fixIPv4Checksum(b []byte) {
	hl := int(b[0]&0x0f) * 4
	if hl < 12 || hl > len(b) {
		return
	}
	b[10], b[11] = 0, 0
	c := Checksum(b[:hl])
	b[10], b[11] = byte(c>>8), byte(c)
}

// fixTCPChecksum recomputes the TCP checksum of seg in place.
func fixTCPChecksum(src, dst netip.Addr, seg []byte) {
	seg[16], seg[17] = 0, 0
	c := TCPChecksum(src, dst, seg)
	seg[16], seg[17] = byte(c>>8), byte(c)
}

// normalize returns the options that parsing the encoding of o yields.
func normalize(o Options) Options {
	if !o.HasWScale {
		o.WScale = 0
	} else {
		o.WScale = min(o.WScale, MaxWScale)
	}
	if !o.HasTimestamp {
		o.TSVal, o.TSEcr = 0, 0
	}
	for k := int(o.NumSACK); k < MaxSACKBlocks; k++ {
		o.SACK[k] = SACKBlock{}
	}
	return o
}

// allOptionCombos returns every combination of the options EncodeTCP
// knows, SACK block counts 0..4 included, some too long to encode.
func allOptionCombos() []Options {
	var out []Options
	for bits := 0; bits < 16; bits++ {
		for ns := 0; ns <= MaxSACKBlocks; ns++ {
			o := Options{}
			if bits&1 != 0 {
				o.MSS = 1400 + uint16(bits)
			}
			if bits&2 != 0 {
				o.SACKPermitted = true
			}
			if bits&4 != 0 {
				o.HasTimestamp, o.TSVal, o.TSEcr = true, 0xdeadbeef, 0x01020304+uint32(ns)
			}
			if bits&8 != 0 {
				o.HasWScale, o.WScale = true, uint8(bits)
			}
			o.NumSACK = uint8(ns)
			for k := 0; k < ns; k++ {
				o.SACK[k] = SACKBlock{Left: uint32(1000*k) + 0xfffff000, Right: uint32(1000*k) + 0xfffff500}
			}
			out = append(out, o)
		}
	}
	return out
}
