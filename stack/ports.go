package stack

import (
	"math/bits"
	"net/netip"
	"syscall"

	"github.com/tcpwave/tcpwave/clock"
)

// hold records that so holds port. A holder that did not get its port
// from connect()'s own search (bind(), listen(), a listener's child)
// keeps connect() away from the port (bindPorts).
func (s *Stack) hold(port uint16, so *Socket) {
	so.boundIdx = int32(len(s.bound[port]))
	s.bound[port] = append(s.bound[port], so)
	so.bound = true
	if !so.connectPort {
		s.bindPorts.add(port, 1)
	}
}

// release forgets that so holds port: the last holder takes its place in
// the port's list.
func (s *Stack) release(port uint16, so *Socket) {
	hs := s.bound[port]
	i := int(so.boundIdx)
	if i >= len(hs) || hs[i] != so {
		return // not a holder of this port
	}
	if !so.connectPort {
		s.bindPorts.add(port, -1)
	}
	last := len(hs) - 1
	hs[i] = hs[last]
	hs[i].boundIdx = int32(i)
	hs[last] = nil
	if last == 0 {
		delete(s.bound, port)
	} else {
		s.bound[port] = hs[:last]
	}
}

// portFree reports whether nothing holds port: no socket, no TIME_WAIT
// record.
func (s *Stack) portFree(port uint16) bool {
	return len(s.bound[port]) == 0 && !s.tw.holdsPort(port)
}

// bindHeld reports whether a socket or TIME_WAIT record holds port
// through bind() or listen() (Linux: its inet_bind_bucket was made by
// inet_csk_get_port, fastreuse >= 0), so that connect() does not share it.
func (s *Stack) bindHeld(port uint16) bool {
	return s.bindPorts.get(port) != 0 || s.tw.bindPorts.get(port) != 0
}

// holder describes whatever holds a port, for the conflict test.
type holder struct {
	addr                 netip.Addr
	reuseAddr, reusePort bool
	listening            bool
}

// bindConflict applies Linux's bind rules (inet_bind_conflict): a port is
// in use if another holder's address overlaps ours, unless both set
// SO_REUSEADDR and the holder is not listening, or both set SO_REUSEPORT.
// TIME_WAIT records and connections hold their port like any socket.
func (s *Stack) bindConflict(so *Socket, addr netip.Addr, port uint16, listening bool) bool {
	for _, o := range s.bound[port] {
		if o != so && conflicts(so, addr, listening, holder{o.tuple.Local.Addr(), o.reuseAddr, o.reusePort, o.phase == phaseListen}) {
			return true
		}
	}
	found := false
	s.twHolders(port, func(h holder) { found = found || conflicts(so, addr, listening, h) })
	return found
}

// conflicts is inet_bind_conflict for one holder.
func conflicts(so *Socket, addr netip.Addr, listening bool, h holder) bool {
	switch {
	case h.addr.Is4() != addr.Is4():
		return false
	case !(h.addr == addr || h.addr.IsUnspecified() || addr.IsUnspecified()):
		return false
	case so.reuseAddr && h.reuseAddr && !h.listening && !(listening && h.listening):
		return false
	case so.reusePort && h.reusePort:
		return false
	}
	return true
}

// ephemeralPort picks a port for bind() to port 0 that nothing holds.
// Like Linux's inet_csk_find_open_port it tries the ports of the other
// parity than connect() prefers first (odd offsets from EphemeralLow),
// then the rest, starting where the last search ended.
func (s *Stack) ephemeralPort(so *Socket, addr netip.Addr) (uint16, error) {
	lo, hi := uint32(s.opts.EphemeralLow), uint32(s.opts.EphemeralHigh)
	n := hi - lo + 1
	start := (uint32(s.nextPort) - lo) | 1
	for pass := uint32(0); pass < 2; pass++ {
		for i := uint32(0); i < n; i += 2 {
			off := (start + i) % n
			if (off^start)&1 != 0 {
				continue // an odd-sized range wraps onto the other parity
			}
			p := uint16(lo + off)
			if s.portFree(p) {
				s.nextPort = uint16(lo + (off+2)%n)
				return p, nil
			}
		}
		start ^= 1
	}
	return 0, syscall.EADDRNOTAVAIL
}

// perturbSize is the number of slots of the stack's port perturbation
// table (Linux's table_perturb, INET_TABLE_PERTURB_SIZE: 65536 slots; a
// tcpwave host keeps 256, 1 KiB, made on its first connect()).
const perturbSize = 256

