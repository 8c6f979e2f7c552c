package stack

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/clock"
)

// timerModel is what the wheel must do, the slow way: timers ordered by
// deadline, then by when their deadline was set.
type timerModel struct {
	deadline map[*Socket]clock.Instant
	setAt    map[*Socket]int
	n        int
}

func (m *timerModel) update(so *Socket, d clock.Instant) {
	if old, ok := m.deadline[so]; ok && old == d {
		return
	}
	delete(m.deadline, so)
	if d != clock.Never {
		m.n++
		m.deadline[so], m.setAt[so] = d, m.n
	}
}

// sorted returns the queued sockets in firing order.
func (m *timerModel) sorted() []*Socket {
	var out []*Socket
	for so := range m.deadline {
		out = append(out, so)
	}
	slices.SortFunc(out, func(a, b *Socket) int {
		if m.deadline[a] != m.deadline[b] {
			return cmp.Compare(m.deadline[a], m.deadline[b])
		}
		return m.setAt[a] - m.setAt[b]
	})
	return out
}

// timerPattern draws deadlines relative to now.
type timerPattern struct {
	name  string
	socks int
	draw  func(r *rand.Rand, now clock.Instant) clock.Instant
	burst bool // removals sometimes take every timer (a burst of connections closed)
}

var timerPatterns = []timerPattern{
	{"nanoseconds apart", 40, func(r *rand.Rand, now clock.Instant) clock.Instant {
		return now + clock.Instant(r.IntN(200))
	}, false},
	{"few distinct deadlines", 40, func(r *rand.Rand, now clock.Instant) clock.Instant {
		return (now/1000 + clock.Instant(r.IntN(4))) * 1000
	}, false},
	{"tcp timers", 60, func(r *rand.Rand, now clock.Instant) clock.Instant {
		d := []time.Duration{40 * time.Millisecond, 200 * time.Millisecond, time.Second, 60 * time.Second, 2 * time.Hour}
		return now.Add(d[r.IntN(len(d))] + time.Duration(r.IntN(1000)))
	}, false},
	{"past, present and never", 30, func(r *rand.Rand, now clock.Instant) clock.Instant {
		switch r.IntN(5) {
		case 0:
			return max(now-clock.Instant(r.IntN(1e6)), 0)
		case 1:
			return now
		case 2:
			return clock.Never
		}
		return now + clock.Instant(r.Int64N(1<<50))
	}, false},
	// More timers than wheelScan crowd one coarse slot, so min may answer
	// the slot's start; many are removed (set to never) or moved far away,
	// which empties that slot while min's answer is remembered.
	{"crowded coarse slot", 4 * wheelScan, func(r *rand.Rand, now clock.Instant) clock.Instant {
		switch r.IntN(5) {
		case 0, 1:
			return clock.Never
		case 2:
			return now + clock.Instant(r.Int64N(1<<40))
		}
		return now + 1e9 + clock.Instant(r.IntN(1<<16))
	}, true},
	{"huge deadlines", 30, func(r *rand.Rand, now clock.Instant) clock.Instant {
		return now + clock.Instant(r.Int64N(int64(clock.Never-now)/4+1))
	}, false},
}

// TestTimerWheelModel: under random updates, removals and clock steps the
// wheel gives the same earliest deadline as the model at every step, and
// fires the same sockets in the same order, each at its exact deadline.
func TestTimerWheelModel(t *testing.T) {
	for _, p := range timerPatterns {
		t.Run(p.name, func(t *testing.T) {
			for seed := range uint64(20) {
				checkWheelRun(t, p, seed)
			}
		})
	}
}

