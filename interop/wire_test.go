package interop

import (
	"bytes"
	"testing"
)

// TestPayloadOffset finds the TCP payload behind IPv4 (with and without
// IP options) and IPv6 headers, and nothing in packets that are not TCP
// or are cut short.
func TestPayloadOffset(t *testing.T) {
	v4 := func(ihl, proto, doff byte, n int) []byte {
		p := make([]byte, n)
		p[0], p[9] = 0x40|ihl, proto
		if int(ihl)*4+12 < n {
			p[int(ihl)*4+12] = doff << 4
		}
		return p
	}
	v6 := func(next, doff byte, n int) []byte {
		p := make([]byte, n)
		p[0], p[6] = 0x60, next
		if 52 < n {
			p[52] = doff << 4
		}
		return p
	}
	tests := []struct {
		name string
		pkt  []byte
		want int
	}{
		{"ipv4", v4(5, 6, 5, 100), 40},
		{"ipv4 with timestamps", v4(5, 6, 8, 100), 52},
		{"ipv4 with IP options", v4(6, 6, 5, 100), 44},
		{"ipv4 not TCP", v4(5, 17, 5, 100), 100},
		{"ipv4 truncated", v4(5, 6, 5, 30), 30},
		{"ipv6", v6(6, 5, 100), 60},
		{"ipv6 not TCP", v6(58, 5, 100), 100},
		{"ipv6 truncated", v6(6, 5, 39), 39},
		{"empty", nil, 0},
		{"not IP", []byte{0x10, 0, 0}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := payloadOffset(tt.pkt); got != tt.want {
				t.Errorf("payloadOffset = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestPortHoldRelease checks that a held port keeps its packets, in
// order and as they were when sent, and delivers them on Release.
func TestPortHoldRelease(t *testing.T) {
	w := NewWire()
	defer w.A.Close()
	defer w.B.Close()
	buf := make([]byte, MTU)
	w.A.Hold()
	pkt := []byte("first")
	w.A.WritePacket(pkt)
	pkt[0] = 'F' // the port kept its own copy
	w.A.WritePacket([]byte("second"))
	if n := w.A.Release(); n != 2 {
		t.Fatalf("Release released %d packets, want 2", n)
	}
	w.A.WritePacket([]byte("third"))
	for _, want := range []string{"first", "second", "third"} {
		n, err := w.B.ReadPacket(buf)
		if err != nil || !bytes.Equal(buf[:n], []byte(want)) {
			t.Fatalf("ReadPacket = %q, %v; want %q", buf[:n], err, want)
		}
	}
	if st := w.A.Stats(); st.Packets != 3 || st.MaxLen != 6 {
		t.Errorf("Stats = %+v, want 3 packets, longest 6 bytes", st)
	}
	if err := w.A.WritePacket(make([]byte, MTU+1)); err == nil || w.A.Stats().TooLong != 1 {
		t.Errorf("a packet over the MTU: error %v, TooLong %d", err, w.A.Stats().TooLong)
	}
}
