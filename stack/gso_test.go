package stack

import (
	"bytes"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/wire"
)

// gsoRun moves 2 MiB from A to B, with a lost segment on the way when lose
// is set, and returns every packet A sent, as it went on the wire.
func gsoRun(t *testing.T, gso bool, lose bool) (sent [][]byte, supers, superSegs int) {
	t.Helper()
	f, a, b := pair(t, func(o *Options) {
		if gso {
			o.GSOMaxSize = 65535
		}
	})
	f.gso = gso
	dropped := false
	if lose {
		f.drop = func(from string, p *wire.Packet) bool {
			if from == "A" && !dropped && len(p.Payload) > 0 && p.TCP.Seq-uint32(f.log[0].p.TCP.Seq) > 300_000 {
				dropped = true
				return true
			}
			return false
		}
	}
	l := f.listen(b, 80, 8)
	client, server := f.connect(a, b, l)
	data := make([]byte, 2<<20)
	for i := range data {
		data[i] = byte(i / 1000)
	}
	var got []byte
	buf := make([]byte, 64<<10)
	for off, steps := 0, 0; len(got) < len(data); steps++ {
		if steps > 100_000 {
			t.Fatalf("stuck: %d of %d bytes read", len(got), len(data))
		}
		if off < len(data) {
			n, _ := client.Write(f.now, data[off:])
			off += n
		}
		f.run(time.Millisecond)
		for {
			n, err := server.Read(f.now, buf)
			if n == 0 || err != nil {
				break
			}
			got = append(got, buf[:n]...)
		}
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("B read different bytes")
	}
	if lose && !dropped {
		t.Fatalf("no segment was lost")
	}
	for _, p := range f.log {
		if p.from == "A" {
			sent = append(sent, p.raw)
		}
	}
	return sent, f.supers, f.superSegs
}

// TestGSOSameWire: with segmentation offload, A's connection hands the
// link super-packets, and split at their segment size they are, byte for
// byte, the packets A sends without offload: same segments, same
// sequence numbers, IPv4 IDs, options and checksums, through slow start,
// a loss and its recovery.
func TestGSOSameWire(t *testing.T) {
	for _, lose := range []bool{false, true} {
		plain, _, _ := gsoRun(t, false, lose)
		split, supers, superSegs := gsoRun(t, true, lose)
		t.Logf("lose=%v: %d packets, %d in %d super-packets", lose, len(plain), superSegs, supers)
		// Nearly all of A's packets are data in bursts, which offload
		// hands the link as super-packets of several segments each, at
		// most 64.
		if superSegs*10 < 9*len(plain) || superSegs < 4*supers || superSegs > 64*supers {
			t.Errorf("lose=%v: %d of %d packets in %d super-packets", lose, superSegs, len(plain), supers)
		}
		if len(split) != len(plain) {
			t.Fatalf("lose=%v: %d packets with offload, %d without", lose, len(split), len(plain))
		}
		for i := range plain {
			if !bytes.Equal(plain[i], split[i]) {
				var p, q wire.Packet
				wire.ParsePacket(plain[i], &p)
				wire.ParsePacket(split[i], &q)
				t.Fatalf("lose=%v: packet %d differs:\nwithout %+v (%d bytes)\nwith    %+v (%d bytes)", lose, i, p.TCP, len(p.Payload), q.TCP, len(q.Payload))
			}
		}
	}
}

// TestGSOOptions: GSOMaxSize must be 0 or between the MTU and 65535.
func TestGSOOptions(t *testing.T) {
	for _, tt := range []struct {
		size int
		ok   bool
	}{{0, true}, {1500, true}, {65535, true}, {1499, false}, {65536, false}, {-1, false}} {
		o := DefaultOptions(addrA)
		o.GSOMaxSize = tt.size
		if err := o.Validate(); (err == nil) != tt.ok {
			t.Errorf("GSOMaxSize %d: %v, want ok=%v", tt.size, err, tt.ok)
		}
	}
}
