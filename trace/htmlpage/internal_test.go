package htmlpage

import (
	"testing"
	"time"
)

func TestFmtDur(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{500 * time.Microsecond, "0.5 ms"},
		{201 * time.Millisecond, "201 ms"},
		{time.Second, "1 s"},
		{57202 * time.Millisecond, "57.202 s"},
		{60201 * time.Millisecond, "60.201 s"},
	} {
		if got := fmtDur(c.d); got != c.want {
			t.Errorf("fmtDur(%v) = %q, want %q", c.d, got, c.want)
		}
	}
}

func TestReasonText(t *testing.T) {
	for _, c := range []struct{ in, zh string }{
		{"FIN received (RFC 9293 §3.10.7.4)", "收到 FIN（RFC 9293 §3.10.7.4）"},
		{"TIME_WAIT expired (2MSL, Linux TCP_TIMEWAIT_LEN)", "TIME_WAIT 到期（2MSL, Linux TCP_TIMEWAIT_LEN）"},
		{"close() on a listener", "关闭监听套接字"},
		{"something new (RFC 1)", "something new (RFC 1)"},
		{"", ""},
	} {
		if got := reasonText(c.in).zh(); got != c.zh {
			t.Errorf("reasonText(%q) in Chinese = %q, want %q", c.in, got, c.zh)
		}
	}
}

func TestBoxOverlaps(t *testing.T) {
	for _, c := range []struct {
		name string
		a, b box
		want bool
	}{
		{"apart", rotatedBox(0, 0, 10, 10, 0), rotatedBox(20, 0, 10, 10, 0), false},
		{"overlapping", rotatedBox(0, 0, 10, 10, 0), rotatedBox(8, 3, 10, 10, 0), true},
		{"touching edges do not overlap", rotatedBox(0, 0, 10, 10, 0), rotatedBox(10, 0, 10, 10, 0), false},
		// Two long labels on parallel slanted lines 14 px apart: their
		// bounding boxes overlap, they do not.
		{"turned apart", rotatedBox(0, 0, 160, 12, 10), rotatedBox(-2.4, 13.8, 160, 12, 10), false},
		{"turned crossing", rotatedBox(0, -3, 160, 12, -5), rotatedBox(0, 3, 160, 12, 5), true},
		{"one inside the other", rotatedBox(0, 0, 100, 100, 30), rotatedBox(5, 5, 10, 10, 0), true},
	} {
		if got := c.a.overlaps(c.b); got != c.want {
			t.Errorf("%s: overlaps = %v, want %v", c.name, got, c.want)
		}
		if got := c.b.overlaps(c.a); got != c.want {
			t.Errorf("%s (swapped): overlaps = %v, want %v", c.name, got, c.want)
		}
	}
}
