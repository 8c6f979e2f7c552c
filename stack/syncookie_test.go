package stack

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/seq"
	"github.com/tcpwave/tcpwave/tcp"
	"github.com/tcpwave/tcpwave/wire"
)

// TestCookieISN: a cookie holds the peer's MSS rounded down to Linux's
// table for the IP version (msstab4, msstab6), and
// checks only for its own 4-tuple and sequence number, in the period it
// was made and the next (Linux: 60 to 120 s, MAX_SYNCOOKIE_AGE 2).
func TestCookieISN(t *testing.T) {
	st, _ := newStack(t)
	tu := Tuple{Local: ap(addrB, port), Remote: ap(addrX, 40000)}
	at := clock.Instant(1000 * time.Second) // in the middle of count 16
	tu6 := Tuple{Local: netip.MustParseAddrPort("[fd00::2]:80"), Remote: netip.MustParseAddrPort("[2001:db8::99]:40000")}
	for _, tt := range []struct {
		t         Tuple
		mss, want uint16
	}{
		{tu, 88, 536}, {tu, 536, 536}, {tu, 1299, 536}, {tu, 1300, 1300}, {tu, 1439, 1300},
		{tu, 1440, 1440}, {tu, 1452, 1440}, {tu, 1460, 1460}, {tu, 9000, 1460},
		{tu6, 536, 1220}, {tu6, 1220, 1220}, {tu6, 1419, 1220}, {tu6, 1420, 1420},
		{tu6, 1440, 1440}, {tu6, 8939, 1440}, {tu6, 8940, 8940}, {tu6, 65535, 8940},
	} {
		isn, got := st.cookieISN(at, tt.t, 777, tt.mss)
		if got != tt.want {
			t.Errorf("%v MSS %d: cookie holds %d, want %d", tt.t.Local.Addr(), tt.mss, got, tt.want)
		}
		ack := tcp.Segment{Seq: 778, Ack: isn + 1, Flags: wire.ACK}
		if mss, ok := st.cookieMSS(at, tt.t, &ack); !ok || mss != tt.want {
			t.Errorf("%v MSS %d: check gives %d, %v; want %d, true", tt.t.Local.Addr(), tt.mss, mss, ok, tt.want)
		}
	}
	isn, _ := st.cookieISN(at, tu, 777, 1460)
	other := tu
	other.Remote = ap(addrX, 40001)
	for _, tt := range []struct {
		name string
		at   clock.Instant
		t    Tuple
		seq  seq.Value
		ack  seq.Value
		ok   bool
	}{
		{"at once", at, tu, 778, isn + 1, true},
		{"at the end of its own period", clock.Instant(1019999 * time.Millisecond), tu, 778, isn + 1, true},
		{"in the next period", clock.Instant(1079999 * time.Millisecond), tu, 778, isn + 1, true},
		{"two periods later", clock.Instant(1080 * time.Second), tu, 778, isn + 1, false},
		{"from the future (a period before it was made)", clock.Instant(959 * time.Second), tu, 778, isn + 1, false},
		{"another 4-tuple", at, other, 778, isn + 1, false},
		// Linux's cookie ties the sequence number in loosely: one more
		// shifts the MSS index by one, so it takes a larger change to
		// leave the table.
		{"another sequence number", at, tu, 778 + 100, isn + 1, false},
		{"the cookie plus one", at, tu, 778, isn + 2, false},
	} {
		ack := tcp.Segment{Seq: tt.seq, Ack: tt.ack, Flags: wire.ACK}
		if _, ok := st.cookieMSS(tt.at, tt.t, &ack); ok != tt.ok {
			t.Errorf("%s: valid %v, want %v", tt.name, ok, tt.ok)
		}
	}
}

// synOpts is a Linux client's SYN options.
var synOpts = wire.Options{MSS: 1460, SACKPermitted: true, HasTimestamp: true, TSVal: 5000, HasWScale: true, WScale: 7}

// cookieRig is a lone stack on addrB whose listener's SYN queue (one
// place) is full, and the cookie SYN-ACK it sent to addrX:cport.
type cookieRig struct {
	st     *Stack
	obs    *recorder
	l      *Socket
	cport  uint16
	synack wire.Packet
}

