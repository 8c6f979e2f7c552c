package stack

import (
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/seq"
	"github.com/tcpwave/tcpwave/tcp"
	"github.com/tcpwave/tcpwave/wire"
)

// SYN cookies, as Linux makes them (net/ipv4/syncookies.c). The cookie is
// our ISN:
//
//	H(0) + SEQ + count<<24 + (H(count) + mssind) mod 2^24
//
// where H is a keyed hash of the 4-tuple (Linux: siphash; here SHA-256 over
// ISNKey, as the ISN generator), SEQ is the peer's ISN, count a clock that
// ticks every 60 s (older kernels: 64 s), and mssind the index of the
// peer's MSS in msstab4 or msstab6. The ACK that returns the cookie is
// checked by peeling the layers off again: the count must be the current
// one or the one before (the cookie lives 60 to 120 s), and what is left
// must be a valid index. The other options travel in our timestamp (see
// tcp.CookieSynAck).

const (
	cookieBits   = 24 // the low bits: hash and MSS index; the high bits: count
	cookieMask   = 1<<cookieBits - 1
	cookiePeriod = 60 * time.Second // TCP_SYNCOOKIE_PERIOD
	// maxCookieAge is how many counts a cookie is valid for
	// (MAX_SYNCOOKIE_AGE).
	maxCookieAge = 2
	// cookieValid is how long after the last overflow of a listener's SYN
	// queue it still accepts cookies (TCP_SYNCOOKIE_VALID).
	cookieValid = maxCookieAge * cookiePeriod
)

// msstab4 and msstab6 are Linux's tables of the MSS values a cookie can
// carry over IPv4 and IPv6 (net/ipv4/syncookies.c, net/ipv6/syncookies.c);
// a peer's MSS is rounded down to one of them.
var (
	msstab4 = [4]uint16{
		536,
		1300,
		1440, // 1440, 1452: PPPoE
		1460, // Ethernet
	}
	msstab6 = [4]uint16{
		1280 - 60, // IPV6_MIN_MTU - 60
		1480 - 60,
		1500 - 60,
		9000 - 60,
	}
)

// msstab is the MSS table for t's IP version.
func msstab(t Tuple) *[4]uint16 {
	if t.Local.Addr().Is4() {
		return &msstab4
	}
	return &msstab6
}

// Salts of hash32n, apart from hash32's.
const (
	saltCookie0 = 4 // H(0): the count-independent part
	saltCookie1 = 5 // H(count): the part that dates the cookie
)

// cookieCount is the cookie clock (tcp_cookie_time).
func cookieCount(now clock.Instant) uint32 { return uint32(int64(now) / int64(cookiePeriod)) }

// cookieISN makes the cookie for a SYN with sequence number sseq from t
// and returns it with the MSS it stands for (__cookie_v4_init_sequence).
func (s *Stack) cookieISN(now clock.Instant, t Tuple, sseq seq.Value, mss uint16) (seq.Value, uint16) {
	tab := msstab(t)
	idx := len(tab) - 1
	for ; idx > 0; idx-- {
		if mss >= tab[idx] {
			break
		}
	}
	count := cookieCount(now)
	c := s.hash32n(t, saltCookie0, 0) + uint32(sseq) + count<<cookieBits +
		(s.hash32n(t, saltCookie1, count)+uint32(idx))&cookieMask
	return seq.Value(c), tab[idx]
}

// cookieMSS checks the cookie an ACK returns and gives the MSS it holds
// (__cookie_v4_check, check_tcp_syn_cookie).
func (s *Stack) cookieMSS(now clock.Instant, t Tuple, seg *tcp.Segment) (uint16, bool) {
	cookie := uint32(seg.Ack) - 1
	sseq := uint32(seg.Seq) - 1
	count := cookieCount(now)
	cookie -= s.hash32n(t, saltCookie0, 0) + sseq
	diff := (count - cookie>>cookieBits) & (1<<(32-cookieBits) - 1)
	if diff >= maxCookieAge {
		return 0, false
	}
	idx := (cookie - s.hash32n(t, saltCookie1, count-diff)) & cookieMask
	tab := msstab(t)
	if idx >= uint32(len(tab)) {
		return 0, false
	}
	return tab[idx], true
}

// synqOverflow records that the listener's SYN queue overflowed at now, at
// most once a second (tcp_synq_overflow).
func (l *Socket) synqOverflow(now clock.Instant) {
	if !l.overflowed || now.Sub(l.lastOverflow) > time.Second || now.Before(l.lastOverflow) {
		l.overflowed, l.lastOverflow = true, now
	}
}

// recentOverflow reports whether the listener's SYN queue overflowed in
// the last two cookie periods: only then does an ACK for no connection
// get checked as a cookie (tcp_synq_no_recent_overflow).
func (l *Socket) recentOverflow(now clock.Instant) bool {
	return l.overflowed && !now.Before(l.lastOverflow.Add(-time.Second)) && now <= l.lastOverflow.Add(cookieValid)
}

// sendCookie answers a SYN with a cookie SYN-ACK and forgets it
// (tcp_conn_request with want_cookie).
func (s *Stack) sendCookie(now clock.Instant, l *Socket, t Tuple, syn *tcp.Segment) {
	l.synqOverflow(now)
	s.counters.SyncookiesSent++
	peerMSS := uint16(536) // RFC 9293 §3.7.1: no MSS option means 536
	if syn.Opts.MSS != 0 {
		peerMSS = syn.Opts.MSS
	}
	iss, _ := s.cookieISN(now, t, syn.Seq, peerMSS)
	s.ctl = append(s.ctl, ctlSeg{t: t})
	tcp.CookieSynAck(s.sockConfig(l, t.Local.Addr()), now, iss, s.tsOffset(t), syn, &s.ctl[len(s.ctl)-1].seg)
}

// cookieArrive checks whether an ACK that found no connection returns a
// SYN cookie of the listener l, and if so rebuilds the connection and
// queues it for accept (cookie_v4_check, tcp_get_cookie_sock). It reports
// whether it took the segment; if not, the listener answers it with a RST.
func (s *Stack) cookieArrive(now clock.Instant, l *Socket, t Tuple, seg *tcp.Segment) bool {
	if s.opts.SynCookies == 0 || seg.Flags&(wire.SYN|wire.RST|wire.ACK) != wire.ACK || !l.recentOverflow(now) {
		return false
	}
	mss, ok := s.cookieMSS(now, t, seg)
	if !ok {
		s.counters.SyncookiesFailed++
		return false
	}
	s.counters.SyncookiesRecv++
	cfg := s.sockConfig(l, t.Local.Addr())
	ck := tcp.SynCookie{ISS: seg.Ack - 1, IRS: seg.Seq - 1, MSS: mss, TSOffset: s.tsOffset(t)}
	if ck.CookieOptions, ok = tcp.CookieTSDecode(cfg, seg, ck.TSOffset); !ok {
		return false
	}
	if acceptQFull(l) {
		// tcp_v4_syn_recv_sock: the child is not made and the ACK is
		// dropped without a word; the peer's next segment tries again.
		s.counters.ListenOverflows++
		s.counters.ListenDrops++
		return true
	}
	c := s.newChild(l, t)
	c.conn = tcp.NewFromCookie(cfg, c, now, &ck, seg)
	s.adopt(now, c)
	return true
}
