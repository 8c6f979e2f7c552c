package stack

import (
	"net/netip"
	"syscall"
	"testing"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/tcp"
)

// connectAll connects new sockets of st to dst at now until one fails, and
// returns the ports they got and the error that stopped them (after at
// most limit).
func connectAll(t *testing.T, st *Stack, now clock.Instant, dst netip.AddrPort, limit int) (map[uint16]bool, error) {
	t.Helper()
	ports := map[uint16]bool{}
	for range limit {
		so := st.NewSocket()
		if err := so.Connect(now, dst); err != nil {
			return ports, err
		}
		p := so.Local().Port()
		if ports[p] {
			t.Fatalf("port %d given twice toward %v", p, dst)
		}
		ports[p] = true
	}
	return ports, nil
}

// TestConnectPortPerDestination: connect() reuses a port for another
// destination, and fails with EADDRNOTAVAIL once every port of the range
// is taken toward the same destination (Linux __inet_hash_connect), also
// with the index of a busy destination (more than hotAfter ports), and
// with an odd-sized range, whose last port Linux reaches only from some
// offsets.
func TestConnectPortPerDestination(t *testing.T) {
	tests := []struct {
		name   string
		lo, hi uint16
	}{
		{"one port", 40000, 40000},
		{"eight ports", 40000, 40007},
		{"five ports", 40000, 40004},
		{"300 ports (indexed)", 40000, 40299},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, _ := newStack(t, func(o *Options) { o.EphemeralLow, o.EphemeralHigh = tc.lo, tc.hi })
			size := int(tc.hi-tc.lo) + 1
			for _, dst := range []netip.AddrPort{ap(addrX, 80), ap(addrX, 81), ap(addrA, 80)} {
				ports, err := connectAll(t, st, 0, dst, size+1)
				wantErr(t, "connect with every port taken toward "+dst.String(), err, syscall.EADDRNOTAVAIL)
				if len(ports) != size {
					t.Errorf("toward %v: %d connections, want %d (one per port)", dst, len(ports), size)
				}
			}
			if n := len(st.conns); n != 3*size {
				t.Errorf("%d connections, want %d", n, 3*size)
			}
		})
	}
}

// TestConnectEvenPortsFirst: connect() takes the ports at even offsets
// from the range's low end before the odd ones, and bind() to port 0
// the odd ones first (Linux 4.6 and later: __inet_hash_connect and
// inet_csk_find_open_port).
func TestConnectEvenPortsFirst(t *testing.T) {
	const lo, hi = 40000, 40099
	st, _ := newStack(t, func(o *Options) { o.EphemeralLow, o.EphemeralHigh = lo, hi })
	ports, err := connectAll(t, st, 0, ap(addrX, 80), 50)
	wantErr(t, "50 connects", err, nil)
	for p := range ports {
		if (p-lo)%2 != 0 {
			t.Errorf("connect() took port %d, at an odd offset, with even ones free", p)
		}
	}
	b := st.NewSocket()
	wantErr(t, "bind port 0", b.Bind(ap(addrB, 0)), nil)
	if p := b.Local().Port(); (p-lo)%2 != 1 {
		t.Errorf("bind() to port 0 took port %d, want an odd offset", p)
	}
}

// TestConnectSkipsBoundPorts: connect() does not take a port that a
// socket holds through bind() or listen(), or that a listener's
// connection or its TIME_WAIT record holds, whatever the destination
// (Linux: the port's inet_bind_bucket has fastreuse >= 0), and takes one
// that connect() sockets hold toward other destinations.
func TestConnectSkipsBoundPorts(t *testing.T) {
	const lo, hi = 40000, 40003
	tests := []struct {
		name  string
		setup func(t *testing.T, f *fixture, a, b *node) // makes A hold port lo
	}{
		{"bind", func(t *testing.T, f *fixture, a, b *node) {
			wantErr(t, "bind", a.st.NewSocket().Bind(ap(addrA, lo)), nil)
		}},
		{"bind with SO_REUSEADDR", func(t *testing.T, f *fixture, a, b *node) {
			so := a.st.NewSocket()
			so.SetReuseAddr(true)
			wantErr(t, "bind", so.Bind(ap(addrA, lo)), nil)
		}},
		{"bind to the wildcard address", func(t *testing.T, f *fixture, a, b *node) {
			wantErr(t, "bind", a.st.NewSocket().Bind(ap(any4, lo)), nil)
		}},
		{"listen", func(t *testing.T, f *fixture, a, b *node) { f.listen(a, lo, 4) }},
		{"a listener's connection", func(t *testing.T, f *fixture, a, b *node) {
			l := f.listen(a, lo, 4)
			f.connect(b, a, l)
			l.Close(f.now)
		}},
		{"a listener's TIME_WAIT record", func(t *testing.T, f *fixture, a, b *node) {
			l := f.listen(a, lo, 4)
			cli, srv := f.connect(b, a, l)
			l.Close(f.now)
			f.closeBoth(srv, cli)
			if len(rowsOf(a, f.now, tcp.TimeWait)) != 1 {
				t.Fatalf("A has no TIME_WAIT record: %+v", a.st.Connections(f.now))
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, a, b := pair(t, func(o *Options) { o.EphemeralLow, o.EphemeralHigh = lo, hi })
			tc.setup(t, f, a, b)
			for _, dst := range []netip.AddrPort{ap(addrB, 80), ap(addrB, 81), ap(addrX, 80)} {
				ports, err := connectAll(t, a.st, f.now, dst, hi-lo+2)
				wantErr(t, "connect with the range taken toward "+dst.String(), err, syscall.EADDRNOTAVAIL)
				if ports[lo] || len(ports) != hi-lo {
					t.Errorf("toward %v: ports %v, want the %d ports but %d", dst, ports, hi-lo, lo)
				}
			}
		})
	}
}
