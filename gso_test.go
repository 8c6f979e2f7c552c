package tcpwave

import (
	"testing"

	"github.com/tcpwave/tcpwave/link/pipe"
)

// offloadHosts is hosts on a pipe with segmentation offload: super-packets
// of up to 65535 bytes travel whole.
func offloadHosts(t testing.TB) (a, b *Stack, ea, eb *pipe.End) {
	t.Helper()
	ea, eb = pipe.NewOffload(1500, 65535, 0)
	a, b = hostsOn(t, ea, eb)
	return a, b, ea, eb
}

// TestBulkOffload: over a link with segmentation offload, 8 MiB arrive
// intact, and the sender hands the link far fewer packets than it sends
// segments: most of its data goes as super-packets.
func TestBulkOffload(t *testing.T) {
	sa, sb, _, eb := offloadHosts(t)
	client, server := connPair(t, sa, sb)
	data := make([]byte, 8<<20)
	for i := range data {
		data[i] = byte(i*31 + i>>12)
	}
	transfer(t, client, server, data)
	segs, pkts := sb.Counters().OutSegs, eb.Stats().Sent
	t.Logf("%d segments sent in %d packets (%.1f a packet)", segs, pkts, float64(segs)/float64(pkts))
	if segs < uint64(len(data)/1448) || pkts*4 > segs {
		t.Errorf("%d segments in %d packets: want at least %d segments, over 4 a packet", segs, pkts, len(data)/1448)
	}
}

// BenchmarkBulkOffload is BenchmarkBulk with and without segmentation
// offload on the link, side by side.
func BenchmarkBulkOffload(b *testing.B) {
	b.Run("plain", func(b *testing.B) {
		sa, sb := hosts(b)
		benchBulk(b, sa, sb)
	})
	b.Run("offload", func(b *testing.B) {
		sa, sb, _, _ := offloadHosts(b)
		benchBulk(b, sa, sb)
	})
}
