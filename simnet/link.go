package simnet

import (
	"encoding/binary"
	"hash/fnv"
	"math/rand/v2"
	"time"
)

// Link is one direction of the path between two hosts, with knobs named
// after netem's. The zero Link delivers every packet at once, in order.
//
// Values out of range are clamped, not refused (New and SetLink take
// them as they are): a negative Delay, Jitter, Rate or Queue counts as 0,
// and a probability below 0 or NaN as 0, above 1 as 1.
type Link struct {
	Delay   time.Duration // one-way latency
	Jitter  time.Duration // extra delay drawn uniformly from [0, Jitter) for each packet
	Rate    int64         // bits per second; 0: unlimited. Packets queue behind each other.
	Loss    float64       // probability a packet is lost, in [0, 1]
	Dup     float64       // probability a packet arrives twice
	Reorder float64       // probability a packet is held back by one more Delay (at least 1 ms), so later ones pass it
	Corrupt float64       // probability one bit of a packet is flipped (the receiver drops it on its checksum)
	// Queue is the most packets waiting for the link's rate; more are
	// dropped at the tail. 0 means 1000. Unused without a Rate.
	Queue int
}

// clamped returns the link with its values in range (see Link).
func (l Link) clamped() Link {
	l.Delay, l.Jitter = max(l.Delay, 0), max(l.Jitter, 0)
	l.Rate, l.Queue = max(l.Rate, 0), max(l.Queue, 0)
	for _, p := range []*float64{&l.Loss, &l.Dup, &l.Reorder, &l.Corrupt} {
		if !(*p > 0) { // NaN too
			*p = 0
		}
		*p = min(*p, 1)
	}
	return l
}

// linkState is a direction's link with its seed and its queue.
type linkState struct {
	cfg      Link
	seed     uint64      // the network's seed and the direction's
	busy     time.Time   // when the rate-limited link is next free
	inFlight []time.Time // departures still queued behind the rate, oldest first
}

// draws returns the random stream of one packet: a function of the seed,
// the packet and the instant it was sent, so that its fate does not
// depend on the order in which goroutines sending at one virtual instant
// ran.
func (ls *linkState) draws(now time.Time, pkt []byte) *rand.Rand {
	h := fnv.New64a()
	h.Write(pkt)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(now.UnixNano()))
	h.Write(b[:])
	return rand.New(rand.NewPCG(ls.seed, h.Sum64()))
}

// fate is what a link does to one packet.
type fate struct {
	drop    string          // why it is lost, or ""
	arrive  []time.Duration // after now: one arrival, or two when duplicated
	corrupt int             // bit to flip, or -1
}

// send decides the fate of a packet sent at now.
func (ls *linkState) send(now time.Time, pkt []byte) fate {
	c := ls.cfg
	n := len(pkt)
	// The hash of the packet and the generator are made only for a link
	// that draws: a plain link (most of them) spends nothing per packet
	// on them. The draws of a link that does are the same either way.
	var rng *rand.Rand
	if c.Loss > 0 || c.Jitter > 0 || c.Reorder > 0 || c.Dup > 0 || c.Corrupt > 0 {
		rng = ls.draws(now, pkt)
	}
	f := fate{corrupt: -1}
	if c.Loss > 0 && rng.Float64() < c.Loss {
		f.drop = "lost (link loss)"
		return f
	}
	depart := now
	if c.Rate > 0 {
		for len(ls.inFlight) > 0 && !ls.inFlight[0].After(now) {
			ls.inFlight = ls.inFlight[1:]
		}
		limit := c.Queue
		if limit == 0 {
			limit = 1000
		}
		if len(ls.inFlight) >= limit {
			f.drop = "dropped (link queue full)"
			return f
		}
		if ls.busy.After(depart) {
			depart = ls.busy
		}
		depart = depart.Add(time.Duration(int64(n) * 8 * int64(time.Second) / c.Rate))
		ls.busy = depart
		ls.inFlight = append(ls.inFlight, depart)
	}
	d := depart.Sub(now) + c.Delay
	if c.Jitter > 0 {
		d += time.Duration(rng.Int64N(int64(c.Jitter)))
	}
	if c.Reorder > 0 && rng.Float64() < c.Reorder {
		d += max(c.Delay, time.Millisecond)
	}
	f.arrive = append(f.arrive, d)
	if c.Dup > 0 && rng.Float64() < c.Dup {
		f.arrive = append(f.arrive, d+time.Microsecond)
	}
	if c.Corrupt > 0 && rng.Float64() < c.Corrupt && n > 0 {
		f.corrupt = rng.IntN(n * 8)
	}
	return f
}
