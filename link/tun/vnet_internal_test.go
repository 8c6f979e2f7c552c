package tun

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"

	"github.com/tcpwave/tcpwave/wire"
)

// The virtio-net header's bytes are the uapi struct's, fields in the
// host's order: flags, gso_type, then hdr_len, gso_size, csum_start and
// csum_offset as 16-bit words.
func TestVnetHdrLayout(t *testing.T) {
	tests := []struct {
		name string
		h    vnetHdr
		le   []byte // the bytes on a little-endian host
	}{
		{"plain", vnetHdr{}, make([]byte, vnetHdrLen)},
		{"tcpv4 super-packet", vnetHdr{vnetNeedsCsum, vnetGSOTCPv4, 52, 1448, 20, 16},
			[]byte{1, 1, 52, 0, 0xa8, 0x05, 20, 0, 16, 0}},
		{"tcpv6 with ECN", vnetHdr{vnetNeedsCsum, vnetGSOTCPv6 | vnetGSOECN, 72, 1428, 40, 16},
			[]byte{1, 0x84, 72, 0, 0x94, 0x05, 40, 0, 16, 0}},
		{"data valid, big fields", vnetHdr{vnetDataValid, vnetGSONone, 0x1234, 0xfedc, 0x0102, 0xa0b0},
			[]byte{2, 0, 0x34, 0x12, 0xdc, 0xfe, 0x02, 0x01, 0xb0, 0xa0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := make([]byte, vnetHdrLen)
			tc.h.encode(b)
			want := tc.le
			if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 { // a big-endian host
				want = bytes.Clone(tc.le)
				for i := 2; i < vnetHdrLen; i += 2 {
					want[i], want[i+1] = want[i+1], want[i]
				}
			}
			if !bytes.Equal(b, want) {
				t.Errorf("encode(%+v) = % x, want % x", tc.h, b, want)
			}
			var got vnetHdr
			got.decode(want)
			if got != tc.h {
				t.Errorf("decode(% x) = %+v, want %+v", want, got, tc.h)
			}
		})
	}
}

var (
	src4 = netip.MustParseAddr("10.9.0.1")
	dst4 = netip.MustParseAddr("10.9.0.2")
	src6 = netip.MustParseAddr("fd00:9::1")
	dst6 = netip.MustParseAddr("fd00:9::2")
)

// tcpPacket builds a TCP packet from src to dst with payload bytes of
// data and correct checksums, the flags ACK|extra, and timestamps (so the
// header has options).
func tcpPacket(t testing.TB, src, dst netip.Addr, payload int, extra wire.Flags) []byte {
	t.Helper()
	p := wire.Packet{
		Src: src, Dst: dst,
		TCP: wire.TCPFields{
			SrcPort: 44508, DstPort: 7, Seq: 0xfffff000, Ack: 12345,
			Flags: wire.ACK | extra, Window: 502,
			Options: wire.Options{HasTimestamp: true, TSVal: 1, TSEcr: 2},
		},
		Payload: make([]byte, payload),
	}
	for i := range p.Payload {
		p.Payload[i] = byte(i*7 + i>>8)
	}
	b := make([]byte, wire.PacketLen(&p))
	n, err := wire.EncodePacket(b, &p, 64, 1)
	if err != nil {
		t.Fatal(err)
	}
	return b[:n]
}

// tcpCsum returns the TCP checksum field of pkt and where it is.
func tcpCsum(pkt []byte) (uint16, int) {
	at := 20 + tcpCsumOffset
	if pkt[0]>>4 == 6 {
		at = 40 + tcpCsumOffset
	}
	return binary.BigEndian.Uint16(pkt[at:]), at
}

