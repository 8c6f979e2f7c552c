package wire

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// gopacketOptions renders the options gopacket decoded in the notation of
// Options.String.
func gopacketOptions(t *testing.T, opts []layers.TCPOption) string {
	t.Helper()
	var parts []string
	for _, o := range opts {
		d := o.OptionData
		switch o.OptionType {
		case layers.TCPOptionKindNop:
			parts = append(parts, "nop")
		case layers.TCPOptionKindMSS:
			parts = append(parts, fmt.Sprintf("mss %d", uint16(d[0])<<8|uint16(d[1])))
		case layers.TCPOptionKindWindowScale:
			parts = append(parts, fmt.Sprintf("wscale %d", d[0]))
		case layers.TCPOptionKindSACKPermitted:
			parts = append(parts, "sackOK")
		case layers.TCPOptionKindSACK:
			s := "sack"
			for k := 0; k+8 <= len(d); k += 8 {
				s += fmt.Sprintf(" %d:%d", be32(d[k:]), be32(d[k+4:]))
			}
			parts = append(parts, s)
		case layers.TCPOptionKindTimestamps:
			parts = append(parts, fmt.Sprintf("TS val %d ecr %d", be32(d), be32(d[4:])))
		default:
			t.Fatalf("gopacket found option kind %d", o.OptionType)
		}
	}
	return strings.Join(parts, ",")
}

// gpAddr converts an address decoded by gopacket.
func gpAddr(b []byte) netip.Addr {
	a, _ := netip.AddrFromSlice(b)
	return a.Unmap()
}

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// gopacketFlags collects the flags gopacket decoded.
func gopacketFlags(tcp *layers.TCP) Flags {
	var f Flags
	for _, x := range []struct {
		set  bool
		flag Flags
	}{{tcp.FIN, FIN}, {tcp.SYN, SYN}, {tcp.RST, RST}, {tcp.PSH, PSH}, {tcp.ACK, ACK}, {tcp.URG, URG}, {tcp.ECE, ECE}, {tcp.CWR, CWR}} {
		if x.set {
			f |= x.flag
		}
	}
	return f
}

// Packets this package builds decode the same way with gopacket.
func TestEncodeAgainstGopacket(t *testing.T) {
	for _, p := range roundTripPackets() {
		b := encodePacket(t, &p)
		first := layers.LayerTypeIPv4
		if p.Src.Is6() {
			first = layers.LayerTypeIPv6
		}
		gp := gopacket.NewPacket(b, first, gopacket.Default)
		if el := gp.ErrorLayer(); el != nil {
			t.Fatalf("gopacket: %v", el.Error())
		}
		if p.Src.Is4() {
			ip := gp.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
			if ip.TTL != 64 || ip.Id != 0x1234 || ip.Flags != layers.IPv4DontFragment ||
				gpAddr(ip.SrcIP) != p.Src || gpAddr(ip.DstIP) != p.Dst ||
				int(ip.Length) != len(b) {
				t.Fatalf("gopacket IPv4 header %+v", ip)
			}
		} else {
			ip := gp.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
			if ip.HopLimit != 64 || ip.NextHeader != layers.IPProtocolTCP ||
				gpAddr(ip.SrcIP) != p.Src || gpAddr(ip.DstIP) != p.Dst || int(ip.Length) != len(b)-40 {
				t.Fatalf("gopacket IPv6 header %+v", ip)
			}
		}
		tcp := gp.Layer(layers.LayerTypeTCP).(*layers.TCP)
		got := TCPFields{SrcPort: uint16(tcp.SrcPort), DstPort: uint16(tcp.DstPort), Seq: tcp.Seq, Ack: tcp.Ack,
			Flags: gopacketFlags(tcp), Window: tcp.Window, Urgent: tcp.Urgent, Options: p.TCP.Options}
		if got != p.TCP {
			t.Errorf("gopacket fields %+v\nwant %+v", got, p.TCP)
		}
		if want := p.TCP.Options.String(); gopacketOptions(t, tcp.Options) != want {
			t.Errorf("gopacket options %q, want %q", gopacketOptions(t, tcp.Options), want)
		}
		if !bytes.Equal(tcp.Payload, p.Payload) {
			t.Errorf("gopacket payload %d bytes, want %d", len(tcp.Payload), len(p.Payload))
		}
	}
}

