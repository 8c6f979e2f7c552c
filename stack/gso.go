package stack

import (
	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/tcp"
	"github.com/tcpwave/tcpwave/wire"
)

// gsoHeaderRoom is the most header a super-packet carries: an IPv6 header
// and a TCP header with the longest options.
const gsoHeaderRoom = 40 + 60

// PollPacketGSO is PollPacket for a link with segmentation offload
// (Options.GSOMaxSize). When a connection has several full-sized data
// segments to send at once, it writes them as one super-packet: the first
// segment's headers over the payload of them all, and returns segSize, the
// payload of each segment (the last may be shorter). Split at segSize, with
// the sequence number, IPv4 ID and checksums advanced for each piece, a
// super-packet is exactly the segments PollPacket would have sent; its
// window, ACK and options are those of every piece. Any other packet comes
// back with segSize 0. buf must hold Options.GSOMaxSize bytes.
//
// The connections see no difference: they build their segments one by one,
// as always; only the headers are written once for the burst, which is
// where segmentation offload saves its work. Observers see the
// super-packets, as a capture on a Linux device with offload does.
func (s *Stack) PollPacketGSO(now clock.Instant, buf []byte) (n, segSize int) {
	if s.opts.GSOMaxSize <= s.opts.MTU {
		return s.PollPacket(now, buf), 0
	}
	if so := s.takePending(); so != nil {
		if !so.live() {
			// Closed since: the segment was sent as far as the
			// connection knows, so it still goes out.
			return s.encode(now, buf, so.tuple, &s.seg), 0
		}
		return s.burst(now, buf, so)
	}
	if s.ctlHead < len(s.ctl) {
		return s.PollPacket(now, buf), 0 // RSTs, TIME_WAIT ACKs, cookie SYN-ACKs go first, as in PollPacket
	}
	for s.dirtyHead < len(s.dirty) {
		so := s.dirty[s.dirtyHead]
		if so.live() && so.conn.Poll(now, &s.seg, s.payload) {
			if n, size := s.burst(now, buf, so); n > 0 {
				return n, size
			}
			continue
		}
		s.doneDirty(now, so)
	}
	s.dirty, s.dirtyHead = s.dirty[:0], 0
	return 0, 0
}

// burst sends the segment in s.seg, from so, and the full-sized data
// segments so has right behind it, as one super-packet.
func (s *Stack) burst(now clock.Instant, buf []byte, so *Socket) (int, int) {
	first := s.seg
	size := len(first.Payload)
	if first.Flags != wire.ACK || size == 0 {
		return s.encode(now, buf, so.tuple, &first), 0
	}
	limit := s.opts.GSOMaxSize - gsoHeaderRoom
	total, k := size, 1
	for total+size <= limit {
		next := &s.seg
		if !so.conn.Poll(now, next, s.payload[total:]) {
			break
		}
		if !joins(&first, next, total, size) {
			s.gsoPend = so // its payload is at s.payload[total:]: sent next time
			break
		}
		total += len(next.Payload)
		k++
		if next.Flags&wire.PSH != 0 || len(next.Payload) < size {
			first.Flags |= next.Flags & wire.PSH
			break
		}
	}
	first.Payload = s.payload[:total]
	n := s.encode(now, buf, so.tuple, &first)
	if n == 0 && k > 1 {
		s.counters.TCPWaveEncodeDrops += uint64(k - 1) // every piece is lost
	}
	if n == 0 || k == 1 {
		return n, 0
	}
	// The pieces after the first take the next IPv4 IDs and count as
	// segments sent, as if sent one by one.
	s.ipID += uint16(k - 1)
	s.counters.OutSegs += uint64(k - 1)
	return n, size
}

// takePending returns the socket whose segment in s.seg did not join the
// last super-packet, with that segment's payload moved to the front of
// s.payload, or nil.
func (s *Stack) takePending() *Socket {
	so := s.gsoPend
	if so != nil {
		s.gsoPend = nil
		k := copy(s.payload, s.seg.Payload)
		s.seg.Payload = s.payload[:k]
	}
	return so
}

// joins reports whether next continues a super-packet that begins with
// first and holds total payload bytes so far in pieces of size: the same
// connection state in every header field but the sequence number, a
// payload of at most size, and no flag but ACK and a final PSH.
func joins(first, next *tcp.Segment, total, size int) bool {
	return next.Flags&^wire.PSH == wire.ACK &&
		uint32(next.Seq) == uint32(first.Seq)+uint32(total) &&
		next.Ack == first.Ack && next.Wnd == first.Wnd && next.Opts == first.Opts &&
		len(next.Payload) > 0 && len(next.Payload) <= size
}
