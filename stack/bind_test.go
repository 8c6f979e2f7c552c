package stack

import (
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/tcp"
)

// sockSpec describes a socket for the bind-rule tables.
type sockSpec struct {
	addr      netip.Addr
	port      uint16
	reuseAddr bool
	reusePort bool
	listen    bool
}

func (sp sockSpec) open(t *testing.T, st *Stack) (*Socket, error, error) {
	t.Helper()
	so := st.NewSocket()
	so.SetReuseAddr(sp.reuseAddr)
	so.SetReusePort(sp.reusePort)
	bindErr := so.Bind(netip.AddrPortFrom(sp.addr, sp.port))
	var listenErr error
	if bindErr == nil && sp.listen {
		listenErr = so.Listen(0, 16)
	}
	return so, bindErr, listenErr
}

var (
	any4 = netip.IPv4Unspecified()
	any6 = netip.IPv6Unspecified()
	v6B  = netip.MustParseAddr("2001:db8::2")
)

// TestBindRules is Linux's inet_bind_conflict for sockets that hold a port
// by bind or listen: overlapping addresses conflict unless both set
// SO_REUSEADDR and the holder is not listening, or both set SO_REUSEPORT.
func TestBindRules(t *testing.T) {
	tests := []struct {
		name      string
		holders   []sockSpec
		new       sockSpec
		bindErr   error
		listenErr error
	}{
		{"same address and port", []sockSpec{{addr: addrB, port: 80}},
			sockSpec{addr: addrB, port: 80}, syscall.EADDRINUSE, nil},
		{"same address, other port", []sockSpec{{addr: addrB, port: 80}},
			sockSpec{addr: addrB, port: 81, listen: true}, nil, nil},
		{"wildcard holder, specific new", []sockSpec{{addr: any4, port: 80}},
			sockSpec{addr: addrB, port: 80}, syscall.EADDRINUSE, nil},
		{"specific holder, wildcard new", []sockSpec{{addr: addrB, port: 80}},
			sockSpec{addr: any4, port: 80}, syscall.EADDRINUSE, nil},
		{"two specific addresses do not overlap", []sockSpec{{addr: addrB, port: 80, listen: true}},
			sockSpec{addr: addrC, port: 80, listen: true}, nil, nil},
		{"IPv4 and IPv6 wildcards do not overlap", []sockSpec{{addr: any4, port: 80, listen: true}},
			sockSpec{addr: any6, port: 80, listen: true}, nil, nil},
		{"IPv6 specific and IPv4 wildcard", []sockSpec{{addr: v6B, port: 80}},
			sockSpec{addr: any4, port: 80}, nil, nil},
		{"both SO_REUSEADDR, holder not listening", []sockSpec{{addr: addrB, port: 80, reuseAddr: true}},
			sockSpec{addr: addrB, port: 80, reuseAddr: true, listen: true}, nil, nil},
		{"both SO_REUSEADDR, wildcard holder not listening", []sockSpec{{addr: any4, port: 80, reuseAddr: true}},
			sockSpec{addr: addrB, port: 80, reuseAddr: true}, nil, nil},
		{"only the new socket sets SO_REUSEADDR", []sockSpec{{addr: addrB, port: 80}},
			sockSpec{addr: addrB, port: 80, reuseAddr: true}, syscall.EADDRINUSE, nil},
		{"only the holder sets SO_REUSEADDR", []sockSpec{{addr: addrB, port: 80, reuseAddr: true}},
			sockSpec{addr: addrB, port: 80}, syscall.EADDRINUSE, nil},
		{"listening holder wins over SO_REUSEADDR", []sockSpec{{addr: addrB, port: 80, reuseAddr: true, listen: true}},
			sockSpec{addr: addrB, port: 80, reuseAddr: true}, syscall.EADDRINUSE, nil},
		{"listening wildcard holder wins over SO_REUSEADDR", []sockSpec{{addr: any4, port: 80, reuseAddr: true, listen: true}},
			sockSpec{addr: addrB, port: 80, reuseAddr: true}, syscall.EADDRINUSE, nil},
		{"both SO_REUSEADDR, both bound, the second cannot listen too",
			[]sockSpec{{addr: addrB, port: 80, reuseAddr: true}, {addr: addrB, port: 80, reuseAddr: true, listen: true}},
			sockSpec{addr: addrB, port: 80, reuseAddr: true}, syscall.EADDRINUSE, nil},
		{"both SO_REUSEPORT, holder listening", []sockSpec{{addr: addrB, port: 80, reusePort: true, listen: true}},
			sockSpec{addr: addrB, port: 80, reusePort: true, listen: true}, nil, nil},
		{"only the holder sets SO_REUSEPORT", []sockSpec{{addr: addrB, port: 80, reusePort: true, listen: true}},
			sockSpec{addr: addrB, port: 80}, syscall.EADDRINUSE, nil},
		{"only the new socket sets SO_REUSEPORT", []sockSpec{{addr: addrB, port: 80, listen: true}},
			sockSpec{addr: addrB, port: 80, reusePort: true}, syscall.EADDRINUSE, nil},
		{"SO_REUSEPORT across wildcard and specific", []sockSpec{{addr: any4, port: 80, reusePort: true, listen: true}},
			sockSpec{addr: addrB, port: 80, reusePort: true, listen: true}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, _ := newStack(t, func(o *Options) { o.Addrs = []netip.Addr{addrB, addrC, v6B} })
			for i, h := range tt.holders {
				if _, be, le := h.open(t, st); be != nil || le != nil {
					t.Fatalf("holder %d: bind %v, listen %v", i, be, le)
				}
			}
			_, be, le := tt.new.open(t, st)
			wantErr(t, "bind", be, tt.bindErr)
			wantErr(t, "listen", le, tt.listenErr)
		})
	}
}