// asKernelSends turns a packet with a correct TCP checksum into what the
// kernel hands a TUN device with checksum offload: the field holds the
// pseudo-header's sum only.
func asKernelSends(pkt []byte) []byte {
	pkt = bytes.Clone(pkt)
	ipLen := 20
	if pkt[0]>>4 == 6 {
		ipLen = 40
	}
	_, at := tcpCsum(pkt)
	binary.BigEndian.PutUint16(pkt[at:], pseudoPartial(pkt, len(pkt)-ipLen))
	return pkt
}

// asKernelSendsAt is asKernelSends for a packet whose checksum field the
// header says is at at: the bytes there are made the difference that
// completing the sum from byte 20 on turns into pkt's own two bytes.
func asKernelSendsAt(pkt []byte, at int) []byte {
	pkt = bytes.Clone(pkt)
	want := binary.BigEndian.Uint16(pkt[at:])
	// Completion stores ^sum(pkt[20:]) at at; find the value v for which
	// that is want: sum with v = ^want, so v = ^want - sum without v.
	pkt[at], pkt[at+1] = 0, 0
	rest := ^wire.Checksum(pkt[20:]) // folded sum with zeros at at
	v := onesSub(^want, rest)
	binary.BigEndian.PutUint16(pkt[at:], v)
	return pkt
}

// onesSub returns a - b in ones' complement arithmetic.
func onesSub(a, b uint16) uint16 {
	s := uint32(a) + uint32(^b)
	s = s&0xffff + s>>16
	return uint16(s)
}

