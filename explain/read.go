package explain

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/tcpwave/tcpwave/wire"
)

// Packet is one TCP segment read from a capture: its time, its endpoints,
// its parsed header and the length of its payload. The payload itself is
// not kept: a capture cut by a snap length has the headers, and the length
// comes from the IP header.
type Packet struct {
	T          time.Time
	Src, Dst   netip.AddrPort
	TCP        wire.TCPFields
	PayloadLen int
	IPID       uint16 // the IPv4 identification (0 for IPv6)
	// Options is a hash of the TCP options' bytes (0 without options),
	// which tells a copy of a segment (the same SACK blocks and
	// timestamps) from a segment sent again.
	Options uint64
	// Point names where the capture saw the packet, as far as the
	// capture says: its pcapng interface, the interface index and packet
	// type of a Linux cooked capture v2, or the packet type of v1
	// (incoming, outgoing, to another host). Two copies of a packet with
	// different points were seen in two places ("tcpdump -i any" on a
	// bridge, a router, a veth pair); the same point may still be two
	// interfaces (v1 keeps no interface index).
	Point uint64
}

// ErrNotCapture is the error for input that is neither pcap nor pcapng.
var ErrNotCapture = errors.New("not a pcap or pcapng capture")

// Link types this package reads (LINKTYPE_ values of the pcap and pcapng
// formats), beyond the ones gopacket's layers package names.
const (
	linkNull    = 0   // BSD loopback: a 4-byte address family in host order
	linkEther   = 1   // Ethernet
	linkRaw12   = 12  // raw IP, as some BSDs number it
	linkRaw14   = 14  // raw IP, as OpenBSD numbers it
	linkRaw     = 101 // raw IP
	linkLoop    = 108 // OpenBSD loopback: the family in network order
	linkSLL     = 113 // Linux cooked capture v1 (tcpdump -i any)
	linkIPv4    = 228 // bare IPv4
	linkIPv6    = 229 // bare IPv6
	linkSLL2    = 276 // Linux cooked capture v2
	etherIPv4   = 0x0800
	etherIPv6   = 0x86dd
	etherVLAN   = 0x8100
	etherQinQ   = 0x88a8
	etherQinQ91 = 0x9100
)

// Reader reads the TCP segments of a pcap or pcapng stream, whatever its
// link type, skipping everything else. It keeps no packet: each call to
// Next overwrites the previous one's buffer.
type Reader struct {
	next func() ([]byte, gopacket.CaptureInfo, uint32, error)
	// Counters of what was read.
	Records   int // capture records read
	TCP       int // TCP segments returned
	NotTCP    int // records that carry no TCP segment (ARP, UDP, ICMP, ...)
	Truncated int // TCP segments whose header the snap length cut
	Fragments int // IP fragments (skipped)
	Unknown   int // records of a link type this reader does not know
}

// NewReader reads a capture's file header from r, pcap (µs or ns, either
// byte order, gzipped or not) or pcapng (several sections and interfaces,
// each with its own link type and time resolution).
func NewReader(r io.Reader) (*Reader, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	magic, err := br.Peek(4)
	if err != nil {
		if errors.Is(err, io.EOF) {
			if len(magic) == 0 {
				return nil, fmt.Errorf("%w: the input is empty", ErrNotCapture)
			}
			return nil, fmt.Errorf("%w: only %d bytes", ErrNotCapture, len(magic))
		}
		return nil, fmt.Errorf("reading the capture header: %w", err)
	}
	rd := &Reader{}
	if binary.BigEndian.Uint32(magic) == 0x0a0d0d0a {
		ng, err := pcapgo.NewNgReader(br, pcapgo.NgReaderOptions{WantMixedLinkType: true, SkipUnknownVersion: true})
		if err != nil {
			return nil, fmt.Errorf("pcapng header: %w", headerErr(err))
		}
		rd.next = func() ([]byte, gopacket.CaptureInfo, uint32, error) {
			data, ci, err := ng.ZeroCopyReadPacketData()
			if err != nil {
				return nil, ci, 0, err
			}
			lt := uint32(ng.LinkType())
			if len(ci.AncillaryData) > 0 {
				if l, ok := ci.AncillaryData[0].(layers.LinkType); ok {
					lt = uint32(l)
				}
			}
			return data, ci, lt, nil
		}
		return rd, nil
	}
	switch binary.LittleEndian.Uint32(magic) {
	case 0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1: // pcap, µs or ns, either byte order
	default:
		if magic[0] != 0x1f || magic[1] != 0x8b { // gzip, which pcapgo opens
			return nil, fmt.Errorf("%w: it begins with % x", ErrNotCapture, magic)
		}
	}
	pr, err := pcapgo.NewReader(br)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotCapture, headerErr(err))
	}
	lt := uint32(pr.LinkType()) & 0xffff // the upper bits say whether frames carry an FCS
	rd.next = func() ([]byte, gopacket.CaptureInfo, uint32, error) {
		data, ci, err := pr.ZeroCopyReadPacketData()
		return data, ci, lt, err
	}
	return rd, nil
}