func checkWheelRun(t *testing.T, p timerPattern, seed uint64) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	var w timerWheel
	m := &timerModel{deadline: map[*Socket]clock.Instant{}, setAt: map[*Socket]int{}}
	socks := make([]*Socket, p.socks)
	for i := range socks {
		socks[i] = &Socket{}
	}
	now := clock.Instant(r.Int64N(1 << 40))
	w.cursor = now
	for step := range 3000 {
		switch op := r.IntN(10); {
		case op < 6:
			so, d := socks[r.IntN(len(socks))], p.draw(r, now)
			w.update(so, d)
			m.update(so, d)
		case op < 7 && p.burst && r.IntN(3) == 0:
			// A burst of connections opens, the host asks for its
			// deadline, and the burst closes.
			for _, so := range socks {
				d := p.draw(r, now)
				w.update(so, d)
				m.update(so, d)
			}
			w.min()
			for _, so := range socks[:len(socks)-r.IntN(3)] {
				w.remove(so)
				m.update(so, clock.Never)
			}
		case op < 7:
			so := socks[r.IntN(len(socks))]
			w.remove(so)
			m.update(so, clock.Never)
		default:
			want := m.sorted()
			wantMin := clock.Never
			if len(want) > 0 {
				wantMin = m.deadline[want[0]]
			}
			// An overdue deadline may be answered by any earlier instant:
			// either way the timer fires at once. With more than
			// wheelScan timers, a crowded coarse slot's start may be.
			got := w.min()
			late := wantMin < w.cursor && got <= wantMin
			coarse := len(want) > wheelScan && got < wantMin
			if got != wantMin && !late && !coarse {
				t.Fatalf("seed %d step %d: min %d, want %d (now %d, cursor %d, memo %v)", seed, step, got, wantMin, now, w.cursor, w.memoOK)
			}
			if coarse && got < w.cursor {
				t.Fatalf("seed %d step %d: min %d before the cursor %d with nothing overdue", seed, step, got, w.cursor)
			}
			if w.len() != len(want) {
				t.Fatalf("seed %d step %d: %d timers, want %d", seed, step, w.len(), len(want))
			}
			// Step the clock to the earliest deadline or a little past it.
			if len(want) > 0 && r.IntN(3) > 0 {
				now = max(now, wantMin+clock.Instant(r.IntN(3)))
			} else {
				now += clock.Instant(r.IntN(100))
			}
			var overdue []*Socket // fire in the order set, not by deadline
			for _, so := range want {
				if m.deadline[so] <= now && so.tn.slot == dueSlot {
					overdue = append(overdue, so)
				}
			}
			slices.SortFunc(overdue, func(a, b *Socket) int { return m.setAt[a] - m.setAt[b] })
			var fire []*Socket
			fire = append(fire, overdue...)
			for _, so := range want {
				if m.deadline[so] <= now && so.tn.slot != dueSlot {
					fire = append(fire, so)
				}
			}
			for i, so := range fire {
				got := w.popDue(now)
				if got != so {
					t.Fatalf("seed %d step %d: fire %d of %d at %v: got a socket due %v, want one due %v",
						seed, step, i, len(fire), now, deadlineOf(got), m.deadline[so])
				}
				m.update(so, clock.Never)
			}
			if got := w.popDue(now); got != nil {
				t.Fatalf("seed %d step %d: socket due %v fired at %v", seed, step, got.tn.deadline, now)
			}
			if d := w.min(); d <= now {
				t.Fatalf("seed %d step %d: after firing at %v the earliest deadline is %v", seed, step, now, d)
			}
		}
	}
}

func deadlineOf(so *Socket) any {
	if so == nil {
		return "nothing"
	}
	return so.tn.deadline
}

// TestTimerWheelCoarseSlot: with more than wheelScan timers in one coarse
// slot, min may answer the slot's start, never later than the earliest
// deadline; firing there refines it, and every timer still fires at its
// exact deadline, in order.
func TestTimerWheelCoarseSlot(t *testing.T) {
	var w timerWheel
	const n = 1000
	socks := make([]*Socket, n)
	base := clock.Instant(0).Add(2 * time.Hour)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range socks {
		socks[i] = &Socket{}
		w.update(socks[i], base+clock.Instant(r.IntN(1<<20)))
	}
	sorted := slices.Clone(socks)
	slices.SortStableFunc(sorted, func(a, b *Socket) int { return cmp.Compare(a.tn.deadline, b.tn.deadline) })
	now, fired, wakeups := clock.Instant(0), 0, 0
	for fired < n {
		d := w.min()
		if d > sorted[fired].tn.deadline {
			t.Fatalf("min %v after the earliest deadline %v", d, sorted[fired].tn.deadline)
		}
		if d <= now {
			t.Fatalf("min %v not after now %v", d, now)
		}
		now = d
		wakeups++
		for so := w.popDue(now); so != nil; so = w.popDue(now) {
			if so != sorted[fired] || so.tn.deadline != now {
				t.Fatalf("timer %d fired at %v: deadline %v, want the one due %v", fired, now, so.tn.deadline, sorted[fired].tn.deadline)
			}
			fired++
		}
	}
	if extra := wakeups - n; extra > 2*wheelLevels {
		t.Errorf("%d wakeups with nothing due for %d timers", extra, n)
	}
	if w.min() != clock.Never || w.len() != 0 {
		t.Errorf("wheel not empty: min %v, %d timers", w.min(), w.len())
	}
}

