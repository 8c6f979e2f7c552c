package explain

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/tcp"
	"github.com/tcpwave/tcpwave/wire"
)

// tseg is a segment at a time of its own.
type tseg struct {
	at time.Duration
	seg
	win uint16
}

var (
	dc = netip.MustParseAddrPort("192.0.2.10:50000")
	ds = netip.MustParseAddrPort("192.0.2.20:8080")
)

// timedFile writes conv as a raw-IP pcap with each segment at its time.
func timedFile(t *testing.T, conv []tseg) []byte {
	t.Helper()
	start := time.Unix(1000, 0)
	var b []byte
	h := make([]byte, 24)
	binary.LittleEndian.PutUint32(h[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(h[4:], 2)
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], 65535)
	binary.LittleEndian.PutUint32(h[20:], linkRaw)
	b = append(b, h...)
	for i, s := range conv {
		ip := ipPackets(t, dc, ds, []seg{s.seg}, false)[0]
		binary.BigEndian.PutUint16(ip[4:], uint16(i+1)) // each packet its IP ID, as Linux numbers them
		if s.win != 0 || s.flags.Has(wire.ACK) {
			binary.BigEndian.PutUint16(ip[20+14:], s.win)
		}
		ts := start.Add(s.at)
		r := make([]byte, 16)
		binary.LittleEndian.PutUint32(r[0:], uint32(ts.Unix()))
		binary.LittleEndian.PutUint32(r[4:], uint32(ts.Nanosecond()/1000))
		binary.LittleEndian.PutUint32(r[8:], uint32(len(ip)))
		binary.LittleEndian.PutUint32(r[12:], uint32(len(ip)))
		b = append(b, r...)
		b = append(b, ip...)
	}
	return b
}

var handshake3 = []tseg{
	{0, seg{true, wire.SYN, 0, 0, 0}, 1000},
	{time.Millisecond, seg{false, wire.SYN | wire.ACK, 0, 1, 0}, 1000},
	{2 * time.Millisecond, seg{true, wire.ACK, 1, 1, 0}, 1000},
}

