package tcp

import (
	"testing"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/seq"
	"github.com/tcpwave/tcpwave/wire"
)

// TestDefaultMSS: a peer whose SYN (passive open) or SYN-ACK (active
// open) has no MSS option gets segments of Config.DefaultMSS: 536 by
// default (IPv4), 1220 in IPv6 as Linux's mss_clamp there
// (conformance/syn-no-mss.pkt, ipv6-syn-no-mss.pkt); an MSS option wins.
func TestDefaultMSS(t *testing.T) {
	tests := []struct {
		name       string
		defaultMSS uint16
		peerMSS    uint16
		want       int
	}{
		{"ipv4 default", 0, 0, 536},
		{"ipv6 default", IPv6MinMSS, 0, 1220},
		{"ipv6 with an option", IPv6MinMSS, 1000, 1000},
		{"ipv4 with an option", 0, 1000, 1000},
	}
	for _, tc := range tests {
		for _, active := range []bool{false, true} {
			name := tc.name + "/passive"
			if active {
				name = tc.name + "/active"
			}
			t.Run(name, func(t *testing.T) {
				cfg := DefaultConfig()
				cfg.DefaultMSS = tc.defaultMSS
				var now clock.Instant
				const iss, irs = seq.Value(5000), seq.Value(9000)
				syn := Segment{Seq: irs, Flags: wire.SYN, Wnd: 65535, Opts: wire.Options{MSS: tc.peerMSS}}
				var c *Conn
				if active {
					c = NewActive(&cfg, nopObserver{}, now, iss, 0)
					var s Segment
					if !c.Poll(now, &s, make([]byte, 2048)) || s.Flags != wire.SYN {
						t.Fatalf("no SYN from the active open")
					}
					syn.Flags |= wire.ACK
					syn.Ack = iss + 1
					c.HandleSegment(now, &syn)
				} else {
					c = NewPassive(&cfg, nopObserver{}, now, iss, 0, &syn)
				}
				if c.mss != tc.want {
					t.Errorf("send MSS %d, want %d", c.mss, tc.want)
				}
			})
		}
	}
}
