//go:build linux

package explain

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/tcp"
)

// TestKernelLoopback: real Linux sockets on the loopback device, captured
// by dumpcap (Wireshark's capture tool, pcapng): a four-way close the
// client starts, a server that leaves its side in CLOSE_WAIT, a close()
// with unread data, SO_LINGER 0, a half-close (shutdown(SHUT_WR), the
// server still sending) and a refused connection, each explained as the
// kernel behaves. Skipped without root or dumpcap.
func TestKernelLoopback(t *testing.T) {
	if testing.Short() {
		t.Skip("captures for a few seconds")
	}
	dumpcap, err := exec.LookPath("dumpcap")
	if err != nil || os.Geteuid() != 0 {
		t.Skip("needs root and dumpcap")
	}
	lns := make([]net.Listener, 5)
	var ports []string
	for i := range lns {
		if lns[i], err = net.Listen("tcp4", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		defer lns[i].Close()
		ports = append(ports, "port "+portOf(lns[i].Addr()))
	}
	closed, err := net.Listen("tcp4", "127.0.0.1:0") // a port nothing listens on once closed
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()
	ports = append(ports, "port "+portOf(closed.Addr()))
	file := filepath.Join(t.TempDir(), "lo.pcapng")
	capture, err := startDumpcapCmd(exec.Command(dumpcap, "-i", "lo", "-f", "tcp and ("+strings.Join(ports, " or ")+")", "-w", file), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer capture.stop(20 * time.Second)
	time.Sleep(200 * time.Millisecond)

	// The servers that close are waited for before the capture stops.
	var served sync.WaitGroup
	// 0: four-way close; the client closes first, the server on EOF.
	served.Add(1)
	go func() {
		defer served.Done()
		c, err := lns[0].Accept()
		if err == nil {
			io.Copy(io.Discard, c)
			time.Sleep(50 * time.Millisecond)
			c.Close()
		}
	}()
	// 1: the server never closes while the capture runs: CLOSE_WAIT.
	hold := make(chan net.Conn, 1)
	go func() {
		if c, err := lns[1].Accept(); err == nil {
			hold <- c
		}
	}()
	// 2: the server writes, the client closes without reading: RST.
	served.Add(1)
	go func() {
		defer served.Done()
		if c, err := lns[2].Accept(); err == nil {
			c.Write(bytes.Repeat([]byte("x"), 100))
			time.Sleep(500 * time.Millisecond)
			c.Close()
		}
	}()
	// 3: the client sets SO_LINGER 0 and closes: RST with nothing unread.
	served.Add(1)
	go func() {
		defer served.Done()
		if c, err := lns[3].Accept(); err == nil {
			io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	// 4: half-close: the client shuts its side; the server, on EOF, still
	// sends 20 bytes, then closes.
	served.Add(1)
	go func() {
		defer served.Done()
		if c, err := lns[4].Accept(); err == nil {
			io.Copy(io.Discard, c)
			time.Sleep(100 * time.Millisecond)
			c.Write(bytes.Repeat([]byte("y"), 20))
			time.Sleep(100 * time.Millisecond)
			c.Close()
		}
	}()
	dial := func(i int) *net.TCPConn {
		c, err := net.Dial("tcp4", lns[i].Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		return c.(*net.TCPConn)
	}
	c0 := dial(0)
	c0.Write([]byte("hello"))
	c0.Close()
	c1 := dial(1)
	c1.Close()
	c2 := dial(2)
	if err := waitUnread(c2, 100); err != nil { // the 100 bytes arrive, unread
		t.Fatal(err)
	}
	c2.Close()
	c3 := dial(3)
	c3.Write([]byte("bye"))
	time.Sleep(50 * time.Millisecond)
	c3.SetLinger(0)
	c3.Close()
	c4 := dial(4)
	c4.CloseWrite()
	if b, err := io.ReadAll(c4); err != nil || len(b) != 20 {
		t.Fatalf("half-close: read %d bytes, %v", len(b), err)
	}
	c4.Close()
	if _, err := net.DialTimeout("tcp4", closedAddr, time.Second); err == nil {
		t.Fatal("a closed port accepted")
	}
	served.Wait()
	time.Sleep(700 * time.Millisecond)
	if err := capture.stop(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-hold:
		defer c.Close()
	default:
	}

	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	conns, _, err := explainAll(t, data)
	if err != nil {
		t.Fatal(err)
	}
	byPort := map[string]*Conn{}
	for _, c := range conns {
		byPort[fmt.Sprint(c.Addr[Server].Port())] = c
	}
	for i, want := range []struct {
		close   string
		final   [2]tcp.State
		states  [2][]string
		finding string
	}{
		{CloseFourWay, [2]tcp.State{tcp.TimeWait, tcp.Closed},
			[2][]string{{"CLOSED", "SYN_SENT", "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "TIME_WAIT", "CLOSED"}, {"LISTEN", "SYN_RCVD", "ESTABLISHED", "CLOSE_WAIT", "LAST_ACK", "CLOSED"}}, "time-wait"},
		{CloseHalfOpen, [2]tcp.State{tcp.FinWait2, tcp.CloseWait},
			[2][]string{{"CLOSED", "SYN_SENT", "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2"}, {"LISTEN", "SYN_RCVD", "ESTABLISHED", "CLOSE_WAIT"}}, "close-wait"},
		{CloseRST, [2]tcp.State{tcp.Closed, tcp.Closed},
			[2][]string{{"CLOSED", "SYN_SENT", "ESTABLISHED", "CLOSED"}, {"LISTEN", "SYN_RCVD", "ESTABLISHED", "CLOSED"}}, "unread data"},
		{CloseRST, [2]tcp.State{tcp.Closed, tcp.Closed},
			[2][]string{{"CLOSED", "SYN_SENT", "ESTABLISHED", "CLOSED"}, {"LISTEN", "SYN_RCVD", "ESTABLISHED", "CLOSED"}}, "SO_LINGER"},
		{CloseHalf, [2]tcp.State{tcp.TimeWait, tcp.Closed},
			[2][]string{{"CLOSED", "SYN_SENT", "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "TIME_WAIT", "CLOSED"}, {"LISTEN", "SYN_RCVD", "ESTABLISHED", "CLOSE_WAIT", "LAST_ACK", "CLOSED"}}, "went on sending 20 bytes"},
		{CloseRefused, [2]tcp.State{tcp.Closed, tcp.Closed},
			[2][]string{{"CLOSED", "SYN_SENT", "CLOSED"}, nil}, "nothing listens"},
	} {
		port := strings.TrimPrefix(ports[i], "port ")
		c := byPort[port]
		if c == nil {
			t.Errorf("port %s: no connection explained", port)
			continue
		}
		if c.Close != want.close || c.Final != want.final {
			t.Errorf("port %s: close %q, final %v; want %q, %v\n%s", port, c.Close, c.Final, want.close, want.final, dump(c))
		}
		for s := Client; s <= Server; s++ {
			if got := explainedStates(c, s); !slices.Equal(got, want.states[s]) {
				t.Errorf("port %s %s: states %v, want %v", port, s, got, want.states[s])
			}
		}
		if !slices.ContainsFunc(c.Findings, func(f Finding) bool { return strings.Contains(f.Kind+" "+f.Text, want.finding) }) {
			t.Errorf("port %s: no finding with %q\n%s", port, want.finding, dump(c))
		}
	}
}

// portOf returns the port of a TCP address.
func portOf(a net.Addr) string { return fmt.Sprint(a.(*net.TCPAddr).Port) }
