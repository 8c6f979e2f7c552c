package tcp

import "testing"

// TestParseState: every state's name reads back as the state; other
// names, the ss spelling and the empty string do not.
func TestParseState(t *testing.T) {
	for st := Closed; st <= TimeWait; st++ {
		if got, ok := ParseState(st.String()); !ok || got != st {
			t.Errorf("ParseState(%q) = %v, %v", st.String(), got, ok)
		}
	}
	for _, bad := range []string{"", "INVALID", "ESTAB", "time_wait", "TIME_WAIT "} {
		if _, ok := ParseState(bad); ok {
			t.Errorf("ParseState(%q) accepted", bad)
		}
	}
}
