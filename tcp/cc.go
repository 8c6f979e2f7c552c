package tcp

import (
	"math"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/seq"
)

// Congestion control algorithms, named as Linux names them
// (net.ipv4.tcp_congestion_control).
const (
	CUBIC = "cubic" // RFC 9438, Linux's default
	Reno  = "reno"  // RFC 5681 with NewReno recovery (RFC 6582)
)

// CUBIC's constants (RFC 9438 §4.1 and §5): C in segments per second
// cubed, and the multiplicative decrease factor.
const (
	cubicC    = 0.4
	cubicBeta = 0.7
)

// cubicState is CUBIC's curve (RFC 9438 §4), in bytes and seconds. It
// lives in the lossState, allocated at the first congestion event.
type cubicState struct {
	wMax       float64       // window just before the last reduction (W_max)
	k          float64       // time the cubic curve takes to regain wMax (K)
	origin     float64       // the window the curve is centred on
	wEst       float64       // the Reno-friendly estimate (W_est, §4.3)
	acc        float64       // fractional window growth not yet applied
	epochStart clock.Instant // start of the congestion-avoidance epoch, or Never
}

// reduceWindow is the multiplicative decrease at a congestion event
// (fast recovery or RTO): Reno halves, CUBIC keeps 70% and remembers the
// window it lost at (RFC 9438 §4.6, with fast convergence, §4.7). The
// window that counts is the smaller of cwnd and flight: SACK recovery
// passes the window before the ACK that found the loss, so it counts
// alone, as in Linux's cubic; recovery without SACK, an RTO and a loss
// probe's recovery pass the data outstanding (RFC 5681's FlightSize),
// where Linux would take cwnd.
func (c *Conn) reduceWindow(now clock.Instant, flight uint32) {
	mss := uint32(c.mss)
	w := min(c.cc.cwnd, flight)
	if c.cfg.CongestionControl == Reno {
		c.cc.ssthresh = max(flight/2, 2*mss)
		return
	}
	cs := &c.lossState().cubic
	cw := float64(w)
	if cw < cs.wMax {
		cs.wMax = cw * (1 + cubicBeta) / 2 // fast convergence: release bandwidth to newer flows
	} else {
		cs.wMax = cw
	}
	cs.epochStart = clock.Never
	cs.acc = 0
	c.cc.ssthresh = max(uint32(cw*cubicBeta), 2*mss)
}

// growWindow opens the congestion window for the bytes an ACK of new
// data reports delivered outside recovery, as Linux's tcp_cong_avoid
// counts them (acked_sacked: newly ACKed or SACKed, not what an earlier
// SACK reported): slow start below ssthresh adds all of them, up to
// ssthresh (Linux tcp_slow_start; RFC 5681's L = 1*SMSS does not hold
// there, so an ACK of two segments opens the window by two), and what
// is left over goes to CUBIC's congestion avoidance; Reno's adds its
// increment once an ACK.
func (c *Conn) growWindow(now clock.Instant, acked uint32) {
	mss := uint32(c.mss)
	if !c.cwndLimited() {
		return
	}
	if c.cc.cwnd < c.cc.ssthresh {
		room := min(c.cc.ssthresh, 1<<30) - min(c.cc.cwnd, 1<<30)
		step := min(acked, room)
		c.cc.cwnd += step
		acked -= step
		if acked == 0 {
			return
		}
	}
	if c.cfg.CongestionControl == Reno {
		// MSS²/cwnd an ACK, whatever it delivered (RFC 5681 §3.1);
		// Linux's tcp_cong_avoid_ai counts the packets instead.
		c.cc.cwnd = min(c.cc.cwnd+max(mss*mss/c.cc.cwnd, 1), 1<<30)
		return
	}
	c.cubicGrow(now, acked)
}

// cwndUse is how much of the congestion window the sender used, as
// Linux's tcp_cwnd_validate keeps it (RFC 7661's idea): whether the
// window limited it since usedTo was sent, or else the most it had out.
type cwndUse struct {
	limited bool      // the window held data back (Linux is_cwnd_limited)
	maxOut  int       // the most bytes out at once (Linux max_packets_out)
	usedTo  seq.Value // SND.MAX when the record began (Linux cwnd_usage_seq)
}

// cwndValidate updates the record after new data went, as Linux's
// tcp_cwnd_validate after tcp_write_xmit (cwnd_usage_seq is the highest
// sequence number sent): the window limits the sender when what is in
// flight leaves no room for another full segment. A connection without a
// loss state keeps no record.
func (c *Conn) cwndValidate() {
	ls := c.cc.loss
	if ls == nil {
		return
	}
	u := &ls.use
	limited := c.inFlight()+c.mss > int(c.cc.cwnd)
	out := int(c.sndMax.Sub(c.sndUna))
	if c.sndUna.GreaterEq(u.usedTo) || limited || (!u.limited && out > u.maxOut) {
		u.limited, u.maxOut, u.usedTo = limited, out, c.sndMax
	}
}

