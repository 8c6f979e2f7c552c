// Package explain reads a packet capture (pcap or pcapng, as tcpdump and
// Wireshark write them) and reconstructs every TCP connection in it: its
// numbers, both endpoints' states inferred from what crossed the capture
// point, and a diagnosis in the terms of the four-way close — who closed
// first and holds TIME_WAIT, the kind of close, half-closes, lost FINs and
// ACKs, RSTs and their likely causes, 4-tuple reuse, keepalives, zero
// windows, and connections the capture leaves in CLOSE_WAIT or FIN_WAIT_2.
//
// The capture is streamed: a connection's record is bounded (no payload is
// kept) and it is handed over once it is over, so a capture's memory grows
// with the connections active at once, not with its length.
//
// # How the states are inferred
//
// A segment seen at the capture point may still be lost beyond it, so
// what a segment does to its receiver is not applied when it is seen: it
// waits, at the receiver, for proof. A SYN, SYN-ACK, FIN or data segment
// has arrived once the receiver sends an ACK that covers it; an ACK of a
// FIN (or of a SYN-ACK) has not arrived if its receiver then sends the FIN
// (or the SYN-ACK) again, and is taken as arrived otherwise; a RST has not
// been accepted if its receiver goes on sending. The change is then dated
// when the segment that caused it was seen, and a change applied for want
// of contrary proof when the capture (or the connection's quiet time) ends
// says so in Transition.Uncertain. Timers fill in what no packet shows:
// TIME_WAIT's 2MSL, FIN_WAIT_2's tcp_fin_timeout when a late FIN draws a
// RST, the orphan retries of a FIN never ACKed, a keepalive timer giving
// up. The rules and their reasons are the ones package tcp applies, so an
// explained scenario capture gives each host its own trace's states.
package explain

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// ErrNoTCP is returned by Explain for a capture without a TCP segment.
var ErrNoTCP = errors.New("no TCP connections")

// Summary describes a whole capture.
type Summary struct {
	Start     time.Time     // the first TCP segment's time
	Duration  time.Duration // from the first TCP segment to the last
	Records   int           // capture records
	Segments  int           // TCP segments
	NotTCP    int           // records without TCP
	Truncated int           // TCP segments whose header the snap length cut
	Fragments int           // IP fragments, skipped
	Unknown   int           // records of a link type this package does not read
	Duplicate int           // TCP segments captured twice (skipped)
	Conns     int           // connections handed over
}

// Explain reads the capture r and hands every connection to emit, in the
// order they end (the rest, in order of their first packet, at the end of
// the capture). A capture without a TCP segment gives ErrNoTCP; a capture
// cut short inside a record gives an error wrapping ErrTruncated after the
// connections read so far were handed over.
func Explain(r io.Reader, opt Options, emit func(*Conn)) (Summary, error) {
	var sum Summary
	rd, err := NewReader(r)
	if err != nil {
		return sum, err
	}
	a := NewAnalyzer(opt, emit)
	var p Packet
	var readErr error
	for {
		if err := rd.Next(&p); err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = err
			}
			break
		}
		if sum.Segments == 0 {
			sum.Start = p.T
		}
		sum.Segments++
		a.Add(&p)
	}
	a.Finish()
	sum.Duration = a.last
	sum.Records, sum.NotTCP, sum.Truncated, sum.Fragments, sum.Unknown = rd.Records, rd.NotTCP, rd.Truncated, rd.Fragments, rd.Unknown
	sum.Conns, sum.Duplicate = a.Conns, a.Duplicates
	if readErr != nil {
		return sum, readErr
	}
	if sum.Segments == 0 {
		if sum.Records == 0 {
			return sum, fmt.Errorf("%w: the capture holds no packet", ErrNoTCP)
		}
		return sum, fmt.Errorf("%w: %d packets, none of them TCP", ErrNoTCP, sum.Records)
	}
	return sum, nil
}
