package conform

import (
	"fmt"
	"time"
)

// tsClock relates the host's timestamp clock to the script's TS values,
// per connection, the way packetdrill reads them (its run_packet.c, in
// our words):
//
//   - The first outbound packet of a connection whose line has a TS val
//     (not "*") fixes the baseline: that line's value stands for the TS
//     val the host put in the packet.
//   - Every later TS val the host sends is read on the script's scale as
//     baseline + (actual - first actual). With a tick (--tcp_ts_tick_usecs,
//     the microseconds one TS unit of the host lasts; 1000 for Linux's and
//     tcpwave's 1 ms clock) it must be within the tolerance of the line's
//     value: |read - written| × tick ≤ --tolerance_usecs. Without a tick
//     (0, packetdrill's default) TS val is not compared.
//   - The TS ecr a script packet carries is turned into a value of the
//     host's clock: the TS val the host actually sent on the latest line
//     that wrote this value, else (with --tcp_ts_ecr_scaled) the
//     baseline shifted by the difference, else the host's latest TS val (this runner's
//     fallback, which older scripts of the corpus rely on).
//
// The host's TS ecr is compared with what the script wrote (the script's
// own TS val, sent unchanged), unless it is "*".
type tsClock struct {
	tick   time.Duration // 0: TS val is not compared
	tol    time.Duration
	scaled bool // --tcp_ts_ecr_scaled
	// at is when the packet being matched came and nom the time the
	// script gives its line; firstAt and firstNom are the baseline's (see
	// observe).
	at, nom, firstAt, firstNom time.Duration

	have                     bool
	firstScript, firstActual uint32
	byScript                 map[uint32]uint32 // a line's TS val -> the host's
	lastActual               uint32
	haveLast                 bool
}

// reset forgets the connection's baseline: a new connection has its own
// (Linux gives each a random TS offset).
func (c *tsClock) reset() {
	c.have = false
	c.byScript = nil
}

// sent records the TS val the host sent, for the next ecr when nothing
// better is known.
func (c *tsClock) sent(actual uint32) { c.lastActual, c.haveLast = actual, true }

// observe takes an outbound line's TS val (script) and the one the host
// sent (actual), and says how far apart they are on the script's scale
// when the tick makes it matter.
func (c *tsClock) observe(script, actual uint32) error {
	if c.byScript == nil {
		c.byScript = map[uint32]uint32{}
	}
	c.byScript[script] = actual
	if !c.have {
		c.have, c.firstScript, c.firstActual, c.firstAt, c.firstNom = true, script, actual, c.at, c.nom
	}
	if c.tick <= 0 {
		return nil
	}
	read := c.firstScript + (actual - c.firstActual)
	off := int64(int32(read - script))
	if off < 0 {
		off = -off
	}
	// A runner that was late (a loaded machine) ran the lines after the
	// baseline's later than the script says, and the host's clock went
	// on meanwhile: that drift, how much more (or less) time passed
	// between the two packets than the script says, is allowed on top of
	// the tolerance. On virtual time (tcpwave) it is 0.
	drift := (c.at - c.firstAt) - (c.nom - c.firstNom)
	if drift < 0 {
		drift = -drift
	}
	if time.Duration(off)*c.tick > c.tol+drift {
		return fmt.Errorf("TS val %d, want %d (off by %d ticks of %v, more than the tolerance %v and the runner's drift %v)", read, script, off, c.tick, c.tol, drift)
	}
	return nil
}

// ecr is the value a script packet's "ecr" becomes on the wire.
func (c *tsClock) ecr(script uint32) uint32 {
	if script == 0 {
		return 0
	}
	if v, ok := c.byScript[script]; ok {
		return v
	}
	if c.scaled && c.have {
		return c.firstActual + (script - c.firstScript)
	}
	if c.haveLast {
		return c.lastActual
	}
	return script
}

// read is the host's TS val on the script's scale, for reports.
func (c *tsClock) read(actual uint32) (uint32, bool) {
	if !c.have {
		return 0, false
	}
	return c.firstScript + (actual - c.firstActual), true
}
