package stack

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/wire"
)

// synSeq connects a fresh stack with opts from local port lport to remote
// at now and returns its SYN's sequence number.
func synSeq(t *testing.T, now clock.Instant, lport uint16, remote netip.AddrPort, opts ...opt) uint32 {
	t.Helper()
	o := DefaultOptions(addrA)
	copy(o.ISNKey[:], "key")
	for _, fn := range opts {
		fn(&o)
	}
	st, err := New(o, nil)
	if err != nil {
		t.Fatal(err)
	}
	so := st.NewSocket()
	if err := so.Bind(ap(addrA, lport)); err != nil {
		t.Fatal(err)
	}
	if err := so.Connect(now, remote); err != nil {
		t.Fatal(err)
	}
	out := drain(t, st, now)
	if len(out) != 1 || out[0].TCP.Flags != wire.SYN {
		t.Fatalf("sent %v, want one SYN", out)
	}
	return out[0].TCP.Seq
}

// TestISN is RFC 6528: ISN = M + F(4-tuple, secret), M a 4 µs clock.
func TestISN(t *testing.T) {
	const t0 = clock.Instant(12345 * time.Millisecond)
	base := synSeq(t, t0, 5000, ap(addrB, 80))
	// Different 4-tuples, same instant: different ISNs.
	others := map[string]uint32{
		"local port":  synSeq(t, t0, 5001, ap(addrB, 80)),
		"remote port": synSeq(t, t0, 5000, ap(addrB, 81)),
		"remote addr": synSeq(t, t0, 5000, ap(addrC, 80)),
		"secret":      synSeq(t, t0, 5000, ap(addrB, 80), func(o *Options) { o.ISNKey[0] ^= 1 }),
	}
	for what, isn := range others {
		if isn == base {
			t.Errorf("another %s gives the same ISN %d", what, isn)
		}
	}
	// Same tuple and secret: the ISN is a function of time alone, and grows
	// by one every 4 µs.
	if again := synSeq(t, t0, 5000, ap(addrB, 80)); again != base {
		t.Errorf("same tuple, same instant: ISN %d then %d", base, again)
	}
	for _, d := range []time.Duration{4 * time.Microsecond, 3 * time.Microsecond, 4 * time.Millisecond, time.Hour} {
		got := synSeq(t, t0.Add(d), 5000, ap(addrB, 80))
		if want := base + uint32(d/(4*time.Microsecond)); got != want {
			t.Errorf("ISN %v later: %d, want %d (+%d)", d, got, want, d/(4*time.Microsecond))
		}
	}
}

// TestISNOverride: Options.ISN replaces the generator on both ends, and is
// told the instant and the connection's 4-tuple.
func TestISNOverride(t *testing.T) {
	type call struct {
		now clock.Instant
		t   Tuple
	}
	var calls []call
	f, a, b := pair(t, func(o *Options) {
		o.ISN = func(now clock.Instant, t Tuple) uint32 {
			calls = append(calls, call{now, t})
			return 0xfffffff0 + uint32(len(calls))
		}
	})
	f.now = clock.Instant(time.Second)
	l := f.listen(b, port, 8)
	c, _ := f.connect(a, b, l)
	syn := f.sent("A", exactFlags(wire.SYN))
	synack := f.sent("B", exactFlags(wire.SYN|wire.ACK))
	if len(syn) != 1 || len(synack) != 1 {
		t.Fatalf("%d SYNs, %d SYN-ACKs", len(syn), len(synack))
	}
	// Both stacks share the generator above: A draws first, then B.
	if syn[0].p.TCP.Seq != 0xfffffff1 || synack[0].p.TCP.Seq != 0xfffffff2 {
		t.Errorf("ISNs %#x and %#x, want 0xfffffff1 and 0xfffffff2", syn[0].p.TCP.Seq, synack[0].p.TCP.Seq)
	}
	want := []call{
		{clock.Instant(time.Second), Tuple{c.Local(), c.Remote()}},
		{clock.Instant(time.Second + time.Millisecond), Tuple{c.Remote(), c.Local()}},
	}
	if len(calls) != 2 || calls[0] != want[0] || calls[1] != want[1] {
		t.Errorf("ISN called with %+v, want %+v", calls, want)
	}
}