// TestDiagnoses: hand-made captures for the findings no scenario shows.
func TestDiagnoses(t *testing.T) {
	const s, ms = time.Second, time.Millisecond
	for _, tc := range []struct {
		name   string
		conv   []tseg
		close  string
		final  [2]tcp.State
		mid    bool
		want   []string // finding kind: part of its sentence
		counts func(c *Conn) bool
	}{
		{
			name: "keepalive",
			conv: append(slices.Clone(handshake3),
				tseg{10 * ms, seg{true, wire.ACK | wire.PSH, 1, 1, 10}, 1000},
				tseg{11 * ms, seg{false, wire.ACK, 1, 11, 0}, 1000},
				tseg{7200 * s, seg{true, wire.ACK, 10, 1, 0}, 1000},
				tseg{7200*s + ms, seg{false, wire.ACK, 1, 11, 0}, 1000},
				tseg{9000 * s, seg{true, wire.ACK, 10, 1, 0}, 1000},
				tseg{9000*s + ms, seg{false, wire.ACK, 1, 11, 0}, 1000}),
			close: CloseOpen, final: [2]tcp.State{tcp.Established, tcp.Established},
			want:   []string{"keepalive:sent 2 keepalive probes"},
			counts: func(c *Conn) bool { return c.Sent[Client].Keepalives == 2 && c.Sent[Client].Retransmits == 0 },
		},
		{
			name: "keepalive without data (SND.UNA-1 is the ISN)",
			conv: append(slices.Clone(handshake3),
				tseg{7200 * s, seg{true, wire.ACK, 0, 1, 0}, 1000},
				tseg{7200*s + 75*s, seg{true, wire.ACK, 0, 1, 0}, 1000}),
			close: CloseOpen, final: [2]tcp.State{tcp.Established, tcp.Established},
			want:   []string{"keepalive:192.0.2.10:50000 sent 2 keepalive probes"},
			counts: func(c *Conn) bool { return c.Sent[Client].Keepalives == 2 && c.Sent[Server].Keepalives == 0 },
		},
		{
			name: "keepalive probes unanswered, then RST",
			conv: append(slices.Clone(handshake3),
				tseg{7200 * s, seg{true, wire.ACK, 0, 1, 0}, 1000},
				tseg{7275 * s, seg{true, wire.ACK, 0, 1, 0}, 1000},
				tseg{7350 * s, seg{true, wire.ACK, 0, 1, 0}, 1000},
				tseg{7425 * s, seg{true, wire.RST | wire.ACK, 1, 1, 0}, 1000}),
			close: CloseRST, final: [2]tcp.State{tcp.Closed, tcp.Closed},
			want: []string{"keepalive:sent 3 keepalive probes", "rst:after 3 unanswered keepalive probes"},
		},
		{
			name: "half-open: the server lost its state",
			conv: append(slices.Clone(handshake3),
				tseg{10 * ms, seg{true, wire.ACK | wire.PSH, 1, 1, 10}, 1000},
				tseg{11 * ms, seg{false, wire.ACK, 1, 11, 0}, 1000},
				tseg{600 * s, seg{true, wire.ACK | wire.PSH, 11, 1, 10}, 1000},
				tseg{600*s + ms, seg{false, wire.RST, 1, 0, 0}, 0}),
			close: CloseRST, final: [2]tcp.State{tcp.Closed, tcp.Closed},
			want: []string{"half-open:192.0.2.20:8080 no longer knew it"},
		},
		{
			name: "zero window",
			conv: append(slices.Clone(handshake3),
				tseg{10 * ms, seg{true, wire.ACK | wire.PSH, 1, 1, 1000}, 1000},
				tseg{11 * ms, seg{false, wire.ACK, 1, 1001, 0}, 0},
				tseg{500 * ms, seg{false, wire.ACK, 1, 1001, 0}, 500},
				tseg{510 * ms, seg{true, wire.ACK | wire.PSH, 1001, 1, 500}, 1000},
				tseg{511 * ms, seg{false, wire.ACK, 1, 1501, 0}, 0}),
			close: CloseOpen, final: [2]tcp.State{tcp.Established, tcp.Established},
			want: []string{"zero-window:192.0.2.20:8080 advertised a zero window 2 times"},
		},
		{
			name: "dup acks and a retransmission",
			conv: append(slices.Clone(handshake3),
				tseg{10 * ms, seg{true, wire.ACK, 1, 1, 100}, 1000},
				tseg{11 * ms, seg{true, wire.ACK, 101, 1, 100}, 1000},
				tseg{12 * ms, seg{true, wire.ACK, 201, 1, 100}, 1000},
				tseg{13 * ms, seg{true, wire.ACK, 301, 1, 100}, 1000},
				tseg{20 * ms, seg{false, wire.ACK, 1, 101, 0}, 1000},
				tseg{21 * ms, seg{false, wire.ACK, 1, 101, 0}, 1000},
				tseg{22 * ms, seg{false, wire.ACK, 1, 101, 0}, 1000},
				tseg{23 * ms, seg{false, wire.ACK, 1, 101, 0}, 1000},
				tseg{24 * ms, seg{true, wire.ACK, 101, 1, 100}, 1000},
				tseg{30 * ms, seg{false, wire.ACK, 1, 401, 0}, 1000}),
			close: CloseOpen, final: [2]tcp.State{tcp.Established, tcp.Established},
			want:   []string{"dup-ack:sent 3 duplicate ACKs", "retransmission:retransmitted 1 data segments"},
			counts: func(c *Conn) bool { return c.Sent[Client].Bytes == 400 },
		},
		{
			name: "SYN retries, then refused",
			conv: []tseg{
				{0, seg{true, wire.SYN, 0, 0, 0}, 1000},
				{time.Second, seg{true, wire.SYN, 0, 0, 0}, 1000},
				{3 * time.Second, seg{true, wire.SYN, 0, 0, 0}, 1000},
				{3*time.Second + ms, seg{false, wire.RST | wire.ACK, 0, 1, 0}, 0},
			},
			close: CloseRefused, final: [2]tcp.State{tcp.Closed, tcp.Closed},
			want: []string{"syn-retry:sent its SYN 3 times", "refused:nothing listens"},
		},
		{
			name:  "SYNs unanswered",
			conv:  []tseg{{0, seg{true, wire.SYN, 0, 0, 0}, 1000}, {time.Second, seg{true, wire.SYN, 0, 0, 0}, 1000}},
			close: CloseSYNTimeout, final: [2]tcp.State{tcp.SynSent, tcp.Closed},
			want: []string{"syn-retry:2 times"},
		},
		{
			name: "mid-stream, the capture ends in CLOSE_WAIT",
			conv: []tseg{
				{0, seg{true, wire.ACK | wire.PSH, 1, 1, 100}, 1000},
				{ms, seg{false, wire.ACK | wire.PSH, 1, 101, 200}, 1000},
				{2 * ms, seg{false, wire.ACK | wire.FIN, 201, 101, 0}, 1000},
				{3 * ms, seg{true, wire.ACK, 101, 202, 0}, 1000},
				{600 * s, seg{true, wire.ACK | wire.PSH, 101, 202, 10}, 1000},
				{600*s + ms, seg{false, wire.ACK, 202, 111, 0}, 1000},
			},
			close: CloseHalfOpen, final: [2]tcp.State{tcp.CloseWait, tcp.FinWait2}, mid: true,
			want: []string{"close-wait:192.0.2.10:50000 in CLOSE_WAIT for 10m0s", "fin-wait-2:192.0.2.20:8080 in FIN_WAIT_2", "mid-stream:", "half-close:10 bytes"},
		},
		{
			name: "an out-of-window RST draws a challenge ACK",
			conv: append(slices.Clone(handshake3),
				tseg{10 * ms, seg{true, wire.RST, 500, 0, 0}, 0},
				tseg{11 * ms, seg{false, wire.ACK, 1, 1, 0}, 1000},
				tseg{12 * ms, seg{true, wire.ACK | wire.PSH, 1, 1, 5}, 1000},
				tseg{13 * ms, seg{false, wire.ACK, 1, 6, 0}, 1000}),
			close: CloseOpen, final: [2]tcp.State{tcp.Established, tcp.Established},
			want: []string{"challenge-ack:ignored the RST", "rst:was not its own"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conns, _, err := explainAll(t, timedFile(t, tc.conv))
			if err != nil {
				t.Fatal(err)
			}
			if len(conns) != 1 {
				t.Fatalf("%d connections", len(conns))
			}
			c := conns[0]
			if c.Close != tc.close || c.Final != tc.final || c.MidStream != tc.mid {
				t.Errorf("close %q, final %v, mid-stream %v; want %q, %v, %v\n%s", c.Close, c.Final, c.MidStream, tc.close, tc.final, tc.mid, dump(c))
			}
			for _, w := range tc.want {
				kind, text, _ := strings.Cut(w, ":")
				if !slices.ContainsFunc(c.Findings, func(f Finding) bool { return f.Kind == kind && strings.Contains(f.Text, text) }) {
					t.Errorf("no %s finding saying %q\n%s", kind, text, dump(c))
				}
			}
			if tc.counts != nil && !tc.counts(c) {
				t.Errorf("counters %+v", c.Sent)
			}
		})
	}
}

