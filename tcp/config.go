// Package tcp is the sans-IO TCP connection core: one transmission control
// block (RFC 9293 §3.3.1) that turns segments, user calls and the time into
// segments to send and a deadline. It never reads a clock, starts a
// goroutine, takes a lock or does I/O.
//
// The driver (package stack) calls HandleSegment for each arriving segment,
// the user calls (Write, Read, Close, ...) for the application, Poll until it
// returns false to collect segments to send, and HandleTimeout once the
// instant returned by Deadline has passed.
package tcp

import (
	"fmt"
	"math/bits"
	"time"

	"github.com/tcpwave/tcpwave/wire"
)

// Config holds every limit and timer of a connection. Each default is the
// Linux value; the comment names the sysctl or kernel constant it mirrors.
// Fields are used as given: start from DefaultConfig and change what you need.
type Config struct {
	MSS uint16 // our MSS option (1460 on a 1500-byte MTU, IPv4)
	// DefaultMSS is the peer's MSS when its SYN or SYN-ACK carries no MSS
	// option: 536 in IPv4 (RFC 9293 §3.7.1, Linux TCP_MSS_DEFAULT), 1220
	// in IPv6 (the least IPv6 MTU, 1280, less 60 bytes of headers: Linux's
	// mss_clamp for IPv6, IPv6MinMSS). 0 means 536.
	DefaultMSS uint16
	RcvBuf     int // receive buffer in bytes at the start (tcp_rmem[1])
	// RcvBufMax bounds receive-buffer auto-tuning (Linux's dynamic
	// right-sizing, tcp_moderate_rcvbuf=1, up to tcp_rmem[2]): once per
	// round trip measured at the receiver, the buffer grows to about
	// twice the bytes the application read in the last one, never beyond
	// RcvBufMax (nor beyond 65535 bytes without window scaling). 0, or
	// any value not above RcvBuf, keeps the buffer at RcvBuf, as a Linux
	// socket with SO_RCVBUF set. The window scale offered is chosen so
	// that the window can reach max(RcvBuf, RcvBufMax).
	RcvBufMax int
	// RmemDefault is tcp_rmem[1]: Linux's sk_rcvbuf of a new socket,
	// memory of which half is window until a segment is measured (the
	// window the handshake offers and the first ones after it). 0 means
	// Linux's 131072. RcvBuf should hold at least half of it.
	RmemDefault int
	// RxOverhead is the memory Linux charges a received segment beyond
	// its payload (skb truesize, of which the receive window offers a
	// share: rcvwin.go) on a link that hands the receiver the sender's
	// buffer, as loopback and veth do: the payload sits in page
	// fragments charged byte for byte, and only the skb's small head and
	// its sk_buff come on top (LoopbackRxOverhead). 0 models the skb a
	// TUN device builds for each packet instead, a power-of-two head
	// holding the whole packet, which costs up to twice the payload (at
	// a 64 KiB MSS, halving the window a buffer offers). A host sets it
	// from its link (link.RxOverheader).
	RxOverhead int
	SndBuf     int // send buffer in bytes at the start (tcp_wmem[1])
	// SndBufMax bounds send-buffer auto-tuning (Linux's
	// tcp_sndbuf_expand, up to tcp_wmem[2]): once the connection is
	// established, and when an ACK frees buffered data after a Write
	// found the buffer full, unless the congestion window is what limits
	// the sender, the buffer grows to twice the congestion window (at
	// least 10 segments, reckoned as Linux does), never beyond SndBufMax.
	// 0, or any value not above SndBuf, keeps the buffer at SndBuf, as a
	// Linux socket with SO_SNDBUF set.
	SndBufMax     int
	WScale        int           // least window scale we offer, -1 to offer none (Linux offers 7); see RcvBufMax
	Timestamps    bool          // RFC 7323 timestamps (tcp_timestamps)
	SACK          bool          // offer SACK-permitted (tcp_sack)
	NoDelay       bool          // disable Nagle's algorithm (TCP_NODELAY)
	InitCwnd      int           // initial congestion window in segments (TCP_INIT_CWND)
	TimeWait      time.Duration // TIME_WAIT duration (TCP_TIMEWAIT_LEN)
	FinTimeout    time.Duration // orphaned FIN_WAIT_2 lifetime (tcp_fin_timeout)
	OrphanRetries int           // FIN retries after close(); 0 means 8 (tcp_orphan_retries)
	Retries2      int           // data retries before giving up (tcp_retries2)
	SynRetries    int           // SYN retries (tcp_syn_retries)
	SynAckRetries int           // SYN-ACK retries (tcp_synack_retries)
	RTOInitial    time.Duration // RTO before any RTT sample (TCP_TIMEOUT_INIT)
	RTOMin        time.Duration // lower bound of the RTO (TCP_RTO_MIN)
	RTOMax        time.Duration // upper bound of the RTO (TCP_RTO_MAX)
	DelAckMin     time.Duration // delayed-ACK timeout (TCP_DELACK_MIN / TCP_ATO_MIN)
	ChallengeAck  time.Duration // per-connection challenge-ACK interval (tcp_invalid_ratelimit)
	// CongestionControl is CUBIC ("cubic", RFC 9438, the Linux default)
	// or Reno ("reno", RFC 5681 with NewReno recovery); empty means
	// CUBIC (tcp_congestion_control).
	CongestionControl string
	// DSACK sends D-SACK blocks for duplicate segments (RFC 2883,
	// tcp_dsack=1).
	DSACK bool
	// TLP sends a tail loss probe (RFC 8985 §7) on SACK connections
	// when no ACK has come for about two round trips, so that a loss at
	// the end of a flight is repaired by fast recovery, not the RTO
	// (tcp_early_retrans=3, the Linux default).
	TLP bool
	// RACK detects loss on SACK connections by time (RACK, RFC 8985 §6):
	// a segment is lost once one sent after it has been delivered and a
	// round trip plus a reordering window has passed since it went,
	// retransmissions included, in every phase of recovery
	// (tcp_recovery=1, the Linux default). Off, loss is found by the
	// RFC 6675 scoreboard rules (DupThresh SACKed segments above a hole).
	RACK bool
	// RFC1337 is tcp_rfc1337: when set, a RST that reaches a TIME_WAIT
	// connection is ignored and the record stays until its 2MSL timer
	// runs out (RFC 1337's remedy for TIME_WAIT assassination). Linux's
	// default, false, lets such a RST remove the record at once.
	RFC1337 bool
	// MinSndMSS is tcp_min_snd_mss: the least payload-and-options room a
	// segment we send gets, whatever MSS the peer announced. A peer that
	// announces MSS 1 still gets segments of MinSndMSS bytes less the
	// timestamp option, with room for 8 bytes of data beside the largest
	// SACK option (Linux __tcp_mtu_to_mss). 0 means Linux's 48.
	MinSndMSS int
	// KeepAliveTime, KeepAliveIntvl and KeepAliveProbes are
	// tcp_keepalive_time (2 h), tcp_keepalive_intvl (75 s) and
	// tcp_keepalive_probes (9): for a connection with SO_KEEPALIVE on,
	// the silence before the first probe, the time between probes, and
	// how many go unanswered before the connection is reset. A socket
	// may set its own (TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT); 0 means
	// the Linux default.
	KeepAliveTime   time.Duration
	KeepAliveIntvl  time.Duration
	KeepAliveProbes int

	// rcvLocked and sndLocked mark a socket's own copy whose buffers the
	// application set (SO_RCVBUF, SO_SNDBUF; see WithBuffers).
	rcvLocked, sndLocked bool
}