// Packets gopacket builds, with its own checksums, parse here.
func TestParseGopacketPackets(t *testing.T) {
	for _, p := range roundTripPackets() {
		var ipLayer gopacket.NetworkLayer
		if p.Src.Is4() {
			ipLayer = &layers.IPv4{Version: 4, TTL: 3, Protocol: layers.IPProtocolTCP,
				SrcIP: p.Src.AsSlice(), DstIP: p.Dst.AsSlice()}
		} else {
			ipLayer = &layers.IPv6{Version: 6, HopLimit: 3, NextHeader: layers.IPProtocolTCP,
				SrcIP: p.Src.AsSlice(), DstIP: p.Dst.AsSlice()}
		}
		f := p.TCP
		tcp := &layers.TCP{SrcPort: layers.TCPPort(f.SrcPort), DstPort: layers.TCPPort(f.DstPort),
			Seq: f.Seq, Ack: f.Ack, Window: f.Window, Urgent: f.Urgent,
			FIN: f.Flags.Has(FIN), SYN: f.Flags.Has(SYN), RST: f.Flags.Has(RST), PSH: f.Flags.Has(PSH),
			ACK: f.Flags.Has(ACK), URG: f.Flags.Has(URG), ECE: f.Flags.Has(ECE), CWR: f.Flags.Has(CWR)}
		// gopacket writes the options in the order given, unpadded; list
		// them in an order different from the Linux one, without NOPs.
		o := f.Options
		if o.HasWScale {
			tcp.Options = append(tcp.Options, layers.TCPOption{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{o.WScale}})
		}
		if o.NumSACK > 0 {
			d := make([]byte, 0, 32)
			for k := 0; k < int(o.NumSACK); k++ {
				d = append(d, byte(o.SACK[k].Left>>24), byte(o.SACK[k].Left>>16), byte(o.SACK[k].Left>>8), byte(o.SACK[k].Left),
					byte(o.SACK[k].Right>>24), byte(o.SACK[k].Right>>16), byte(o.SACK[k].Right>>8), byte(o.SACK[k].Right))
			}
			tcp.Options = append(tcp.Options, layers.TCPOption{OptionType: layers.TCPOptionKindSACK, OptionLength: uint8(2 + len(d)), OptionData: d})
		}
		if o.HasTimestamp {
			d := []byte{byte(o.TSVal >> 24), byte(o.TSVal >> 16), byte(o.TSVal >> 8), byte(o.TSVal),
				byte(o.TSEcr >> 24), byte(o.TSEcr >> 16), byte(o.TSEcr >> 8), byte(o.TSEcr)}
			tcp.Options = append(tcp.Options, layers.TCPOption{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: d})
		}
		if o.SACKPermitted {
			tcp.Options = append(tcp.Options, layers.TCPOption{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2})
		}
		if o.MSS != 0 {
			tcp.Options = append(tcp.Options, layers.TCPOption{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{byte(o.MSS >> 8), byte(o.MSS)}})
		}
		if err := tcp.SetNetworkLayerForChecksum(ipLayer); err != nil {
			t.Fatal(err)
		}
		buf := gopacket.NewSerializeBuffer()
		opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
		if err := gopacket.SerializeLayers(buf, opts, ipLayer.(gopacket.SerializableLayer), tcp, gopacket.Payload(p.Payload)); err != nil {
			t.Fatal(err)
		}
		b := buf.Bytes()
		var q Packet
		if err := ParsePacket(b, &q); err != nil {
			t.Fatalf("ParsePacket of gopacket's %x: %v", b, err)
		}
		want := p.TCP
		want.Options = normalize(want.Options)
		if q.Src != p.Src || q.Dst != p.Dst || q.TCP != want || !bytes.Equal(q.Payload, p.Payload) {
			t.Errorf("parsed %+v\nwant   %+v", q.TCP, want)
		}
	}
}