func newCookieRig(t *testing.T, opts ...opt) *cookieRig {
	t.Helper()
	r := &cookieRig{cport: 2000}
	r.st, r.obs = newStack(t, opts...)
	r.l = r.st.NewSocket()
	wantErr(t, "bind", r.l.Bind(ap(addrB, port)), nil)
	wantErr(t, "listen", r.l.Listen(0, 0), nil) // a SYN queue of one (more than the backlog is full)
	r.st.HandlePacket(0, synFrom(t, 1000, 100)) // the half-open connection that fills the queue
	drain(t, r.st, 0)
	syn := segment(ap(addrX, r.cport), ap(addrB, port), wire.SYN, 4000, 0, "")
	syn.TCP.Options = synOpts
	r.st.HandlePacket(0, build(t, syn))
	out := drain(t, r.st, 0)
	if len(out) != 1 || out[0].TCP.Flags != wire.SYN|wire.ACK || r.st.Counters().SyncookiesSent != 1 {
		t.Fatalf("replies %v, SyncookiesSent %d; want one cookie SYN-ACK", out, r.st.Counters().SyncookiesSent)
	}
	r.synack = out[0]
	return r
}

// ack is the client's answer to the cookie SYN-ACK, sent at now.
func (r *cookieRig) ack(now clock.Instant, payload string) wire.Packet {
	p := segment(ap(addrX, r.cport), ap(addrB, port), wire.ACK, 4001, r.synack.TCP.Seq+1, payload)
	p.TCP.Options = wire.Options{HasTimestamp: true, TSVal: 5000 + uint32(now.Millis()), TSEcr: r.synack.TCP.Options.TSVal}
	return p
}