// cwndLimited is Linux's tcp_is_cwnd_limited: the window grows only when
// it limits the sender, or in slow start while it is under twice the
// most the sender had out; an application that sends less than the
// window allows does not inflate it. Without a record (no send log, or
// one begun since the last segment went), it grows.
func (c *Conn) cwndLimited() bool {
	ls := c.cc.loss
	if ls == nil || ls.use.limited || ls.use.maxOut == 0 {
		return true
	}
	return c.cc.cwnd < c.cc.ssthresh && int(c.cc.cwnd) < 2*ls.use.maxOut
}

// cubicGrow is RFC 9438 §4.2–4.5: the window follows
// W(t) = C*(t-K)^3 + W_max, K = cbrt(W_max*(1-β)/C), concave below W_max
// and convex above it, but never grows slower than Reno would (the
// Reno-friendly region, §4.3).
func (c *Conn) cubicGrow(now clock.Instant, acked uint32) {
	cs := &c.lossState().cubic
	mss := float64(c.mss)
	cw := float64(c.cc.cwnd)
	if cs.epochStart == clock.Never {
		cs.epochStart = now
		cs.wEst = cw
		cs.k, cs.origin = cubicEpoch(mss, cw, cs.wMax)
	}
	// §4.2: the target is where the curve will be one RTT from now,
	// within [cwnd, 1.5*cwnd] (§4.4, §4.5).
	t := now.Sub(cs.epochStart).Seconds() + c.rto.srtt.Seconds()
	target := cubicAt(mss, cs.k, cs.origin, t)
	target = min(max(target, cw), 1.5*cw)
	// §4.3: W_est grows by α_cubic segments per window of ACKed data.
	const alpha = 3 * (1 - cubicBeta) / (1 + cubicBeta)
	cs.wEst += alpha * float64(acked) * mss / cw
	var inc float64
	if cs.wEst > target {
		inc = cs.wEst - cw // Reno-friendly region
	} else {
		inc = (target - cw) / cw * float64(acked)
	}
	if inc <= 0 {
		return
	}
	cs.acc += inc
	if cs.acc >= 1 {
		n := uint32(min(cs.acc, float64(1<<30)))
		cs.acc -= float64(n)
		c.cc.cwnd = min(c.cc.cwnd+n, 1<<30)
	}
}

// cubicEpoch returns K, the seconds the curve takes to regain wMax from
// the window w0 an epoch starts at, and the window it is centred on
// (RFC 9438 eq. 2): above wMax the curve starts at once from w0.
func cubicEpoch(mss, w0, wMax float64) (k, origin float64) {
	if w0 < wMax {
		return math.Cbrt((wMax - w0) / mss / cubicC), wMax
	}
	return 0, w0
}

// cubicAt is W(t) = C*(t-K)^3 + origin in bytes (RFC 9438 eq. 1).
func cubicAt(mss, k, origin, t float64) float64 {
	d := t - k
	return origin + cubicC*d*d*d*mss
}

// ccState is congestion control (RFC 5681, RFC 9438) and the loss
// recovery it runs (RFC 6582, RFC 6675 with PRR, RFC 6937).
type ccState struct {
	loss     *lossState // SACK scoreboard and CUBIC state, from the first loss on
	cwnd     uint32
	ssthresh uint32
	recover  seq.Value
	dupAcks  int32 // duplicate ACKs in a row (RFC 5681 §2)
}

// congestionOnAck handles new data ACKed (acked bytes of sequence space,
// delivered bytes newly ACKed or SACKed): NewReno's partial and full ACKs
// (RFC 6582 §3.2) and the end of SACK recovery (RFC 6675 §5) in recovery,
// window growth otherwise.
func (c *Conn) congestionOnAck(now clock.Instant, acked, delivered uint32) {
	mss := uint32(c.mss)
	c.cc.dupAcks = 0
	if c.flags.has(rtoHold) && c.sndUna.GreaterEq(c.cc.recover) {
		c.flags.clear(rtoHold)
		c.endUndo()
	}
	if c.flags.has(inRecovery) {
		switch {
		case c.sndUna.GreaterEq(c.cc.recover):
			c.flags.clear(inRecovery | sackRec)
			c.cc.cwnd = c.cc.ssthresh
			c.rackRecoveryEnd()
			c.endUndo()
		case c.flags.has(sackRec):
			// RFC 6675 leaves the repair to NextSeg; without SACK
			// information, retransmit the new head as NewReno would.
			// RACK decides by send time instead (rack.go).
			if !c.hasSACK() && c.rack() == nil {
				c.flags.set(fastRexmit)
			}
		default:
			// Partial ACK: retransmit the next hole, deflate the window.
			c.flags.set(fastRexmit)
			c.cc.cwnd = max(c.cc.cwnd-min(c.cc.cwnd, acked)+mss, mss)
		}
		return
	}
	c.growWindow(now, delivered)
}