// TestBindSecondListenerOfReuseAddrPair: two SO_REUSEADDR sockets may both
// bind while neither listens; once one listens the other's listen fails
// (Linux re-checks the bind conflict in listen).
func TestBindSecondListenerOfReuseAddrPair(t *testing.T) {
	st, _ := newStack(t)
	a, b := st.NewSocket(), st.NewSocket()
	a.SetReuseAddr(true)
	b.SetReuseAddr(true)
	wantErr(t, "bind a", a.Bind(ap(addrB, 80)), nil)
	wantErr(t, "bind b", b.Bind(ap(addrB, 80)), nil)
	wantErr(t, "listen a", a.Listen(0, 8), nil)
	wantErr(t, "listen b", b.Listen(0, 8), syscall.EADDRINUSE)
	// Once the listener is gone the port is the other's to listen on.
	a.Close(0)
	wantErr(t, "listen b after a closed", b.Listen(0, 8), nil)
}

func TestBindErrors(t *testing.T) {
	st, _ := newStack(t)
	so := st.NewSocket()
	wantErr(t, "foreign address", so.Bind(ap(addrX, 80)), syscall.EADDRNOTAVAIL)
	wantErr(t, "invalid address", so.Bind(netip.AddrPort{}), syscall.EADDRNOTAVAIL)
	wantErr(t, "IPv6 address of a v4-only host", so.Bind(ap(v6B, 80)), syscall.EADDRNOTAVAIL)
	wantErr(t, "first bind", so.Bind(ap(addrB, 80)), nil)
	wantErr(t, "second bind, same address", so.Bind(ap(addrB, 80)), syscall.EINVAL)
	wantErr(t, "second bind, other port", so.Bind(ap(addrB, 81)), syscall.EINVAL)
	if got := so.Local(); got != ap(addrB, 80) {
		t.Errorf("Local() = %v after the failed binds, want %v", got, ap(addrB, 80))
	}
	// An IPv4-mapped address is the IPv4 address.
	m := st.NewSocket()
	wantErr(t, "IPv4-mapped address", m.Bind(ap(netip.AddrFrom16(addrB.As16()), 81)), nil)
	if got := m.Local(); got != ap(addrB, 81) {
		t.Errorf("Local() = %v, want %v", got, ap(addrB, 81))
	}
	// Closing the only handle frees the port.
	so.Close(0)
	wantErr(t, "bind after the holder closed", st.NewSocket().Bind(ap(addrB, 80)), nil)
}

