package notation

import "testing"

// FuzzParse: Parse never panics, and what it reads writes back as text
// that reads the same.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"S 0:0(0) win 65535 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>",
		". 1:1(0) ack 1 win 9 <nop,nop,TS val * ecr 9,nop,nop,sack 100:200 300:400>",
		"FP. 1:6(5) ack 1 win 502",
		"- 0:0(0) <...>",
		"R 5:5(0)",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		seg, err := Parse(s)
		if err != nil {
			return
		}
		text := seg.String()
		again, err := Parse(text)
		if err != nil {
			t.Fatalf("Parse(%q) = %q, which does not parse: %v", s, text, err)
		}
		if got := again.String(); got != text {
			t.Fatalf("Parse(%q) writes %q, which writes back as %q", s, text, got)
		}
	})
}