// finishChecksum completes partial checksums, recomputes a super-packet's
// that nobody completed, and leaves every other packet as it is.
func TestFinishChecksum(t *testing.T) {
	good4 := tcpPacket(t, src4, dst4, 100, 0)
	good6 := tcpPacket(t, src6, dst6, 101, wire.PSH) // odd length
	super4 := tcpPacket(t, src4, dst4, 3*1448+5, 0)
	super6 := tcpPacket(t, src6, dst6, 44*1428, 0)
	garbled := func(pkt []byte) []byte {
		pkt = bytes.Clone(pkt)
		_, at := tcpCsum(pkt)
		pkt[at] ^= 0x5a
		return pkt
	}
	// A UDP datagram (a 20-byte IPv4 header, then 8 bytes of UDP header
	// and 5 of data) whose checksum field holds a partial sum of 0x1234:
	// completed, the field is the complement of the sum from the UDP
	// header on.
	udp4 := []byte{0x45, 0, 0, 33, 0, 0, 0, 0, 64, 17, 0, 0, 10, 9, 0, 1, 10, 9, 0, 2,
		0x30, 0x39, 0, 7, 0, 13, 0x12, 0x34, 'h', 'e', 'l', 'l', 'o'}
	udp4Done := bytes.Clone(udp4)
	binary.BigEndian.PutUint16(udp4Done[26:], wire.Checksum(udp4[20:]))
	partial4 := vnetHdr{flags: vnetNeedsCsum, csumStart: 20, csumOffset: 16}
	partial6 := vnetHdr{flags: vnetNeedsCsum, csumStart: 40, csumOffset: 16}
	tests := []struct {
		name string
		in   []byte
		h    vnetHdr
		want []byte // nil: an error
	}{
		{"partial ipv4", asKernelSends(good4), partial4, good4},
		{"partial ipv6, odd length", asKernelSends(good6), partial6, good6},
		{"partial ipv4 super-packet", asKernelSends(super4),
			vnetHdr{vnetNeedsCsum, vnetGSOTCPv4, 52, 1448, 20, 16}, super4},
		{"partial ipv6 super-packet", asKernelSends(super6),
			vnetHdr{vnetNeedsCsum, vnetGSOTCPv6, 72, 1428, 40, 16}, super6},
		{"super-packet without partial checksum", garbled(super4),
			vnetHdr{vnetDataValid, vnetGSOTCPv4 | vnetGSOECN, 52, 1448, 0, 0}, super4},
		{"plain: left alone", garbled(good4), vnetHdr{}, garbled(good4)},
		{"data valid: left alone", good6, vnetHdr{flags: vnetDataValid}, good6},
		{"checksum field past the end", good4, vnetHdr{flags: vnetNeedsCsum, csumStart: 20, csumOffset: 200}, nil},
		{"checksum field over the end", good4[:37], vnetHdr{flags: vnetNeedsCsum, csumStart: 20, csumOffset: 16}, nil},
		{"super-packet that is not TCP", func() []byte { b := bytes.Clone(super4); b[9] = 17; return b }(),
			vnetHdr{gsoType: vnetGSOTCPv4}, nil},
		// Values the kernel (or whatever writes the device's other end)
		// controls, at their edges.
		{"gso_type unknown, TCP: recomputed", garbled(super4), vnetHdr{gsoType: 3}, super4},
		{"gso_type unknown, not TCP", func() []byte { b := bytes.Clone(super4); b[9] = 17; return b }(),
			vnetHdr{gsoType: 0x7f}, nil},
		{"gso_type ECN alone: not a super-packet", garbled(good4), vnetHdr{gsoType: vnetGSOECN}, garbled(good4)},
		{"gso_size 0, hdr_len past the end: unused on read", garbled(super6),
			vnetHdr{gsoType: vnetGSOTCPv6, hdrLen: 0xffff}, super6},
		{"super-packet cut short", super4[:100], vnetHdr{gsoType: vnetGSOTCPv4}, nil},
		{"super-packet of no bytes", []byte{}, vnetHdr{gsoType: vnetGSOTCPv6}, nil},
		{"csum_start past the end", good4, vnetHdr{flags: vnetNeedsCsum, csumStart: 0xffff}, nil},
		{"csum_start and csum_offset at their maximum", good4,
			vnetHdr{flags: vnetNeedsCsum, csumStart: 0xffff, csumOffset: 0xffff}, nil},
		{"checksum field the last two bytes", asKernelSendsAt(good4, len(good4)-2),
			vnetHdr{flags: vnetNeedsCsum, csumStart: 20, csumOffset: uint16(len(good4) - 22)}, good4},
		{"partial checksum of no bytes", []byte{}, vnetHdr{flags: vnetNeedsCsum}, nil},
		{"partial checksum of one byte", []byte{0x45}, vnetHdr{flags: vnetNeedsCsum}, nil},
		{"partial checksum, not TCP", udp4, vnetHdr{flags: vnetNeedsCsum, csumStart: 20, csumOffset: 6}, udp4Done},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pkt := bytes.Clone(tc.in)
			err := finishChecksum(pkt, &tc.h)
			switch {
			case tc.want == nil && err == nil:
				t.Fatalf("no error, want one")
			case tc.want == nil:
				if tc.h.flags&vnetNeedsCsum != 0 && !errors.Is(err, errBadVnetHdr) {
					t.Errorf("error %v, want errBadVnetHdr", err)
				}
			case err != nil:
				t.Fatal(err)
			case !bytes.Equal(pkt, tc.want):
				got, _ := tcpCsum(pkt)
				want, _ := tcpCsum(tc.want)
				t.Errorf("checksum %#04x, want %#04x (or other bytes differ)", got, want)
			}
		})
	}
}

