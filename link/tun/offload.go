//go:build linux

package tun

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/tcpwave/tcpwave/wire"
)

// maxHeaders is the most header a packet has before its TCP payload: an
// IPv4 header with options and a TCP header with options, 60 bytes each.
const maxHeaders = 60 + 60

// setOffload gives the TUN descriptor fd, made with IFF_VNET_HDR, the
// legacy 10-byte virtio-net header and turns on checksum offload and TSO
// for IPv4 and IPv6 (checksum offload only when noTSO: the kernel then
// sends no super-packets into the device). An error wraps ErrNoOffload.
func setOffload(fd int, noTSO bool) error {
	if err := unix.IoctlSetPointerInt(fd, unix.TUNSETVNETHDRSZ, vnetHdrLen); err != nil {
		return fmt.Errorf("%w: TUNSETVNETHDRSZ %d: %w", ErrNoOffload, vnetHdrLen, err)
	}
	flags := tunFCsum | tunFTSO4 | tunFTSO6
	if noTSO {
		flags = tunFCsum
	}
	if err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, flags); err != nil {
		return fmt.Errorf("%w: TUNSETOFFLOAD: %w", ErrNoOffload, err)
	}
	return nil
}

// Offload reports whether the device was opened with offload
// (OpenOffload).
func (d *Device) Offload() bool { return d.offload }

// GSOMaxSize returns the largest TCP super-packet, IP header included,
// that WriteGSO takes and ReadPacket may return (link.Offloader):
// MaxGSOSize on a device with offload, 0 on one without.
func (d *Device) GSOMaxSize() int {
	if !d.offload {
		return 0
	}
	return MaxGSOSize
}

// WriteGSO hands the kernel a TCP super-packet whose payload is segments
// of segSize bytes (link.Offloader). On a device with offload it goes in
// one write, after a virtio-net header that says TCPV4 or TCPV6, gso_size
// segSize and a partial checksum (the TCP checksum field the kernel sees
// holds the pseudo-header's sum; pkt itself is not changed). On a device
// without offload it is cut into packets of up to MTU bytes
// (wire.SplitTCP), each written as WritePacket does.
func (d *Device) WriteGSO(pkt []byte, segSize int) error {
	if d.closed.Load() {
		return errClosed
	}
	if segSize <= 0 {
		return fmt.Errorf("link/tun: WriteGSO with segment size %d", segSize)
	}
	ipLen, hdrLen, err := wire.TCPHeaders(pkt)
	if err != nil {
		return fmt.Errorf("link/tun: WriteGSO: %w", err)
	}
	if len(pkt)-hdrLen <= segSize && len(pkt) <= d.mtu {
		return d.WritePacket(pkt) // one segment: nothing to offload
	}
	if !d.offload {
		scratch := make([]byte, d.mtu)
		return wire.SplitTCP(pkt, segSize, scratch, d.WritePacket)
	}
	if len(pkt) > MaxGSOSize {
		return fmt.Errorf("link/tun: super-packet of %d bytes is larger than %d", len(pkt), MaxGSOSize)
	}
	if hdrLen > maxHeaders || hdrLen+segSize > d.mtu {
		return fmt.Errorf("link/tun: WriteGSO: segments of %d bytes after %d of headers do not fit the MTU of %s (%d)",
			segSize, hdrLen, d.name, d.mtu)
	}
	h, partial := gsoHeader(pkt, ipLen, hdrLen, segSize)
	return d.writeVnet(pkt, &h, partial)
}

// ChecksumOffload reports whether the device has checksum offload
// (link.ChecksumOffloader): whether it was opened with offload.
func (d *Device) ChecksumOffload() bool { return d.offload }

// WritePartial is WritePacket (segSize 0) or WriteGSO (segSize > 0) for a
// packet whose TCP checksum field holds only the pseudo-header's sum
// (link.ChecksumOffloader). On a device with offload the kernel completes
// it: the virtio-net header says NEEDS_CSUM with csum_start at the TCP
// header, and the kernel's TCP, which trusts such a partial checksum from
// a local sender, never computes it unless it forwards the packet. On a
// device without offload the checksum is completed in pkt first.
func (d *Device) WritePartial(pkt []byte, segSize int) error {
	if d.closed.Load() {
		return errClosed
	}
	if !d.offload {
		if err := completeTCP(pkt); err != nil {
			return fmt.Errorf("link/tun: WritePartial: %w", err)
		}
		if segSize > 0 {
			return d.WriteGSO(pkt, segSize)
		}
		return d.WritePacket(pkt)
	}
	if segSize < 0 {
		return fmt.Errorf("link/tun: WritePartial with segment size %d", segSize)
	}
	ipLen, hdrLen, err := wire.TCPHeaders(pkt)
	if err != nil {
		return fmt.Errorf("link/tun: WritePartial: %w", err)
	}
	if segSize > 0 && (len(pkt)-hdrLen > segSize || len(pkt) > d.mtu) {
		return d.WriteGSO(pkt, segSize)
	}
	if len(pkt) > d.mtu {
		return fmt.Errorf("link/tun: packet of %d bytes is larger than the MTU of %s (%d)",
			len(pkt), d.name, d.mtu)
	}
	if hdrLen > maxHeaders {
		return fmt.Errorf("link/tun: WritePartial: %d bytes of headers", hdrLen)
	}
	h, partial := gsoHeader(pkt, ipLen, hdrLen, 0)
	h.gsoType = vnetGSONone
	return d.writeVnet(pkt, &h, partial)
}

// completeTCP stores the complete TCP checksum in the IPv4 or IPv6 TCP
// packet pkt, whose checksum field holds the pseudo-header's sum.
func completeTCP(pkt []byte) error {
	ipLen, _, err := wire.TCPHeaders(pkt)
	if err != nil {
		return err
	}
	at := ipLen + tcpCsumOffset
	binary.BigEndian.PutUint16(pkt[at:], wire.Checksum(pkt[ipLen:]))
	return nil
}

// writeVnet writes pkt after a virtio-net header: h, or with h nil one
// that offloads nothing (GSO_NONE, no flags; the kernel verifies the
// checksums). With h, the TCP checksum field goes out as partial.
func (d *Device) writeVnet(pkt []byte, h *vnetHdr, partial uint16) error {
	v := d.rio
	v.wmu.Lock()
	defer v.wmu.Unlock()
	s := &v.tx
	if h == nil {
		s.hdr = [vnetHdrLen]byte{}
		s.set(s.hdr[:], pkt)
	} else {
		h.encode(s.hdr[:])
		n := int(h.hdrLen)
		copy(v.hdrs[:n], pkt[:n])
		at := int(h.csumStart) + tcpCsumOffset
		v.hdrs[at], v.hdrs[at+1] = byte(partial>>8), byte(partial)
		s.set(s.hdr[:], v.hdrs[:n], pkt[n:])
	}
	err := v.raw.Write(v.writeFn)
	s.clear()
	switch {
	case err != nil && (d.closed.Load() || errors.Is(err, os.ErrClosed)):
		return errClosed
	case err != nil:
		return fmt.Errorf("link/tun: write %s: %w", d.name, err)
	case s.errno != 0:
		return fmt.Errorf("link/tun: write %s: %w", d.name, s.errno)
	case s.n != vnetHdrLen+len(pkt):
		return fmt.Errorf("link/tun: write %s: %d of %d bytes written", d.name, s.n, vnetHdrLen+len(pkt))
	}
	return nil
}
