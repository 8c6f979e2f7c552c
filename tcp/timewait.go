package tcp

import (
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/seq"
	"github.com/tcpwave/tcpwave/wire"
)

// TWRecord is what a connection keeps once it reaches TIME_WAIT: enough to
// re-ACK a retransmitted FIN, absorb old duplicates and judge a new SYN.
// The stack keeps these small records instead of whole connections.
type TWRecord struct {
	RcvNxt   seq.Value // the peer's FIN is below this
	SndNxt   seq.Value // our FIN is below this
	TSOK     bool
	TSRecent uint32
	TSOffset uint32
	Wnd      uint16 // the window field our ACKs carry
	Expire   clock.Instant
	// LastOOWAck is when the record last answered a segment that carried
	// nothing with an ACK, in milliseconds (0: never), for the rate limit
	// that keeps two TIME_WAIT ends from ACKing each other forever (Linux
	// tw_last_oow_ack_time).
	LastOOWAck uint32
}

// TimeWaitAction says what a segment arriving in TIME_WAIT calls for.
type TimeWaitAction uint8

// The TIME_WAIT outcomes, after Linux's tcp_timewait_state_process.
const (
	TWDrop   TimeWaitAction = iota // absorb silently
	TWAck                          // send an ACK of RCV.NXT (and the timer was restarted)
	TWKill                         // a RST at RCV.NXT: forget the connection (unless Config.RFC1337)
	TWNewSyn                       // a new SYN that may reopen the 4-tuple (RFC 6191)
	TWSkip                         // an ACK was due but is rate-limited: absorb (Linux TCPACKSkippedTimeWait)
)

// Handle decides what a segment that reaches TIME_WAIT does, and restarts
// the 2MSL timer where Linux does.
func (tw *TWRecord) Handle(now clock.Instant, cfg *Config, s *Segment) TimeWaitAction {
	restart := func() { tw.Expire = now.Add(cfg.TimeWait) }
	// RFC 7323 §5 PAWS with Linux's one-tick slack (TCP_PAWS_WINDOW); a RST
	// is exempt (tcp_paws_reject).
	paws := tw.TSOK && s.Opts.HasTimestamp && s.Flags&wire.RST == 0 && int32(tw.TSRecent-s.Opts.TSVal) > 1
	if !paws && s.Seq == tw.RcvNxt && (s.Len() == 0 || s.Flags&wire.RST != 0) && s.Flags&wire.SYN == 0 {
		// In window: only a bare ACK or a RST can be here.
		switch {
		case s.Flags&wire.RST != 0 && !cfg.RFC1337:
			return TWKill // RFC 1337's hazard; Linux's default kills the record
		case s.Flags&wire.RST != 0:
			// tcp_rfc1337=1: the RST is ignored and the timer left
			// alone; Linux still takes its timestamp.
		default:
			restart()
		}
		if tw.TSOK && s.Opts.HasTimestamp {
			tw.TSRecent = s.Opts.TSVal
		}
		return TWDrop
	}
	if !paws && s.Flags&(wire.SYN|wire.RST|wire.ACK) == wire.SYN && tw.newSynAcceptable(s) {
		return TWNewSyn
	}
	if s.Flags&wire.RST != 0 {
		return TWDrop
	}
	if paws || s.Flags&wire.ACK != 0 {
		restart()
	}
	if tw.oowRateLimited(now, cfg, s) {
		return TWSkip
	}
	return TWAck // a retransmitted FIN or any other old segment is ACKed again
}

// oowRateLimited is Linux's tcp_oow_rate_limited for TIME_WAIT: a segment
// that carries nothing (no data, no FIN) or a SYN may be half of an ACK
// loop, so such segments draw at most one ACK per tcp_invalid_ratelimit
// (Config.ChallengeAck, 500 ms). Two TIME_WAIT ends whose ACKs fail each
// other's checks (PAWS, say) otherwise answer each other forever, each
// ACK restarting the other's 2MSL timer. A retransmitted FIN is always
// answered.
func (tw *TWRecord) oowRateLimited(now clock.Instant, cfg *Config, s *Segment) bool {
	if (len(s.Payload) > 0 || s.Flags&wire.FIN != 0) && s.Flags&wire.SYN == 0 {
		return false
	}
	ms := uint32(now.Millis()) | 1 // never 0, which means never
	if tw.LastOOWAck != 0 {
		if elapsed := int32(ms - tw.LastOOWAck); elapsed >= 0 && time.Duration(elapsed)*time.Millisecond < cfg.ChallengeAck {
			return true
		}
	}
	tw.LastOOWAck = ms
	return false
}

// newSynAcceptable is RFC 6191 (Linux tcp_timewait_state_process): a SYN
// that passed PAWS and whose timestamp is newer, or whose sequence number is
// beyond RCV.NXT, may start a new incarnation of the connection.
func (tw *TWRecord) newSynAcceptable(s *Segment) bool {
	if tw.TSOK && s.Opts.HasTimestamp && int32(s.Opts.TSVal-tw.TSRecent) > 0 {
		return true
	}
	return s.Seq.GreaterThan(tw.RcvNxt)
}

// Ack fills s with the ACK a TIME_WAIT connection sends.
func (tw *TWRecord) Ack(now clock.Instant, s *Segment) {
	*s = Segment{Seq: tw.SndNxt, Ack: tw.RcvNxt, Flags: wire.ACK, Wnd: tw.Wnd}
	if tw.TSOK {
		s.Opts.HasTimestamp = true
		s.Opts.TSVal = uint32(now.Millis()) + tw.TSOffset
		s.Opts.TSEcr = tw.TSRecent
	}
}

// TimeWaitRecord returns the TIME_WAIT record of a connection in TIME_WAIT.
func (c *Conn) TimeWaitRecord() TWRecord {
	return TWRecord{
		RcvNxt:   c.rcvNxt,
		SndNxt:   c.sndMax,
		TSOK:     c.flags.has(tsOK),
		TSRecent: c.tsRecent,
		TSOffset: c.tsOffset,
		Wnd:      c.lastWnd(),
		Expire:   c.closeAt,
	}
}

// timeWaitArrive runs a segment through the TIME_WAIT rules for a
// connection driven on its own (the stack uses records instead).
func (c *Conn) timeWaitArrive(now clock.Instant, s *Segment) {
	tw := c.TimeWaitRecord()
	switch tw.Handle(now, c.cfg, s) {
	case TWAck:
		c.flags.set(ackNow)
	case TWKill:
		c.setState(now, Closed, "RST received in TIME_WAIT: record removed (Linux tcp_rfc1337=0)")
		return
	}
	c.closeAt = tw.Expire
}

// lastWnd is the window field last advertised.
func (c *Conn) lastWnd() uint16 {
	if c.rcvAdv.LessEq(c.rcvNxt) {
		return 0
	}
	return uint16(min(int(c.rcvAdv.Sub(c.rcvNxt))>>c.rcvWScale, 65535))
}
