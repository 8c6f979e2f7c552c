// Package pcap writes packets to a classic pcap file (the format tcpdump and
// Wireshark read) with LINKTYPE_RAW: each record is a bare IPv4 or IPv6
// packet. Timestamps come from the caller, so a simulated run writes its
// virtual time and the same seed gives the same bytes.
//
// Packets are written as given. A packet that a stack sent with a partial
// TCP checksum, for a link with checksum offload to complete
// (link.ChecksumOffloader, stack.Options.PartialChecksum), holds only the
// pseudo-header's sum in its checksum field, and tcpdump and Wireshark
// call it incorrect, as they do in a capture on a Linux device with
// checksum offload. A host (package tcpwave) leaves checksums partial only
// on an endpoint that implements link.ChecksumOffloader itself: a tap that
// wraps such an endpoint without implementing it gets, and records,
// complete checksums.
package pcap

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/tcpwave/tcpwave/clock"
)

const (
	magicMicros = 0xa1b2c3d4 // microsecond timestamps
	linkTypeRaw = 101        // LINKTYPE_RAW: the packet begins with an IP header
	snapLen     = 65535
)

// Writer writes a pcap stream. It is not safe for concurrent use.
type Writer struct {
	w   io.Writer
	hdr [16]byte
	err error
	n   int
}

// NewWriter writes the pcap file header to w and returns a Writer.
func NewWriter(w io.Writer) (*Writer, error) {
	var h [24]byte
	binary.LittleEndian.PutUint32(h[0:], magicMicros)
	binary.LittleEndian.PutUint16(h[4:], 2) // version 2.4
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], snapLen)
	binary.LittleEndian.PutUint32(h[20:], linkTypeRaw)
	if _, err := w.Write(h[:]); err != nil {
		return nil, fmt.Errorf("pcap: writing the file header: %w", err)
	}
	return &Writer{w: w}, nil
}

// WritePacket appends one packet captured at t. After the first error
// every call returns it.
func (pw *Writer) WritePacket(t clock.Instant, pkt []byte) error {
	if pw.err != nil {
		return pw.err
	}
	if t < 0 {
		t = 0
	}
	us := t.Micros()
	capLen := min(len(pkt), snapLen)
	binary.LittleEndian.PutUint32(pw.hdr[0:], uint32(us/1e6))
	binary.LittleEndian.PutUint32(pw.hdr[4:], uint32(us%1e6))
	binary.LittleEndian.PutUint32(pw.hdr[8:], uint32(capLen))
	binary.LittleEndian.PutUint32(pw.hdr[12:], uint32(len(pkt)))
	if _, err := pw.w.Write(pw.hdr[:]); err != nil {
		pw.err = fmt.Errorf("pcap: writing record %d: %w", pw.n+1, err)
		return pw.err
	}
	if _, err := pw.w.Write(pkt[:capLen]); err != nil {
		pw.err = fmt.Errorf("pcap: writing record %d: %w", pw.n+1, err)
		return pw.err
	}
	pw.n++
	return nil
}

// Err returns the first write error, if any.
func (pw *Writer) Err() error {
	if pw == nil {
		return nil
	}
	return pw.err
}

// Count returns the number of packets written.
func (pw *Writer) Count() int { return pw.n }
