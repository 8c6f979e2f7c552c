package tcp

import (
	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/wire"
)

// updateTimestamp records the peer's TSval (RFC 7323 §4.3).
func (c *Conn) updateTimestamp(now clock.Instant, s *Segment) {
	if c.flags.has(tsOK) && s.Opts.HasTimestamp && s.Seq.LessEq(c.rcvNxt) {
		// A TS.Recent idle for 24 days is replaced whatever its value
		// (Linux tcp_replace_ts_recent with tcp_paws_check).
		if int32(s.Opts.TSVal-c.tsRecent) >= 0 || nowSec(now)-c.tsRecentSec >= pawsIdle {
			c.tsRecent, c.tsRecentSec = s.Opts.TSVal, nowSec(now)
		}
	}
}

// nowSec is the time in whole seconds, the clock TS.Recent's age is kept on.
func nowSec(now clock.Instant) uint32 { return uint32(now.Millis() / 1000) }

// pawsIdle is how long TS.Recent stays valid without an update: after it,
// PAWS accepts any TSval (RFC 7323 §5.5, Linux TCP_PAWS_24DAYS).
const pawsIdle = 24 * 24 * 60 * 60

// pawsDrop is RFC 7323 §5.3 R1 as Linux applies it (tcp_paws_discard): a
// segment whose TSval is older than TS.Recent by more than one tick is an
// old duplicate from an earlier wrap of the sequence space and is dropped
// with a duplicate ACK, unless it is a RST, TS.Recent is over 24 days old,
// or it is a reordered pure duplicate ACK (Linux tcp_disordered_ack).
func (c *Conn) pawsDrop(now clock.Instant, s *Segment) bool {
	if !c.flags.has(tsOK) || !s.Opts.HasTimestamp || s.Flags&wire.RST != 0 || c.state == SynRcvd || c.tsRecent == 0 {
		return false
	}
	behind := int32(c.tsRecent - s.Opts.TSVal)
	if behind <= 1 || nowSec(now)-c.tsRecentSec >= pawsIdle {
		return false
	}
	if s.Flags&wire.SYN == 0 && s.Len() == 0 && s.Seq == c.rcvNxt && s.Ack == c.sndUna &&
		uint32(s.Wnd)<<c.sndWScale == c.sndWnd && int64(behind) <= c.rto.timeout.Milliseconds() {
		return false // a disordered duplicate ACK: harmless, and it may carry SACK news
	}
	if s.Flags&wire.SYN != 0 {
		c.challengeAck(now) // Linux: goto syn_challenge
		return true
	}
	c.counts.PAWSEstab++
	if s.Len() > 0 {
		c.dupAckFor(s) // data is never part of an ACK loop: always answered
	} else {
		c.oowAck(now)
	}
	return true
}

// tsNow is our TSval clock: 1 kHz, as Linux's, plus a per-connection offset.
func (c *Conn) tsNow(now clock.Instant) uint32 {
	return uint32(now.Millis()) + c.tsOffset
}

// fillTS adds the timestamp option to a non-SYN segment, when the
// connection uses timestamps.
func (c *Conn) fillTS(now clock.Instant, o *wire.Options) {
	if c.flags.has(tsOK) {
		o.HasTimestamp = true
		o.TSVal = c.tsNow(now)
		o.TSEcr = c.tsRecent
	}
}
