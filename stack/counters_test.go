package stack

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/tcp"
	"github.com/tcpwave/tcpwave/wire"
)

// counts are a host's counters by nstat name without its Tcp or TcpExt
// prefix, less InSegs and OutSegs, which every case moves.
type counts map[string]uint64

func countsOf(c Counters) counts {
	m := counts{}
	for _, r := range c.NstatRows() {
		name := strings.TrimPrefix(strings.TrimPrefix(r.Name, "TcpExt"), "Tcp")
		if strings.HasPrefix(name, "Ip") {
			name = "Ip" + strings.TrimPrefix(name, "Ip") // the Ip group keeps its prefix: IpInHdrErrors
		}
		if name != "InSegs" && name != "OutSegs" {
			m[name] = r.Value
		}
	}
	return m
}

// wantCounts checks every counter of host against want (0 where want has
// none).
func wantCounts(t *testing.T, host string, c Counters, want counts) {
	t.Helper()
	got := countsOf(c)
	for name := range want {
		if _, ok := got[name]; !ok {
			t.Fatalf("no counter %q", name)
		}
	}
	for name, v := range got {
		if v != want[name] {
			t.Errorf("%s: %s = %d, want %d", host, name, v, want[name])
		}
	}
}

// opened is the usual start: A connected to B's listener.
func opened(t *testing.T, f *fixture, a, b *node) (client, server *Socket) {
	t.Helper()
	return f.connect(a, b, f.listen(b, port, 8))
}

// inject hands B a segment on a connection as if its client had sent it.
func inject(t *testing.T, f *fixture, b *node, client *Socket, flags wire.Flags, sq, ack uint32) {
	t.Helper()
	f.deliver(b, build(t, segment(client.Local(), client.Remote(), flags, sq, ack, "")))
}