// TestBindAfterConnect: a connected socket is bound; bind is EINVAL.
func TestBindAfterConnect(t *testing.T) {
	f, a, b := pair(t)
	f.listen(b, port, 8)
	c := f.dial(a, b, port, 0)
	wantErr(t, "bind after connect", c.Bind(ap(addrA, 5000)), syscall.EINVAL)
}

// TestBindHeldByTimeWait: a TIME_WAIT record holds its port like a socket
// (Linux: bind fails with EADDRINUSE, and with SO_REUSEADDR succeeds only
// if the connection had it too, as tw_reuse is copied from the socket).
func TestBindHeldByTimeWait(t *testing.T) {
	tests := []struct {
		name           string
		oldReuse       bool // the listener whose child went to TIME_WAIT
		newReuse       bool
		want           error
		wantAfterTWEnd error
	}{
		{"no SO_REUSEADDR", false, false, syscall.EADDRINUSE, nil},
		{"SO_REUSEADDR on both", true, true, nil, nil},
		{"SO_REUSEADDR on the new socket only", false, true, syscall.EADDRINUSE, nil},
		{"SO_REUSEADDR on the old socket only", true, false, syscall.EADDRINUSE, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, a, b := pair(t)
			l := f.listen(b, port, 8, func(so *Socket) { so.SetReuseAddr(tt.oldReuse) })
			client, server := f.connect(a, b, l)
			l.Close(f.now)
			f.closeBoth(server, client) // B closes first: B holds TIME_WAIT
			if rows := rowsOf(b, f.now, tcp.TimeWait); len(rows) != 1 || rows[0].Local != ap(addrB, port) {
				t.Fatalf("B's TIME_WAIT rows = %+v, want one on :%d", rows, port)
			}
			so := b.st.NewSocket()
			so.SetReuseAddr(tt.newReuse)
			wantErr(t, "bind while TIME_WAIT holds the port", so.Bind(ap(addrB, port)), tt.want)
			if tt.want == nil {
				wantErr(t, "listen", so.Listen(f.now, 8), nil)
				return
			}
			f.run(b.st.opts.TCP.TimeWait)
			wantErr(t, "bind after TIME_WAIT ended", so.Bind(ap(addrB, port)), tt.wantAfterTWEnd)
		})
	}
}

// TestBindHeldByConnection: accepted connections hold the listener's port
// after the listener is gone (a restarted server hits EADDRINUSE unless
// both it and the old listener set SO_REUSEADDR).
func TestBindHeldByConnection(t *testing.T) {
	for _, reuse := range []bool{false, true} {
		f, a, b := pair(t)
		l := f.listen(b, port, 8, func(so *Socket) { so.SetReuseAddr(reuse) })
		f.connect(a, b, l)
		l.Close(f.now)
		so := b.st.NewSocket()
		so.SetReuseAddr(reuse)
		var want error = syscall.EADDRINUSE
		if reuse {
			want = nil
		}
		wantErr(t, "bind while an established child holds the port", so.Bind(ap(addrB, port)), want)
	}
}

