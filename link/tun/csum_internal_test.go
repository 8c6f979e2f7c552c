//go:build linux

package tun

import (
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"testing"

	"github.com/tcpwave/tcpwave/wire"
)

// pipeDevice is a Device, with offload or without, whose descriptor is
// one end of a pipe instead of a TUN queue: what it writes can be read
// back whole, virtio-net header and all, and what is written into the
// pipe it reads, with no kernel TUN device (and no root) needed. It
// returns the device and the pipe's other end.
func pipeDevice(t *testing.T, offload, writer bool) (*Device, *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	d := &Device{name: "pipe", mtu: 1500, ctl: -1, offload: offload, file: r}
	other := w
	if writer {
		d.file, other = w, r
	}
	if err := d.initRawIO(); err != nil {
		t.Fatal(err)
	}
	return d, other
}

// TestWritePartial: on a device with offload WritePartial hands the kernel
// a packet or a super-packet as it is, its TCP checksum field holding the
// pseudo-header's sum, after a virtio-net header that says NEEDS_CSUM at
// the TCP header's checksum field (and for a super-packet TCPV4 or TCPV6
// and the segment size); completed as the kernel completes it, the
// checksum is the full one. On a device without offload the packet goes
// out with its checksum completed, and no header.
func TestWritePartial(t *testing.T) {
	tests := []struct {
		name     string
		offload  bool
		v6       bool
		payload  int
		segSize  int
		wantType uint8
	}{
		{"ack", true, false, 0, 0, vnetGSONone},
		{"segment", true, false, 1000, 0, vnetGSONone},
		{"one segment as GSO", true, false, 1000, 1448, vnetGSONone},
		{"super-packet ipv4", true, false, 3*1448 + 5, 1448, vnetGSOTCPv4},
		{"super-packet ipv6", true, true, 3*1428 + 1, 1428, vnetGSOTCPv6},
		{"no offload", false, false, 1000, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src, dst := src4, dst4
			if tc.v6 {
				src, dst = src6, dst6
			}
			full := tcpPacket(t, src, dst, tc.payload, 0)
			ipLen, hdrLen, err := wire.TCPHeaders(full)
			if err != nil {
				t.Fatal(err)
			}
			pkt := bytes.Clone(full)
			binary.BigEndian.PutUint16(pkt[ipLen+tcpCsumOffset:], wire.PseudoHeaderSum(src, dst, len(pkt)-ipLen))
			sent := bytes.Clone(pkt)
			d, r := pipeDevice(t, tc.offload, true)
			if err := d.WritePartial(pkt, tc.segSize); err != nil {
				t.Fatal(err)
			}
			if !tc.offload {
				got := make([]byte, len(full))
				if _, err := io.ReadFull(r, got); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, full) {
					t.Errorf("wrote % x\nwant % x", got, full)
				}
				return
			}
			got := make([]byte, vnetHdrLen+len(pkt))
			if _, err := io.ReadFull(r, got); err != nil {
				t.Fatal(err)
			}
			var h vnetHdr
			h.decode(got)
			want := vnetHdr{flags: vnetNeedsCsum, gsoType: tc.wantType, hdrLen: uint16(hdrLen),
				csumStart: uint16(ipLen), csumOffset: tcpCsumOffset}
			if tc.wantType != vnetGSONone {
				want.gsoSize = uint16(tc.segSize)
			}
			if h != want {
				t.Errorf("virtio-net header %+v, want %+v", h, want)
			}
			if !bytes.Equal(got[vnetHdrLen:], sent) {
				t.Errorf("wrote % x\nwant the partial packet % x", got[vnetHdrLen:], sent)
			}
			seg := got[vnetHdrLen+ipLen:]
			binary.BigEndian.PutUint16(seg[tcpCsumOffset:], wire.Checksum(seg))
			if !bytes.Equal(got[vnetHdrLen:], full) {
				t.Errorf("completed as the kernel does: % x\nwant % x", got[vnetHdrLen:], full)
			}
		})
	}
}

// TestReadPacketChecked: on a device with offload, ReadPacketChecked
// vouches for the packets the kernel vouches for, NEEDS_CSUM (returned as
// they are, partial) and DATA_VALID, and for a super-packet it had to
// checksum again; a packet with neither flag comes back unchecked, for the
// stack to verify, as does every packet on a device without offload.
// ReadPacket still completes a partial checksum.
func TestReadPacketChecked(t *testing.T) {
	good := tcpPacket(t, src4, dst4, 1000, 0)
	partial := asKernelSends(good)
	super := tcpPacket(t, src6, dst6, 3*1428, 0)
	stale := bytes.Clone(super)
	stale[40+tcpCsumOffset] ^= 0x33 // good only for a segment it was made of
	tests := []struct {
		name        string
		offload     bool
		checkedRead bool // ReadPacketChecked, else ReadPacket
		h           vnetHdr
		in, want    []byte
		checked     bool
	}{
		{"needs csum", true, true, vnetHdr{flags: vnetNeedsCsum, csumStart: 20, csumOffset: 16}, partial, partial, true},
		{"data valid", true, true, vnetHdr{flags: vnetDataValid}, good, good, true},
		{"no flags", true, true, vnetHdr{}, good, good, false},
		{"no flags, bad checksum", true, true, vnetHdr{}, partial, partial, false},
		{"super-packet without flags", true, true, vnetHdr{gsoType: vnetGSOTCPv6, gsoSize: 1428}, stale, super, true},
		{"needs csum, ReadPacket", true, false, vnetHdr{flags: vnetNeedsCsum, csumStart: 20, csumOffset: 16}, partial, good, false},
		{"no offload", false, true, vnetHdr{}, good, good, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, w := pipeDevice(t, tc.offload, false)
			in := tc.in
			if tc.offload {
				in = make([]byte, vnetHdrLen, vnetHdrLen+len(tc.in))
				tc.h.encode(in)
				in = append(in, tc.in...)
			}
			if _, err := w.Write(in); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, MaxGSOSize)
			var n int
			var checked bool
			var err error
			if tc.checkedRead {
				n, checked, err = d.ReadPacketChecked(buf, true)
			} else {
				n, err = d.ReadPacket(buf)
			}
			if err != nil {
				t.Fatal(err)
			}
			if checked != tc.checked {
				t.Errorf("checked %v, want %v", checked, tc.checked)
			}
			if !bytes.Equal(buf[:n], tc.want) {
				t.Errorf("read % x\nwant % x", buf[:n], tc.want)
			}
		})
	}
}
