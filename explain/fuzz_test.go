package explain

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/scenario"
)

// FuzzExplain: whatever the input, the reader and the reconstruction
// neither panic nor break their invariants: each side's transitions chain
// (each From is the previous To), records stay bounded, and every
// connection encodes as JSON.
func FuzzExplain(f *testing.F) {
	for _, name := range []string{"four-way-close", "lost-ack-4", "time-wait-reuse", "old-duplicate", "close-then-data", "rst-closed-port"} {
		s, err := scenario.Find(name)
		if err != nil {
			f.Fatal(err)
		}
		data, _ := capture(f, s)
		f.Add(data)
	}
	c, s := netip.MustParseAddrPort("192.0.2.1:40000"), netip.MustParseAddrPort("[2001:db8::2]:443")
	var frames [][]byte
	for _, ip := range ipPackets(f, c, netip.MustParseAddrPort("192.0.2.2:443"), closeConv, true) {
		frames = append(frames, frame(linkEther, ip, binary.LittleEndian))
	}
	f.Add(pcapFile(binary.BigEndian, true, linkEther, 60, frames, time.Unix(5, 0)))
	frames = nil
	for _, ip := range ipPackets(f, netip.MustParseAddrPort("[2001:db8::1]:40000"), s, closeConv, false) {
		frames = append(frames, frame(linkSLL, ip, binary.LittleEndian))
	}
	f.Add(pcapFile(binary.LittleEndian, false, linkSLL, 0, frames, time.Unix(5, 0)))
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x0d, 0x0d, 0x0a, 0x1c, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a})
	f.Fuzz(func(t *testing.T, data []byte) {
		opt := Options{Idle: time.Second, Linger: 100 * time.Millisecond, MaxSegments: 8, Reuse: len(data)%2 == 0, MaxConns: 16}
		sum, err := Explain(bytes.NewReader(data), opt, func(c *Conn) {
			for side := Client; side <= Server; side++ {
				tr := c.States[side]
				for i := 1; i < len(tr); i++ {
					if tr[i].From != tr[i-1].To {
						t.Fatalf("connection %d %s: %v->%v follows %v->%v", c.ID, side, tr[i].From, tr[i].To, tr[i-1].From, tr[i-1].To)
					}
				}
				if len(tr) > 24 {
					t.Fatalf("%d transitions", len(tr))
				}
			}
			if len(c.Segments) > 8 || len(c.Findings) > 32 {
				t.Fatalf("%d segments, %d findings kept", len(c.Segments), len(c.Findings))
			}
			if _, err := c.MarshalJSON(); err != nil {
				t.Fatal(err)
			}
		})
		if err == nil && sum.Segments == 0 {
			t.Fatal("no error and no segment")
		}
	})
}
