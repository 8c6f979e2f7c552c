package tun

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/tcpwave/tcpwave/wire"
)

// The virtio-net header that a TUN device opened with IFF_VNET_HDR puts
// before every packet, both ways (struct virtio_net_hdr in Linux's
// include/uapi/linux/virtio_net.h, the legacy layout without num_buffers).
// Its 16-bit fields are in the host's byte order: a TUN device is a
// "legacy" virtio device unless TUNSETVNETLE or TUNSETVNETBE says
// otherwise, and this package sets neither.
//
//	offset 0: flags       (vnetNeedsCsum, vnetDataValid)
//	offset 1: gso_type    (vnetGSONone, vnetGSOTCPv4, vnetGSOTCPv6, | vnetGSOECN)
//	offset 2: hdr_len     bytes of headers (IP and TCP) before the payload
//	offset 4: gso_size    payload bytes of each segment the packet stands for
//	offset 6: csum_start  where the checksummed data begins (the TCP header)
//	offset 8: csum_offset where the checksum field is, from csum_start
const vnetHdrLen = 10

// Values of the header's flags (VIRTIO_NET_HDR_F_*).
const (
	// vnetNeedsCsum: the checksum field at csum_start+csum_offset holds
	// only the sum of the pseudo-header; the sum of the data from
	// csum_start on is still to be added.
	vnetNeedsCsum = 1
	// vnetDataValid: the sender has validated the checksum.
	vnetDataValid = 2
)

// Values of the header's gso_type (VIRTIO_NET_HDR_GSO_*).
const (
	vnetGSONone  = 0
	vnetGSOTCPv4 = 1
	vnetGSOTCPv6 = 4
	vnetGSOECN   = 0x80 // or-ed in: the super-packet's first segment has CWR
)

// Offload bits of the TUNSETOFFLOAD ioctl (TUN_F_* in Linux's
// include/uapi/linux/if_tun.h; golang.org/x/sys/unix has no names for
// them): the device takes, and gives, packets with partial checksums
// and TCP super-packets over IPv4 and IPv6.
const (
	tunFCsum = 0x01
	tunFTSO4 = 0x02
	tunFTSO6 = 0x04
)

// tcpCsumOffset is where the checksum field is in a TCP header.
const tcpCsumOffset = 16

// vnetHdr is a decoded virtio-net header.
type vnetHdr struct {
	flags      uint8
	gsoType    uint8
	hdrLen     uint16
	gsoSize    uint16
	csumStart  uint16
	csumOffset uint16
}

// encode writes h into b, which holds at least vnetHdrLen bytes.
func (h *vnetHdr) encode(b []byte) {
	_ = b[vnetHdrLen-1]
	b[0] = h.flags
	b[1] = h.gsoType
	binary.NativeEndian.PutUint16(b[2:], h.hdrLen)
	binary.NativeEndian.PutUint16(b[4:], h.gsoSize)
	binary.NativeEndian.PutUint16(b[6:], h.csumStart)
	binary.NativeEndian.PutUint16(b[8:], h.csumOffset)
}

// decode reads h from b, which holds at least vnetHdrLen bytes.
func (h *vnetHdr) decode(b []byte) {
	_ = b[vnetHdrLen-1]
	*h = vnetHdr{
		flags:      b[0],
		gsoType:    b[1],
		hdrLen:     binary.NativeEndian.Uint16(b[2:]),
		gsoSize:    binary.NativeEndian.Uint16(b[4:]),
		csumStart:  binary.NativeEndian.Uint16(b[6:]),
		csumOffset: binary.NativeEndian.Uint16(b[8:]),
	}
}

var errBadVnetHdr = errors.New("link/tun: virtio-net header does not fit its packet")

// finishChecksum makes the packet pkt, read with the header h, one whose
// checksums a receiver can verify. When h says vnetNeedsCsum the field
// at csum_start+csum_offset holds the partial sum the kernel began (for
// TCP, the pseudo-header's, over the whole packet's length); the data
// from csum_start on is added to it and the complement stored, as a NIC
// finishing the checksum would (Linux's skb_checksum_help). A TCP
// super-packet (h.gsoType not none) that does not need its checksum
// completed has a field that was good only for the segments it was made
// of, so its checksum is computed again. Anything else is left as it is.
func finishChecksum(pkt []byte, h *vnetHdr) error {
	if h.flags&vnetNeedsCsum != 0 {
		start, at := int(h.csumStart), int(h.csumStart)+int(h.csumOffset)
		if at+2 > len(pkt) {
			return fmt.Errorf("%w: checksum at %d+%d in a packet of %d bytes",
				errBadVnetHdr, h.csumStart, h.csumOffset, len(pkt))
		}
		binary.BigEndian.PutUint16(pkt[at:], wire.Checksum(pkt[start:]))
		return nil
	}
	if h.gsoType&^vnetGSOECN == vnetGSONone {
		return nil
	}
	ipLen, _, err := wire.TCPHeaders(pkt)
	if err != nil {
		return fmt.Errorf("link/tun: super-packet from the kernel: %w", err)
	}
	src, dst := addrs(pkt)
	seg := pkt[ipLen:]
	seg[tcpCsumOffset], seg[tcpCsumOffset+1] = 0, 0
	binary.BigEndian.PutUint16(seg[tcpCsumOffset:], wire.TCPChecksum(src, dst, seg))
	return nil
}

// gsoHeader returns the virtio-net header for the TCP super-packet pkt,
// whose payload is segments of segSize bytes, and the value its TCP
// checksum field must hold for the kernel: the partial sum of the
// pseudo-header over the whole TCP length, which the kernel finishes for
// each segment it cuts (vnetNeedsCsum), as a driver hands a NIC a TSO
// packet. ipLen and hdrLen are wire.TCPHeaders' results for pkt.
func gsoHeader(pkt []byte, ipLen, hdrLen, segSize int) (vnetHdr, uint16) {
	h := vnetHdr{
		flags:      vnetNeedsCsum,
		gsoType:    vnetGSOTCPv4,
		hdrLen:     uint16(hdrLen),
		gsoSize:    uint16(segSize),
		csumStart:  uint16(ipLen),
		csumOffset: tcpCsumOffset,
	}
	if pkt[0]>>4 == 6 {
		h.gsoType = vnetGSOTCPv6
	}
	if pkt[ipLen+13]&byte(wire.CWR) != 0 {
		h.gsoType |= vnetGSOECN
	}
	return h, pseudoPartial(pkt, len(pkt)-ipLen)
}

// pseudoPartial returns the ones' complement sum, folded but not
// complemented, of the TCP pseudo-header (RFC 9293 §3.1, RFC 8200 §8.1)
// of a segment of tcpLen bytes in the IPv4 or IPv6 packet pkt.
func pseudoPartial(pkt []byte, tcpLen int) uint16 {
	src, dst := addrs(pkt)
	return wire.PseudoHeaderSum(src, dst, tcpLen)
}

// addrs returns the source and destination addresses of the IPv4 or IPv6
// packet pkt, whose header wire.TCPHeaders has checked.
func addrs(pkt []byte) (src, dst netip.Addr) {
	if pkt[0]>>4 == 4 {
		return netip.AddrFrom4([4]byte(pkt[12:16])), netip.AddrFrom4([4]byte(pkt[16:20]))
	}
	return netip.AddrFrom16([16]byte(pkt[8:24])), netip.AddrFrom16([16]byte(pkt[24:40]))
}
