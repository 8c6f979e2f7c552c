package wire

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
)

// ipv4Packet returns a valid IPv4 header for payload followed by payload.
func ipv4Packet(t testing.TB, proto uint8, payload []byte) []byte {
	t.Helper()
	b := make([]byte, 20+len(payload))
	if _, err := EncodeIPv4Header(b, v4A, v4B, proto, 64, 0xbeef, len(payload)); err != nil {
		t.Fatal(err)
	}
	copy(b[20:], payload)
	return b
}

func TestEncodeIPv4HeaderBytes(t *testing.T) {
	b := make([]byte, 20)
	n, err := EncodeIPv4Header(b, v4A, v4B, 6, 64, 0x1234, 40)
	if err != nil || n != 20 {
		t.Fatalf("EncodeIPv4Header = %d, %v", n, err)
	}
	want := unhex(t, "4500003c 12344000 40063c51 c0000201 c6336402")
	if !bytes.Equal(b, want) {
		t.Errorf("got  %x\nwant %x", b, want)
	}
	// Mapped addresses are unmapped.
	m := make([]byte, 20)
	if _, err := EncodeIPv4Header(m, netip.AddrFrom16(v4A.As16()), netip.AddrFrom16(v4B.As16()), 6, 64, 0x1234, 40); err != nil || !bytes.Equal(m, want) {
		t.Errorf("mapped: %x, %v", m, err)
	}
}

func TestEncodeIPv6HeaderBytes(t *testing.T) {
	b := make([]byte, 40)
	n, err := EncodeIPv6Header(b, v6A, v6B, 6, 64, 40)
	if err != nil || n != 40 {
		t.Fatalf("EncodeIPv6Header = %d, %v", n, err)
	}
	want := unhex(t, "60000000 00280640 20010db8 00000000 00000000 00000001 20010db8 00000000 00000000 00000002")
	if !bytes.Equal(b, want) {
		t.Errorf("got  %x\nwant %x", b, want)
	}
}

func TestEncodeIPHeaderErrors(t *testing.T) {
	mapped := netip.AddrFrom16(v4A.As16())
	tests := []struct {
		name string
		enc  func() (int, error)
		want error
	}{
		{"v4 short buffer", func() (int, error) { return EncodeIPv4Header(make([]byte, 19), v4A, v4B, 6, 64, 0, 0) }, ErrBufferTooSmall},
		{"v4 with v6 src", func() (int, error) { return EncodeIPv4Header(make([]byte, 20), v6A, v4B, 6, 64, 0, 0) }, ErrBadAddress},
		{"v4 with zero dst", func() (int, error) { return EncodeIPv4Header(make([]byte, 20), v4A, netip.Addr{}, 6, 64, 0, 0) }, ErrBadAddress},
		{"v4 too long", func() (int, error) { return EncodeIPv4Header(make([]byte, 20), v4A, v4B, 6, 64, 0, 65516) }, ErrPacketTooLong},
		{"v4 negative", func() (int, error) { return EncodeIPv4Header(make([]byte, 20), v4A, v4B, 6, 64, 0, -1) }, ErrPacketTooLong},
		{"v6 short buffer", func() (int, error) { return EncodeIPv6Header(make([]byte, 39), v6A, v6B, 6, 64, 0) }, ErrBufferTooSmall},
		{"v6 with v4 dst", func() (int, error) { return EncodeIPv6Header(make([]byte, 40), v6A, v4B, 6, 64, 0) }, ErrBadAddress},
		{"v6 with mapped src", func() (int, error) { return EncodeIPv6Header(make([]byte, 40), mapped, v6B, 6, 64, 0) }, ErrBadAddress},
		{"v6 too long", func() (int, error) { return EncodeIPv6Header(make([]byte, 40), v6A, v6B, 6, 64, 65536) }, ErrPacketTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n, err := tt.enc(); n != 0 || !errors.Is(err, tt.want) {
				t.Errorf("got %d, %v; want 0, %v", n, err, tt.want)
			}
		})
	}
	if n, err := EncodeIPv4Header(make([]byte, 20), v4A, v4B, 6, 64, 0, 65515); n != 20 || err != nil {
		t.Errorf("largest IPv4 packet: %d, %v", n, err)
	}
	if n, err := EncodeIPv6Header(make([]byte, 40), v6A, v6B, 6, 64, 65535); n != 40 || err != nil {
		t.Errorf("largest IPv6 payload: %d, %v", n, err)
	}
}