// TestCounters: each counter moves when its event happens, as much as
// Linux moves it, and no other counter moves with it. Each case starts
// from two fresh hosts, A the client and B the server.
func TestCounters(t *testing.T) {
	dropAll := func(string, *wire.Packet) bool { return true }
	tests := []struct {
		name string
		opts []opt
		run  func(t *testing.T, f *fixture, a, b *node)
		a, b counts
	}{
		{name: "a connection opened and closed, A first: one active open, one passive, A's TIME_WAIT",
			run: func(t *testing.T, f *fixture, a, b *node) {
				client, server := opened(t, f, a, b)
				f.closeBoth(client, server)
				f.run(61 * time.Second)
			},
			a: counts{"ActiveOpens": 1, "TW": 1}, b: counts{"PassiveOpens": 1}},
		{name: "a refused connect: a failed attempt, and the RST that refused it",
			run: func(t *testing.T, f *fixture, a, b *node) {
				f.dial(a, b, port, 0)
				f.run(10 * time.Millisecond)
			},
			a: counts{"ActiveOpens": 1, "AttemptFails": 1}, b: counts{"OutRsts": 1}},
		{name: "close() in SYN_SENT: an active open, no failed attempt (Linux tcp_set_state, not tcp_done)",
			run: func(t *testing.T, f *fixture, a, b *node) {
				f.drop = dropAll
				f.dial(a, b, port, 0).Close(f.now)
				f.run(10 * time.Second)
			},
			a: counts{"ActiveOpens": 1}},
		{name: "SYN retries run out: six SYNs again, a failed attempt, an abort on timeout; seven timer expiries, the last included (Linux TCPTimeouts)",
			run: func(t *testing.T, f *fixture, a, b *node) {
				f.drop = dropAll
				f.dial(a, b, port, 0)
				f.run(200 * time.Second)
			},
			a: counts{"ActiveOpens": 1, "AttemptFails": 1, "TCPAbortOnTimeout": 1, "RetransSegs": 6, "TCPTimeouts": 7}},
		{name: "a half-open connection's SYN-ACK retries run out: five SYN-ACKs again and six timer expiries (Linux tcp_syn_ack_timeout), nothing else (a Linux request socket)",
			run: func(t *testing.T, f *fixture, a, b *node) {
				f.listen(b, port, 8)
				f.deliver(b, synFrom(t, 1000, 100))
				f.run(100 * time.Second)
			},
			b: counts{"RetransSegs": 5, "TCPTimeouts": 6}},
		{name: "a RST in a half-open connection: a failed attempt (Linux tcp_check_req)",
			run: func(t *testing.T, f *fixture, a, b *node) {
				f.listen(b, port, 8)
				f.deliver(b, synFrom(t, 1000, 100))
				f.deliver(b, build(t, segment(ap(addrX, 1000), ap(addrB, port), wire.RST, 101, 0, "")))
			},
			b: counts{"AttemptFails": 1}},
		{name: "a new SYN in a half-open connection: a failed attempt and a RST (Linux tcp_check_req)",
			run: func(t *testing.T, f *fixture, a, b *node) {
				f.listen(b, port, 8)
				f.deliver(b, synFrom(t, 1000, 100))
				f.deliver(b, synFrom(t, 1000, 5000))
			},
			b: counts{"AttemptFails": 1, "OutRsts": 1}},
		{name: "close() with SO_LINGER 0: a RST, counted in TCPAbortOnData as Linux does (and TCPAbortOnLinger); both ends reset",
			run: func(t *testing.T, f *fixture, a, b *node) {
				client, _ := opened(t, f, a, b)
				client.SetLinger(true, 0)
				client.Close(f.now)
				f.run(10 * time.Millisecond)
			},
			a: counts{"ActiveOpens": 1, "TCPAbortOnData": 1, "TCPAbortOnLinger": 1, "EstabResets": 1, "OutRsts": 1},
			b: counts{"PassiveOpens": 1, "EstabResets": 1}},
		{name: "close() with unread data: a RST, TCPAbortOnClose (not TCPAbortOnData, even with SO_LINGER 0)",
			run: func(t *testing.T, f *fixture, a, b *node) {
				client, server := opened(t, f, a, b)
				server.Write(f.now, []byte("unread"))
				f.run(10 * time.Millisecond)
				client.SetLinger(true, 0)
				client.Close(f.now)
				f.run(10 * time.Millisecond)
			},
			a: counts{"ActiveOpens": 1, "TCPAbortOnClose": 1, "EstabResets": 1, "OutRsts": 1},
			b: counts{"PassiveOpens": 1, "EstabResets": 1}},
		{name: "close() with unread data after a RST: no abort counted, the connection is already reset (Linux __tcp_close)",
			run: func(t *testing.T, f *fixture, a, b *node) {
				client, server := opened(t, f, a, b)
				server.Write(f.now, []byte("unread"))
				f.run(10 * time.Millisecond)
				// The RST arrives and close() follows before the stack
				// has polled the connection: it is CLOSED, not yet gone.
				rst := segment(client.Remote(), client.Local(), wire.RST, uint32(client.Conn().RcvNxt()), 0, "")
				a.st.HandlePacket(f.now, build(t, rst))
				client.SetLinger(true, 0)
				client.Close(f.now)
				f.run(10 * time.Millisecond)
			},
			a: counts{"ActiveOpens": 1, "EstabResets": 1},
			b: counts{"PassiveOpens": 1}},
		{name: "data after close(): A's RST is an abort on data; B, in CLOSE_WAIT, is reset",
			run: func(t *testing.T, f *fixture, a, b *node) {
				client, server := opened(t, f, a, b)
				client.Close(f.now)
				f.run(10 * time.Millisecond)
				server.Write(f.now, []byte("late"))
				f.run(10 * time.Millisecond)
			},
			a: counts{"ActiveOpens": 1, "TCPAbortOnData": 1, "OutRsts": 1},
			b: counts{"PassiveOpens": 1, "EstabResets": 1}},
		{name: "tcp_retries2 runs out: retransmissions, an abort on timeout, an established connection reset",
			opts: []opt{func(o *Options) { o.TCP.Retries2 = 3 }},
			run: func(t *testing.T, f *fixture, a, b *node) {
				client, _ := opened(t, f, a, b)
				f.drop = dropAll
				client.Write(f.now, []byte("lost"))
				f.run(60 * time.Second)
			},
			// A tail loss probe, then RTO retransmissions until what three
			// backoffs from 200 ms take has passed (Linux tcp_model_timeout):
			// four of them, and a fifth expiry that gives up. The second,
			// third and fourth find the RTO's retransmission lost again
			// (tcp_timeout_mark_lost): TCPLostRetransmit 3, as Linux 6.18
			// counts over veth with the peer's address removed.
			a: counts{"ActiveOpens": 1, "RetransSegs": 5, "TCPAbortOnTimeout": 1, "EstabResets": 1, "TCPTimeouts": 5, "TCPLossProbes": 1, "TCPLostRetransmit": 3},
			b: counts{"PassiveOpens": 1}},
		{name: "an in-window RST not at RCV.NXT: a challenge ACK (RFC 5961 §3.2)",
			run: func(t *testing.T, f *fixture, a, b *node) {
				client, server := opened(t, f, a, b)
				inject(t, f, b, client, wire.RST|wire.ACK, uint32(server.Conn().RcvNxt())+1000, uint32(server.Conn().SndNxt()))
			},
			a: counts{"ActiveOpens": 1}, b: counts{"PassiveOpens": 1, "TCPChallengeACK": 1}},
		{name: "a SYN in ESTABLISHED: an input error and a challenge ACK (RFC 5961 §4.2)",
			run: func(t *testing.T, f *fixture, a, b *node) {
				client, server := opened(t, f, a, b)
				inject(t, f, b, client, wire.SYN, uint32(server.Conn().RcvNxt())+1000, 0)
			},
			a: counts{"ActiveOpens": 1}, b: counts{"PassiveOpens": 1, "InErrs": 1, "TCPChallengeACK": 1}},
		{name: "a segment with a bad checksum: an input error and a checksum error",
			run: func(t *testing.T, f *fixture, a, b *node) {
				p := build(t, segment(ap(addrA, 4000), ap(addrB, port), wire.SYN, 1, 0, "x"))
				p[len(p)-1] ^= 1
				f.deliver(b, p)
			},
			b: counts{"InErrs": 1, "InCsumErrors": 1}},
		{name: "a segment for no socket: a RST",
			run: func(t *testing.T, f *fixture, a, b *node) {
				f.deliver(b, synFrom(t, 1000, 100))
			},
			b: counts{"OutRsts": 1}},
		{name: "a RST in TIME_WAIT kills the record (tcp_rfc1337=0)",
			run: func(t *testing.T, f *fixture, a, b *node) {
				client, server := opened(t, f, a, b)
				f.closeBoth(client, server)
				i := a.st.findTimeWait(Tuple{Local: client.Local(), Remote: client.Remote()})
				if i == 0 {
					t.Fatal("no TIME_WAIT record")
				}
				rcvNxt := a.st.tw.at(i).rcvNxt
				f.deliver(a, build(t, segment(client.Remote(), client.Local(), wire.RST, uint32(rcvNxt), 0, "")))
			},
			a: counts{"ActiveOpens": 1, "TW": 1, "TWKilled": 1}, b: counts{"PassiveOpens": 1}},
		{name: "a new SYN reopens B's TIME_WAIT 4-tuple (RFC 6191)",
			run: func(t *testing.T, f *fixture, a, b *node) {
				l := f.listen(b, port, 8, func(so *Socket) { so.SetReuseAddr(true) })
				c := f.dial(a, b, port, 5000)
				f.run(10 * time.Millisecond)
				srv, err := l.Accept()
				if err != nil {
					t.Fatal(err)
				}
				f.closeBoth(srv, c)
				f.run(time.Second)
				f.dial(a, b, port, 5000)
				f.run(10 * time.Millisecond)
			},
			a: counts{"ActiveOpens": 2}, b: counts{"PassiveOpens": 2, "TW": 1, "TWRecycled": 1}},
		{name: "the TIME_WAIT table full (MaxTimeWait 0): the orphan is closed as its FIN is ACKed (TCPTimeWaitOverflow, no TW), so the peer's FIN draws a RST, as in Linux (conformance/no-time-wait-orphan.pkt)",
			opts: []opt{func(o *Options) { o.MaxTimeWait = 0 }},
			run: func(t *testing.T, f *fixture, a, b *node) {
				client, server := opened(t, f, a, b)
				f.closeBoth(client, server)
				if rows := a.st.Connections(f.now); len(rows) != 0 {
					t.Errorf("A still holds %v", rows)
				}
			},
			a: counts{"ActiveOpens": 1, "TCPTimeWaitOverflow": 1, "OutRsts": 1}, b: counts{"PassiveOpens": 1}},
		{name: "the SYN queue full with tcp_syncookies=0: the SYN is dropped",
			opts: []opt{func(o *Options) { o.SynCookies = 0 }},
			run: func(t *testing.T, f *fixture, a, b *node) {
				f.listen(b, port, 0)
				f.deliver(b, synFrom(t, 1000, 100))
				f.deliver(b, synFrom(t, 1001, 100))
			},
			b: counts{"ListenDrops": 1}},
		{name: "the SYN queue full: a SYN cookie",
			run: func(t *testing.T, f *fixture, a, b *node) {
				f.listen(b, port, 0)
				f.deliver(b, synFrom(t, 1000, 100))
				f.deliver(b, synFrom(t, 1001, 100))
			},
			b: counts{"SyncookiesSent": 1}},
		{name: "a client connects through a cookie",
			run: func(t *testing.T, f *fixture, a, b *node) {
				l := f.listen(b, port, 0)
				f.deliver(b, synFrom(t, 1000, 100))
				f.connect(a, b, l)
			},
			a: counts{"ActiveOpens": 1}, b: counts{"PassiveOpens": 1, "SyncookiesSent": 1, "SyncookiesRecv": 1}},
		{name: "an ACK with a bad cookie: SyncookiesFailed and a RST",
			run: func(t *testing.T, f *fixture, a, b *node) {
				f.listen(b, port, 0)
				f.deliver(b, synFrom(t, 1000, 100))
				f.deliver(b, synFrom(t, 1001, 100))
				f.deliver(b, build(t, segment(ap(addrX, 1001), ap(addrB, port), wire.ACK, 101, 12345, "")))
			},
			b: counts{"SyncookiesSent": 1, "SyncookiesFailed": 1, "OutRsts": 1}},
		{name: "the accept queue full: the handshake's last ACK is dropped",
			run: func(t *testing.T, f *fixture, a, b *node) {
				f.listen(b, port, 1) // the accept queue holds two
				f.dial(a, b, port, 0)
				f.run(10 * time.Millisecond)
				f.dial(a, b, port, 0)
				f.dial(a, b, port, 0)
				f.run(10 * time.Millisecond)
			},
			a: counts{"ActiveOpens": 3}, b: counts{"PassiveOpens": 2, "ListenOverflows": 1, "ListenDrops": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, a, b := pair(t, tt.opts...)
			tt.run(t, f, a, b)
			f.run(10 * time.Millisecond)
			wantCounts(t, "A", a.st.Counters(), tt.a)
			wantCounts(t, "B", b.st.Counters(), tt.b)
		})
	}
}

