package soak

import (
	"fmt"
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/sim"
)

// faults drives the links: each direction has the configuration of the
// current phase, and a partition makes it lose everything while it lasts.
type faults struct {
	w       *world
	faulty  [][]sim.LinkConfig // phase 1, by [from][to]
	healed  [][]sim.LinkConfig // phase 2
	blocked [][]int            // partitions in force
	isHeal  bool
}

func newFaults(w *world) *faults {
	k := len(w.hosts)
	f := &faults{w: w}
	for range k {
		f.faulty = append(f.faulty, make([]sim.LinkConfig, k))
		f.healed = append(f.healed, make([]sim.LinkConfig, k))
		f.blocked = append(f.blocked, make([]int, k))
	}
	return f
}

// drawLink draws one direction's faults: a delay of 0.1 to 20 ms, and
// sometimes jitter and a bandwidth limit, with loss, duplication,
// reordering and corruption up to the Config's rates (each sometimes
// zero).
func (f *faults) drawLink() sim.LinkConfig {
	rng, cfg := f.w.rng, f.w.cfg
	c := sim.LinkConfig{Delay: time.Duration(100+rng.IntN(20_000)) * time.Microsecond}
	if rng.IntN(2) == 0 {
		c.Jitter = time.Duration(rng.Int64N(int64(c.Delay)))
	}
	if rng.IntN(3) == 0 {
		c.Bandwidth = 1e6 * (1 + rng.Int64N(100))
	}
	rate := func(limit float64) float64 {
		if rng.IntN(4) == 0 {
			return 0
		}
		return limit * rng.Float64()
	}
	c.Loss, c.Dup, c.Reorder, c.Corrupt = rate(cfg.MaxLoss), rate(cfg.MaxDup), rate(cfg.MaxReorder), rate(cfg.MaxCorrupt)
	return c
}

// schedule draws the links, the partitions and the crashes, and schedules
// them and the heal.
func (f *faults) schedule() {
	w, rng, cfg := f.w, f.w.rng, f.w.cfg
	k := len(w.hosts)
	for i := range k {
		for j := range k {
			if i != j {
				f.faulty[i][j] = f.drawLink()
				f.healed[i][j] = sim.LinkConfig{Delay: f.faulty[i][j].Delay, Bandwidth: f.faulty[i][j].Bandwidth}
				f.apply(i, j)
			}
		}
	}
	if cfg.FaultPhase > 0 {
		for range rng.IntN(cfg.MaxPartitions + 1) {
			i := rng.IntN(k)
			j := (i + 1 + rng.IntN(k-1)) % k
			start := time.Duration(rng.Int64N(int64(cfg.FaultPhase)))
			d := time.Duration(1 + rng.Int64N(int64(cfg.MaxPartition)))
			end := min(start+d, cfg.FaultPhase)
			w.n.At(clock.Instant(start), func() { f.partition(i, j, +1) })
			w.n.At(clock.Instant(end), func() { f.partition(i, j, -1) })
			w.res.Partitions++
		}
		for range rng.IntN(cfg.MaxCrashes + 1) {
			h := w.hosts[rng.IntN(k)]
			at := time.Duration(1 + rng.Int64N(int64(cfg.FaultPhase)))
			restart := time.Duration(rng.Int64N(int64(5 * time.Second)))
			w.n.At(clock.Instant(at), func() { w.crash(h, restart) })
		}
	}
	w.n.At(w.heal, f.healAll)
}

// apply sets the direction i -> j to the phase's configuration, or to
// losing everything during a partition.
func (f *faults) apply(i, j int) {
	c := f.faulty[i][j]
	if f.isHeal {
		c = f.healed[i][j]
	}
	if f.blocked[i][j] > 0 {
		c.Loss = 1
	}
	if err := f.w.n.SetLink(f.w.hosts[i].name, f.w.hosts[j].name, c); err != nil {
		f.w.violate("bound", "link %d->%d: %v", i, j, err)
	}
}

// partition starts (+1) or ends (-1) a partition between hosts i and j.
func (f *faults) partition(i, j, d int) {
	f.blocked[i][j] += d
	f.blocked[j][i] += d
	f.apply(i, j)
	f.apply(j, i)
	what := "start"
	if d < 0 {
		what = "end"
	}
	f.w.record("net", fmt.Sprintf("partition %s-%s", f.w.hosts[i].name, f.w.hosts[j].name), what)
}

// healAll ends the fault phase: no more loss, duplication, reordering or
// corruption.
func (f *faults) healAll() {
	f.isHeal = true
	for i := range f.w.hosts {
		for j := range f.w.hosts {
			if i != j {
				f.apply(i, j)
			}
		}
	}
	f.w.record("net", "heal", "faults end")
}
