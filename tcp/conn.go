package tcp

import (
	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/seq"
	"github.com/tcpwave/tcpwave/wire"
)

// Segment is a TCP segment as the core sees it: the header fields that
// matter to one connection, without ports or checksum. Payload aliases a
// buffer owned by the caller.
type Segment struct {
	Seq, Ack seq.Value
	Flags    wire.Flags
	Wnd      uint16 // the raw window field
	Opts     wire.Options
	Payload  []byte
}

// Len returns the segment's length in sequence space (payload, SYN, FIN).
func (s *Segment) Len() seq.Size {
	n := seq.Size(len(s.Payload))
	if s.Flags&wire.SYN != 0 {
		n++
	}
	if s.Flags&wire.FIN != 0 {
		n++
	}
	return n
}

// Observer hears of every state change of a connection, with its reason
// and the instant of the call that made it.
type Observer interface {
	StateChanged(now clock.Instant, c *Conn, from, to State, why string)
}

// span is a run of out-of-order bytes held in the receive ring: [start, end).
type span struct{ start, end seq.Value }

// Conn is one TCP connection's control block, laid out by concern: the
// send and receive sequence spaces, then one sub-struct per mechanism
// (delayed ACK, retransmission timer, congestion control and recovery,
// loss probe, persist timer, pending RST). TestConnSize holds it to 512
// bytes, Go's size class; fields are ordered within each group so that
// padding stays small.
type Conn struct {
	cfg *Config
	obs Observer
	err error     // pending error, reported once (Linux sk_err)
	opt *sockOpts // per-socket options (keepalive, user timeout, linger2), allocated when one is set

	// Send sequence space (RFC 9293 §3.3.1).
	sndBuf ring
	iss    seq.Value
	sndUna seq.Value
	sndNxt seq.Value
	sndMax seq.Value // highest sequence number sent (sndNxt rewinds on RTO)
	sndWnd uint32    // peer's window in bytes, scaled
	maxWnd uint32    // largest window the peer has offered
	sndWl1 seq.Value
	sndWl2 seq.Value
	sndSml seq.Value // end of the last small segment (Minshall's Nagle)
	finSeq seq.Value // sequence number of our FIN once queued
	mss    int       // send MSS (payload bytes per segment)

	// Receive sequence space.
	rcvBuf    ring
	rx        *rcvExt // out-of-order runs, owed ACKs, auto-tuning: allocated when first needed
	irs       seq.Value
	rcvNxt    seq.Value
	rcvAdv    seq.Value // right edge of the window we last advertised
	oooFinSeq seq.Value // sequence number of a FIN beyond a hole
	// rcvSsthresh is the most window we offer (Linux rcv_ssthresh): the
	// SYN's window at first, growing as data arrives (tcp_grow_window).
	rcvSsthresh uint32
	// rcvCap is the receive buffer: RcvBuf, raised by auto-tuning up to
	// RcvBufMax (Linux sk_rcvbuf, window_clamp following).
	rcvCap uint32

	// SACK blocks we report (RFC 2018, RFC 2883).
	sackLast seq.Value // start of the latest out-of-order segment (RFC 2018 §4)
	dsack    span      // a duplicate to report in our next SACK option (RFC 2883)

	// Timestamps (RFC 7323).
	tsRecent    uint32
	tsRecentSec uint32 // when tsRecent was taken, in seconds (RFC 7323 §5.5)
	tsOffset    uint32

	ack     ackState      // delayed and quick ACKs
	rto     rtoState      // RTT sampling and the retransmission timer
	cc      ccState       // congestion control and loss recovery
	tlp     tlpState      // tail loss probe
	persist persistState  // zero-window probes
	closeAt clock.Instant // TIME_WAIT or orphaned FIN_WAIT_2 expiry
	rst     rstState      // a RST waiting to be sent
	limit   ackLimits     // rate limits on challenge and out-of-window ACKs

	counts Counts // MIB events not yet taken by the driver

	// Small fields, packed last: the receive side's scaling ratio, the
	// state, the window scales (RFC 7323 §2) and the flags.
	ratio uint8 // Linux's scaling_ratio, payload per 256 bytes of skb memory; 0: not measured (rcvwin.go)
	// mssFull is the send MSS before the half-window bound (syncMSS):
	// from the peer's MSS option and ours, less the timestamp option.
	mssFull   uint16
	state     State
	sndWScale uint8
	rcvWScale uint8
	unit      uint8     // segments left in the current transmission unit (push.go)
	flags     connFlags // yes/no state, one bit each (flags.go)
}

