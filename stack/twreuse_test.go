package stack

import (
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/tcp"
	"github.com/tcpwave/tcpwave/wire"
)

// twReuseRig makes a TIME_WAIT record on the client A of a pair whose
// port range is one port, with or without timestamps, and waits age.
func twReuseRig(t *testing.T, ts bool, age time.Duration, addrs [2]netip.Addr, opts ...opt) (*fixture, *node, *node, Tuple) {
	t.Helper()
	opts = append([]opt{func(o *Options) {
		o.EphemeralLow, o.EphemeralHigh = 40000, 40000
		o.TCP.Timestamps = ts
		o.RouteLocalnet = addrs[0].IsLoopback()
	}}, opts...)
	f := newFixture(t)
	a := f.add("A", []netip.Addr{addrs[0]}, opts...)
	b := f.add("B", []netip.Addr{addrs[1]}, opts...)
	l := f.listen(b, port, 4)
	cli := a.st.NewSocket()
	cli.SetReuseAddr(true) // for TestTWReuseBound's bind(); connect() does not look at it
	if err := cli.Connect(f.now, ap(addrs[1], port)); err != nil {
		t.Fatalf("connect: %v", err)
	}
	f.run(10 * time.Millisecond)
	srv, err := l.Accept()
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	tu := Tuple{Local: cli.Local(), Remote: cli.Remote()}
	f.closeBoth(cli, srv)
	if a.st.findTimeWait(tu) == 0 {
		t.Fatalf("A has no TIME_WAIT record for %v", tu)
	}
	f.run(age)
	return f, a, b, tu
}

// TestTWReuse is tcp_tw_reuse (Options.TWReuse): connect() takes over
// the 4-tuple of a TIME_WAIT record that has timestamps and is more than
// TWReuseDelay (1 s) old when TWReuse is 1, or 2 on a loopback address;
// its SYN then starts at the record's SND.NXT + 65537 and echoes the
// record's TS.Recent, the record is gone and TWRecycled counts it (Linux
// tcp_twsk_unique, __inet_check_established). Otherwise the one-port
// range is used up: EADDRNOTAVAIL.
func TestTWReuse(t *testing.T) {
	plain := [2]netip.Addr{addrA, addrB}
	loop := [2]netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")}
	tests := []struct {
		name  string
		reuse int
		ts    bool
		age   time.Duration
		addrs [2]netip.Addr
		want  error
	}{
		{"reuse 1", 1, true, 2 * time.Second, plain, nil},
		{"reuse 1, record 0.5 s old", 1, true, 500 * time.Millisecond, plain, syscall.EADDRNOTAVAIL},
		{"reuse 1, no timestamps", 1, false, 2 * time.Second, plain, syscall.EADDRNOTAVAIL},
		{"reuse 0", 0, true, 2 * time.Second, plain, syscall.EADDRNOTAVAIL},
		{"reuse 2, not loopback", 2, true, 2 * time.Second, plain, syscall.EADDRNOTAVAIL},
		{"reuse 2, loopback", 2, true, 2 * time.Second, loop, nil},
		{"reuse 0, loopback", 0, true, 2 * time.Second, loop, syscall.EADDRNOTAVAIL},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, a, _, tu := twReuseRig(t, tc.ts, tc.age, tc.addrs, func(o *Options) { o.TWReuse = tc.reuse })
			rec := *a.st.tw.at(a.st.findTimeWait(tu))
			so := a.st.NewSocket()
			err := so.Connect(f.now, tu.Remote)
			wantErr(t, "connect to the TIME_WAIT record's peer", err, tc.want)
			recycled := a.st.Counters().TWRecycled
			if err != nil {
				if a.st.findTimeWait(tu) == 0 || recycled != 0 {
					t.Errorf("record gone (%v) or TWRecycled %d after a failed connect", a.st.findTimeWait(tu) == 0, recycled)
				}
				return
			}
			if so.Local() != tu.Local || a.st.findTimeWait(tu) != 0 || recycled != 1 {
				t.Errorf("local %v (want %v), record still there: %v, TWRecycled %d (want 1)", so.Local(), tu.Local, a.st.findTimeWait(tu) != 0, recycled)
			}
			f.run(10 * time.Millisecond)
			syns := f.sent("A", exactFlags(wire.SYN))
			syn := syns[len(syns)-1].p
			if want := uint32(rec.sndNxt) + 65537; syn.TCP.Seq != want {
				t.Errorf("SYN seq %d, want the record's SND.NXT %d + 65537 = %d", syn.TCP.Seq, rec.sndNxt, want)
			}
			if syn.TCP.Options.TSEcr != rec.tsRecent {
				t.Errorf("SYN TSecr %d, want the record's TS.Recent %d", syn.TCP.Options.TSEcr, rec.tsRecent)
			}
			if st := so.State(); st != tcp.Established {
				t.Errorf("new connection in %v, want ESTABLISHED", st)
			}
		})
	}
}