func TestParseIPv4(t *testing.T) {
	b := ipv4Packet(t, 17, []byte("payload"))
	src, dst, proto, payload, err := ParseIPv4(b)
	if err != nil || src != v4A || dst != v4B || proto != 17 || string(payload) != "payload" {
		t.Fatalf("ParseIPv4 = %v %v %d %q %v", src, dst, proto, payload, err)
	}
	// Trailing bytes beyond the total length (link padding) are ignored.
	padded := append(bytes.Clone(b), 0, 0, 0, 0)
	if _, _, _, payload, err := ParseIPv4(padded); err != nil || string(payload) != "payload" {
		t.Fatalf("padded: %q, %v", payload, err)
	}
	// IP options are skipped.
	withOpts := make([]byte, 0, 40)
	withOpts = append(withOpts, 0x46, 0, 0, 31)
	withOpts = append(withOpts, b[4:20]...)
	withOpts = append(withOpts, 1, 1, 1, 0) // NOP NOP NOP EOL
	withOpts = append(withOpts, "payload"...)
	fixIPv4Checksum(withOpts)
	if _, _, _, payload, err := ParseIPv4(withOpts); err != nil || string(payload) != "payload" {
		t.Fatalf("with options: %q, %v", payload, err)
	}
}

func TestParseIPv4Errors(t *testing.T) {
	good := ipv4Packet(t, 6, []byte("0123456789"))
	tests := []struct {
		name   string
		mutate func(b []byte) []byte
		fix    bool // recompute the header checksum after mutate
		want   error
		offset int
	}{
		{"empty", func(b []byte) []byte { return b[:0] }, false, ErrTruncated, 0},
		{"short header", func(b []byte) []byte { return b[:19] }, false, ErrTruncated, 19},
		{"version 6", func(b []byte) []byte { b[0] = 0x65; return b }, true, ErrBadVersion, 0},
		{"version 0", func(b []byte) []byte { b[0] = 0x05; return b }, true, ErrBadVersion, 0},
		{"IHL 4", func(b []byte) []byte { b[0] = 0x44; return b }, false, ErrBadLength, 0},
		{"IHL 0", func(b []byte) []byte { b[0] = 0x40; return b }, false, ErrBadLength, 0},
		{"IHL beyond total", func(b []byte) []byte { b[0] = 0x4f; return b }, false, ErrBadLength, 2},
		{"total below header", func(b []byte) []byte { b[3] = 19; return b }, true, ErrBadLength, 2},
		{"total zero", func(b []byte) []byte { b[2], b[3] = 0, 0; return b }, true, ErrBadLength, 2},
		{"total beyond buffer", func(b []byte) []byte { b[3]++; return b }, true, ErrTruncated, 2},
		{"payload cut", func(b []byte) []byte { return b[:len(b)-1] }, false, ErrTruncated, 2},
		{"bad checksum", func(b []byte) []byte { b[11] ^= 1; return b }, false, ErrBadChecksum, 10},
		{"ttl changed", func(b []byte) []byte { b[8]--; return b }, false, ErrBadChecksum, 10},
		{"MF set", func(b []byte) []byte { b[6] |= 0x20; return b }, true, ErrFragment, 6},
		{"offset set", func(b []byte) []byte { b[7] = 1; return b }, true, ErrFragment, 6},
		{"largest offset", func(b []byte) []byte { b[6], b[7] = 0x1f, 0xff; return b }, true, ErrFragment, 6},
		{"MF and offset, DF clear", func(b []byte) []byte { b[6], b[7] = 0x20, 0xb9; return b }, true, ErrFragment, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.mutate(bytes.Clone(good))
			if tt.fix {
				fixIPv4Checksum(b)
			}
			_, _, _, _, err := ParseIPv4(b)
			wantErr(t, err, tt.want, "ipv4")
			if pe := err.(*ParseError); pe.Offset != tt.offset {
				t.Errorf("offset %d, want %d", pe.Offset, tt.offset)
			}
		})
	}
	// DF alone, and the reserved bit, are not fragments.
	b := bytes.Clone(good)
	b[6] = 0xc0
	fixIPv4Checksum(b)
	if _, _, _, _, err := ParseIPv4(b); err != nil {
		t.Errorf("DF|reserved: %v", err)
	}
}

