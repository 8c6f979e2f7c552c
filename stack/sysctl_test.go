package stack

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/tcp"
)

// TestSetOptions checks what a running stack lets change (the TCP
// settings, which the connections share, and the table limits) and what
// it refuses, leaving the options as they were.
func TestSetOptions(t *testing.T) {
	addr := netip.MustParseAddr("10.0.0.1")
	tests := []struct {
		name   string
		change func(o *Options)
		err    string // a part of the error, "" when accepted
	}{
		{"fin timeout", func(o *Options) { o.TCP.FinTimeout = 5 * time.Second }, ""},
		{"timestamps off", func(o *Options) { o.TCP.Timestamps = false }, ""},
		{"rmem default", func(o *Options) { o.TCP.RmemDefault = 540000; o.TCP.RcvBuf = 270000 }, ""},
		{"somaxconn", func(o *Options) { o.SomaxConn = 16 }, ""},
		{"out of range", func(o *Options) { o.TWReuse = 3 }, "TWReuse"},
		{"mtu", func(o *Options) { o.MTU = 1400 }, "MTU"},
		{"mss", func(o *Options) { o.TCP.MSS = 1000 }, "MSS"},
		{"gso max size", func(o *Options) { o.GSOMaxSize = 65535 }, "GSOMaxSize"},
		{"partial checksum", func(o *Options) { o.PartialChecksum = !o.PartialChecksum }, "PartialChecksum"},
		{"port range", func(o *Options) { o.EphemeralLow = 40000 }, "port range"},
		{"addresses", func(o *Options) { o.Addrs = []netip.Addr{netip.MustParseAddr("10.0.0.2")} }, "addresses"},
		{"isn key", func(o *Options) { o.ISNKey[0]++ }, "ISN key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(DefaultOptions(addr), nil)
			if err != nil {
				t.Fatal(err)
			}
			before := *s.Options()
			cfg := s.tcpConfig(addr) // what connections point to
			o := *s.Options()
			tc.change(&o)
			err = s.SetOptions(o)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("SetOptions = %v, want an error with %q", err, tc.err)
				}
				if s.Options().TCP != before.TCP || s.Options().SomaxConn != before.SomaxConn {
					t.Fatal("a refused change changed the options")
				}
				return
			}
			if err != nil {
				t.Fatalf("SetOptions = %v", err)
			}
			want := o.TCP
			want.MSS = cfg.MSS
			if *cfg != want {
				t.Fatalf("the connections' config is %+v, want %+v", *cfg, want)
			}
			// IPv6 connections keep their own clamps (MSS, the default
			// peer MSS of 1220) through the change.
			v6 := s.tcpConfig(netip.MustParseAddr("fd00::1"))
			if v6.DefaultMSS != tcp.IPv6MinMSS || v6.MSS != uint16(o.MTU-40-20) {
				t.Fatalf("IPv6 MSS %d, default MSS %d after SetOptions, want %d and %d", v6.MSS, v6.DefaultMSS, o.MTU-40-20, tcp.IPv6MinMSS)
			}
			if s.Options().SomaxConn != o.SomaxConn {
				t.Fatalf("SomaxConn %d, want %d", s.Options().SomaxConn, o.SomaxConn)
			}
		})
	}
}

// TestSetOptionsLowersMaxTimeWait lowers MaxTimeWait below the TIME_WAIT
// records a running stack holds, as writing a smaller tcp_max_tw_buckets
// does on Linux: the records stay, no new one is made while they are
// over the limit, and the stack's invariants hold throughout.
func TestSetOptionsLowersMaxTimeWait(t *testing.T) {
	for _, limit := range []int{0, 1} {
		t.Run(fmt.Sprint("limit ", limit), func(t *testing.T) {
			r := newInvariantRig(t)
			o := *r.a.st.Options()
			o.MaxTimeWait = limit
			if err := r.a.st.SetOptions(o); err != nil {
				t.Fatal(err)
			}
			if err := r.a.st.CheckInvariants(); err != nil {
				t.Fatalf("after SetOptions: %v", err)
			}
			c, s := r.f.connect(r.a, r.b, r.l)
			r.f.closeBoth(c, s)
			if n := r.a.st.tw.len(); n != 1 {
				t.Fatalf("A holds %d TIME_WAIT records, want the 1 it kept", n)
			}
			if got := r.a.st.Counters().TCPTimeWaitOverflow; got != 1 {
				t.Fatalf("TCPTimeWaitOverflow %d, want 1", got)
			}
			if err := r.a.st.CheckInvariants(); err != nil {
				t.Fatalf("after a connection closed: %v", err)
			}
		})
	}
}
