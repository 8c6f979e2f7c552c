package stack

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/tcpwave/tcpwave/wire"
)

// The checks a packet passes before it reaches a socket, in Linux's order
// and counted where Linux counts them: the IP header (ip_rcv_core,
// ip6_rcv_core), the route to a local address (ip_route_input_slow), the
// IPv4 options (ip_rcv_options), the protocol, then the TCP header and
// checksum (tcp_v4_rcv, tcp_v6_rcv).

// inbound is a packet that passed the checks, parsed.
type inbound struct {
	p wire.Packet
	// opts are the segment's TCP option bytes, for the check Linux makes
	// before a socket takes a segment (ScanAuthOptions).
	opts []byte
	// mute is set for a segment TCP takes but must never answer or act
	// on: one sent to a broadcast or multicast address, or from the
	// unspecified address, which no reply can reach.
	mute bool
	// checked is set when the link vouched for the segment's TCP checksum
	// (HandleCheckedPacket): it is not verified again.
	checked bool
}

// Reasons for drops, as the Observer hears them.
var (
	errNotTCP      = fmt.Errorf("stack: %w", wire.ErrNotTCP)
	errBadChecksum = fmt.Errorf("stack: tcp: %w", wire.ErrBadChecksum)
)

const (
	errNotOurs       = stackError("stack: packet for an address that is not ours")
	errMartianSource = stackError("stack: martian source address")
	errMartianDest   = stackError("stack: martian destination address")
	errSourceRoute   = stackError("stack: source-routed packet (accept_source_route=0)")
	errMute          = stackError("stack: segment to a broadcast or multicast address, or from an unspecified one, is not answered")
	errAuthOption    = stackError("stack: TCP option with a bad length (Linux tcp_inbound_hash)")
	errMD5           = stackError("stack: TCP MD5 signature, and no key for it (TCPMD5Unexpected)")
)

// input runs the checks on the packet b and fills in. It returns why the
// packet was dropped, having counted it.
func (s *Stack) input(b []byte, in *inbound) error {
	if len(b) > 0 {
		switch b[0] >> 4 {
		case 4:
			return s.input4(b, in)
		case 6:
			return s.input6(b, in)
		}
	}
	s.counters.InHdrErrors++
	return wire.ParsePacket(b, &in.p) // the version's error
}

// input4 is IPv4's part of input.
func (s *Stack) input4(b []byte, in *inbound) error {
	src, dst, proto, seg, err := wire.ParseIPv4(b)
	if err != nil {
		if errors.Is(err, wire.ErrFragment) {
			s.counters.InDiscards++ // tcpwave does not reassemble
		} else {
			s.counters.InHdrErrors++ // ip_rcv_core
		}
		return err
	}
	// ip_route_input_slow: martian sources (fib_validate_source: our own
	// address, a LAND attack, with accept_local=0) and destinations.
	if src.IsUnspecified() || src == ipv4Broadcast || src.IsMulticast() || src.IsLoopback() && !s.opts.RouteLocalnet || s.hasAddr(src) {
		s.counters.InAddrErrors++
		return errMartianSource
	}
	switch {
	case dst == ipv4Broadcast || dst.IsMulticast():
		in.mute = true // delivered, never answered (tcp_v4_conn_request)
	case dst.IsUnspecified() || dst.IsLoopback() && !s.opts.RouteLocalnet:
		s.counters.InAddrErrors++
		return errMartianDest
	case !s.hasAddr(dst):
		s.counters.InAddrErrors++ // ip_error: no route, forwarding off
		return errNotOurs
	}
	if hl := int(b[0]&0x0f) * 4; hl > wire.IPv4HeaderLen {
		// ip_rcv_options: malformed options, and source routes with
		// accept_source_route=0 (a host that does not forward).
		srr, err := wire.CheckIPv4Options(b[wire.IPv4HeaderLen:hl])
		if err != nil {
			s.counters.InHdrErrors++
			return err
		}
		if srr {
			return errSourceRoute
		}
	}
	if proto != 6 {
		s.counters.InUnknownProtos++
		return errNotTCP
	}
	return s.inputTCP(src, dst, seg, in)
}

// ipv4Broadcast is the limited broadcast address.
var ipv4Broadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})

// input6 is IPv6's part of input.
func (s *Stack) input6(b []byte, in *inbound) error {
	src, dst, proto, seg, err := wire.ParseIPv6(b)
	if err != nil && !errors.Is(err, wire.ErrNotTCP) {
		s.counters.InHdrErrors++
		return err
	}
	// ip6_rcv_core: loopback on the link, multicast sources, multicast
	// destinations of scope 0 or 1 (RFC 4291 §2.7); IPv4-mapped sources,
	// which RFC 4291 §2.5.5.2 keeps off the wire (tcp_v6_conn_request).
	if src.IsLoopback() || dst.IsLoopback() || src.IsMulticast() || src.Is4In6() ||
		dst.IsMulticast() && dst.As16()[1]&0x0f <= 1 {
		s.counters.InHdrErrors++
		return errMartianSource
	}
	// Our own address as the source: a LAND attack. Linux would answer
	// it on its loopback, never on the link; tcpwave has no loopback.
	if s.hasAddr(src) {
		s.counters.InAddrErrors++
		return errMartianSource
	}
	switch {
	case dst.IsMulticast():
		in.mute = true // delivered, never answered (tcp_v6_conn_request)
	case !s.hasAddr(dst):
		s.counters.InAddrErrors++
		return errNotOurs
	}
	if proto != 6 {
		s.counters.InUnknownProtos++
		return errNotTCP
	}
	if src.IsUnspecified() {
		in.mute = true // no route back to it
	}
	return s.inputTCP(src, dst, seg, in)
}

// inputTCP is tcp_v4_rcv's and tcp_v6_rcv's first checks: every segment
// counts in InSegs, even a bad one; a data offset below 5 or a bad
// checksum is also an InErr (the checksum an InCsumError), while a segment
// too short for its header is dropped uncounted. The checksum of a segment
// the link vouched for (in.checked) is not verified, as Linux trusts a
// device's CHECKSUM_UNNECESSARY or a local sender's CHECKSUM_PARTIAL.
func (s *Stack) inputTCP(src, dst netip.Addr, seg []byte, in *inbound) error {
	s.counters.InSegs++
	payload, err := wire.ParseTCP(seg, &in.p.TCP)
	if err != nil {
		if len(seg) >= wire.TCPHeaderMinLen && seg[12]>>4 < 5 {
			s.counters.InErrs++
		}
		return err
	}
	if !in.checked && !wire.VerifyTCPChecksum(src, dst, seg) {
		s.counters.InCsumErrors++
		s.counters.InErrs++
		return errBadChecksum
	}
	in.p.Src, in.p.Dst, in.p.Payload = src, dst, payload
	in.opts = seg[wire.TCPHeaderMinLen : len(seg)-len(payload)]
	return nil
}

// authDrop is the check Linux's tcp_inbound_hash makes before a socket
// (a connection or a listener, not a TIME_WAIT record) takes a segment: a
// segment whose options have a bad length early on, or that carries a TCP
// MD5 signature, which no socket of tcpwave has a key for, is dropped.
func (s *Stack) authDrop(in *inbound) error {
	if len(in.opts) < 18 {
		return nil // the common case: too few option bytes to look at
	}
	md5, err := wire.ScanAuthOptions(in.opts)
	switch {
	case err != nil:
		return errAuthOption
	case md5:
		s.counters.TCPMD5Unexpected++
		return errMD5
	}
	return nil
}