// TestTimerWheelWorkPerTimer: whatever the deadlines, a timer moves down
// at most wheelLevels-1 times between being set and firing, so the work
// per timer is bounded (O(1)), unlike a heap's log n.
func TestTimerWheelWorkPerTimer(t *testing.T) {
	for _, n := range []int{1_000, 200_000} {
		var w timerWheel
		r := rand.New(rand.NewPCG(uint64(n), 3))
		socks := make([]Socket, n)
		for i := range socks {
			w.update(&socks[i], clock.Instant(r.Int64N(1<<45)))
		}
		last := clock.Instant(-1)
		for fired := 0; fired < n; {
			d := w.min()
			so := w.popDue(d)
			if so == nil {
				continue // d was a coarse slot's start
			}
			if so.tn.deadline != d || d < last {
				t.Fatalf("n=%d: popDue(%v) gave %v after %v", n, d, deadlineOf(so), last)
			}
			last = d
			fired++
		}
		if w.moves > (wheelLevels-1)*n {
			t.Errorf("n=%d: %d moves, want at most %d", n, w.moves, (wheelLevels-1)*n)
		}
		t.Logf("n=%d: %.2f moves per timer", n, float64(w.moves)/float64(n))
	}
}

// BenchmarkTimerWheel: the cost of re-arming a timer (what every ACK does
// to the retransmission timer) and of firing one, with n others queued:
// flat in n but for cache misses.
func BenchmarkTimerWheel(b *testing.B) {
	for _, n := range []int{1_000, 100_000, 1_000_000} {
		socks := make([]Socket, n)
		r := rand.New(rand.NewPCG(1, 1))
		// fill queues every socket with a deadline within a minute.
		fill := func() *timerWheel {
			w := &timerWheel{}
			clear(socks)
			for i := range socks {
				w.update(&socks[i], clock.Instant(r.Int64N(int64(time.Minute))))
			}
			return w
		}
		b.Run("rearm/timers="+strconv.Itoa(n), func(b *testing.B) {
			w := fill()
			b.ResetTimer()
			for i := range b.N {
				so := &socks[i%n]
				w.update(so, so.tn.deadline+clock.Instant(200*time.Millisecond))
			}
		})
		b.Run("fire/timers="+strconv.Itoa(n), func(b *testing.B) {
			w := fill()
			b.ResetTimer()
			for range b.N {
				d := w.min()
				so := w.popDue(d)
				for so == nil { // d was a coarse slot's start
					d = w.min()
					so = w.popDue(d)
				}
				w.update(so, d+clock.Instant(time.Minute)) // fire and re-arm: the queue stays n long
			}
		})
	}
}

// TestTimerWheelMemoAfterCrowdedSlot: min answers a crowded coarse slot
// with the slot's start; once that slot's timers are gone (the connections
// of a burst closed), min must not keep answering that instant. It did:
// the idle host's deadline stayed in the past and its timer fired
// continuously, a core burned at idle (issue 13).
func TestTimerWheelMemoAfterCrowdedSlot(t *testing.T) {
	tests := []struct {
		name  string
		later bool // a timer beyond the crowded slot stays
	}{
		{"all removed", false},
		{"one later timer stays", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w timerWheel
			base := clock.Instant(0).Add(time.Second)
			socks := make([]*Socket, 4*wheelScan)
			for i := range socks {
				socks[i] = &Socket{}
				w.update(socks[i], base+clock.Instant(i*1000))
			}
			far := &Socket{}
			farAt := base.Add(time.Hour)
			if tt.later {
				w.update(far, farAt)
			}
			if d := w.min(); d > base {
				t.Fatalf("min %v after the earliest deadline %v", d, base)
			}
			for _, so := range socks {
				w.remove(so)
			}
			want := clock.Never
			if tt.later {
				want = farAt
			}
			if d := w.min(); d != want {
				t.Fatalf("min %v after the crowded slot emptied, want %v", d, want)
			}
			// The host wakes at min; nothing due then must not leave min
			// at or before the wake-up (a spin).
			now := base.Add(time.Minute)
			if so := w.popDue(now); so != nil {
				t.Fatalf("a removed timer fired")
			}
			if d := w.min(); d <= now {
				t.Fatalf("min %v at or before now %v with nothing due", d, now)
			}
		})
	}
}
