package stack

import (
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/tcp"
	"github.com/tcpwave/tcpwave/wire"
)

// TestTimeWaitRFC1337: a RST at RCV.NXT removes a TIME_WAIT record by
// default (Linux tcp_rfc1337=0, counted in TWKilled); with
// Options.TCP.RFC1337 (tcp_rfc1337=1) it is ignored, and the record stays
// until its timer, which the RST does not restart.
func TestTimeWaitRFC1337(t *testing.T) {
	tests := []struct {
		name    string
		rfc1337 bool
		killed  bool
	}{
		{"default: the RST kills the record", false, true},
		{"RFC1337: the RST is ignored", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTimeWait(t, func(o *Options) { o.TCP.RFC1337 = tt.rfc1337 })
			f, a := s.f, s.a
			tw := a.st.opts.TCP.TimeWait
			f.run(10 * time.Second)
			mark := f.now
			rst := segment(ap(addrB, port), s.client.Local(), wire.RST, s.rcvNxt(), 0, "")
			f.deliver(a, build(t, rst))
			if out := f.since(mark); len(out) != 0 {
				t.Errorf("A answered the RST with %v", out)
			}
			if got := s.twRow() == nil; got != tt.killed {
				t.Fatalf("record removed by the RST: %v, want %v", got, tt.killed)
			}
			want := map[bool]uint64{true: 1}[tt.killed]
			if k := a.st.Counters(); k.TWKilled != want {
				t.Errorf("TWKilled %d, want %d", k.TWKilled, want)
			}
			if tt.killed {
				return
			}
			if row := s.twRow(); row.TimerLeft != tw-f.now.Sub(s.entered) {
				t.Errorf("timer %v left after the RST, want %v (not restarted)", row.TimerLeft, tw-f.now.Sub(s.entered))
			}
			f.runUntil(s.entered.Add(tw - 1))
			if s.twRow() == nil {
				t.Fatal("record gone before its timer ran out")
			}
			f.runUntil(s.entered.Add(tw))
			if s.twRow() != nil {
				t.Fatal("record still there when its timer ran out")
			}
			ev := a.obs.of("state")
			if e := ev[len(ev)-1]; e.from != tcp.TimeWait || e.to != tcp.Closed || e.at != s.entered.Add(tw) {
				t.Errorf("last state event %v->%v at %v, want TIME_WAIT->CLOSED at %v", e.from, e.to, e.at, s.entered.Add(tw))
			}
		})
	}
}
