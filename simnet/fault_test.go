package simnet

import (
	"net/netip"
	"testing"
	"time"
)

// TestRuleEdges: which of six matching packets a rule drops, at the
// edges of Skip, Count and For (negatives count as 0).
func TestRuleEdges(t *testing.T) {
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	tests := []struct {
		name string
		rule Rule
		want string // per packet: x dropped, . passed
	}{
		{"zero", Rule{}, "xxxxxx"},
		{"count 1", Rule{Count: 1}, "x....."},
		{"negative count", Rule{Count: -1}, "xxxxxx"},
		{"skip 2 count 1", Rule{Skip: 2, Count: 1}, "..x..."},
		{"negative skip", Rule{Skip: -3, Count: 2}, "xx...."},
		{"skip past the end", Rule{Skip: 100}, "......"},
		{"negative for", Rule{For: -time.Second}, "xxxxxx"},
		{"for 1ns", Rule{For: time.Nanosecond}, "......"},
	}
	for _, tt := range tests {
		n := &Network{}
		f := n.Drop(tt.rule)
		got := ""
		for i := range len(tt.want) {
			s := Segment{From: netip.AddrPortFrom(a, 1), To: netip.AddrPortFrom(b, 2), Seq: uint32(i)}
			// Each packet a millisecond after the rule was put in force.
			if n.faultDrop(f.r.until.Add(time.Millisecond).Add(time.Duration(i)), a, b, s) != "" {
				got += "x"
			} else {
				got += "."
			}
		}
		if got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}

// TestEndedRulesGo: a rule that has ended leaves the network's list when
// the next one is put in force, so the list holds the rules in force.
func TestEndedRulesGo(t *testing.T) {
	n := &Network{}
	for range 100 {
		n.Drop(Rule{}).Remove()
	}
	f := n.Drop(Rule{})
	if len(n.rules) != 1 || n.rules[0] != f.r {
		t.Fatalf("%d rules kept, want the one in force", len(n.rules))
	}
}
