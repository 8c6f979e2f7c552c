package scenario

import (
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/sim"
	"github.com/tcpwave/tcpwave/tcp"
	"github.com/tcpwave/tcpwave/wire"
)

// TestRcvBufAutoTuning: on a long fat path (1 Gbit/s, 40 ms round trip:
// 5 MB in flight to fill it), a receive buffer fixed at 256 KiB holds the
// sender to one buffer per round trip. With auto-tuning (Linux's dynamic
// right-sizing), the receiver grows the buffer, and with it the window it
// advertises, from what the application reads per round trip: the window
// passes the fixed buffer, never passes the bound, and the transfer is
// several times faster. The SYN still offers 64240 bytes, and the window
// scale fits the bound.
func TestRcvBufAutoTuning(t *testing.T) {
	const (
		rtt  = 40 * time.Millisecond
		size = 48 << 20
	)
	tests := []struct {
		name      string
		rcvMax    int // RcvBufMax; 0 turns auto-tuning off
		wantScale uint8
		grows     bool
	}{
		{name: "fixed 256 KiB buffer", rcvMax: 0, wantScale: 7},
		{name: "auto-tuning to Linux's 6 MiB", rcvMax: 6 << 20, wantScale: 7, grows: true},
		{name: "auto-tuning bounded at 1 MiB", rcvMax: 1 << 20, wantScale: 7, grows: true},
		{name: "auto-tuning bounded at 1 GiB: scale 14", rcvMax: 1 << 30, wantScale: 14, grows: true},
	}
	secs := make([]float64, len(tests))
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newOneWay(t, sim.LinkConfig{Delay: rtt / 2, Bandwidth: 1e9}, size, func(c *tcp.Config) {
				c.RcvBuf, c.RcvBufMax, c.SndBuf = 256<<10, tt.rcvMax, 16<<20
			})
			var scale uint8
			var synWnd uint16
			maxWnd := 0
			w.n.SetTap(func(now clock.Instant, pkt []byte) {
				var p wire.Packet
				if wire.ParsePacket(pkt, &p) != nil || p.Src != AddrB {
					return
				}
				if p.TCP.Flags&wire.SYN != 0 {
					scale, synWnd = p.TCP.Options.WScale, p.TCP.Window
					return
				}
				maxWnd = max(maxWnd, int(p.TCP.Window)<<scale)
			})
			var end clock.Instant
			w.pa.finished = func() { end = w.a.Now() }
			if err := w.n.RunUntil(clock.Instant(300 * time.Second)); err != nil {
				t.Fatal(err)
			}
			if w.pb == nil || w.pb.got != size || end == 0 {
				t.Fatalf("B got %d bytes of %d", pbGot(w.pb), size)
			}
			secs[i] = end.Sub(0).Seconds()
			t.Logf("largest window %d bytes (scale %d), %.2f s, %.3f Gbit/s", maxWnd, scale, secs[i], float64(size)*8/secs[i]/1e9)
			if synWnd != 65160 || scale != tt.wantScale { // 45 segments of 1460-12 bytes (Linux tcp_openreq_init_rwin with timestamps)
				t.Errorf("SYN-ACK window %d scale %d, want 65160 and %d", synWnd, scale, tt.wantScale)
			}
			bound := max(256<<10, tt.rcvMax)
			if maxWnd > bound+1<<scale {
				t.Errorf("window %d beyond the bound %d", maxWnd, bound)
			}
			if grew := maxWnd > 256<<10+1<<scale; grew != tt.grows {
				t.Errorf("window grew past the initial buffer: %v, want %v", grew, tt.grows)
			}
			if tt.grows && tt.rcvMax <= 6<<20 && maxWnd < tt.rcvMax/2 {
				t.Errorf("window reached %d, want at least half the bound %d on a path that needs 5 MB", maxWnd, tt.rcvMax)
			}
		})
	}
	if secs[0] == 0 || secs[1] == 0 {
		return
	}
	if speedup := secs[0] / secs[1]; speedup < 4 {
		t.Errorf("auto-tuning made the transfer %.1f times faster (%.2f s vs %.2f s), want at least 4", speedup, secs[1], secs[0])
	}
}