// TestSynCookieACK: the ACK that returns a valid cookie makes an
// ESTABLISHED connection with the options the cookie kept, and anything
// else draws the listener's RST, counted as Linux counts it.
func TestSynCookieACK(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts []opt
		// prepare, if set, runs on the rig before the ACK; at is when the
		// ACK arrives.
		prepare      func(t *testing.T, r *cookieRig)
		at           clock.Instant
		ack          func(r *cookieRig, p *wire.Packet)
		established  bool
		rst          bool
		recv, failed uint64
	}{
		{name: "the cookie: ESTABLISHED, queued for accept",
			established: true, recv: 1},
		{name: "the cookie with data: the data is received",
			ack:         func(r *cookieRig, p *wire.Packet) { p.Payload = []byte("hello"); p.TCP.Flags |= wire.PSH },
			established: true, recv: 1},
		{name: "the cookie in the next period, the overflow still recent: still good",
			prepare: func(t *testing.T, r *cookieRig) {
				r.st.HandlePacket(clockAt(100_000), synFrom(t, 1001, 100)) // overflows again at 100 s
				drain(t, r.st, clockAt(100_000))
			},
			at: clockAt(110_000), established: true, recv: 1},
		{name: "the cookie two periods later, the overflow still recent: too old (MAX_SYNCOOKIE_AGE)",
			prepare: func(t *testing.T, r *cookieRig) {
				r.st.HandlePacket(clockAt(100_000), synFrom(t, 1001, 100))
				drain(t, r.st, clockAt(100_000))
			},
			at: clockAt(120_000), rst: true, failed: 1},
		{name: "no overflow for 120 s: an ACK is not checked as a cookie at all (tcp_synq_no_recent_overflow)",
			at: clockAt(120_001), rst: true},
		{name: "an ACK that is not the cookie: SyncookiesFailed and RST",
			ack: func(r *cookieRig, p *wire.Packet) { p.TCP.Ack++ }, rst: true, failed: 1},
		{name: "the cookie from another port: SyncookiesFailed and RST",
			ack: func(r *cookieRig, p *wire.Packet) { p.TCP.SrcPort++ }, rst: true, failed: 1},
		{name: "a valid cookie asking for SACK, which we do not do: RST after SyncookiesRecv (cookie_timestamp_decode)",
			opts: []opt{func(o *Options) { o.TCP.SACK = false }},
			// The low bits 7 (the scale) become 0x17: SACK too.
			ack: func(r *cookieRig, p *wire.Packet) { p.TCP.Options.TSEcr += 1 << 4 }, rst: true, recv: 1},
		{name: "a RST that carries the cookie is ignored",
			ack: func(r *cookieRig, p *wire.Packet) { p.TCP.Flags |= wire.RST }},
		{name: "tcp_syncookies=0: no ACK is a cookie",
			prepare: func(t *testing.T, r *cookieRig) { r.st.opts.SynCookies = 0 },
			rst:     true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newCookieRig(t, tt.opts...)
			if tt.prepare != nil {
				tt.prepare(t, r)
			}
			before := r.st.Counters()
			p := r.ack(tt.at, "")
			if tt.ack != nil {
				tt.ack(r, &p)
			}
			r.st.HandlePacket(tt.at, build(t, p))
			out := drain(t, r.st, tt.at)
			c := r.st.Counters()
			if c.SyncookiesRecv-before.SyncookiesRecv != tt.recv || c.SyncookiesFailed-before.SyncookiesFailed != tt.failed {
				t.Errorf("SyncookiesRecv +%d, SyncookiesFailed +%d; want +%d, +%d",
					c.SyncookiesRecv-before.SyncookiesRecv, c.SyncookiesFailed-before.SyncookiesFailed, tt.recv, tt.failed)
			}
			switch {
			case tt.rst:
				if len(out) != 1 || out[0].TCP.Flags != wire.RST || out[0].TCP.Seq != p.TCP.Ack {
					t.Errorf("replies %v, want R seq %d (the ACK's ack)", out, p.TCP.Ack)
				}
			case tt.established && len(p.Payload) > 0:
				if len(out) != 1 || out[0].TCP.Flags != wire.ACK || out[0].TCP.Ack != 4001+uint32(len(p.Payload)) {
					t.Errorf("replies %v, want the ACK of the data", out)
				}
			default:
				if len(out) != 0 {
					t.Errorf("replies %v, want none", out)
				}
			}
			so, err := r.l.Accept()
			if !tt.established {
				if err == nil {
					t.Fatalf("accepted %v, want nothing", so.Remote())
				}
				return
			}
			if err != nil {
				t.Fatalf("accept: %v", err)
			}
			tu := Tuple{Local: ap(addrB, port), Remote: ap(addrX, r.cport)}
			if so.tuple != tu || so.State() != tcp.Established || c.PassiveOpens != 1 {
				t.Errorf("accepted %v in %v, PassiveOpens %d; want %v ESTABLISHED, 1", so.tuple, so.State(), c.PassiveOpens, tu)
			}
			if cn := so.Conn(); cn.MSS() != 1460-12 || cn.ISS() != seq.Value(r.synack.TCP.Seq) || cn.IRS() != 4000 {
				t.Errorf("MSS %d ISS %d IRS %d; want 1448 %d 4000", cn.MSS(), cn.ISS(), cn.IRS(), r.synack.TCP.Seq)
			}
			buf := make([]byte, 100)
			if n, _ := so.Read(tt.at, buf); string(buf[:n]) != string(p.Payload) {
				t.Errorf("read %q, want %q", buf[:n], p.Payload)
			}
			if r.l.synRcvd != 1 {
				t.Errorf("SYN queue holds %d, want 1 (only the first SYN's)", r.l.synRcvd)
			}
		})
	}
}