// TestEphemeralPorts: ports come from [EphemeralLow, EphemeralHigh], are
// all different, and running out is EADDRNOTAVAIL, for connect and for
// bind to port 0 alike. A TIME_WAIT record keeps its port; once it
// expires the port is free again.
func TestEphemeralPorts(t *testing.T) {
	const lo, hi = 40000, 40003
	f, a, b := pair(t, func(o *Options) { o.EphemeralLow, o.EphemeralHigh = lo, hi })
	l := f.listen(b, port, 16)
	seen := map[uint16]bool{}
	var socks []*Socket
	for i := 0; i <= hi-lo; i++ {
		so := a.st.NewSocket()
		if err := so.Connect(f.now, ap(addrB, port)); err != nil {
			t.Fatalf("connect %d: %v", i, err)
		}
		p := so.Local().Port()
		if p < lo || p > hi || seen[p] {
			t.Errorf("connect %d got port %d (seen before: %v), want a new one in [%d, %d]", i, p, seen[p], lo, hi)
		}
		if so.Local().Addr() != addrA {
			t.Errorf("connect %d: local address %v, want %v", i, so.Local().Addr(), addrA)
		}
		seen[p] = true
		socks = append(socks, so)
	}
	wantErr(t, "connect with the range used up", a.st.NewSocket().Connect(f.now, ap(addrB, port)), syscall.EADDRNOTAVAIL)
	wantErr(t, "bind port 0 with the range used up", a.st.NewSocket().Bind(ap(addrA, 0)), syscall.EADDRNOTAVAIL)
	wantErr(t, "bind a port outside the range", a.st.NewSocket().Bind(ap(addrA, 5000)), nil)

	// The first connection closes actively: its TIME_WAIT record keeps the port.
	f.run(10 * time.Millisecond)
	first := socks[0]
	var srv *Socket
	for {
		c, err := l.Accept()
		if err != nil {
			t.Fatal("no server side for the first connection")
		}
		if c.Remote() == first.Local() {
			srv = c
			break
		}
	}
	f.closeBoth(first, srv)
	if len(rowsOf(a, f.now, tcp.TimeWait)) != 1 {
		t.Fatalf("A has no TIME_WAIT record: %+v", a.st.Connections(f.now))
	}
	wantErr(t, "connect while TIME_WAIT holds the freed port", a.st.NewSocket().Connect(f.now, ap(addrB, port)), syscall.EADDRNOTAVAIL)
	f.run(a.st.opts.TCP.TimeWait)
	so := a.st.NewSocket()
	wantErr(t, "connect after TIME_WAIT ended", so.Connect(f.now, ap(addrB, port)), nil)
	if so.Local().Port() != first.Local().Port() {
		t.Errorf("got port %d, want the freed port %d", so.Local().Port(), first.Local().Port())
	}

	// Bind to port 0 picks from the range too.
	_, a2, _ := pair(t, func(o *Options) { o.EphemeralLow, o.EphemeralHigh = 50000, 50000 })
	s1 := a2.st.NewSocket()
	wantErr(t, "bind port 0", s1.Bind(ap(addrA, 0)), nil)
	if s1.Local().Port() != 50000 {
		t.Errorf("bind port 0 gave %d, want 50000", s1.Local().Port())
	}
	wantErr(t, "second bind port 0, one-port range", a2.st.NewSocket().Bind(ap(any4, 0)), syscall.EADDRNOTAVAIL)
}

// TestConnectErrors covers connect(2)'s errors, including a second
// connection on a 4-tuple that is taken (EADDRNOTAVAIL, as Linux's
// __inet_check_established).
func TestConnectErrors(t *testing.T) {
	f, a, b := pair(t)
	l := f.listen(b, port, 8)
	first := f.dial(a, b, port, 5000)
	f.run(10 * time.Millisecond)
	if first.State() != tcp.Established {
		t.Fatalf("first connection %v", first.State())
	}
	dup := a.st.NewSocket()
	dup.SetReuseAddr(true)
	wantErr(t, "bind the same port (both SO_REUSEADDR)", dup.Bind(ap(addrA, 5000)), nil)
	wantErr(t, "connect the same 4-tuple", dup.Connect(f.now, ap(addrB, port)), syscall.EADDRNOTAVAIL)
	wantErr(t, "connect the same port to another destination", dup.Connect(f.now, ap(addrB, port+1)), nil)

	wantErr(t, "connect a connected socket", first.Connect(f.now, ap(addrB, port)), syscall.EISCONN)
	wantErr(t, "connect a listener", l.Connect(f.now, ap(addrA, 1)), syscall.EINVAL)
	wantErr(t, "connect to port 0", a.st.NewSocket().Connect(f.now, ap(addrB, 0)), syscall.EINVAL)
	wantErr(t, "connect to the unspecified address", a.st.NewSocket().Connect(f.now, ap(any4, 80)), syscall.EINVAL)
	wantErr(t, "connect to IPv6 from an IPv4-only host", a.st.NewSocket().Connect(f.now, ap(v6B, 80)), syscall.ENETUNREACH)
	if n := len(rowsOf(a, f.now, tcp.SynSent)); n != 1 {
		t.Errorf("A has %d SYN_SENT rows, want 1 (the connection to :81)", n)
	}
}