// saltPort and saltPortSkip are hash32n's salts for connect()'s port
// offset and its random skip.
const (
	saltPort     = 4
	saltPortSkip = 5
)

// connectPort finds the local port for a connect() from la to remote on
// a socket bound by no bind(), as Linux's __inet_hash_connect does: a port
// serves any number of connect() sockets as long as their 4-tuples
// differ, but no port that bind() or listen() holds. The search starts at
// an offset from a keyed hash of (la, remote) plus a perturbation that
// moves on after each success, and tries the ports at even offsets from
// EphemeralLow first, then the odd ones (bind() prefers those). A 4-tuple
// held by a TIME_WAIT record is taken over when tcp_tw_reuse allows it
// (twReusable); connectPort then returns the record's slot.
func (s *Stack) connectPort(now clock.Instant, la netip.Addr, remote netip.AddrPort) (uint16, uint32, error) {
	lo := uint32(s.opts.EphemeralLow)
	count := uint32(s.opts.EphemeralHigh) - lo + 1
	rem := count
	if rem > 1 {
		rem &^= 1 // Linux scans an even count (remaining &= ~1U)
	}
	if s.perturb == nil {
		s.perturb = make([]uint32, perturbSize)
	}
	dest := Tuple{Local: netip.AddrPortFrom(la, 0), Remote: remote}
	h := s.hash32n(dest, saltPort, 0)
	slot := &s.perturb[h%perturbSize]
	offset := (*slot + s.hash32n(dest, saltPort, 1)) % rem
	if rem > 1 {
		offset &^= 1
	}
	for {
		runs := connectRuns(offset, count, rem)
		if b, tw, ok := s.scanPorts(now, dest, lo, runs); ok {
			i := b - offset // how far the search went, as Linux's i
			if b < offset {
				i = b + rem - offset
			}
			skip := 2 * (s.hash32n(dest, saltPortSkip, s.portSeq) % 8)
			s.portSeq++
			*slot += max(i, skip) + 2
			return uint16(lo + b), tw, nil
		}
		offset++
		if offset&1 == 0 || rem <= 1 {
			return 0, 0, syscall.EADDRNOTAVAIL
		}
	}
}

// connectRuns returns the offsets from EphemeralLow that Linux's loop in
// __inet_hash_connect visits from offset, every other one, as two runs:
// [offset, e1) and then, past the range's end, [s2, offset). count is the
// range's size and rem the even count the loop makes of it: with an odd
// count the last port is reached only from some offsets, as in Linux.
func connectRuns(offset, count, rem uint32) [2][2]uint32 {
	e1 := min(count, offset+rem)
	k1 := (e1 - offset + 1) / 2
	return [2][2]uint32{{offset, e1}, {offset + 2*k1 - rem, offset}}
}

// hotAfter is how many taken 4-tuples one search may meet before the
// stack indexes the destination's ports (destPorts); hotKeep is how many
// it must keep to stay indexed.
const (
	hotAfter = 64
	hotKeep  = 32
)

// scanPorts tries the offsets of runs in order and returns the first
// whose port connect() may take toward dest, with the slot of the
// TIME_WAIT record to take over, if any.
func (s *Stack) scanPorts(now clock.Instant, dest Tuple, lo uint32, runs [2][2]uint32) (uint32, uint32, bool) {
	if dp := s.hot[dest]; dp != nil {
		return s.scanHot(now, dp, dest, lo, runs)
	}
	taken := 0
	for r, run := range runs {
		for b := run[0]; b < run[1]; b += 2 {
			port := uint16(lo + b)
			if s.bindHeld(port) {
				continue
			}
			t := Tuple{Local: netip.AddrPortFrom(dest.Local.Addr(), port), Remote: dest.Remote}
			if s.conns[t] != nil {
				taken++
			} else if i := s.findTimeWait(t); i == 0 {
				return b, 0, true
			} else if s.twReusable(now, i, t, false) {
				return b, i, true
			} else {
				taken++
			}
			if taken >= hotAfter {
				rest := runs
				rest[r][0] = b + 2
				if r == 1 {
					rest[0] = [2]uint32{}
				}
				return s.scanHot(now, s.indexDest(dest, lo), dest, lo, rest)
			}
		}
	}
	return 0, 0, false
}

