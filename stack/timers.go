package stack

import (
	"math/bits"

	"github.com/tcpwave/tcpwave/clock"
)

// The connection timers live in a hierarchical timing wheel keyed by the
// exact deadline in nanoseconds (a radix structure over the deadline's
// bits, six bits a level). Adding, moving and removing a timer is O(1);
// each timer moves down at most wheelLevels-1 times on its way to firing, so
// firing is O(1) amortized too. Deadlines keep their full precision, and
// timers with equal deadlines fire in the order they were set, which keeps
// runs deterministic.
//
// The wheel has a cursor, an instant no later than the stack's clock and no
// later than any deadline it holds. A deadline d > cursor sits at the level
// of the highest 6-bit digit in which d and the cursor differ, in the slot of
// d's digit there; d == cursor sits at level 0. So every timer of a lower
// level is earlier than every timer of a higher level, and within a level the
// slots are in deadline order. At level 0 a slot holds one exact deadline.
// Firing moves the cursor forward to the earliest slot's start and spreads
// that slot's timers over the lower levels. A deadline set before the cursor
// (already due) goes to a separate list that fires first.
const (
	wheelBits   = 6
	wheelSlots  = 1 << wheelBits
	wheelLevels = (63 + wheelBits - 1) / wheelBits // Instant is a non-negative int64
	// wheelScan is how many timers Deadline reads in a coarse slot to give
	// the exact earliest deadline; past it Deadline gives the slot's start.
	wheelScan = 64
	// dueSlot is timerNode.slot for the list of overdue timers.
	dueSlot = wheelLevels*wheelSlots + 1
)

// timerNode is a socket's place in the wheel.
type timerNode struct {
	next, prev *Socket
	// slot is level*wheelSlots+index+1 while queued, dueSlot in the
	// overdue list, and 0 when not queued.
	slot     int32
	deadline clock.Instant
}

// timerList is a doubly linked list of sockets, oldest first.
type timerList struct{ head, tail *Socket }

func (l *timerList) push(so *Socket) {
	so.tn.prev, so.tn.next = l.tail, nil
	if l.tail != nil {
		l.tail.tn.next = so
	} else {
		l.head = so
	}
	l.tail = so
}

func (l *timerList) unlink(so *Socket) {
	if so.tn.prev != nil {
		so.tn.prev.tn.next = so.tn.next
	} else {
		l.head = so.tn.next
	}
	if so.tn.next != nil {
		so.tn.next.tn.prev = so.tn.prev
	} else {
		l.tail = so.tn.prev
	}
	so.tn.prev, so.tn.next = nil, nil
}

// timerWheel orders connections by their next deadline.
type timerWheel struct {
	cursor clock.Instant
	n      int // timers queued, overdue ones included
	due    timerList
	// dueMin is at most the earliest overdue deadline.
	dueMin clock.Instant
	used   [wheelLevels]uint64 // bit i: slots[level][i] is not empty
	slots  [wheelLevels][wheelSlots]timerList
	// memo is the last answer of min, valid while memoOK. When it is a
	// crowded coarse slot's start rather than a deadline, memoSlot is that
	// slot (as timerNode.slot), and a timer leaving the slot ends the memo:
	// the start bounds no timer once they are all gone, and min is exact
	// again once wheelScan or fewer remain. Otherwise memoSlot is 0.
	memo     clock.Instant
	memoOK   bool
	memoSlot int32
	// moves counts timers moved down a level, for the tests that show the
	// work per timer is bounded.
	moves int
}

// len returns the number of queued timers.
func (t *timerWheel) len() int { return t.n }

// place returns the level and slot index for deadline d >= t.cursor.
func (t *timerWheel) place(d clock.Instant) (level, idx int) {
	x := uint64(d) ^ uint64(t.cursor)
	if x != 0 {
		level = (bits.Len64(x) - 1) / wheelBits
	}
	return level, int(uint64(d)>>(level*wheelBits)) & (wheelSlots - 1)
}

// file puts so, whose deadline is no earlier than the cursor, at the tail
// of its slot.
func (t *timerWheel) file(so *Socket) {
	level, idx := t.place(so.tn.deadline)
	t.slots[level][idx].push(so)
	t.used[level] |= 1 << idx
	so.tn.slot = int32(level*wheelSlots + idx + 1)
}