// gsoHeader describes a super-packet as the kernel needs it, and the
// partial checksum it gives, completed over the TCP segment as the kernel
// (or a NIC) does, is the segment's correct checksum.
func TestGSOHeader(t *testing.T) {
	tests := []struct {
		name    string
		pkt     []byte
		segSize int
		want    vnetHdr
	}{
		{"ipv4", tcpPacket(t, src4, dst4, 10*1448, 0), 1448,
			vnetHdr{vnetNeedsCsum, vnetGSOTCPv4, 20 + 32, 1448, 20, 16}},
		{"ipv4, last segment short, PSH", tcpPacket(t, src4, dst4, 3*1448+1, wire.PSH), 1448,
			vnetHdr{vnetNeedsCsum, vnetGSOTCPv4, 20 + 32, 1448, 20, 16}},
		{"ipv6", tcpPacket(t, src6, dst6, 44*1428, 0), 1428,
			vnetHdr{vnetNeedsCsum, vnetGSOTCPv6, 40 + 32, 1428, 40, 16}},
		{"ipv6 with CWR", tcpPacket(t, src6, dst6, 5*1000, wire.CWR), 1000,
			vnetHdr{vnetNeedsCsum, vnetGSOTCPv6 | vnetGSOECN, 40 + 32, 1000, 40, 16}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ipLen, hdrLen, err := wire.TCPHeaders(tc.pkt)
			if err != nil {
				t.Fatal(err)
			}
			h, partial := gsoHeader(tc.pkt, ipLen, hdrLen, tc.segSize)
			if h != tc.want {
				t.Errorf("header %+v, want %+v", h, tc.want)
			}
			full, at := tcpCsum(tc.pkt)
			pkt := bytes.Clone(tc.pkt)
			binary.BigEndian.PutUint16(pkt[at:], partial)
			if got := wire.Checksum(pkt[h.csumStart:]); got != full {
				t.Errorf("partial %#04x completes to %#04x, want the full checksum %#04x", partial, got, full)
			}
		})
	}
}

// FuzzFinishChecksum decodes a virtio-net header from arbitrary bytes and
// completes the checksums of an arbitrary packet with it, as readRaw does
// with what the kernel hands it: it must never panic, must change no byte
// but the two of the checksum field it fills, and a super-packet's
// recomputed TCP checksum must verify.
func FuzzFinishChecksum(f *testing.F) {
	seed := func(h vnetHdr, pkt []byte) {
		b := make([]byte, vnetHdrLen)
		h.encode(b)
		f.Add(b, pkt)
	}
	super4 := tcpPacket(f, src4, dst4, 3*1448+5, 0)
	super6 := tcpPacket(f, src6, dst6, 2*1428, wire.CWR)
	seed(vnetHdr{vnetNeedsCsum, vnetGSOTCPv4, 52, 1448, 20, 16}, asKernelSends(super4))
	seed(vnetHdr{vnetNeedsCsum, vnetGSOTCPv6, 72, 1428, 40, 16}, asKernelSends(super6))
	seed(vnetHdr{vnetDataValid, vnetGSOTCPv4 | vnetGSOECN, 52, 1448, 0, 0}, super4)
	seed(vnetHdr{gsoType: 0x7f, hdrLen: 0xffff}, super6)
	seed(vnetHdr{flags: vnetNeedsCsum, csumStart: 0xffff, csumOffset: 0xffff}, super4[:40])
	seed(vnetHdr{}, nil)
	f.Fuzz(func(t *testing.T, hb, pkt []byte) {
		if len(hb) < vnetHdrLen {
			return
		}
		var h vnetHdr
		h.decode(hb)
		in := bytes.Clone(pkt)
		if err := finishChecksum(pkt, &h); err != nil {
			if !bytes.Equal(pkt, in) {
				t.Fatalf("%v, and the packet changed", err)
			}
			return
		}
		at := -1
		switch {
		case h.flags&vnetNeedsCsum != 0:
			at = int(h.csumStart) + int(h.csumOffset)
		case h.gsoType&^vnetGSOECN != vnetGSONone:
			ipLen, _, err := wire.TCPHeaders(pkt)
			if err != nil {
				t.Fatalf("super-packet that is not TCP taken: %v", err)
			}
			at = ipLen + tcpCsumOffset
			src, dst := addrs(pkt)
			if !wire.VerifyTCPChecksum(src, dst, pkt[ipLen:]) {
				t.Fatalf("super-packet's TCP checksum does not verify")
			}
		}
		for i := range pkt {
			if (i < at || i >= at+2) && pkt[i] != in[i] {
				t.Fatalf("byte %d changed (%#02x to %#02x); only %d and %d may", i, in[i], pkt[i], at, at+1)
			}
		}
	})
}
