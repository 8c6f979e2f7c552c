package stack

import (
	"net/netip"
	"syscall"
)

// hold records that so holds port.
func (s *Stack) hold(port uint16, so *Socket) {
	so.boundIdx = len(s.bound[port])
	s.bound[port] = append(s.bound[port], so)
	so.bound = true
}

// release forgets that so holds port: the last holder takes its place in
// the port's list.
func (s *Stack) release(port uint16, so *Socket) {
	hs := s.bound[port]
	i := so.boundIdx
	if i >= len(hs) || hs[i] != so {
		return // not a holder of this port
	}
	last := len(hs) - 1
	hs[i] = hs[last]
	hs[i].boundIdx = i
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
		if o != so && conflicts(so, addr, listening, holder{o.tuple.Local.Addr(), o.reuseAddr, o.reusePort, o.listening}) {
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

// ephemeralPort picks a free port from the ephemeral range, starting where
// the last search ended.
func (s *Stack) ephemeralPort(so *Socket, addr netip.Addr) (uint16, error) {
	lo, hi := uint32(s.opts.EphemeralLow), uint32(s.opts.EphemeralHigh)
	n := hi - lo + 1
	start := uint32(s.nextPort)
	for i := uint32(0); i < n; i++ {
		p := uint16(lo + (start-lo+i)%n)
		if s.portFree(p) {
			s.nextPort = uint16(lo + (uint32(p)-lo+1)%n)
			return p, nil
		}
	}
	return 0, syscall.EADDRNOTAVAIL
}
