package interop

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/tcp"
)

// waitTimeout bounds every wait of the tests; -race makes both stacks
// several times slower, so it is generous.
const waitTimeout = 10 * time.Second

// env is a client host and a server host joined by a Wire: the client
// on Wire.A (10.8.0.1, fd00:8::1), the server on Wire.B (10.8.0.2,
// fd00:8::2).
type env struct {
	*Pair
	client, server Host
	// cport and sport are the ports the client and the server send
	// through: holding cport stops the client's packets.
	cport, sport *Port
}

// newEnv starts a client of kind client and a server of kind server, and
// stops them when the test ends.
func newEnv(t testing.TB, client, server Kind, cfg Config) *env {
	t.Helper()
	p, err := NewPair(client, server, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Wire.A.Release()
		p.Wire.B.Release()
		p.Close()
	})
	return &env{Pair: p, client: p.A, server: p.B, cport: p.Wire.A, sport: p.Wire.B}
}

// serverAddr returns the server's address of network's family with port.
func serverAddr(network string, port int) string {
	ip := AddrB4
	if network == "tcp6" {
		ip = AddrB6
	}
	return netip.AddrPortFrom(ip, uint16(port)).String()
}

// listen makes the server listen on an ephemeral port of network's
// family, and closes the listener when the test ends.
func (e *env) listen(t testing.TB, network string) Listener {
	t.Helper()
	l, err := e.server.Listen(network, serverAddr(network, 0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// connect returns an established connection from the client to the
// server: the client's end and the server's.
func (e *env) connect(t testing.TB, network string) (client, server Conn) {
	t.Helper()
	l := e.listen(t, network)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	client, server, err := Dial(ctx, e.client, l)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	return client, server
}

// waitState polls until c is in state want, and fails the test if it is
// not within waitTimeout.
func waitState(t testing.TB, who string, c Conn, want tcp.State) {
	t.Helper()
	if !poll(func() bool { return c.State() == want }) {
		t.Fatalf("%s: state %v (%s), want %v", who, c.State(), c.RawState(), want)
	}
}

// poll calls cond every millisecond until it holds (true) or waitTimeout
// passes (false).
func poll(cond func() bool) bool {
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// deadline sets a deadline of waitTimeout on each conn, so that no
// test blocks forever.
func deadline(conns ...net.Conn) {
	for _, c := range conns {
		c.SetDeadline(time.Now().Add(waitTimeout))
	}
}

// mixed are the pairs of different stacks, as (client, server).
var mixed = []struct{ client, server Kind }{
	{TCPWave, GVisor},
	{GVisor, TCPWave},
}

// networks are the address families the tests run on.
var networks = []string{"tcp4", "tcp6"}
