package pcap

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/wire"
)

func packet(t *testing.T, src, dst string, flags wire.Flags, payload string) []byte {
	t.Helper()
	p := wire.Packet{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst),
		TCP: wire.TCPFields{SrcPort: 40000, DstPort: 80, Seq: 1, Ack: 2, Flags: flags, Window: 1000}, Payload: []byte(payload)}
	buf := make([]byte, 1500)
	n, err := wire.EncodePacket(buf, &p, 64, 1)
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}

// The file reads back with gopacket's independent pcap reader and decoder.
func TestRoundTripWithGopacket(t *testing.T) {
	var b bytes.Buffer
	w, err := NewWriter(&b)
	if err != nil {
		t.Fatal(err)
	}
	pkts := [][]byte{
		packet(t, "10.0.0.1", "10.0.0.2", wire.SYN, ""),
		packet(t, "fd00::2", "fd00::1", wire.FIN|wire.ACK|wire.PSH, "hello"),
	}
	times := []clock.Instant{1_500_000, 61_000_007_000}
	for i, p := range pkts {
		if err := w.WritePacket(times[i], p); err != nil {
			t.Fatal(err)
		}
	}
	if w.Count() != 2 {
		t.Fatalf("Count = %d", w.Count())
	}
	r, err := pcapgo.NewReader(&b)
	if err != nil {
		t.Fatal(err)
	}
	if r.LinkType() != layers.LinkTypeRaw {
		t.Fatalf("link type %v", r.LinkType())
	}
	for i := range pkts {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(data, pkts[i]) || ci.Length != len(pkts[i]) {
			t.Fatalf("packet %d differs", i)
		}
		if got := ci.Timestamp.UnixMicro(); got != times[i].Micros() {
			t.Fatalf("packet %d timestamp %d us, want %d", i, got, times[i].Micros())
		}
		first := layers.LayerTypeIPv4
		if i == 1 {
			first = layers.LayerTypeIPv6
		}
		g := gopacket.NewPacket(data, first, gopacket.Default)
		tcp, ok := g.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if !ok || tcp.DstPort != 80 || g.ErrorLayer() != nil {
			t.Fatalf("packet %d: gopacket decoded %v", i, g)
		}
	}
}

type failWriter struct{ after int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.after <= 0 {
		return 0, errors.New("disk full")
	}
	f.after--
	return len(p), nil
}

func TestWriteErrorsStick(t *testing.T) {
	if _, err := NewWriter(&failWriter{}); err == nil {
		t.Fatal("header write error not reported")
	}
	w, err := NewWriter(&failWriter{after: 1})
	if err != nil {
		t.Fatal(err)
	}
	p := packet(t, "10.0.0.1", "10.0.0.2", wire.SYN, "")
	if err := w.WritePacket(0, p); err == nil {
		t.Fatal("record write error not reported")
	}
	if err := w.WritePacket(0, p); err == nil || w.Count() != 0 {
		t.Fatal("error did not stick")
	}
}