// headerErr turns a short read of a header into a clear error.
func headerErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("the file header is cut short")
	}
	return err
}

// ErrTruncated wraps the error of a capture whose last record is cut short
// (a tcpdump killed while writing, a partial download).
var ErrTruncated = errors.New("capture truncated")

// Next reads the next TCP segment into p. It returns io.EOF at the end of
// the capture, and an error wrapping ErrTruncated when the capture ends
// inside a record.
func (r *Reader) Next(p *Packet) error {
	for {
		data, ci, lt, err := r.next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return io.EOF
			}
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("%w after %d records", ErrTruncated, r.Records)
			}
			return fmt.Errorf("record %d: %w", r.Records+1, err)
		}
		r.Records++
		ip, ok := linkPayload(data, lt)
		if !ok {
			r.Unknown++
			continue
		}
		switch decodeIP(ip, ci.Length-(len(data)-len(ip)), p) {
		case decodedTCP:
			p.T = ci.Timestamp
			p.Point = capturePoint(data, lt, ci.InterfaceIndex)
			r.TCP++
			return nil
		case decodedTruncated:
			r.Truncated++
		case decodedFragment:
			r.Fragments++
		default:
			r.NotTCP++
		}
	}
}

// linkPayload returns the IP packet inside a frame of link type lt, or
// false when lt is not one this reader knows or the frame is too short.
// Frames of a known link type that carry no IP come back empty (not TCP).
func linkPayload(b []byte, lt uint32) ([]byte, bool) {
	switch lt {
	case linkRaw, linkRaw12, linkRaw14, linkIPv4, linkIPv6:
		return b, true
	case linkNull, linkLoop:
		if len(b) < 4 {
			return nil, true
		}
		return b[4:], true // the family's value differs by OS: the IP version says it
	case linkEther:
		if len(b) < 14 {
			return nil, true
		}
		et := binary.BigEndian.Uint16(b[12:14])
		b = b[14:]
		for et == etherVLAN || et == etherQinQ || et == etherQinQ91 {
			if len(b) < 4 {
				return nil, true
			}
			et = binary.BigEndian.Uint16(b[2:4])
			b = b[4:]
		}
		return etherIP(b, et), true
	case linkSLL:
		if len(b) < 16 {
			return nil, true
		}
		return etherIP(b[16:], binary.BigEndian.Uint16(b[14:16])), true
	case linkSLL2:
		if len(b) < 20 {
			return nil, true
		}
		return etherIP(b[20:], binary.BigEndian.Uint16(b[0:2])), true
	}
	return nil, false
}

// capturePoint names where a frame of link type lt was captured: the
// pcapng interface iface, and for a Linux cooked capture the packet type
// (v1, v2) and interface index (v2).
func capturePoint(b []byte, lt uint32, iface int) uint64 {
	pt := uint64(uint16(iface)) << 48
	switch lt {
	case linkSLL:
		if len(b) >= 2 {
			pt |= 1<<40 | uint64(b[1])<<32
		}
	case linkSLL2:
		if len(b) >= 11 {
			pt |= 2<<40 | uint64(b[10])<<32 | uint64(binary.BigEndian.Uint32(b[4:8]))
		}
	}
	return pt
}

