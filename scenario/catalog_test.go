package scenario

import (
	"bytes"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/trace"
)

func TestCatalog(t *testing.T) {
	for _, s := range Catalog() {
		t.Run(s.Name, func(t *testing.T) {
			r, err := s.Execute(DefaultParams())
			if err != nil {
				var b bytes.Buffer
				if r != nil {
					trace.WriteLadder(&b, r.Rec.Events(), "A", "B")
				}
				t.Fatalf("%v\n%s", err, b.String())
			}
		})
	}
}

// Without TIME_WAIT at B, the colliding ISN lets the old duplicate in as
// the new connection's data: the corruption TIME_WAIT prevents.
func TestOldDuplicateWithoutTimeWait(t *testing.T) {
	s, err := Find("old-duplicate")
	if err != nil {
		t.Fatal(err)
	}
	p := DefaultParams()
	p.B.TCP.TimeWait = 0
	r, err := s.Execute(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Notes["B read on connection 2"]; got != "OLD!" {
		t.Fatalf("B read %q on the new connection, want the old duplicate OLD!", got)
	}
}

// The same seed gives a byte-identical trace; the catalog runs fast.
func TestDeterministicTrace(t *testing.T) {
	run := func(seed uint64) string {
		t.Helper()
		s, _ := Find("lost-ack-4")
		p := DefaultParams()
		p.Seed = seed
		p.Link.Jitter = 300 * time.Microsecond
		r, err := s.Execute(p)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := trace.WriteJSONL(&b, r.Rec.Events()); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	a, b, c := run(7), run(7), run(8)
	if a != b {
		t.Fatal("the same seed gave two different traces")
	}
	if a == c {
		t.Fatal("different seeds gave the same trace despite jitter")
	}
}

func TestFourWayCloseIsFast(t *testing.T) {
	s, _ := Find("four-way-close")
	start := time.Now()
	r, err := s.Execute(DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	if wall := time.Since(start); wall > time.Second || r.Net.Now() < clockAt(60) {
		t.Fatalf("four-way-close took %v of wall time for %v of virtual time", wall, r.Net.Now())
	}
}

func TestFindUnknown(t *testing.T) {
	if _, err := Find("no-such-case"); err == nil {
		t.Fatal("Find accepted an unknown name")
	}
}
