package trace

import (
	"net/netip"
	"testing"

	"github.com/tcpwave/tcpwave/wire"
)

func TestRelativizer(t *testing.T) {
	a := netip.MustParseAddr("10.0.0.1")
	b := netip.MustParseAddr("10.0.0.2")
	pkt := func(src, dst netip.Addr, sp, dp uint16, sq, ack uint32, fl wire.Flags, n int) *wire.Packet {
		return &wire.Packet{Src: src, Dst: dst, TCP: wire.TCPFields{SrcPort: sp, DstPort: dp, Seq: sq, Ack: ack, Flags: fl, Window: 100}, Payload: make([]byte, n)}
	}
	var r Relativizer
	tests := []struct {
		p    *wire.Packet
		want string
	}{
		{pkt(a, b, 1000, 80, 5000, 0, wire.SYN, 0), "S 0:0(0) win 100"},
		{pkt(b, a, 80, 1000, 0xfffffff0, 5001, wire.SYN|wire.ACK, 0), "S. 0:0(0) ack 1 win 100"},
		{pkt(a, b, 1000, 80, 5001, 0xfffffff1, wire.ACK|wire.PSH, 5), "P. 1:6(5) ack 1 win 100"},
		{pkt(b, a, 80, 1000, 0xfffffff1, 5007, wire.ACK|wire.FIN, 0), "F. 1:1(0) ack 7 win 100"},
		// A new SYN on the same 4-tuple starts a new numbering.
		{pkt(a, b, 1000, 80, 9000, 0, wire.SYN, 0), "S 0:0(0) win 100"},
		{pkt(b, a, 80, 1000, 0xfffffff2, 9001, wire.RST|wire.ACK, 0), "R. 4294967282:4294967282(0) ack 1 win 100"},
	}
	for i, tt := range tests {
		if got := r.Segment(tt.p).String(); got != tt.want {
			t.Errorf("%d: got %q, want %q", i, got, tt.want)
		}
	}
}