// TestMaxConns: a SYN flood from many ports never holds more than MaxConns
// connections, and every one is handed over.
func TestMaxConns(t *testing.T) {
	emitted := 0
	a := NewAnalyzer(Options{MaxConns: 10}, func(*Conn) { emitted++ })
	for i := range 1000 {
		p := Packet{T: time.Unix(0, int64(i)*int64(time.Millisecond)), Src: netip.AddrPortFrom(dc.Addr(), uint16(1024+i)), Dst: ds,
			TCP: wire.TCPFields{SrcPort: uint16(1024 + i), DstPort: ds.Port(), Seq: uint32(i), Flags: wire.SYN}}
		a.Add(&p)
		if len(a.conns) > 10 {
			t.Fatalf("%d connections held after %d SYNs", len(a.conns), i+1)
		}
	}
	a.Finish()
	if emitted != 1000 {
		t.Fatalf("%d connections handed over, want 1000", emitted)
	}
}

// TestReuseTimestamp: a new SYN with a lower ISN but a newer timestamp
// reopens a 4-tuple whose server holds TIME_WAIT (RFC 6191).
func TestReuseTimestamp(t *testing.T) {
	var conns []*Conn
	a := NewAnalyzer(Options{}, func(c *Conn) { conns = append(conns, c) })
	add := func(ms int, fromClient bool, flags wire.Flags, seq, ack, ts uint32) {
		p := Packet{T: time.Unix(0, int64(ms)*int64(time.Millisecond)), Src: dc, Dst: ds,
			TCP: wire.TCPFields{SrcPort: dc.Port(), DstPort: ds.Port(), Seq: seq, Ack: ack, Flags: flags, Window: 1000,
				Options: wire.Options{HasTimestamp: true, TSVal: ts}}}
		if !fromClient {
			p.Src, p.Dst = ds, dc
			p.TCP.SrcPort, p.TCP.DstPort = ds.Port(), dc.Port()
		}
		a.Add(&p)
	}
	add(0, true, wire.SYN, 1000, 0, 100)
	add(1, false, wire.SYN|wire.ACK, 5000, 1001, 900)
	add(2, true, wire.ACK, 1001, 5001, 101)
	add(100, false, wire.FIN|wire.ACK, 5001, 1001, 910)
	add(101, true, wire.ACK, 1001, 5002, 110)
	add(102, true, wire.FIN|wire.ACK, 1001, 5002, 110)
	add(103, false, wire.ACK, 5002, 1002, 911)
	add(2000, true, wire.SYN, 500, 0, 2000)
	add(2001, false, wire.SYN|wire.ACK, 9000, 501, 1100)
	add(2002, true, wire.ACK, 501, 9001, 2001)
	a.Finish()
	if len(conns) != 2 || conns[1].Incarnation != 2 {
		t.Fatalf("%d connections", len(conns))
	}
	old := conns[0]
	if !slices.ContainsFunc(old.Findings, func(f Finding) bool {
		return f.Kind == "reuse" && strings.Contains(f.Text, "its ISN is not higher, its timestamp is newer")
	}) {
		t.Errorf("no reuse finding naming the timestamp\n%s", dump(old))
	}
	tr := old.States[Server]
	if last := tr[len(tr)-1]; last.From != tcp.TimeWait || last.To != tcp.Closed || !strings.Contains(last.Why, "RFC 6191") || last.T != 2*time.Second {
		t.Errorf("the server's last change %+v, want TIME_WAIT->CLOSED by RFC 6191 at the new SYN", last)
	}
}