// scanHot is scanPorts with the destination's index: it looks only at
// ports that no connection toward dest holds (and no TIME_WAIT record,
// unless tcp_tw_reuse could apply), a word at a time.
func (s *Stack) scanHot(now clock.Instant, dp *destPorts, dest Tuple, lo uint32, runs [2][2]uint32) (uint32, uint32, bool) {
	reuse := s.twReuseFor(dest)
	for _, run := range runs {
		par := uint64(0x5555555555555555) << (run[0] & 1)
		for b := run[0]; b < run[1]; {
			w := b / 64
			free := ^dp.conn[w] & par
			if !reuse {
				free &^= dp.tw[w]
			}
			free &= ^uint64(0) << (b % 64)
			if end := run[1]; end < (w+1)*64 {
				free &= 1<<(end%64) - 1
			}
			if free == 0 {
				b = (w + 1) * 64
				continue
			}
			b = w*64 + uint32(bits.TrailingZeros64(free))
			port := uint16(lo + b)
			if !s.bindHeld(port) {
				if dp.tw[w]&(1<<(b%64)) == 0 {
					return b, 0, true
				}
				t := Tuple{Local: netip.AddrPortFrom(dest.Local.Addr(), port), Remote: dest.Remote}
				if i := s.findTimeWait(t); i != 0 && s.twReusable(now, i, t, false) {
					return b, i, true
				}
			}
			b += 2
		}
	}
	return 0, 0, false
}

// destPorts indexes the ephemeral ports taken toward one destination
// (local address, remote address and port) that many connections go to,
// so that connect() finds a free one in a few word operations instead of
// a lookup per port: Linux looks each up, and grows slow as a
// destination's ports run out. A destination is indexed once a search
// meets hotAfter taken ports, and forgotten when it keeps fewer than
// hotKeep (two bitmaps of the range, 7 KiB for Linux's, so at most about
// 220 bytes a connection).
type destPorts struct {
	conn, tw []uint64 // bit b: port EphemeralLow+b toward the destination is a connection's, a TIME_WAIT record's
	n        int      // bits set
}

// destOf is the destination of a 4-tuple, the key of Stack.hot.
func destOf(t Tuple) Tuple {
	return Tuple{Local: netip.AddrPortFrom(t.Local.Addr(), 0), Remote: t.Remote}
}

// indexDest indexes dest's ports from the connections and TIME_WAIT
// records that hold them.
func (s *Stack) indexDest(dest Tuple, lo uint32) *destPorts {
	words := (uint32(s.opts.EphemeralHigh) - lo + 64) / 64
	dp := &destPorts{conn: make([]uint64, words), tw: make([]uint64, words)}
	for t := range s.conns {
		if destOf(t) == dest {
			dp.set(dp.conn, t.Local.Port(), lo, true)
		}
	}
	if k, ok := s.twKeyOf(Tuple{Local: dest.Local, Remote: dest.Remote}); ok {
		for i := 1; i <= s.tw.len(); i++ {
			r := s.tw.at(uint32(i))
			if r.remote == k.remote && r.rport == k.rport && r.local() == k.local {
				dp.set(dp.tw, r.lport, lo, true)
			}
		}
	}
	if s.hot == nil {
		s.hot = make(map[Tuple]*destPorts)
	}
	s.hot[dest] = dp
	return dp
}

// set sets or clears port's bit in one of the bitmaps.
func (dp *destPorts) set(bm []uint64, port uint16, lo uint32, on bool) {
	b := uint32(port) - lo
	if uint32(port) < lo || b/64 >= uint32(len(bm)) {
		return
	}
	m := uint64(1) << (b % 64)
	switch {
	case on && bm[b/64]&m == 0:
		bm[b/64] |= m
		dp.n++
	case !on && bm[b/64]&m != 0:
		bm[b/64] &^= m
		dp.n--
	}
}

// tupleTaken keeps the destination index, if t's destination has one,
// up to date as a connection (tw false) or a TIME_WAIT record (tw true)
// takes t's port or lets it go.
func (s *Stack) tupleTaken(t Tuple, tw, on bool) {
	if len(s.hot) == 0 {
		return
	}
	dest := destOf(t)
	dp := s.hot[dest]
	if dp == nil {
		return
	}
	bm := dp.conn
	if tw {
		bm = dp.tw
	}
	dp.set(bm, t.Local.Port(), uint32(s.opts.EphemeralLow), on)
	if dp.n < hotKeep {
		delete(s.hot, dest)
	}
}

// addConn enters a connection in the demux table.
func (s *Stack) addConn(so *Socket) {
	s.conns[so.tuple] = so
	s.tupleTaken(so.tuple, false, true)
}

// delConn removes a connection from the demux table.
func (s *Stack) delConn(so *Socket) {
	if s.conns[so.tuple] == so {
		delete(s.conns, so.tuple)
		s.tupleTaken(so.tuple, false, false)
	}
}
