package soak

import (
	"math/rand/v2"
	"time"

	"github.com/tcpwave/tcpwave/stack"
)

// mode is how a connection ends.
type mode uint8

const (
	// halfClose: each side writes everything, shuts down its write side,
	// reads to EOF and closes.
	halfClose mode = iota
	// closeFirst: one side (the closer) writes everything, reads all its
	// peer will send and closes; the other writes everything, reads to
	// EOF and closes: the four-way close.
	closeFirst
	// simultaneous: each side writes everything and reads all its peer
	// will send; then both close at the same instant and their FINs cross.
	simultaneous
	// abort: as halfClose, but one side closes with SO_LINGER {on, 0} at a
	// random time, resetting the connection.
	abort
	// closeEarly: as halfClose, but one side closes at a random time,
	// whatever it has not read yet (RST with unread data, or data after
	// close draws one).
	closeEarly
)

var modeNames = [...]string{halfClose: "half-close", closeFirst: "close-first", simultaneous: "simultaneous", abort: "abort", closeEarly: "close-early"}

func (m mode) String() string { return modeNames[m] }

// sidePlan is what one side's application will do.
type sidePlan struct {
	bytes      int     // how much it writes
	writeChunk int     // largest write
	readChunk  int     // read buffer size
	pause      float64 // chance of pausing reads after a read
	think      float64 // chance of pausing writes after a write
	pauses     int     // most pauses of either kind
	noDelay    bool    // TCP_NODELAY
	special    bool    // the closer (closeFirst), or the side that aborts or closes early
	quitAfter  time.Duration
}

// pairPlan is what a connection's two applications will do.
type pairPlan struct {
	mode     mode
	start    time.Duration
	from, to int // host indexes of the client and the server
	c, s     sidePlan
}

func drawPair(rng *rand.Rand, cfg *Config, hosts int) pairPlan {
	p := pairPlan{start: time.Duration(rng.Int64N(int64(max(cfg.StartWindow, 1))))}
	p.from = rng.IntN(hosts)
	p.to = (p.from + 1 + rng.IntN(hosts-1)) % hosts
	switch x := rng.IntN(100); {
	case x < 35:
		p.mode = halfClose
	case x < 60:
		p.mode = closeFirst
	case x < 75:
		p.mode = simultaneous
	case x < 87:
		p.mode = abort
	default:
		p.mode = closeEarly
	}
	p.c, p.s = drawSide(rng, cfg), drawSide(rng, cfg)
	if p.mode == closeFirst || p.mode == abort || p.mode == closeEarly {
		if rng.IntN(2) == 0 {
			p.c.special = true
		} else {
			p.s.special = true
		}
	}
	return p
}

func drawSide(rng *rand.Rand, cfg *Config) sidePlan {
	sp := sidePlan{
		bytes:      drawSize(rng, cfg.MaxBytes),
		writeChunk: 1 + drawSize(rng, 64<<10-1),
		readChunk:  1 + drawSize(rng, 64<<10-1),
		noDelay:    rng.IntN(2) == 0,
		quitAfter:  drawPause(rng),
		pauses:     1 + rng.IntN(10),
	}
	if rng.IntN(4) == 0 {
		sp.pause = 0.05 + 0.3*rng.Float64()
	}
	if rng.IntN(3) == 0 {
		sp.think = 0.1 + 0.5*rng.Float64()
	}
	return sp
}

// drawPause is a duration from 1 ms to 4 s, log-uniform-ish: most are
// short, a few outlast a partition.
func drawPause(rng *rand.Rand) time.Duration {
	return time.Duration(1+rng.Int64N(int64(time.Millisecond)<<rng.IntN(13))) + time.Millisecond
}

// drawSize is 0 a fifth of the time, else log-uniform in [1, limit].
func drawSize(rng *rand.Rand, limit int) int {
	if limit <= 0 || rng.IntN(5) == 0 {
		return 0
	}
	bits := 0
	for 1<<bits < limit {
		bits++
	}
	v := 1 + rng.IntN(1<<rng.IntN(bits+1))
	return min(v, limit)
}

// hostOptions draws a host's configuration: buffers from 4 KiB (zero
// windows) to Linux's 256 KiB (the send buffer auto-tuned from 256 KiB
// only), an MTU from 576 to 1500, timestamps, SACK
// and window scaling each sometimes off, SYN cookies on (when the SYN
// queue overflows) or off, and sometimes an ephemeral port range of a few
// dozen ports, so that 4-tuples are reused while the last connection on
// them is in TIME_WAIT on the server, or still open there after a crash.
func hostOptions(rng *rand.Rand) stack.Options {
	o := stack.DefaultOptions()
	bufs := []int{4 << 10, 16 << 10, 64 << 10, 256 << 10}
	o.TCP.RcvBuf = bufs[rng.IntN(len(bufs))]
	o.TCP.SndBuf = bufs[rng.IntN(len(bufs))]
	if o.TCP.SndBuf < 256<<10 {
		o.TCP.SndBufMax = 0 // a small buffer stays small, as one set by SO_SNDBUF: full buffers and blocked writers stay common
	}
	o.MTU = []int{576, 1280, 1500, 1500}[rng.IntN(4)]
	o.TCP.Timestamps = rng.IntN(4) != 0
	o.TCP.SACK = rng.IntN(4) != 0
	if o.TCP.RcvBuf <= 65535 && rng.IntN(4) == 0 {
		o.TCP.WScale = -1
	}
	o.SynCookies = rng.IntN(2) // off, or Linux's default: when the SYN queue overflows
	if rng.IntN(4) == 0 {
		o.EphemeralLow = uint16(40000 + rng.IntN(1000))
		o.EphemeralHigh = o.EphemeralLow + uint16(8+rng.IntN(56))
	}
	return o
}