// TestNstatRows: every counter has an nstat row, under a Linux name, in
// the struct's order: the Ip group, the Tcp group, then TcpExt.
func TestNstatRows(t *testing.T) {
	var c Counters
	v := reflect.ValueOf(&c).Elem()
	for i := range v.NumField() {
		v.Field(i).SetUint(uint64(i + 1))
	}
	rows := c.NstatRows()
	if len(rows) != v.NumField() {
		t.Fatalf("%d rows for %d counters", len(rows), v.NumField())
	}
	for i, r := range rows {
		field := v.Type().Field(i).Name
		prefix := "TcpExt"
		switch {
		case i < 4:
			prefix = "Ip" // InHdrErrors ... InDiscards
		case i < 14:
			prefix = "Tcp" // ActiveOpens ... InCsumErrors
		}
		if r.Name != prefix+field || r.Value != uint64(i+1) {
			t.Errorf("row %d is %s = %d, want %s%s = %d", i, r.Name, r.Value, prefix, field, i+1)
		}
	}
}

// TestTimeWaitOverflowKeepsLimit: with MaxTimeWait 2, the third
// connection to reach TIME_WAIT is closed at once; when a record expires,
// the next one gets its place.
func TestTimeWaitOverflowKeepsLimit(t *testing.T) {
	f, a, b := pair(t, func(o *Options) { o.MaxTimeWait = 2 })
	l := f.listen(b, port, 8)
	for i := range 3 {
		client, server := f.connect(a, b, l)
		f.closeBoth(client, server)
		if i < 2 && client.Closing() {
			t.Fatalf("connection %d still closing", i)
		}
	}
	tw := rowsOf(a, f.now, tcp.TimeWait)
	if c := a.st.Counters(); len(tw) != 2 || c.TW != 2 || c.TCPTimeWaitOverflow != 1 || len(a.st.bound)+a.st.tw.ports.len() != 2 {
		t.Fatalf("%d TIME_WAIT rows, TW %d, overflow %d, %d ports held; want 2, 2, 1, 2", len(tw), c.TW, c.TCPTimeWaitOverflow, len(a.st.bound)+a.st.tw.ports.len())
	}
	f.run(61 * time.Second)
	client, server := f.connect(a, b, l)
	f.closeBoth(client, server)
	if c := a.st.Counters(); len(rowsOf(a, f.now, tcp.TimeWait)) != 1 || c.TW != 3 || c.TCPTimeWaitOverflow != 1 {
		t.Errorf("after the records expired: TIME_WAIT rows %v, TW %d, overflow %d; want 1, 3, 1", rowsOf(a, f.now, tcp.TimeWait), c.TW, c.TCPTimeWaitOverflow)
	}
}