// TestTWReuseOff: with tcp_tw_reuse 0 connect() passes over a TIME_WAIT
// record's 4-tuple for another port, however old the record.
func TestTWReuseOff(t *testing.T) {
	f, a, _, tu := twReuseRig(t, true, 2*time.Second, [2]netip.Addr{addrA, addrB}, func(o *Options) {
		o.TWReuse = 0
		o.EphemeralHigh = o.EphemeralLow + 1
	})
	so := a.st.NewSocket()
	wantErr(t, "connect", so.Connect(f.now, tu.Remote), nil)
	if so.Local() == tu.Local || a.st.findTimeWait(tu) == 0 || a.st.Counters().TWRecycled != 0 {
		t.Errorf("connect took %v over the record of %v", so.Local(), tu.Local)
	}
}

// TestTWReuseBound: a socket bound by bind() to a TIME_WAIT record's
// local address and port takes the record over on connect() whatever
// tcp_tw_reuse says and however young the record, if it has timestamps
// (Linux's __inet_hash_connect checks a bound port with
// __inet_check_established and no twp); without them EADDRNOTAVAIL.
func TestTWReuseBound(t *testing.T) {
	for _, ts := range []bool{true, false} {
		f, a, _, tu := twReuseRig(t, ts, 0, [2]netip.Addr{addrA, addrB}, func(o *Options) { o.TWReuse = 0 })
		so := a.st.NewSocket()
		so.SetReuseAddr(true)
		wantErr(t, "bind with SO_REUSEADDR", so.Bind(tu.Local), nil)
		var want error
		if !ts {
			want = syscall.EADDRNOTAVAIL
		}
		wantErr(t, "connect", so.Connect(f.now, tu.Remote), want)
		if got := a.st.findTimeWait(tu) == 0; got != ts {
			t.Errorf("timestamps %v: record taken over: %v", ts, got)
		}
	}
}

// TestTWReuseBusyDestination: with a destination's ports all in TIME_WAIT
// records, connect() takes each record over in turn with TWReuse 1, also
// once the destination's ports are indexed (destPorts), and with TWReuse
// 0 finds no port at all.
func TestTWReuseBusyDestination(t *testing.T) {
	const lo, hi = 40000, 40299 // more than 2*hotAfter: a search of one parity indexes
	for _, reuse := range []int{0, 1} {
		f, a, b := pair(t, func(o *Options) {
			o.EphemeralLow, o.EphemeralHigh = lo, hi
			o.TWReuse = reuse
		})
		l := f.listen(b, port, 400)
		var clis []*Socket
		for range hi - lo + 1 {
			clis = append(clis, f.dial(a, b, port, 0))
		}
		f.run(10 * time.Millisecond)
		for _, c := range clis {
			c.Close(f.now)
		}
		f.run(50 * time.Millisecond)
		for {
			s, err := l.Accept()
			if err != nil {
				break
			}
			s.Close(f.now)
		}
		f.run(2 * time.Second)
		if n := a.st.tw.len(); n != hi-lo+1 {
			t.Fatalf("reuse %d: A has %d TIME_WAIT records, want %d", reuse, n, hi-lo+1)
		}
		want := 0
		if reuse == 1 {
			want = hi - lo + 1
		}
		ports, err := connectAll(t, a.st, f.now, ap(addrB, port), hi-lo+2)
		wantErr(t, "connect with every 4-tuple taken", err, syscall.EADDRNOTAVAIL)
		if a.st.hot[destOf(Tuple{Local: ap(addrA, 0), Remote: ap(addrB, port)})] == nil {
			t.Errorf("reuse %d: the destination's ports were not indexed: the test missed scanHot", reuse)
		}
		if len(ports) != want || a.st.Counters().TWRecycled != uint64(want) || a.st.tw.len() != hi-lo+1-want {
			t.Errorf("reuse %d: %d connects, TWRecycled %d, %d records left; want %d, %d, %d",
				reuse, len(ports), a.st.Counters().TWRecycled, a.st.tw.len(), want, want, hi-lo+1-want)
		}
	}
}