// TestValidate: New refuses options that make no sense.
func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(o *Options)
		want string // a fragment of the error; "" for none
	}{
		{"defaults", func(o *Options) {}, ""},
		{"one-port ephemeral range", func(o *Options) { o.EphemeralLow, o.EphemeralHigh = 5000, 5000 }, ""},
		{"no address", func(o *Options) { o.Addrs = nil }, "no local address"},
		{"unspecified address", func(o *Options) { o.Addrs = []netip.Addr{netip.IPv4Unspecified()} }, "bad local address"},
		{"invalid address", func(o *Options) { o.Addrs = []netip.Addr{addrA, {}} }, "bad local address"},
		{"ephemeral low 0", func(o *Options) { o.EphemeralLow = 0 }, "ephemeral range"},
		{"ephemeral range inverted", func(o *Options) { o.EphemeralLow, o.EphemeralHigh = 6000, 5000 }, "ephemeral range"},
		{"SomaxConn 0", func(o *Options) { o.SomaxConn = 0 }, "SomaxConn"},
		{"MaxSynBacklog 0", func(o *Options) { o.MaxSynBacklog = 0 }, "MaxSynBacklog"},
		{"MTU too small", func(o *Options) { o.MTU = 100 }, "MTU"},
		{"MTU too large", func(o *Options) { o.MTU = 70000 }, "MTU"},
		{"bad TCP config", func(o *Options) { o.TCP.MSS = 10 }, "MSS"},
		{"MinSndMSS below tcp_min_snd_mss's least value", func(o *Options) { o.TCP.MinSndMSS = 47 }, "MinSndMSS"},
		{"MinSndMSS above the MSS", func(o *Options) { o.TCP.MinSndMSS = 1461 }, "MinSndMSS"},
		{"MinSndMSS 0 means 48", func(o *Options) { o.TCP.MinSndMSS = 0 }, ""},
		{"TWReuse 0, 1 and 2 are tcp_tw_reuse's values", func(o *Options) { o.TWReuse = 1 }, ""},
		{"TWReuse 3", func(o *Options) { o.TWReuse = 3 }, "TWReuse"},
		{"TWReuse -1", func(o *Options) { o.TWReuse = -1 }, "TWReuse"},
		{"negative TWReuseDelay", func(o *Options) { o.TWReuseDelay = -1 }, "TWReuseDelay"},
		{"negative RmemMax", func(o *Options) { o.RmemMax = -1 }, "RmemMax"},
		{"WmemMax past 1 GiB", func(o *Options) { o.WmemMax = 1<<30 + 1 }, "WmemMax"},
		{"RmemMax 0", func(o *Options) { o.RmemMax = 0 }, ""},
		{"negative TIME_WAIT", func(o *Options) { o.TCP.TimeWait = -1 }, "TimeWait"},
		{"SynCookies 0, 1 and 2 are tcp_syncookies' values", func(o *Options) { o.SynCookies = 2 }, ""},
		{"SynCookies 3", func(o *Options) { o.SynCookies = 3 }, "SynCookies"},
		{"SynCookies -1", func(o *Options) { o.SynCookies = -1 }, "SynCookies"},
		{"MaxTimeWait 0 keeps no TIME_WAIT", func(o *Options) { o.MaxTimeWait = 0 }, ""},
		{"negative MaxTimeWait", func(o *Options) { o.MaxTimeWait = -1 }, "MaxTimeWait"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := DefaultOptions(addrA)
			tt.mod(&o)
			err := o.Validate()
			_, newErr := New(o, nil)
			switch {
			case tt.want == "" && (err != nil || newErr != nil):
				t.Errorf("Validate %v, New %v; want no error", err, newErr)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate %v, want an error about %q", err, tt.want)
			case tt.want != "" && newErr == nil:
				t.Errorf("New accepted bad options")
			}
		})
	}
	// New copies the addresses: changing the caller's slice changes nothing.
	o := DefaultOptions(addrA)
	st, err := New(o, nil)
	if err != nil {
		t.Fatal(err)
	}
	o.Addrs[0] = addrX
	if !st.hasAddr(addrA) || st.hasAddr(addrX) {
		t.Error("New kept the caller's address slice")
	}
}

// TestNewDefaults: the options this package added for hostile networks
// start at Linux's values: SYN cookies only when the SYN queue overflows
// (tcp_syncookies=1) and tcp_max_tw_buckets 262144.
func TestNewDefaults(t *testing.T) {
	if o := DefaultOptions(addrA); o.SynCookies != 1 || o.MaxTimeWait != 262144 {
		t.Errorf("SynCookies %d, MaxTimeWait %d; want 1, 262144", o.SynCookies, o.MaxTimeWait)
	}
}