func (t *timerWheel) insert(so *Socket, d clock.Instant) {
	so.tn.deadline = d
	t.n++
	if d < t.cursor {
		t.due.push(so)
		so.tn.slot = dueSlot
		if t.due.head == so || d < t.dueMin {
			t.dueMin = d
		}
	} else {
		t.file(so)
	}
	if t.memoOK && d < t.memo {
		t.memo = d
	}
}

func (t *timerWheel) unlink(so *Socket) {
	t.n--
	if so.tn.slot == dueSlot {
		t.due.unlink(so)
		if t.due.head == nil {
			t.dueMin = clock.Never
		}
	} else {
		level, idx := int(so.tn.slot-1)/wheelSlots, int(so.tn.slot-1)%wheelSlots
		l := &t.slots[level][idx]
		l.unlink(so)
		if l.head == nil {
			t.used[level] &^= 1 << idx
		}
		if so.tn.slot == t.memoSlot {
			t.memoOK = false // the crowded slot min answered may be crowded no more
		}
	}
	so.tn.slot = 0
	if t.memoOK && so.tn.deadline <= t.memo {
		t.memoOK = false
	}
}

// update sets a socket's deadline, adding or removing it as needed. Setting
// the deadline it already has keeps its place among equal deadlines.
func (t *timerWheel) update(so *Socket, d clock.Instant) {
	if so.tn.slot != 0 {
		if so.tn.deadline == d {
			return
		}
		t.unlink(so)
	}
	so.tn.deadline = d
	if d != clock.Never {
		t.insert(so, d)
	}
}

func (t *timerWheel) remove(so *Socket) { t.update(so, clock.Never) }

// lowest returns the lowest level with a timer, or -1.
func (t *timerWheel) lowest() int {
	for level := range wheelLevels {
		if t.used[level] != 0 {
			return level
		}
	}
	return -1
}

// slotStart is the earliest instant slot idx of level can hold.
func (t *timerWheel) slotStart(level, idx int) clock.Instant {
	shift := uint((level + 1) * wheelBits)
	high := uint64(t.cursor)
	if shift < 64 {
		high = high >> shift << shift
	} else {
		high = 0
	}
	return clock.Instant(high | uint64(idx)<<(level*wheelBits))
}

// min returns the earliest deadline, or clock.Never. It is exact unless
//   - a timer is overdue (set to a deadline before the cursor): then it is
//     some instant no later than the earliest overdue deadline, or
//   - the earliest timers share a coarse slot with more than wheelScan
//     others: then it is the slot's start, no later than the earliest
//     deadline, and calling popDue there moves those timers closer so that
//     the next answer is finer.
func (t *timerWheel) min() clock.Instant {
	if t.memoOK {
		return t.memo
	}
	if t.due.head != nil {
		// Not remembered: popping overdue timers from the front would
		// not tell the memo that the bound has moved.
		return t.dueMin
	}
	m, slot := clock.Never, int32(0)
	switch level := t.lowest(); {
	case level < 0:
	case level == 0:
		m = t.slotStart(0, bits.TrailingZeros64(t.used[0]))
	default:
		idx := bits.TrailingZeros64(t.used[level])
		n := 0
		for so := t.slots[level][idx].head; so != nil; so = so.tn.next {
			if n++; n > wheelScan {
				m, slot = t.slotStart(level, idx), int32(level*wheelSlots+idx+1)
				break
			}
			m = clock.Min(m, so.tn.deadline)
		}
	}
	t.memo, t.memoOK, t.memoSlot = m, true, slot
	return m
}

// popDue removes and returns a socket whose deadline is due at now, the
// earliest first (overdue ones first, in the order they were set), or nil.
func (t *timerWheel) popDue(now clock.Instant) *Socket {
	if so := t.due.head; so != nil {
		t.unlink(so)
		return so
	}
	for {
		level := t.lowest()
		if level < 0 {
			return nil
		}
		idx := bits.TrailingZeros64(t.used[level])
		start := t.slotStart(level, idx)
		if start > now {
			return nil
		}
		t.cursor = start
		t.memoOK = false
		l := &t.slots[level][idx]
		if level == 0 {
			so := l.head
			t.unlink(so)
			return so
		}
		// Spread the slot over the lower levels, oldest first, so that
		// equal deadlines keep their order.
		so := l.head
		*l = timerList{}
		t.used[level] &^= 1 << idx
		for so != nil {
			next := so.tn.next
			t.file(so)
			t.moves++
			so = next
		}
	}
}
