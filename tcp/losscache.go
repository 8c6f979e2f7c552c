package tcp

// LossCache holds the loss states of a stack's finished connections (the
// SACK scoreboard, CUBIC's curve, RACK's send log, the window-use record:
// some 384 bytes) for its new ones. With RACK every SACK connection needs
// one from its first segment of data on, so a stack that opens and closes
// connections at a high rate would otherwise allocate one per connection
// and side. A driver keeps one LossCache, makes the Observer of its
// connections a LossCacher naming it, and gives it each connection it
// forgets (Recycle). A LossCache is guarded as the connections that use
// it are: one goroutine at a time. The zero value is an empty cache.
type LossCache struct {
	free []*lossState
}

// LossCacher is an Observer that names the LossCache of its connection's
// driver: the connection takes its loss state from it and Recycle gives
// it back. A connection whose Observer is not one allocates its own.
type LossCacher interface {
	Observer
	LossCache() *LossCache
}

// lossCacheMax bounds the loss states a LossCache keeps (some 20 KiB):
// enough for the connections that end in one burst while as many begin;
// beyond it, a finished connection's loss state is left to the garbage
// collector.
const lossCacheMax = 64

// Len returns how many loss states the cache holds.
func (lc *LossCache) Len() int { return len(lc.free) }

// lossCache returns the LossCache the connection's Observer names, or nil.
func (c *Conn) lossCache() *LossCache {
	if lo, ok := c.obs.(LossCacher); ok {
		return lo.LossCache()
	}
	return nil
}

// takeLossState returns a zeroed loss state: one from the connection's
// LossCache, or a new one when it has none kept.
func (c *Conn) takeLossState() *lossState {
	lc := c.lossCache()
	if lc == nil || len(lc.free) == 0 {
		return new(lossState)
	}
	ls := lc.free[len(lc.free)-1]
	lc.free[len(lc.free)-1] = nil
	lc.free = lc.free[:len(lc.free)-1]
	return ls
}

// Recycle gives the connection's loss state, if it has one, to the
// LossCache its Observer names, for a later connection: the driver calls
// it once it forgets the connection (CLOSED and released, turned into a
// TIME_WAIT record, or dropped), which must never run again. The
// connection then reads as one that never had loss state.
func (c *Conn) Recycle() {
	ls := c.cc.loss
	if ls == nil {
		return
	}
	c.cc.loss = nil
	lc := c.lossCache()
	if lc == nil || len(lc.free) >= lossCacheMax {
		return
	}
	*ls = lossState{} // what it points to goes now, not when it is taken again
	lc.free = append(lc.free, ls)
}
