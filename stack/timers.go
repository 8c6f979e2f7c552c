package stack

import (
	"container/heap"

	"github.com/tcpwave/tcpwave/clock"
)

// timerHeap orders connections by their next deadline.
type timerHeap struct{ h sockHeap }

type sockHeap []*Socket

func (h sockHeap) Len() int           { return len(h) }
func (h sockHeap) Less(i, j int) bool { return h[i].deadline < h[j].deadline }
func (h sockHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx, h[j].heapIdx = i, j
}
func (h *sockHeap) Push(x any) {
	so := x.(*Socket)
	so.heapIdx = len(*h)
	*h = append(*h, so)
}
func (h *sockHeap) Pop() any {
	old := *h
	so := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	so.heapIdx = -1
	return so
}

// update sets a socket's deadline, adding or removing it as needed.
func (t *timerHeap) update(so *Socket, d clock.Instant) {
	so.deadline = d
	switch {
	case d == clock.Never && so.heapIdx >= 0:
		heap.Remove(&t.h, so.heapIdx)
	case d == clock.Never:
	case so.heapIdx >= 0:
		heap.Fix(&t.h, so.heapIdx)
	default:
		heap.Push(&t.h, so)
	}
}

func (t *timerHeap) remove(so *Socket) { t.update(so, clock.Never) }

func (t *timerHeap) min() clock.Instant {
	if len(t.h) == 0 {
		return clock.Never
	}
	return t.h[0].deadline
}

// popDue removes and returns a socket whose deadline is due, or nil.
func (t *timerHeap) popDue(now clock.Instant) *Socket {
	if len(t.h) == 0 || t.h[0].deadline > now {
		return nil
	}
	so := heap.Pop(&t.h).(*Socket)
	so.deadline = clock.Never
	return so
}
