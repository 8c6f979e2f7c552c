package stack

import (
	"math/rand/v2"
	"testing"
	"time"
	"unsafe"

	"github.com/tcpwave/tcpwave/clock"
)

// TestTWRecordSize: a TIME_WAIT record is 56 bytes and holds no pointer.
func TestTWRecordSize(t *testing.T) {
	if n := unsafe.Sizeof(twRec{}); n != 56 {
		t.Errorf("twRec is %d bytes, want 56", n)
	}
}

// twModel is what a twTable should hold, kept the obvious way.
type twModel map[twKey]twRec

// checkTable compares a table with its model: every record found under
// its key with its fields, nothing else found, the expiry list in order
// and complete, the port counts right.
func checkTable(t *testing.T, tb *twTable, m twModel, absent []twKey) {
	t.Helper()
	if tb.len() != len(m) {
		t.Fatalf("table holds %d records, model %d", tb.len(), len(m))
	}
	ports := map[uint16]uint32{}
	holds := map[twHold]uint32{}  // every kind
	others := map[twHold]uint32{} // the kinds tb.holds counts
	for k, want := range m {
		i := tb.find(&k)
		if i == 0 {
			t.Fatalf("record %+v not found", k)
		}
		got := *tb.at(i)
		got.prev, got.next = 0, 0
		if got != want {
			t.Fatalf("record %+v is %+v, want %+v", k, got, want)
		}
		ports[k.lport]++
		holds[twHold{port: k.lport, local: k.local, flags: want.bindFlags()}]++
		if k.local != 0 || want.bindFlags() != 0 {
			others[twHold{port: k.lport, local: k.local, flags: want.bindFlags()}]++
		}
	}
	for _, k := range absent {
		if _, ok := m[k]; !ok && tb.find(&k) != 0 {
			t.Fatalf("removed record %+v still found", k)
		}
	}
	n, last := 0, clock.Instant(-1<<63)
	for i := tb.first(); i != 0; i = tb.at(i).next {
		if n++; n > len(m) {
			t.Fatal("expiry list longer than the table (a cycle?)")
		}
		if e := tb.at(i).expire; e < last {
			t.Fatalf("expiry list out of order: %v after %v", e, last)
		} else {
			last = e
		}
	}
	if n != len(m) {
		t.Fatalf("expiry list has %d records, table %d", n, len(m))
	}
	if len(ports) != tb.ports.len() || len(others) != len(tb.holds) {
		t.Fatalf("%d ports and %d holds counted, want %d and %d (%v)", tb.ports.len(), len(tb.holds), len(ports), len(others), tb.holds)
	}
	for p, c := range ports {
		if got := tb.ports.get(uint16(p)); got != c {
			t.Fatalf("port %d held %d times, want %d", p, got, c)
		}
	}
	pages := 0
	for _, pg := range tb.ports.pages {
		if pg != nil {
			pages++
		}
	}
	if want := len(pagesOf(ports)); pages != want {
		t.Fatalf("%d port pages kept, want %d", pages, want)
	}
	for h, c := range holds {
		if got := tb.holding(h, 4); got != c {
			t.Fatalf("hold %+v counted %d, want %d", h, got, c)
		}
	}
}

// pagesOf returns the twPorts pages that ports fall in.
func pagesOf(ports map[uint16]uint32) map[uint16]bool {
	pg := map[uint16]bool{}
	for p := range ports {
		pg[p>>8] = true
	}
	return pg
}

// TestTWTableModel drives a table with random adds, expiries, kills and
// restarts from a few keys spaces (dense ones force long probe runs and
// backward shifts) and checks it against a map after every step.
func TestTWTableModel(t *testing.T) {
	tests := []struct {
		name  string
		keys  int // distinct 4-tuples drawn from
		steps int
		life  int // steps a record lives unless restarted or killed
		peak  int // the fewest records the table must reach at its peak
	}{
		{"few keys, much churn", 40, 20_000, 60, 20},
		{"many keys, growth past a chunk and shrink", 5_000, 30_000, 10_000, twChunk + 256},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(tt.keys)))
			tb := newTWTable([16]byte{1})
			m := twModel{}
			var now clock.Instant
			life := time.Duration(tt.life) * 1000
			peak := 0
			keyOf := func(i int) twKey {
				return twKey{remote: [16]byte{10: 0xff, 11: 0xff, 12: 10, 13: byte(i >> 8), 14: byte(i)}, local: uint16(i % 3), lport: uint16(80 + i%5*300), rport: uint16(i)} // ports in four twPorts pages
			}
			var removed []twKey
			for step := range tt.steps {
				now = now.Add(1000)
				k := keyOf(rng.IntN(tt.keys))
				switch op := rng.IntN(10); {
				case op < 5 && m[k] == (twRec{}): // add, growing the table in the first half
					if step > tt.steps/2 && rng.IntN(2) == 0 {
						continue
					}
					r := twRec{remote: k.remote, lport: k.lport, rport: k.rport, expire: now.Add(life),
						rcvNxt: 7, sndNxt: 9, meta: k.local<<twLocalShift | uint16(rng.IntN(8))}
					tb.add(&r)
					m[k] = r
				case op < 7 && m[k] != (twRec{}): // kill
					tb.remove(tb.find(&k))
					delete(m, k)
					removed = append(removed, k)
				case op < 8 && m[k] != (twRec{}): // restart
					i := tb.find(&k)
					tb.at(i).expire = now.Add(life)
					tb.restart(i)
					r := m[k]
					r.expire = now.Add(life)
					m[k] = r
				default: // expire what is due
					for i := tb.first(); i != 0 && tb.at(i).expire <= now; i = tb.first() {
						k := tb.at(i).key()
						tb.remove(i)
						delete(m, k)
						removed = append(removed, k)
					}
				}
				peak = max(peak, tb.len())
				if step%97 == 0 || tb.len() < 10 {
					checkTable(t, &tb, m, removed)
					removed = removed[:0]
				}
			}
			checkTable(t, &tb, m, removed)
			if peak < tt.peak {
				t.Fatalf("the table peaked at %d records, want at least %d: growth not exercised", peak, tt.peak)
			}
			for i := tb.first(); i != 0; i = tb.first() {
				tb.remove(i)
			}
			if !tb.empty() || len(tb.index) > 64 || len(tb.chunks) > 1 || len(tb.chunks) == 1 && cap(tb.chunks[0]) > 64 {
				t.Errorf("table not empty and small after removing everything: %d records, %d buckets, %d chunks",
					tb.len(), len(tb.index), len(tb.chunks))
			}
		})
	}
}