func TestParseIPv6(t *testing.T) {
	b := make([]byte, 40, 60)
	if _, err := EncodeIPv6Header(b, v6A, v6B, 6, 1, 7); err != nil {
		t.Fatal(err)
	}
	b = append(b, "payload"...)
	src, dst, proto, payload, err := ParseIPv6(b)
	if err != nil || src != v6A || dst != v6B || proto != 6 || string(payload) != "payload" {
		t.Fatalf("ParseIPv6 = %v %v %d %q %v", src, dst, proto, payload, err)
	}
	padded := append(bytes.Clone(b), 0, 0)
	if _, _, _, payload, err := ParseIPv6(padded); err != nil || string(payload) != "payload" {
		t.Fatalf("padded: %q, %v", payload, err)
	}
	// Flow label and traffic class are ignored.
	fl := bytes.Clone(b)
	fl[0], fl[1], fl[2], fl[3] = 0x6f, 0xff, 0xff, 0xff
	if _, _, _, _, err := ParseIPv6(fl); err != nil {
		t.Fatalf("flow label: %v", err)
	}

	tests := []struct {
		name   string
		mutate func(b []byte) []byte
		want   error
		offset int
	}{
		{"empty", func(b []byte) []byte { return b[:0] }, ErrTruncated, 0},
		{"short header", func(b []byte) []byte { return b[:39] }, ErrTruncated, 39},
		{"version 4", func(b []byte) []byte { b[0] = 0x40; return b }, ErrBadVersion, 0},
		{"payload length beyond buffer", func(b []byte) []byte { b[5]++; return b }, ErrTruncated, 4},
		{"payload cut", func(b []byte) []byte { return b[:46] }, ErrTruncated, 4},
		{"hop-by-hop header", func(b []byte) []byte { b[6] = 0; return b }, ErrNotTCP, 6},
		{"UDP", func(b []byte) []byte { b[6] = 17; return b }, ErrNotTCP, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, _, _, err := ParseIPv6(tt.mutate(bytes.Clone(b)))
			wantErr(t, err, tt.want, "ipv6")
			if pe := err.(*ParseError); pe.Offset != tt.offset {
				t.Errorf("offset %d, want %d", pe.Offset, tt.offset)
			}
		})
	}
	// ErrNotTCP comes with the header's contents.
	udp := bytes.Clone(b)
	udp[6] = 17
	src, _, proto, payload, err = ParseIPv6(udp)
	if !errors.Is(err, ErrNotTCP) || src != v6A || proto != 17 || string(payload) != "payload" {
		t.Errorf("not TCP: %v %d %q %v", src, proto, payload, err)
	}
}

func TestParseIPTruncatedEverywhere(t *testing.T) {
	v4 := ipv4Packet(t, 6, []byte("some payload bytes"))
	v6 := make([]byte, 40+5)
	if _, err := EncodeIPv6Header(v6, v6A, v6B, 6, 64, 5); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(v4); i++ {
		if _, _, _, _, err := ParseIPv4(bytes.Clone(v4[:i])); err == nil {
			t.Errorf("ipv4 truncated to %d parsed", i)
		}
	}
	for i := 0; i < len(v6); i++ {
		if _, _, _, _, err := ParseIPv6(bytes.Clone(v6[:i])); err == nil {
			t.Errorf("ipv6 truncated to %d parsed", i)
		}
	}
}
