package tcp

import (
	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/seq"
	"github.com/tcpwave/tcpwave/wire"
)

// SYN cookies (Linux tcp_syncookies): a listener whose SYN queue is full
// answers a SYN without keeping any state. The listener (package stack)
// makes the cookie, the ISN, from a keyed hash of the 4-tuple, a coarse
// clock and the peer's MSS; this file carries the options the ISN has no
// room for in the low bits of our first timestamp, builds the stateless
// SYN-ACK, and rebuilds the connection from the ACK that returns the
// cookie.

// The low bits of a cookie's TSval (Linux TSBITS, TS_OPT_*).
const (
	cookieTSBits    = 6
	cookieTSWScale  = 0xf    // the peer's window scale; all ones for none
	cookieTSSACK    = 1 << 4 // the peer sent SACK-permitted
	cookieTSECN     = 1 << 5 // ECN negotiated: never, tcpwave has no ECN
	cookieTSOptMask = 1<<cookieTSBits - 1
)

// CookieOptions are the peer's SYN options that a SYN cookie keeps. Without
// timestamps there is nowhere to keep them: the cookie's SYN-ACK then
// offers neither window scaling nor SACK (Linux tcp_clear_options).
type CookieOptions struct {
	WScale int  // the peer's window scale, -1 for none
	SACKOK bool // both sides do SACK
	TSOK   bool // both sides do timestamps
}

// SynCookie is what a listener learns from a valid cookie: enough to
// rebuild the connection (Linux cookie_v4_check).
type SynCookie struct {
	ISS      seq.Value // our ISN: the cookie, the ACK's ACK field less one
	IRS      seq.Value // the peer's ISN: the ACK's sequence number less one
	MSS      uint16    // the peer's MSS, rounded down to an entry of Linux's msstab (IPv4 or IPv6)
	TSOffset uint32    // our timestamp offset for the 4-tuple
	CookieOptions
}

// cookieTS is Linux's cookie_init_timestamp: our raw 1 kHz clock with its
// low bits replaced by the options, moved back one period if that put it
// ahead of the clock, so that later timestamps never go backwards.
func cookieTS(now clock.Instant, opts uint32) uint32 {
	tsNow := uint32(now.Millis())
	ts := tsNow&^cookieTSOptMask | opts
	if ts > tsNow {
		ts -= 1 << cookieTSBits
	}
	return ts
}

// CookieSynAck fills out with the SYN-ACK that answers syn with the cookie
// iss: the options of an ordinary SYN-ACK in Linux's layout (see emitSyn),
// the window scale and SACK-permitted options kept only when the SYN
// carried timestamps, and a TSval whose low bits hold the peer's options.
func CookieSynAck(cfg *Config, now clock.Instant, iss seq.Value, tsOffset uint32, syn *Segment, out *Segment) {
	*out = Segment{Seq: iss, Ack: syn.Seq.Add(1), Flags: wire.SYN | wire.ACK}
	o := &out.Opts
	o.MSS = cfg.MSS
	if cfg.Timestamps && syn.Opts.HasTimestamp {
		opts := uint32(cookieTSWScale)
		if cfg.WScale >= 0 && syn.Opts.HasWScale {
			opts = uint32(min(syn.Opts.WScale, wire.MaxWScale))
			o.HasWScale, o.WScale = true, uint8(cfg.wscale())
		}
		if cfg.SACK && syn.Opts.SACKPermitted {
			opts |= cookieTSSACK
			o.SACKPermitted = true
		}
		o.HasTimestamp = true
		o.TSVal = cookieTS(now, opts) + tsOffset
		o.TSEcr = syn.Opts.TSVal
	}
	out.Wnd = uint16(synWindowOf(cfg, cfg.RcvBuf, o.HasTimestamp))
}

// CookieTSDecode reads the peer's options back from the TSecr of the ACK
// that returns a cookie (Linux cookie_timestamp_decode). It reports false
// when they ask for something cfg does not do, which Linux answers with a
// RST.
func CookieTSDecode(cfg *Config, ack *Segment, tsOffset uint32) (CookieOptions, bool) {
	o := CookieOptions{WScale: -1}
	if !ack.Opts.HasTimestamp || !cfg.Timestamps {
		return o, true // no timestamps: no options either
	}
	bits := ack.Opts.TSEcr
	if bits != 0 {
		bits -= tsOffset
	}
	o.TSOK = true
	o.SACKOK = bits&cookieTSSACK != 0
	if o.SACKOK && !cfg.SACK {
		return o, false
	}
	if bits&cookieTSWScale == cookieTSWScale {
		return o, true
	}
	o.WScale = int(min(bits&cookieTSWScale, wire.MaxWScale))
	return o, cfg.WScale >= 0
}

// NewFromCookie rebuilds the connection a SYN cookie stands for and hands
// it ack, the segment that returned the cookie (Linux cookie_v4_check and
// tcp_get_cookie_sock): the connection is created in SYN_RCVD with its
// SYN-ACK already sent, and ack, which ACKs it, makes it ESTABLISHED and
// delivers any data it carries. The caller has checked the cookie:
// ack.Ack is ck.ISS+1 and ack.Seq is ck.IRS+1.
func NewFromCookie(cfg *Config, obs Observer, now clock.Instant, ck *SynCookie, ack *Segment) *Conn {
	c := newConn(cfg, obs, ck.ISS, ck.TSOffset)
	c.flags.set(passive)
	c.state = Listen
	syn := Segment{Seq: ck.IRS, Flags: wire.SYN}
	syn.Opts.MSS = ck.MSS
	if ck.WScale >= 0 {
		syn.Opts.HasWScale, syn.Opts.WScale = true, uint8(ck.WScale)
	}
	syn.Opts.SACKPermitted = ck.SACKOK
	if ck.TSOK {
		syn.Opts.HasTimestamp, syn.Opts.TSVal = true, ack.Opts.TSVal
	}
	c.acceptSyn(now, &syn)
	if !cfg.rcvLocked {
		// Linux chooses the window again with the cookie's MSS
		// (cookie_v4_check, cookie_v6_check: tcp_select_initial_window
		// with req->mss): the default buffer's window rounded down to
		// segments, then at most 65535 (65392 bytes for 536, 64660 for
		// IPv6's 1220, where the SYN-ACK offered 64240).
		w := segWindow(c.cfg, c.rcvFree(), int(ck.MSS))
		c.rcvAdv = c.rcvNxt.Add(seq.Size(w))
		c.rcvSsthresh = uint32(w)
	}
	c.sndNxt, c.sndMax = c.iss.Add(1), c.iss.Add(1) // the SYN-ACK that carried the cookie
	c.setState(now, SynRcvd, "ACK returns a valid SYN cookie: connection rebuilt from it (Linux cookie_v4_check)")
	c.HandleSegment(now, ack)
	return c
}
