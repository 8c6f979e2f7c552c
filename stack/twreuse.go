package stack

import (
	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/seq"
)

// twReuseFor reports whether tcp_tw_reuse (Options.TWReuse) lets
// connect()'s port search take over a TIME_WAIT record of 4-tuple t: 1
// for every tuple, 2 when either address is a loopback address (Linux
// tcp_twsk_unique; it also counts a socket bound to the lo device, which
// a tcpwave host has not).
func (s *Stack) twReuseFor(t Tuple) bool {
	switch s.opts.TWReuse {
	case 1:
		return true
	case 2:
		return t.Local.Addr().IsLoopback() || t.Remote.Addr().IsLoopback()
	}
	return false
}

// twReusable is Linux's tcp_twsk_unique: whether a connect() may take
// over the TIME_WAIT record in slot i, of 4-tuple t. Only a record whose
// connection used timestamps is taken: the new connection's timestamps
// are then newer than any of the old one's, and PAWS keeps the old
// duplicates out. A socket bound by bind() takes it over at once
// (Linux's __inet_hash_connect calls __inet_check_established without a
// twp for it); connect()'s own port search (bound false) only as
// tcp_tw_reuse allows, and once the record is older than TWReuseDelay
// (time_after32(now, tw_entry_stamp + tcp_tw_reuse_delay)).
func (s *Stack) twReusable(now clock.Instant, i uint32, t Tuple, bound bool) bool {
	r := s.tw.at(i)
	switch {
	case r.meta&twTSOK == 0:
		return false
	case bound:
		return true
	case !s.twReuseFor(t):
		return false
	}
	entered := r.expire.Add(-s.opts.TCP.TimeWait)
	return now.Sub(entered) > s.opts.TWReuseDelay
}

// takeTimeWait removes the TIME_WAIT record in slot i for a connect()
// that takes over its 4-tuple, counts it in TWRecycled, and returns the
// new connection's ISN, the record's SND.NXT + 65535 + 2 (never 0), and
// the TS.Recent it inherits (Linux tcp_twsk_unique).
func (s *Stack) takeTimeWait(now clock.Instant, i uint32) (seq.Value, uint32) {
	r := s.tw.at(i)
	iss, tsRecent := r.sndNxt.Add(65535+2), r.tsRecent
	if iss == 0 {
		iss = 1
	}
	s.counters.TWRecycled++
	s.removeTimeWait(now, i, "connect() takes over the 4-tuple: TIME_WAIT reused (tcp_tw_reuse, Linux tcp_twsk_unique)")
	return iss, tsRecent
}