func newConn(cfg *Config, obs Observer, iss seq.Value, tsOffset uint32) *Conn {
	c := &Conn{
		cfg:      cfg,
		obs:      obs,
		iss:      iss,
		sndUna:   iss,
		sndNxt:   iss,
		sndMax:   iss,
		sndSml:   iss,
		tsOffset: tsOffset,
		rto:      rtoState{timeout: cfg.RTOInitial, at: clock.Never},
		tlp:      tlpState{at: clock.Never},
		ack:      ackState{at: clock.Never},
		persist:  persistState{at: clock.Never},
		closeAt:  clock.Never,
		mss:      536,
	}
	c.sndBuf.max = cfg.SndBuf
	c.rcvBuf.max = cfg.rcvStorage()
	c.rcvCap = uint32(cfg.rcvStorage())
	return c
}

// NewActive starts an active OPEN (RFC 9293 §3.10.1): the connection is in
// SYN_SENT and its SYN is ready for Poll.
func NewActive(cfg *Config, obs Observer, now clock.Instant, iss seq.Value, tsOffset uint32) *Conn {
	c := newConn(cfg, obs, iss, tsOffset)
	c.setState(now, SynSent, "connect() called: SYN queued (RFC 9293 §3.10.1)")
	return c
}

// NewPassive creates the connection a listener makes for an acceptable SYN
// (RFC 9293 §3.10.7.2): the connection is in SYN_RCVD with its SYN-ACK ready.
func NewPassive(cfg *Config, obs Observer, now clock.Instant, iss seq.Value, tsOffset uint32, syn *Segment) *Conn {
	c := newConn(cfg, obs, iss, tsOffset)
	c.flags.set(passive)
	c.state = Listen
	c.acceptSyn(now, syn)
	c.setState(now, SynRcvd, "SYN received on a listener (RFC 9293 §3.10.7.2)")
	return c
}

// acceptSyn records the peer's initial sequence number and options.
func (c *Conn) acceptSyn(now clock.Instant, syn *Segment) {
	c.irs = syn.Seq
	c.rcvNxt = syn.Seq.Add(1)
	o := &syn.Opts
	peerMSS := c.cfg.defaultMSS() // no MSS option
	if o.MSS != 0 {
		peerMSS = int(o.MSS)
	}
	if ws := c.cfg.wscale(); ws >= 0 && o.HasWScale {
		c.flags.set(wsOK)
		c.sndWScale = min(o.WScale, 14)
		c.rcvWScale = uint8(ws)
	}
	if c.cfg.Timestamps && o.HasTimestamp {
		c.flags.set(tsOK)
		c.tsRecent, c.tsRecentSec = o.TSVal, nowSec(now)
	}
	c.rcvAdv = c.rcvNxt.Add(seq.Size(c.synSpace())) // timestamps are known now
	c.rcvSsthresh = uint32(c.synSpace())
	c.setRcvCap(int(c.rcvCap)) // the scale is known now
	c.flags.put(sackOK, c.cfg.SACK && o.SACKPermitted)
	// RACK is chosen once: its send log holds only what was sent while
	// it ran, so a change of Config.RACK mid-connection (stack.SetOptions)
	// is for new connections.
	c.flags.put(rackOK, c.flags.has(sackOK) && c.cfg.RACK)
	c.mssFull = uint16(min(c.sendMSS(peerMSS), 65535))
	c.sndWnd = uint32(syn.Wnd) // RFC 7323 §2.2: the SYN's window is never scaled
	c.maxWnd = c.sndWnd
	c.syncMSS()
	c.sndWl1 = syn.Seq
	c.cc.cwnd = uint32(c.cfg.InitCwnd * c.mss)
	c.cc.ssthresh = 1 << 30
}

// minSndMSS is Linux's TCP_MIN_SND_MSS, the default and least value of
// tcp_min_snd_mss: 40 bytes of options and 8 of data.
const minSndMSS = 48

// sendMSS is the payload room of a full-sized segment we send to a peer
// that announced peerMSS (Linux __tcp_mtu_to_mss and tcp_mtu_to_mss): our
// own MSS bounds it, tcp_min_snd_mss floors it, and the timestamp option
// comes out of it. SACK blocks come out of it per segment (sackOptLen),
// which the floor leaves room for.
func (c *Conn) sendMSS(peerMSS int) int {
	floor := c.cfg.MinSndMSS
	if floor == 0 {
		floor = minSndMSS
	}
	mss := max(min(peerMSS, int(c.cfg.MSS)), floor)
	if c.flags.has(tsOK) {
		mss -= 12
	}
	return mss
}

