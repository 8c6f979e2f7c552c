package stack

import (
	"net/netip"
	"syscall"
)

// hold records that owner (a *Socket or *twEntry) holds port.
func (s *Stack) hold(port uint16, owner any) {
	m := s.bound[port]
	if m == nil {
		m = make(map[any]struct{})
		s.bound[port] = m
	}
	m[owner] = struct{}{}
	if so, ok := owner.(*Socket); ok {
		so.bound = true
	}
}

// release forgets that owner holds port.
func (s *Stack) release(port uint16, owner any) {
	m := s.bound[port]
	delete(m, owner)
	if len(m) == 0 {
		delete(s.bound, port)
	}
}

// holder describes whatever holds a port, for the conflict test.
type holder struct {
	addr                 netip.Addr
	reuseAddr, reusePort bool
	listening            bool
}

func holderOf(owner any) holder {
	switch o := owner.(type) {
	case *Socket:
		return holder{o.tuple.Local.Addr(), o.reuseAddr, o.reusePort, o.listening}
	case *twEntry:
		return holder{o.t.Local.Addr(), o.reuseAddr, o.reusePort, false}
	}
	return holder{}
}

// bindConflict applies Linux's bind rules (inet_bind_conflict): a port is
// in use if another holder's address overlaps ours, unless both set
// SO_REUSEADDR and the holder is not listening, or both set SO_REUSEPORT.
// TIME_WAIT records and connections hold their port like any socket.
func (s *Stack) bindConflict(so *Socket, addr netip.Addr, port uint16, listening bool) bool {
	for owner := range s.bound[port] {
		if owner == any(so) {
			continue
		}
		h := holderOf(owner)
		if h.addr.Is4() != addr.Is4() {
			continue
		}
		if !(h.addr == addr || h.addr.IsUnspecified() || addr.IsUnspecified()) {
			continue
		}
		if so.reuseAddr && h.reuseAddr && !h.listening && !(listening && h.listening) {
			continue
		}
		if so.reusePort && h.reusePort {
			continue
		}
		return true
	}
	return false
}

// ephemeralPort picks a free port from the ephemeral range, starting where
// the last search ended.
func (s *Stack) ephemeralPort(so *Socket, addr netip.Addr) (uint16, error) {
	lo, hi := uint32(s.opts.EphemeralLow), uint32(s.opts.EphemeralHigh)
	n := hi - lo + 1
	start := uint32(s.nextPort)
	for i := uint32(0); i < n; i++ {
		p := uint16(lo + (start-lo+i)%n)
		if len(s.bound[p]) == 0 {
			s.nextPort = uint16(lo + (uint32(p)-lo+1)%n)
			return p, nil
		}
	}
	return 0, syscall.EADDRNOTAVAIL
}