// KeepAliveDefaults returns the keepalive settings a connection has until
// TCP_KEEPIDLE, TCP_KEEPINTVL or TCP_KEEPCNT change them (the
// tcp_keepalive_* sysctls).
func (c *Config) KeepAliveDefaults() KeepAliveParams {
	return KeepAliveParams{Idle: c.keepAliveTime(), Interval: c.keepAliveIntvl(), Count: c.keepAliveProbes()}
}

func (c *Config) keepAliveTime() time.Duration {
	if c.KeepAliveTime > 0 {
		return c.KeepAliveTime
	}
	return 2 * time.Hour
}

func (c *Config) keepAliveIntvl() time.Duration {
	if c.KeepAliveIntvl > 0 {
		return c.KeepAliveIntvl
	}
	return 75 * time.Second
}

func (c *Config) keepAliveProbes() int {
	if c.KeepAliveProbes > 0 {
		return c.KeepAliveProbes
	}
	return 9
}

// DefaultConfig returns the Linux defaults.
func DefaultConfig() Config {
	return Config{
		MSS:           1460,
		RcvBuf:        256 << 10,
		RcvBufMax:     6 << 20,
		SndBuf:        256 << 10,
		SndBufMax:     4 << 20,
		WScale:        7,
		Timestamps:    true,
		SACK:          true,
		InitCwnd:      10,
		TimeWait:      60 * time.Second,
		FinTimeout:    60 * time.Second,
		OrphanRetries: 0,
		Retries2:      15,
		SynRetries:    6,
		SynAckRetries: 5,
		RTOInitial:    time.Second,
		RTOMin:        200 * time.Millisecond,
		RTOMax:        120 * time.Second,
		DelAckMin:     40 * time.Millisecond,
		ChallengeAck:  500 * time.Millisecond,

		CongestionControl: CUBIC,
		DSACK:             true,
		TLP:               true,
		RACK:              true,
		RFC1337:           false,
		MinSndMSS:         minSndMSS,
		KeepAliveTime:     2 * time.Hour,
		KeepAliveIntvl:    75 * time.Second,
		KeepAliveProbes:   9,
	}
}

