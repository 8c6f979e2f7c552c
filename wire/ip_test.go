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

// TestCheckIPv4Options is Linux's ip_options_compile on received packets.
// All rows but the three "without room" and "length 3" ones were sent to
// Linux 6.18 as a SYN's IP options: "bad" rows drew an
// ICMP parameter problem pointing at the offset given and IpInHdrErrors
// (CIPSO: IpInHdrErrors alone),
// source-routed ones were dropped without a counter
// (accept_source_route=0), the rest were answered.
func TestCheckIPv4Options(t *testing.T) {
	tests := []struct {
		name   string
		opts   string
		srr    bool
		bad    bool
		offset int // from the start of the IP header
	}{
		{"none", "", false, false, 0},
		{"NOPs", "01010101", false, false, 0},
		{"EOL padding", "00000000", false, false, 0},
		{"EOL then garbage", "00070101", false, false, 0},
		{"LSRR", "830704 0a090003 01", true, false, 0},
		{"SSRR", "890704 0a090003 01", true, false, 0},
		{"LSRR exhausted", "830708 0a090003 01", true, false, 0},
		{"LSRR length 3", "830304 01", true, false, 0},
		{"two LSRR", "830304 830304 0101", false, true, 23},
		{"LSRR pointer 3", "830703 0a090003 01", false, true, 22},
		{"RR", "070704 00000000 01", false, false, 0},
		{"RR full", "070708 01020304 01", false, false, 0},
		{"RR pointer 3", "070703 00000000 01", false, true, 22},
		{"RR length 2", "0702 0101", false, true, 21},
		{"RR no room for an address", "070706 00000000 01", false, true, 22},
		{"two RR", "070304 070304 0101", false, true, 23},
		{"length 1", "0701 0101", false, true, 20},
		{"length past the end", "0709 0400", false, true, 20},
		{"kind as the last byte", "010101 07", false, true, 23},
		{"TS only", "440c0500 00000000 00000000", false, false, 0},
		{"TS full, overflow 1", "44080910 00000000", false, false, 0},
		{"TS full, overflow 15", "440809f0 00000000", false, true, 23},
		{"TS unknown flag 2", "44080502 00000000", false, false, 0},
		{"TS pointer 4", "44080400 00000000", false, true, 22},
		{"TS and address without room", "44080501 00000000", false, true, 22},
		{"TS length 3", "440305 00", false, true, 21},
		{"router alert", "94040000", false, false, 0},
		{"router alert length 3", "940300 01", false, true, 21},
		{"unknown kind", "99040000", false, false, 0},
		{"security", "82040000", false, false, 0},
		{"CIPSO", "86040000", false, true, 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srr, err := CheckIPv4Options(unhex(t, tt.opts))
			if !tt.bad {
				if err != nil || srr != tt.srr {
					t.Fatalf("source route %v, error %v; want %v, none", srr, err, tt.srr)
				}
				return
			}
			wantErr(t, err, ErrBadIPOption, "ipv4 option")
			var pe *ParseError
			if errors.As(err, &pe) && pe.Offset != tt.offset {
				t.Errorf("offset %d, want %d", pe.Offset, tt.offset)
			}
		})
	}
}
