package stack

import (
	"errors"
	"fmt"
	"slices"
)

// SetOptions changes the options of a running stack, as writing sysctls
// does on Linux: what is read when it is used (the TCP timers, retry
// counts, timestamps and SACK for new connections, the buffer sizes new
// sockets start with, the limits of the tables) takes the new value from
// now on, for connections that exist as well as new ones; what a
// connection fixed when it was made (its buffers, window scale, MSS)
// stays. A socket that set SO_RCVBUF or SO_SNDBUF keeps its own copy of
// the TCP settings as they were. Lowering a table limit does not evict:
// a smaller MaxTimeWait keeps the TIME_WAIT records there are and only
// refuses new ones while they are over it, as Linux does.
//
// What the stack is built around cannot change: the addresses, the MTU,
// GSOMaxSize and PartialChecksum (what its link does), the largest MSS,
// the ephemeral port range, the ISN key and function. Changing one of those, or a value out of range, is an
// error and changes nothing.
func (s *Stack) SetOptions(o Options) error {
	if err := o.Validate(); err != nil {
		return err
	}
	cur := s.opts
	switch {
	case !slices.Equal(o.Addrs, cur.Addrs):
		return errors.New("stack: SetOptions: the addresses cannot change while the stack runs")
	case o.MTU != cur.MTU || o.GSOMaxSize != cur.GSOMaxSize || o.PartialChecksum != cur.PartialChecksum:
		// What the link does: its driver writes and reads accordingly.
		return errors.New("stack: SetOptions: the MTU, GSOMaxSize and PartialChecksum cannot change while the stack runs")
	case o.TCP.MSS != cur.TCP.MSS:
		return fmt.Errorf("stack: SetOptions: the MSS cannot change while the stack runs (%d, not %d)", cur.TCP.MSS, o.TCP.MSS)
	case o.EphemeralLow != cur.EphemeralLow || o.EphemeralHigh != cur.EphemeralHigh:
		return errors.New("stack: SetOptions: the ephemeral port range cannot change while the stack runs")
	case o.ISNKey != cur.ISNKey:
		return errors.New("stack: SetOptions: the ISN key cannot change while the stack runs")
	}
	o.Addrs, o.ISN = cur.Addrs, cur.ISN
	if n := s.tw.len(); n > o.MaxTimeWait {
		s.twKept = n // Linux keeps the records a smaller tcp_max_tw_buckets finds
	} else {
		s.twKept = 0
	}
	*s.opts = o
	s.setTCPConfigs(s.opts) // the MTU and MSS are as before: so are the clamps
	return nil
}
