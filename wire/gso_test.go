package wire

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
)

// checkSplit splits the super-packet p (encoded with IPv4 ID id) into
// pieces of size and checks every piece against what sending the segments
// one by one would have put on the wire.
func checkSplit(t *testing.T, p *Packet, id uint16, size int) {
	t.Helper()
	super := make([]byte, PacketLen(p))
	if _, err := EncodePacket(super, p, 64, id); err != nil {
		t.Fatalf("encode: %v", err)
	}
	var got []Packet
	var ids []uint16
	scratch := make([]byte, 100+size)
	err := SplitTCP(super, size, scratch, func(piece []byte) error {
		var q Packet
		if err := ParsePacket(piece, &q); err != nil { // verifies both checksums
			t.Fatalf("piece %d: %v", len(got), err)
		}
		q.Payload = bytes.Clone(q.Payload)
		got = append(got, q)
		if p.Src.Is4() {
			ids = append(ids, uint16(piece[4])<<8|uint16(piece[5]))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("SplitTCP: %v", err)
	}
	want := max((len(p.Payload)+size-1)/size, 1)
	if len(got) != want {
		t.Fatalf("%d pieces of %d bytes from %d, want %d", len(got), size, len(p.Payload), want)
	}
	var joined []byte
	for i, q := range got {
		last := i == len(got)-1
		wantFlags := p.TCP.Flags
		if !last {
			wantFlags &^= FIN | PSH
		}
		if i > 0 {
			wantFlags &^= CWR
		}
		if q.TCP.Flags != wantFlags {
			t.Errorf("piece %d: flags %v, want %v", i, q.TCP.Flags, wantFlags)
		}
		if q.TCP.Seq != p.TCP.Seq+uint32(len(joined)) {
			t.Errorf("piece %d: seq %d, want %d", i, q.TCP.Seq, p.TCP.Seq+uint32(len(joined)))
		}
		if !last && len(q.Payload) != size {
			t.Errorf("piece %d: %d bytes, want %d", i, len(q.Payload), size)
		}
		f := q.TCP
		f.Seq, f.Flags = p.TCP.Seq, p.TCP.Flags
		if f != p.TCP || q.Src != p.Src || q.Dst != p.Dst {
			t.Errorf("piece %d: headers %+v, want those of %+v", i, q.TCP, p.TCP)
		}
		if ids != nil && ids[i] != id+uint16(i) {
			t.Errorf("piece %d: IPv4 ID %d, want %d", i, ids[i], id+uint16(i))
		}
		joined = append(joined, q.Payload...)
	}
	if !bytes.Equal(joined, p.Payload) {
		t.Errorf("the pieces' payload differs from the super-packet's")
	}
}

func TestSplitTCP(t *testing.T) {
	v4a, v4b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	v6a, v6b := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	payload := make([]byte, 10_000)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	ts := Options{HasTimestamp: true, TSVal: 1, TSEcr: 2}
	tests := []struct {
		name     string
		src, dst netip.Addr
		flags    Flags
		opts     Options
		n, size  int
		id       uint16
	}{
		{"v4 even", v4a, v4b, ACK, ts, 4 * 1448, 1448, 7},
		{"v4 tail with PSH", v4a, v4b, ACK | PSH, ts, 4*1448 + 100, 1448, 9},
		{"v4 FIN and CWR", v4a, v4b, ACK | FIN | CWR | PSH, Options{}, 3000, 1460, 65534}, // the ID wraps
		{"v4 fits one piece", v4a, v4b, ACK | PSH, ts, 1000, 1448, 1},
		{"v6 with SACK", v6a, v6b, ACK, Options{NumSACK: 1, SACK: [MaxSACKBlocks]SACKBlock{{Left: 5, Right: 9}}}, 9000, 1440, 0},
		{"v6 one byte pieces", v6a, v6b, ACK | PSH, ts, 5, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &Packet{Src: tt.src, Dst: tt.dst, Payload: payload[:tt.n], TCP: TCPFields{
				SrcPort: 1000, DstPort: 80, Seq: 0xffff_f000, Ack: 77, Flags: tt.flags, Window: 500, Options: tt.opts,
			}}
			checkSplit(t, p, tt.id, tt.size)
		})
	}
}

func TestSplitTCPErrors(t *testing.T) {
	p := &Packet{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"),
		TCP: TCPFields{Flags: ACK}, Payload: make([]byte, 3000)}
	good := make([]byte, PacketLen(p))
	EncodePacket(good, p, 64, 1)
	scratch := make([]byte, 2000)
	emit := func([]byte) error { return nil }
	stop := errors.New("stop")
	tests := []struct {
		name    string
		pkt     []byte
		size    int
		scratch []byte
		emit    func([]byte) error
		want    error
	}{
		{"zero size", good, 0, scratch, emit, nil},
		{"short scratch", good, 1460, scratch[:100], emit, ErrBufferTooSmall},
		{"not IP", []byte{0x50, 1, 2}, 1460, scratch, emit, ErrBadVersion},
		{"length field", good[:len(good)-1], 1460, scratch, emit, ErrBadLength},
		{"emit error", good, 1460, scratch, func([]byte) error { return stop }, stop},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := SplitTCP(tt.pkt, tt.size, tt.scratch, tt.emit)
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Errorf("SplitTCP: %v, want %v", err, tt.want)
			}
		})
	}
}