// optionsHash is the FNV-1a hash of a TCP header's options, 0 without.
func optionsHash(opts []byte) uint64 {
	if len(opts) == 0 {
		return 0
	}
	h := uint64(14695981039346656037)
	for _, c := range opts {
		h = (h ^ uint64(c)) * 1099511628211
	}
	return h
}

// etherIP returns b when the EtherType et is IPv4 or IPv6, nil otherwise.
func etherIP(b []byte, et uint16) []byte {
	if et == etherIPv4 || et == etherIPv6 {
		return b
	}
	return nil
}

// What decodeIP found.
const (
	decodedOther = iota
	decodedTCP
	decodedTruncated
	decodedFragment
)

// decodeIP reads the IPv4 or IPv6 packet at the start of b (cut short by
// a snap length, perhaps) into p. wireLen is the packet's length on the
// wire from the IP header on, for the lengths a TSO capture leaves 0.
// Checksums are never verified: captures of offloaded traffic carry wrong
// ones.
func decodeIP(b []byte, wireLen int, p *Packet) int {
	if len(b) < 1 {
		return decodedOther
	}
	var src, dst netip.Addr
	var seg []byte
	var ipLen int // bytes from the TCP header to the end of the packet
	switch b[0] >> 4 {
	case 4:
		if len(b) < 20 {
			return decodedOther
		}
		hl := int(b[0]&0x0f) * 4
		if hl < 20 || len(b) < hl {
			return decodedOther
		}
		if b[9] != 6 {
			return decodedOther
		}
		if binary.BigEndian.Uint16(b[6:8])&0x3fff != 0 { // MF or an offset
			return decodedFragment
		}
		total := int(binary.BigEndian.Uint16(b[2:4]))
		if total == 0 { // TSO: the length is not filled in
			total = wireLen
		}
		src = netip.AddrFrom4([4]byte(b[12:16]))
		dst = netip.AddrFrom4([4]byte(b[16:20]))
		seg = b[hl:]
		ipLen = total - hl
		p.IPID = binary.BigEndian.Uint16(b[4:6])
	case 6:
		if len(b) < 40 {
			return decodedOther
		}
		plen := int(binary.BigEndian.Uint16(b[4:6]))
		if plen == 0 { // a jumbogram or TSO
			plen = wireLen - 40
		}
		src = netip.AddrFrom16([16]byte(b[8:24]))
		dst = netip.AddrFrom16([16]byte(b[24:40]))
		p.IPID = 0
		next := b[6]
		seg = b[40:]
		ipLen = plen
		for next != 6 {
			var n int
			switch next {
			case 0, 43, 60: // hop-by-hop, routing, destination options
				if len(seg) < 2 {
					return decodedOther
				}
				n = (int(seg[1]) + 1) * 8
			case 51: // authentication header
				if len(seg) < 2 {
					return decodedOther
				}
				n = (int(seg[1]) + 2) * 4
			case 44: // fragment
				if len(seg) < 8 {
					return decodedOther
				}
				if binary.BigEndian.Uint16(seg[2:4])&0xfff9 != 0 {
					return decodedFragment
				}
				n = 8
			default:
				return decodedOther
			}
			if len(seg) < n {
				return decodedOther
			}
			next = seg[0]
			seg = seg[n:]
			ipLen -= n
		}
	default:
		return decodedOther
	}
	payload, err := wire.ParseTCP(seg, &p.TCP) // a header cut short, or a bad data offset
	if err != nil {
		return decodedTruncated
	}
	p.Options = optionsHash(seg[20 : len(seg)-len(payload)])
	p.PayloadLen = max(ipLen-(len(seg)-len(payload)), 0)
	p.Src = netip.AddrPortFrom(src, p.TCP.SrcPort)
	p.Dst = netip.AddrPortFrom(dst, p.TCP.DstPort)
	return decodedTCP
}
