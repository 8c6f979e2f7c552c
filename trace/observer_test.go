package trace

import (
	"errors"
	"net/netip"
	"reflect"
	"testing"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/stack"
	"github.com/tcpwave/tcpwave/tcp"
	"github.com/tcpwave/tcpwave/wire"
)

// encode builds the bytes of a TCP/IPv4 packet a -> b.
func encode(t *testing.T, a, b netip.AddrPort, seq, ack uint32, fl wire.Flags, payload int) []byte {
	t.Helper()
	p := wire.Packet{Src: a.Addr(), Dst: b.Addr(), Payload: make([]byte, payload), TCP: wire.TCPFields{
		SrcPort: a.Port(), DstPort: b.Port(), Seq: seq, Ack: ack, Flags: fl, Window: 512,
		Options: wire.Options{MSS: 1460}}}
	buf := make([]byte, 1500)
	n, err := wire.EncodePacket(buf, &p, 64, 0)
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}

func TestObserver(t *testing.T) {
	a := netip.MustParseAddrPort("10.0.0.1:40000")
	b := netip.MustParseAddrPort("10.0.0.2:80")
	var rec Recorder
	var rel Relativizer
	oa := &Observer{Host: "A", Rel: &rel, Add: rec.Add}
	ob := &Observer{Host: "B", Rel: &rel, Add: rec.Add}
	syn := encode(t, a, b, 1000, 0, wire.SYN, 0)
	synack := encode(t, b, a, 5000, 1001, wire.SYN|wire.ACK, 0)
	data := encode(t, a, b, 1001, 5001, wire.PSH|wire.ACK, 3)
	oa.StateChanged(1, stack.Tuple{Local: a, Remote: b}, tcp.Closed, tcp.SynSent, "connect")
	oa.PacketSent(1, syn)
	ob.PacketReceived(2, syn)
	ob.StateChanged(2, stack.Tuple{Local: b}, tcp.Listen, tcp.SynRcvd, "SYN")
	ob.PacketSent(2, synack)
	oa.PacketReceived(3, synack)
	oa.PacketSent(3, data)
	ob.PacketDropped(4, data[:30], errors.New("bad checksum"))
	oa.PacketSent(5, []byte{0x45, 0}) // does not parse: not traced

	want := []Event{
		{T: 1, Host: "A", Kind: KindState, From: tcp.Closed, To: tcp.SynSent, Why: "connect", Conn: Conn{a, b}},
		{T: 1, Host: "A", Kind: KindSend, Seg: sg("S 0:0(0) win 512")},
		{T: 2, Host: "B", Kind: KindRecv, Seg: sg("S 0:0(0) win 512")},
		{T: 2, Host: "B", Kind: KindState, From: tcp.Listen, To: tcp.SynRcvd, Why: "SYN", Conn: Conn{Local: b}},
		{T: 2, Host: "B", Kind: KindSend, Seg: sg("S. 0:0(0) ack 1 win 512")},
		{T: 3, Host: "A", Kind: KindRecv, Seg: sg("S. 0:0(0) ack 1 win 512")},
		{T: 3, Host: "A", Kind: KindSend, Seg: sg("P. 1:4(3) ack 1 win 512")},
		{T: 4, Host: "B", Kind: KindDrop, Src: "?", Dst: "B", Size: 30, Why: "bad checksum"},
	}
	got := rec.Events()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("events:\n got  %v\n want %v", got, want)
	}
	for i, s := range []string{"", "S 0:0(0) win 512", "S 0:0(0) win 512", "", "S. 0:0(0) ack 1 win 512",
		"S. 0:0(0) ack 1 win 512", "P. 1:4(3) ack 1 win 512", "(30 bytes)"} {
		if got[i].SegText() != s {
			t.Errorf("event %d SegText %q, want %q", i, got[i].SegText(), s)
		}
	}
	if c := got[0].Conn.String(); c != "10.0.0.1:40000>10.0.0.2:80" {
		t.Errorf("conn %q", c)
	}
	if c := got[3].Conn.String(); c != "10.0.0.2:80" {
		t.Errorf("listener conn %q", c)
	}
}

// An Observer with its own Relativizer numbers only what it sees, and one
// without Add records nothing.
func TestObserverOwnNumbersAndNoSink(t *testing.T) {
	a := netip.MustParseAddrPort("10.0.0.1:40000")
	b := netip.MustParseAddrPort("10.0.0.2:80")
	var rec Recorder
	o := &Observer{Host: "A", Add: rec.Add, own: Relativizer{Options: true}}
	o.PacketSent(0, encode(t, a, b, 1000, 0, wire.SYN, 0))
	o.PacketReceived(1, encode(t, b, a, 7, 1001, wire.ACK, 0)) // peer's SYN never seen: absolute
	if got := rec.Segments("A", KindSend); len(got) != 1 || got[0] != "S 0:0(0) win 512 <mss 1460>" {
		t.Errorf("sent %q", got)
	}
	if got := rec.Segments("A", KindRecv); len(got) != 1 || got[0] != ". 7:7(0) ack 1 win 512 <mss 1460>" {
		t.Errorf("received %q", got)
	}
	var none Observer
	none.PacketSent(clock.Instant(0), encode(t, a, b, 1, 0, wire.SYN, 0))
	none.StateChanged(0, stack.Tuple{}, tcp.Closed, tcp.SynSent, "")
	none.PacketDropped(0, nil, errors.New("x"))
}

func TestConnString(t *testing.T) {
	for _, c := range []struct {
		c    Conn
		want string
	}{
		{Conn{}, ""},
		{cn("10.0.0.1:1"), "10.0.0.1:1"},
		{cn("[::1]:80>[::2]:9"), "[::1]:80>[::2]:9"},
	} {
		if got := c.c.String(); got != c.want {
			t.Errorf("%#v.String() = %q, want %q", c.c, got, c.want)
		}
	}
	if c := cn("10.0.0.1:1>10.0.0.2:2"); !c.Connected() || c.Reverse() != cn("10.0.0.2:2>10.0.0.1:1") || cn("10.0.0.1:1").Connected() {
		t.Error("Connected or Reverse wrong")
	}
}