// TestSynCookieHandshake: a real client completes the handshake through a
// cookie and exchanges data both ways, whatever options it has; the
// cookie SYN-ACK offers window scaling and SACK only with timestamps.
func TestSynCookieHandshake(t *testing.T) {
	for _, tt := range []struct {
		name    string
		cookies int  // B's tcp_syncookies
		fill    bool // fill B's SYN queue first
		client  func(*tcp.Config)
		synack  wire.Options // the SYN-ACK's options, TSval and TSecr aside
		mss     int          // the server's send MSS
		sent    uint64       // SyncookiesSent
	}{
		{name: "SYN queue full: a cookie with every option", cookies: 1, fill: true,
			synack: wire.Options{MSS: 1460, SACKPermitted: true, HasTimestamp: true, HasWScale: true, WScale: 7}, mss: 1448, sent: 1},
		{name: "SYN queue not full: no cookie", cookies: 1,
			synack: wire.Options{MSS: 1460, SACKPermitted: true, HasTimestamp: true, HasWScale: true, WScale: 7}, mss: 1448},
		{name: "tcp_syncookies=2: a cookie for every SYN", cookies: 2,
			synack: wire.Options{MSS: 1460, SACKPermitted: true, HasTimestamp: true, HasWScale: true, WScale: 7}, mss: 1448, sent: 1},
		{name: "a client without timestamps: no window scaling, no SACK", cookies: 1, fill: true,
			client: func(c *tcp.Config) { c.Timestamps = false },
			synack: wire.Options{MSS: 1460}, mss: 1460, sent: 1},
		{name: "a client without window scaling or SACK", cookies: 1, fill: true,
			client: func(c *tcp.Config) { c.WScale, c.SACK, c.RcvBuf = -1, false, 65535 },
			synack: wire.Options{MSS: 1460, HasTimestamp: true}, mss: 1448, sent: 1},
		{name: "a client MSS of 1400 is kept as 1300 (msstab)", cookies: 1, fill: true,
			client: func(c *tcp.Config) { c.MSS = 1400 },
			synack: wire.Options{MSS: 1460, SACKPermitted: true, HasTimestamp: true, HasWScale: true, WScale: 7}, mss: 1300 - 12, sent: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			a := f.add("A", []netip.Addr{addrA}, func(o *Options) {
				if tt.client != nil {
					tt.client(&o.TCP)
				}
			})
			b := f.add("B", []netip.Addr{addrB}, func(o *Options) { o.SynCookies = tt.cookies })
			l := f.listen(b, port, 0) // a SYN queue of one
			if tt.fill {
				f.deliver(b, synFrom(t, 1000, 100))
			}
			mark := f.now
			client, server := f.connect(a, b, l)
			synacks := f.sent("B", exactFlags(wire.SYN|wire.ACK))
			if len(synacks) == 0 || synacks[len(synacks)-1].at < mark {
				t.Fatal("no SYN-ACK to A")
			}
			got := synacks[len(synacks)-1].p.TCP.Options
			got.TSVal, got.TSEcr = 0, 0
			if got != tt.synack {
				t.Errorf("SYN-ACK options %+v, want %+v", got, tt.synack)
			}
			c := b.st.Counters()
			if c.SyncookiesSent != tt.sent || c.SyncookiesRecv != tt.sent || c.PassiveOpens != 1 || c.ListenDrops != 0 {
				t.Errorf("B: SyncookiesSent %d Recv %d PassiveOpens %d ListenDrops %d; want %d %d 1 0",
					c.SyncookiesSent, c.SyncookiesRecv, c.PassiveOpens, c.ListenDrops, tt.sent, tt.sent)
			}
			if m := server.Conn().MSS(); m != tt.mss {
				t.Errorf("server MSS %d, want %d", m, tt.mss)
			}
			exchange(t, f, client, server, 100_000)
			exchange(t, f, server, client, 100_000)
		})
	}
}

// exchange sends n patterned bytes from one socket to the other and checks
// that they arrive whole and in order.
func exchange(t *testing.T, f *fixture, from, to *Socket, n int) {
	t.Helper()
	want := make([]byte, n)
	for i := range want {
		want[i] = byte(i*7 + i>>8)
	}
	var got []byte
	buf := make([]byte, 65536)
	sent := 0
	for deadline := f.now.Add(30 * time.Second); len(got) < n; {
		if f.now > deadline {
			t.Fatalf("%d of %d bytes arrived in 30 s", len(got), n)
		}
		if sent < n {
			k, _ := from.Write(f.now, want[sent:])
			sent += k
		}
		f.run(time.Millisecond)
		for {
			k, err := to.Read(f.now, buf)
			got = append(got, buf[:k]...)
			if k == 0 || err != nil {
				break
			}
		}
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("received bytes differ from those sent")
	}
}