func FuzzSplitTCP(f *testing.F) {
	f.Add(true, uint16(3000), uint16(1448), uint8(ACK|PSH), uint32(1), uint16(5))
	f.Add(false, uint16(9000), uint16(1), uint8(ACK|FIN), uint32(0xffffffff), uint16(0))
	f.Fuzz(func(t *testing.T, v4 bool, n, size uint16, flags uint8, sq uint32, id uint16) {
		if size == 0 || n > 20_000 || (size == 1 && n > 2000) {
			return
		}
		src, dst := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
		if !v4 {
			src, dst = netip.MustParseAddr("fe80::1"), netip.MustParseAddr("fe80::2")
		}
		payload := make([]byte, n)
		for i := range payload {
			payload[i] = byte(i) ^ byte(sq)
		}
		p := &Packet{Src: src, Dst: dst, Payload: payload, TCP: TCPFields{
			SrcPort: 1, DstPort: 2, Seq: sq, Ack: sq ^ 0x5555, Flags: Flags(flags), Window: 1,
			Options: Options{HasTimestamp: true, TSVal: sq},
		}}
		checkSplit(t, p, id, int(size))
	})
}

func TestTCPHeaders(t *testing.T) {
	v4 := &Packet{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"),
		TCP: TCPFields{Flags: ACK, Options: Options{HasTimestamp: true}}, Payload: []byte("abc")}
	v6 := &Packet{Src: netip.MustParseAddr("fe80::1"), Dst: netip.MustParseAddr("fe80::2"),
		TCP: TCPFields{Flags: ACK}, Payload: []byte("abcd")}
	enc := func(p *Packet) []byte {
		b := make([]byte, PacketLen(p))
		if _, err := EncodePacket(b, p, 64, 1); err != nil {
			t.Fatal(err)
		}
		return b
	}
	b4, b6 := enc(v4), enc(v6)
	udp := bytes.Clone(b4)
	udp[9] = 17
	tests := []struct {
		name          string
		pkt           []byte
		ipLen, hdrLen int
		err           error
	}{
		{"v4 with timestamps", b4, 20, 20 + 32, nil},
		{"v6", b6, 40, 60, nil},
		{"not TCP", udp, 0, 0, ErrNotTCP},
		{"length field", b4[:len(b4)-1], 0, 0, ErrBadLength},
		{"v6 cut short", b6[:50], 0, 0, ErrBadLength},
		{"not IP", []byte{0x50, 0, 0}, 0, 0, ErrBadVersion},
	}
	for _, tt := range tests {
		ip, hdr, err := TCPHeaders(tt.pkt)
		if ip != tt.ipLen || hdr != tt.hdrLen || !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
			t.Errorf("%s: TCPHeaders = %d, %d, %v; want %d, %d, %v", tt.name, ip, hdr, err, tt.ipLen, tt.hdrLen, tt.err)
		}
	}
}
