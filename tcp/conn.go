package tcp

import (
	"time"

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

// Conn is one TCP connection's control block. Fields are grouped by size
// so that the struct has no padding (TestConnSize holds it to 512 bytes).
type Conn struct {
	cfg *Config
	obs Observer
	err error // pending error, reported once (Linux sk_err)

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

	// Receive sequence space.
	rcvBuf      ring
	rx          *rcvExt // out-of-order runs, owed ACKs, auto-tuning: allocated when first needed
	irs         seq.Value
	rcvNxt      seq.Value
	rcvAdv      seq.Value // right edge of the window we last advertised
	sackLast    seq.Value // start of the latest out-of-order segment (RFC 2018 §4)
	oooFinSeq   seq.Value // sequence number of a FIN beyond a hole
	dsack       span      // a duplicate to report in our next SACK option (RFC 2883)
	tsRecent    uint32
	tsRecentSec uint32 // when tsRecent was taken, in seconds (RFC 7323 §5.5)
	tsOffset    uint32
	mss         int // send MSS (payload bytes per segment)

	// Retransmission (RFC 6298) and congestion control (RFC 5681, 6582,
	// 6675, 9438).
	srtt, rttvar time.Duration
	rto          time.Duration
	rtoAt        clock.Instant
	ptoAt        clock.Instant // tail loss probe timer (RFC 8985 §7), or Never
	rttStart     clock.Instant
	loss         *lossState // SACK scoreboard and CUBIC state, from the first loss on
	rttSeq       seq.Value
	cwnd         uint32
	ssthresh     uint32
	recover      seq.Value
	tlpHigh      seq.Value // SND.NXT when the loss probe went (Linux tlp_high_seq)
	lastSeg      seq.Value // start of the last segment of new data sent

	// Delayed ACK (Linux: quick-ACK and pingpong modes).
	delackAt     clock.Instant
	lastRcvData  clock.Instant
	rcvUnacked   int32 // bytes received since our last ACK
	rcvMSSSeen   int32 // largest payload received, to judge "full-sized"
	retries      int32 // consecutive RTO expirations
	totalRetrans int32
	dupAcks      int32 // duplicate ACKs in a row (RFC 5681 §2)
	probes       int32 // unanswered zero-window probes (Linux icsk_probes_out)

	// Persist (zero-window probe) and close timers.
	persistAt clock.Instant
	closeAt   clock.Instant // TIME_WAIT or orphaned FIN_WAIT_2 expiry
	opt       *sockOpts     // per-socket options (keepalive, user timeout, linger2), allocated when one is set

	// A RST waiting to be sent, built from a segment we refuse.
	rstSeq seq.Value
	rstAck seq.Value

	lastChalMs uint32 // when the last challenge ACK went, in ms
	lastOOWMs  uint32 // when the last out-of-window ACK went, in ms
	// rcvSsthresh is the most window we offer (Linux rcv_ssthresh): the
	// SYN's window at first, growing as data arrives (tcp_grow_window).
	rcvSsthresh uint32
	// rcvCap is the receive buffer: RcvBuf, raised by auto-tuning up to
	// RcvBufMax (Linux sk_rcvbuf, window_clamp following).
	rcvCap uint32
	// ackDue is RCV.NXT when the pending immediate ACK became due
	// (ackDueOn): if more data asks for another before Poll, ackDue goes
	// to the owed list, so that a driver that hands over segments in
	// batches still gets an ACK for every second full-sized segment.
	ackDue seq.Value

	counts Counts // MIB events not yet taken by the driver

	rstFlags    wire.Flags
	rstActive   bool   // the pending RST is tcp_send_active_reset's: it carries rstWnd and the options
	rstWnd      uint16 // the window field of an active RST
	quick       uint8  // quick ACKs left (Linux icsk_ack.quick)
	ratio       uint8  // Linux's scaling_ratio, payload per 256 bytes of skb memory; 0: not measured (rcvwin.go)
	probeShift  uint8  // probes sent since the window shut: the backoff (Linux icsk_backoff), saturating
	state       State
	sndWScale   uint8
	rcvWScale   uint8
	rstPending  bool
	finQ        bool // FIN queued (shutdown of the write side)
	finRcvd     bool // peer's FIN consumed (rcvNxt is past it)
	oooFin      bool // a FIN arrived beyond a hole
	rdShut      bool // no more reads (close or SHUT_RD)
	wrShut      bool // no more writes by the user
	orphan      bool // the user has closed the connection
	noDelay     bool // TCP_NODELAY set on this connection
	passive     bool // opened by a listener
	wsOK        bool
	tsOK        bool
	sackOK      bool
	rttTiming   bool
	inRecovery  bool
	sackRec     bool // the recovery is SACK-based (RFC 6675), not NewReno
	rtoHold     bool // an RTO recovery runs until SND.UNA reaches recover
	sndLimited  bool // a Write found the send buffer full (Linux's SOCK_NOSPACE; newSpace)
	fastRexmit  bool // retransmit the segment at sndUna now
	tlpNow      bool // send a loss probe now
	tlpOn       bool // a loss probe is out: tlpHigh is set
	tlpRexmit   bool // the probe retransmitted old data (rather than sending new)
	dsackOn     bool // dsack holds a block to send
	ackNow      bool
	pingpong    bool
	probeNow    bool
	swsOverride bool // the persist timer lets a window-limited piece go (RFC 9293 §3.8.6.2.1)
	chalSent    bool
	oowSent     bool
	ackDueOn    bool
}

const maxQuickAcks = 16 // TCP_MAX_QUICKACKS

func newConn(cfg *Config, obs Observer, iss seq.Value, tsOffset uint32) *Conn {
	c := &Conn{
		cfg:       cfg,
		obs:       obs,
		iss:       iss,
		sndUna:    iss,
		sndNxt:    iss,
		sndMax:    iss,
		sndSml:    iss,
		tsOffset:  tsOffset,
		rto:       cfg.RTOInitial,
		rtoAt:     clock.Never,
		ptoAt:     clock.Never,
		delackAt:  clock.Never,
		persistAt: clock.Never,
		closeAt:   clock.Never,
		mss:       536,
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
	c.passive = true
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
	peerMSS := 536 // RFC 9293 §3.7.1: default when no MSS option
	if o.MSS != 0 {
		peerMSS = int(o.MSS)
	}
	if ws := c.cfg.wscale(); ws >= 0 && o.HasWScale {
		c.wsOK = true
		c.sndWScale = min(o.WScale, 14)
		c.rcvWScale = uint8(ws)
	}
	if c.cfg.Timestamps && o.HasTimestamp {
		c.tsOK = true
		c.tsRecent, c.tsRecentSec = o.TSVal, nowSec(now)
	}
	c.rcvAdv = c.rcvNxt.Add(seq.Size(c.synSpace())) // timestamps are known now
	c.rcvSsthresh = uint32(c.synSpace())
	c.setRcvCap(int(c.rcvCap)) // the scale is known now
	c.sackOK = c.cfg.SACK && o.SACKPermitted
	c.mss = c.sendMSS(peerMSS)
	c.sndWnd = uint32(syn.Wnd) // RFC 7323 §2.2: the SYN's window is never scaled
	c.maxWnd = c.sndWnd
	c.sndWl1 = syn.Seq
	c.cwnd = uint32(c.cfg.InitCwnd * c.mss)
	c.ssthresh = 1 << 30
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
	if c.tsOK {
		mss -= 12
	}
	return mss
}

// rcvFree is the receive space we may offer: the buffer less what is held.
func (c *Conn) rcvFree() int { return max(int(c.rcvCap)-c.rcvBuf.len(), 0) }

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
func (c *Conn) Orphaned() bool { return c.orphan }

// Retransmits returns the number of consecutive RTO expirations of the
// current segment (ss's retransmit count).
func (c *Conn) Retransmits() int { return int(c.retries) }

// TotalRetransmits returns every retransmitted segment so far.
func (c *Conn) TotalRetransmits() int { return int(c.totalRetrans) }

// RcvNxt and SndNxt expose the next sequence numbers (for TIME_WAIT records).
func (c *Conn) RcvNxt() seq.Value { return c.rcvNxt }

// SndNxt returns the next sequence number to send.
func (c *Conn) SndNxt() seq.Value { return c.sndMax }

// TSRecent returns the last timestamp received from the peer and whether
// timestamps are in use.
func (c *Conn) TSRecent() (uint32, bool) { return c.tsRecent, c.tsOK }

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
func (c *Conn) Released() bool { return c.state == Closed && !c.rstPending }

func (c *Conn) setState(now clock.Instant, to State, why string) {
	from := c.state
	if from == to {
		return
	}
	c.state = to
	if to == Closed {
		c.rtoAt, c.delackAt, c.persistAt, c.closeAt = clock.Never, clock.Never, clock.Never, clock.Never
		c.ptoAt = clock.Never
		c.ackNow = false
		if c.opt != nil {
			c.opt.at, c.opt.probeNow = clock.Never, false
		}
		c.sndBuf = ring{max: c.sndBuf.max}
		if c.orphan || c.rdShut {
			c.rcvBuf = ring{max: c.rcvBuf.max}
		}
		if c.rx != nil && !c.rstActive { // an active RST still lists the SACK blocks
			c.rx.ooo, c.rx.nAcks = nil, 0
		}
	}
	if c.obs != nil {
		c.obs.StateChanged(now, c, from, to, why)
	}
}

// Deadline returns when HandleTimeout must next be called, or clock.Never.
func (c *Conn) Deadline() clock.Instant {
	d := clock.Min(clock.Min(c.rtoAt, c.ptoAt), c.delackAt)
	d = clock.Min(d, c.persistAt)
	if c.opt != nil {
		d = clock.Min(d, c.opt.at)
	}
	return clock.Min(d, c.closeAt)
}

// TimerInfo names the timer that fires next as ss does ("on", "persist",
// "timewait", "keepalive", or "") and when it fires.
func (c *Conn) TimerInfo() (string, clock.Instant) {
	switch {
	case c.closeAt != clock.Never && c.state == TimeWait:
		return "timewait", c.closeAt
	case c.closeAt != clock.Never:
		return "timewait", c.closeAt // Linux shows an orphaned FIN_WAIT_2 in its timewait table
	case c.rtoAt != clock.Never || c.ptoAt != clock.Never:
		return "on", clock.Min(c.rtoAt, c.ptoAt) // Linux shows a loss probe as "on" too
	case c.persistAt != clock.Never:
		return "persist", c.persistAt
	case c.opt != nil && c.opt.at != clock.Never:
		return "keepalive", c.opt.at // Linux's sk_timer, shown before the delayed ACK
	case c.delackAt != clock.Never:
		return "delack", c.delackAt
	}
	return "", clock.Never
}