// TestSynCookieAcceptQueueFull: a cookie's ACK that finds the accept queue
// full is dropped without a word (ListenOverflows, ListenDrops): the client
// believes it is connected; its next segment, here data, returns the
// cookie again and makes the connection once Accept made room.
func TestSynCookieAcceptQueueFull(t *testing.T) {
	f, a, b := pair(t, func(o *Options) { o.SynCookies = 2 })
	l := f.listen(b, port, 0) // the accept queue holds one connection
	c1, c2 := f.dial(a, b, port, 0), f.dial(a, b, port, 0)
	f.run(10 * time.Millisecond)
	if c1.State() != tcp.Established || c2.State() != tcp.Established {
		t.Fatalf("clients %v %v, want both ESTABLISHED", c1.State(), c2.State())
	}
	c := b.st.Counters()
	if c.SyncookiesSent != 2 || c.SyncookiesRecv != 2 || c.ListenOverflows != 1 || c.ListenDrops != 1 || c.PassiveOpens != 1 || c.OutRsts != 0 {
		t.Fatalf("B: %+v; want 2 cookies sent and returned, 1 overflow, 1 passive open, no RST", c)
	}
	s1, err := l.Accept()
	if err != nil || s1.Remote() != c1.Local() {
		t.Fatalf("accept: %v, %v; want the first client", err, s1)
	}
	if _, err := c2.Write(f.now, []byte("late")); err != nil {
		t.Fatal(err)
	}
	f.run(10 * time.Millisecond)
	s2, err := l.Accept()
	if err != nil {
		t.Fatalf("second accept: %v", err)
	}
	buf := make([]byte, 10)
	if n, _ := s2.Read(f.now, buf); string(buf[:n]) != "late" {
		t.Errorf("second connection read %q, want \"late\"", buf[:n])
	}
	if c := b.st.Counters(); c.SyncookiesRecv != 3 || c.PassiveOpens != 2 {
		t.Errorf("SyncookiesRecv %d PassiveOpens %d, want 3 2", c.SyncookiesRecv, c.PassiveOpens)
	}
}

// TestSynCookieNoAlloc: answering a SYN with a cookie allocates nothing.
func TestSynCookieNoAlloc(t *testing.T) {
	st, err := New(DefaultOptions(addrB), nil)
	if err != nil {
		t.Fatal(err)
	}
	st.opts.SynCookies = 2
	l := st.NewSocket()
	wantErr(t, "bind", l.Bind(ap(addrB, port)), nil)
	wantErr(t, "listen", l.Listen(0, 10), nil)
	syn := segment(ap(addrX, 3000), ap(addrB, port), wire.SYN, 1, 0, "")
	syn.TCP.Options = synOpts
	raw := build(t, syn)
	buf := make([]byte, 1500)
	now := clockAt(1)
	allocs := testing.AllocsPerRun(1000, func() {
		st.HandlePacket(now, raw)
		if st.PollPacket(now, buf) == 0 || st.PollPacket(now, buf) != 0 {
			t.Fatal("want exactly one SYN-ACK")
		}
	})
	if allocs != 0 || st.Counters().SyncookiesSent < 1000 {
		t.Errorf("%v allocations per cookie SYN-ACK, SyncookiesSent %d; want 0, 1001", allocs, st.Counters().SyncookiesSent)
	}
}

// TestSynCookieIPv6: over IPv6 the cookie keeps the MSS in Linux's IPv6
// table: a client MSS of 1400 is kept as 1220 (IPv4's table would keep
// 1300).
func TestSynCookieIPv6(t *testing.T) {
	f := newFixture(t)
	a := f.add("A", []netip.Addr{netip.MustParseAddr("fd00::1")}, func(o *Options) { o.TCP.MSS = 1400 })
	b := f.add("B", []netip.Addr{netip.MustParseAddr("fd00::2")}, func(o *Options) { o.SynCookies = 2 })
	client, server := f.connect(a, b, f.listen(b, port, 8))
	if c := b.st.Counters(); c.SyncookiesSent != 1 || c.SyncookiesRecv != 1 {
		t.Fatalf("SyncookiesSent %d Recv %d, want 1 1", c.SyncookiesSent, c.SyncookiesRecv)
	}
	if m := server.Conn().MSS(); m != 1220-12 {
		t.Errorf("server MSS %d, want 1208 (1220 less the timestamps)", m)
	}
	exchange(t, f, client, server, 50_000)
	exchange(t, f, server, client, 50_000)
}