// syncMSS sets the send MSS: mssFull, bounded by half the largest window
// the peer has offered (by the whole of it when that is 536 bytes or
// less), but not below 68 bytes of segment (Linux tcp_sync_mss and
// tcp_bound_to_half_wnd, called again whenever that window grows). Only
// a jumbo MSS meets the bound: on a 65535-byte MTU the MSS (65483 with
// timestamps) fills the whole first window, and Linux sends 32741-byte
// segments instead. A connection already under way keeps its congestion
// window in segments, as Linux counts it.
func (c *Conn) syncMSS() {
	mss := int(c.mssFull)
	cutoff := int(c.maxWnd)
	if cutoff > 536 {
		cutoff /= 2
	}
	if cutoff > 0 && mss > cutoff {
		hdr := 20
		if c.flags.has(tsOK) {
			hdr += 12
		}
		mss = max(cutoff, 68-hdr)
	}
	if old := c.mss; old > 0 && mss != old {
		c.cc.cwnd = max(uint32(uint64(c.cc.cwnd)*uint64(mss)/uint64(old)), uint32(mss))
		if c.cc.ssthresh < 1<<30 {
			c.cc.ssthresh = max(uint32(uint64(c.cc.ssthresh)*uint64(mss)/uint64(old)), 2*uint32(mss))
		}
	}
	c.mss = mss
}

// State returns the connection's state.
func (c *Conn) State() State { return c.state }

// ISS returns our initial sequence number.
func (c *Conn) ISS() seq.Value { return c.iss }

// IRS returns the peer's initial sequence number (zero before its SYN).
func (c *Conn) IRS() seq.Value { return c.irs }

// MSS returns the payload bytes per full-sized segment we send.
func (c *Conn) MSS() int { return c.mss }

// Orphaned reports whether the user has closed the connection and it lives
// on only to finish its close.
func (c *Conn) Orphaned() bool { return c.flags.has(orphan) }

// Retransmits returns the number of consecutive RTO expirations of the
// current segment (ss's retransmit count).
func (c *Conn) Retransmits() int { return int(c.rto.retries) }

// TotalRetransmits returns every retransmitted segment so far.
func (c *Conn) TotalRetransmits() int { return int(c.rto.total) }

// RcvNxt and SndNxt expose the next sequence numbers (for TIME_WAIT records).
func (c *Conn) RcvNxt() seq.Value { return c.rcvNxt }

// SndNxt returns the next sequence number to send.
func (c *Conn) SndNxt() seq.Value { return c.sndMax }

// TSRecent returns the last timestamp received from the peer and whether
// timestamps are in use.
func (c *Conn) TSRecent() (uint32, bool) { return c.tsRecent, c.flags.has(tsOK) }

// InheritTSRecent gives a connection in SYN_SENT the TS.Recent of the
// TIME_WAIT record whose 4-tuple it took over (tcp_tw_reuse), as Linux's
// tcp_twsk_unique does: its SYN echoes it in TSecr.
func (c *Conn) InheritTSRecent(now clock.Instant, tsRecent uint32) {
	if c.state == SynSent {
		c.tsRecent, c.tsRecentSec = tsRecent, nowSec(now)
	}
}

// RecvQ returns bytes received and not yet read.
func (c *Conn) RecvQ() int { return c.rcvBuf.len() }

// SendQ returns bytes written and not yet acknowledged.
func (c *Conn) SendQ() int { return c.sndBuf.len() }

// Released reports whether the connection is CLOSED and has nothing left
// to send: its driver may forget it.
func (c *Conn) Released() bool { return c.state == Closed && !c.flags.has(rstPending) }

func (c *Conn) setState(now clock.Instant, to State, why string) {
	from := c.state
	if from == to {
		return
	}
	c.state = to
	if to == Closed {
		c.rto.at, c.ack.at, c.persist.at, c.closeAt = clock.Never, clock.Never, clock.Never, clock.Never
		c.tlp.at = clock.Never
		if c.cc.loss != nil {
			c.cc.loss.rack.reoAt = clock.Never
		}
		c.flags.clear(ackNow)
		if c.opt != nil {
			c.opt.at, c.opt.probeNow = clock.Never, false
		}
		c.sndBuf = ring{max: c.sndBuf.max}
		if c.flags.has(orphan) || c.flags.has(rdShut) {
			c.rcvBuf = ring{max: c.rcvBuf.max}
		}
		if c.rx != nil && !c.flags.has(rstActive) { // an active RST still lists the SACK blocks
			c.rx.ooo, c.rx.nAcks = nil, 0
		}
	}
	if c.obs != nil {
		c.obs.StateChanged(now, c, from, to, why)
	}
}
