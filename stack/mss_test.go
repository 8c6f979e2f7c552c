package stack

import (
	"net/netip"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/wire"
)

// The MSS follows the MTU and the IP version, as Linux derives it from the
// route: 1460 over IPv4 and 1440 over IPv6 on a 1500-byte MTU, less on a
// smaller one; and no packet ever exceeds the MTU, SACK blocks included.
func TestMSSFollowsMTUAndFamily(t *testing.T) {
	tests := []struct {
		name     string
		a, b     netip.Addr
		mtu      int
		wantMSS  uint16
		maxBytes int
	}{
		{"ipv4 1500", addrA, addrB, 1500, 1460, 1500},
		{"ipv6 1500", netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2"), 1500, 1440, 1500},
		{"ipv4 1280", addrA, addrB, 1280, 1240, 1280},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			mtu := func(o *Options) { o.MTU = tt.mtu }
			a := f.add("A", []netip.Addr{tt.a}, mtu)
			b := f.add("B", []netip.Addr{tt.b}, mtu)
			// Lose every 7th data packet from A so that B holds
			// out-of-order data and its ACKs carry SACK blocks, while B
			// sends full-sized data back.
			n := 0
			f.drop = func(from string, p *wire.Packet) bool {
				if from == "A" && len(p.Payload) > 0 {
					n++
					return n%7 == 0
				}
				return false
			}
			l := f.listen(b, 80, 8)
			c, s := f.connect(a, b, l)
			data := make([]byte, 200_000)
			for range 200 {
				c.Write(f.now, data)
				s.Write(f.now, data)
				f.run(5 * time.Millisecond)
				var buf [65536]byte
				for k, _ := s.Read(f.now, buf[:]); k > 0; k, _ = s.Read(f.now, buf[:]) {
				}
				for k, _ := c.Read(f.now, buf[:]); k > 0; k, _ = c.Read(f.now, buf[:]) {
				}
			}
			syns := f.sent("A", hasFlags(wire.SYN))
			if len(syns) == 0 || syns[0].p.TCP.Options.MSS != tt.wantMSS {
				t.Fatalf("SYN MSS option %v, want %d", syns, tt.wantMSS)
			}
			sacks, full := 0, 0
			for _, p := range f.log {
				if len(p.raw) > tt.maxBytes {
					t.Fatalf("packet of %d bytes on a %d-byte MTU: %v", len(p.raw), tt.maxBytes, p)
				}
				if p.p.TCP.Options.NumSACK > 0 && len(p.p.Payload) > 0 {
					sacks++
				}
				if len(p.raw) == tt.maxBytes {
					full++
				}
			}
			if sacks == 0 || full == 0 {
				t.Fatalf("the test did not exercise data with SACK blocks (%d) or full-sized packets (%d)", sacks, full)
			}
		})
	}
}
