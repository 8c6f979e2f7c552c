package tcpwave

import (
	"net"
	"testing"

	"golang.org/x/net/nettest"
)

// TestNetTest runs golang.org/x/net/nettest's TestConn, the standard
// library's contract for a net.Conn, over two stacks joined by a pipe.
func TestNetTest(t *testing.T) {
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		a, b := hosts(t)
		client, server := connPair(t, a, b)
		stop = func() {
			client.Close()
			server.Close()
			closeQuick(a)
			closeQuick(b)
		}
		return client, server, stop, nil
	})
}
