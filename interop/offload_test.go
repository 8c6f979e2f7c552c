package interop

import (
	"sync"
	"testing"
)

// offloadLink is the link of the offload tests: MTU 1500 with
// segmentation offload up to 64 KiB, as the bench's bulk-1500-offload.
var offloadLink = LinkConfig{MTU: 1500, GSOMaxSize: 65535}

// TestBulkOffload moves 8 MiB one way over a link with segmentation
// offload, between each stack and itself and between the two, checking
// the SHA-256 digest at the receiver. The sender must have handed the
// link super-packets, and far fewer packets than the segments they stand
// for (over 4 segments a packet); no packet may exceed GSOMaxSize; and no
// checksum may fail: gVisor's partial checksums, which the link host
// completes, must verify at the receiver. (Resets are not counted: the
// server half-closes at once, and when tcpwave's FIN goes last gVisor
// may follow its ACK of that FIN with a window update, which reaches a
// closed connection and is answered with a RST, as Linux would.)
func TestBulkOffload(t *testing.T) {
	const size = 8 << 20
	tests := []struct {
		name           string
		client, server Kind
		network        string
	}{
		{"tcpwave-tcpwave", TCPWave, TCPWave, "tcp4"},
		{"gvisor-gvisor", GVisor, GVisor, "tcp4"},
		{"gvisor-gvisor/ipv6", GVisor, GVisor, "tcp6"},
		{"tcpwave-sends-to-gvisor", TCPWave, GVisor, "tcp4"},
		{"gvisor-sends-to-tcpwave/ipv6", GVisor, TCPWave, "tcp6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, l, err := NewPairOn(tt.client, tt.server, offloadLink, Config{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { p.Close() })
			e := &env{Pair: p, client: p.A, server: p.B} // no Wire ports: the link is l
			c, s := e.connect(t, tt.network)
			defer c.Close()
			defer s.Close()
			var wg sync.WaitGroup
			wg.Go(func() { exchange(t, "client", c, size, 1, 0, 2) })
			wg.Go(func() { exchange(t, "server", s, 0, 2, size, 1) })
			wg.Wait()
			checkChecksums(t, p)
			st := l.A.Stats()
			t.Logf("client's link end: %+v (%.1f segments a packet)", st, float64(st.Segments)/float64(st.Packets))
			if err := st.CheckOffload(); err != nil {
				t.Errorf("client: %v", err)
			}
			if st.MaxLen <= offloadLink.MTU || st.MaxLen > offloadLink.GSOMaxSize {
				t.Errorf("client's largest packet is %d bytes, want in (%d, %d]", st.MaxLen, offloadLink.MTU, offloadLink.GSOMaxSize)
			}
			if min := uint64(size / 1460); st.Segments < min {
				t.Errorf("client's packets stand for %d segments, fewer than the %d that %d bytes need", st.Segments, min, size)
			}
		})
	}
}