// Validate reports the first field that is out of range.
func (c *Config) Validate() error {
	if err := (KeepAliveParams{Idle: c.KeepAliveTime, Interval: c.KeepAliveIntvl, Count: c.KeepAliveProbes}).Validate(); err != nil {
		return fmt.Errorf("tcp: keepalive defaults: %w", err)
	}
	switch {
	case c.MSS < 88:
		return fmt.Errorf("tcp: MSS %d is below the minimum 88", c.MSS)
	case c.RcvBuf < int(c.MSS) || c.RcvBuf > 1<<30:
		return fmt.Errorf("tcp: RcvBuf %d out of range [MSS, 1 GiB]", c.RcvBuf)
	case c.RmemDefault < 0 || c.RmemDefault > 1<<30:
		return fmt.Errorf("tcp: RmemDefault %d out of range [0, 1 GiB]", c.RmemDefault)
	case c.RcvBufMax < 0 || c.RcvBufMax > 1<<30:
		return fmt.Errorf("tcp: RcvBufMax %d out of range [0, 1 GiB]", c.RcvBufMax)
	case c.RxOverhead < 0 || c.RxOverhead > 1<<16:
		return fmt.Errorf("tcp: RxOverhead %d out of range [0, 65536]", c.RxOverhead)
	case c.SndBuf < int(c.MSS) || c.SndBuf > 1<<30:
		return fmt.Errorf("tcp: SndBuf %d out of range [MSS, 1 GiB]", c.SndBuf)
	case c.SndBufMax < 0 || c.SndBufMax > 1<<30:
		return fmt.Errorf("tcp: SndBufMax %d out of range [0, 1 GiB]", c.SndBufMax)
	case c.WScale < -1 || c.WScale > 14:
		return fmt.Errorf("tcp: WScale %d out of range [-1, 14]", c.WScale)
	case c.WScale < 0 && c.RcvBuf > 65535:
		return fmt.Errorf("tcp: RcvBuf %d needs window scaling", c.RcvBuf)
	case c.InitCwnd < 1:
		return fmt.Errorf("tcp: InitCwnd %d must be at least 1", c.InitCwnd)
	case c.TimeWait < 0 || c.FinTimeout < 0:
		return fmt.Errorf("tcp: negative TimeWait or FinTimeout")
	case c.OrphanRetries < 0 || c.Retries2 < 0 || c.SynRetries < 0 || c.SynAckRetries < 0:
		return fmt.Errorf("tcp: negative retry count")
	case c.RTOMin <= 0 || c.RTOMax < c.RTOMin || c.RTOInitial <= 0:
		return fmt.Errorf("tcp: bad RTO bounds (min %v, max %v, initial %v)", c.RTOMin, c.RTOMax, c.RTOInitial)
	case c.MinSndMSS != 0 && (c.MinSndMSS < minSndMSS || c.MinSndMSS > int(c.MSS)):
		return fmt.Errorf("tcp: MinSndMSS %d out of range [%d, MSS %d]", c.MinSndMSS, minSndMSS, c.MSS)
	case c.DelAckMin <= 0:
		return fmt.Errorf("tcp: DelAckMin must be positive")
	case c.CongestionControl != "" && c.CongestionControl != CUBIC && c.CongestionControl != Reno:
		return fmt.Errorf("tcp: unknown congestion control %q (want %q or %q)", c.CongestionControl, CUBIC, Reno)
	}
	return nil
}

// rcvBufLimit is the most the receive buffer may hold: RcvBufMax when
// auto-tuning, RcvBuf otherwise.
func (c *Config) rcvBufLimit() int { return max(c.RcvBuf, c.RcvBufMax) }

// wscale is the window scale we offer, -1 for none: WScale, or more if
// the buffer may grow beyond what WScale can advertise. As Linux's
// tcp_select_initial_window, the shift is ilog2(space)-15, at most 14
// (RFC 7323 §2.3), for space the largest the buffer may become: Linux's
// tcp_rmem[2] of 6 MiB gives 7.
func (c *Config) wscale() int {
	if c.WScale < 0 {
		return -1
	}
	return min(max(c.WScale, bits.Len(uint(c.rcvBufLimit()))-1-15), wire.MaxWScale)
}

func (c *Config) orphanRetries() int {
	if c.OrphanRetries == 0 {
		return 8
	}
	return c.OrphanRetries
}

// IPv6MinMSS is the default MSS of an IPv6 peer (Config.DefaultMSS): the
// least IPv6 link MTU (RFC 8200 §5) less the IPv6 and TCP headers.
const IPv6MinMSS = 1280 - 40 - 20

// defaultMSS is the peer's MSS when it sends no MSS option.
func (c *Config) defaultMSS() int {
	if c.DefaultMSS == 0 {
		return 536 // RFC 9293 §3.7.1
	}
	return int(c.DefaultMSS)
}
