package tcp

import (
	"reflect"
	"testing"

	"github.com/tcpwave/tcpwave/clock"
)

// cacheObserver is an Observer that names a LossCache, as a stack's
// sockets do.
type cacheObserver struct {
	nopObserver
	lc *LossCache
}

func (o cacheObserver) LossCache() *LossCache { return o.lc }

// soil gives c a loss state with every part in use: a scoreboard, a
// retransmission, an undo record, CUBIC's curve, and a send log grown
// past its inline array, as a lossy transfer leaves it.
func soil(c *Conn) {
	ls := c.lossState()
	ls.sacked = append(ls.sacked, span{3000, 4000})
	ls.rexmits = append(ls.rexmits, rexmit{start: 1000, end: 2000, mark: 5000})
	ls.highRxt, ls.retransStart = 2000, 42
	ls.undo = undoState{marker: 1000, rexmitTS: 77, retrans: 2, priorCwnd: 9000, priorSsthresh: 8000, on: true, rexmitted: true}
	ls.cubic.epochStart = 7
	for i := range 2 * len(ls.rack.first) {
		ls.rack.push(txSeg{start: 1000, end: 2000, at: clock.Instant(i), flags: txLost})
	}
	ls.rack.head, ls.rack.lostOut, ls.rack.minRTT, ls.rack.reoSteps, ls.rack.reordSeen = 1, 1000, 5, 3, true
}

// TestLossCache: a connection that finished gives its loss state back
// (Recycle) and the next connection of the same driver takes it, reset to
// exactly what a new one is; with no cache, or a full one, the state is
// left to the collector.
func TestLossCache(t *testing.T) {
	cfg := DefaultConfig()
	fresh := NewActive(&cfg, nopObserver{}, 0, 1, 0).lossState()
	tests := []struct {
		name     string
		cached   bool // the connections' Observer names the cache
		recycled int  // connections with loss state that finish first
		none     int  // connections without loss state that finish first
		twice    bool // Recycle is called twice on each
		want     int  // loss states kept
	}{
		{name: "one kept, then taken again", cached: true, recycled: 1, want: 1},
		{name: "Recycle twice keeps it once", cached: true, recycled: 1, twice: true, want: 1},
		{name: "no loss state, nothing kept", cached: true, none: 3},
		{name: "at most lossCacheMax kept", cached: true, recycled: lossCacheMax + 5, want: lossCacheMax},
		{name: "no cache: nothing kept", recycled: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lc := &LossCache{}
			var obs Observer = nopObserver{}
			if tc.cached {
				obs = cacheObserver{lc: lc}
			}
			// The connections live at once, then finish: none takes
			// what another gave back.
			conns := make([]*Conn, tc.recycled)
			for i := range conns {
				conns[i] = NewActive(&cfg, obs, 0, 1, 0)
				soil(conns[i])
			}
			for _, c := range conns {
				c.Recycle()
				if tc.twice {
					c.Recycle()
				}
				if c.cc.loss != nil {
					t.Fatal("a recycled connection still has its loss state")
				}
			}
			for range tc.none {
				NewActive(&cfg, obs, 0, 1, 0).Recycle()
			}
			if n := lc.Len(); n != tc.want {
				t.Fatalf("the cache holds %d loss states, want %d", n, tc.want)
			}
			var top *lossState // the one kept last
			if tc.want > 0 {
				top = lc.free[len(lc.free)-1]
			}
			ls := NewActive(&cfg, obs, 0, 1, 0).lossState()
			if tc.want > 0 && ls != top {
				t.Error("the next connection did not take the loss state kept last")
			}
			if !reflect.DeepEqual(ls, fresh) {
				t.Errorf("the next connection's loss state is\n%+v\nwant a new one's\n%+v", *ls, *fresh)
			}
			if &ls.rack.log[:1][0] != &ls.rack.first[0] {
				t.Error("the next connection's send log is not its inline array")
			}
			if n := lc.Len(); n != max(tc.want-1, 0) {
				t.Errorf("the cache holds %d loss states after one was taken, want %d", n, max(tc.want-1, 0))
			}
		})
	}
}
