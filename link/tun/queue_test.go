//go:build linux

package tun_test

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/tcpwave/tcpwave/internal/netns"
	"github.com/tcpwave/tcpwave/link/tun"
)

// TestQueueLen sends a burst of 2000 UDP datagrams from the kernel
// towards the device's reader, which reads nothing until the burst is
// over, as a reader busy with a thousand connections' first packets:
// with Setup's default queue every datagram waits in the device's queue
// and none is dropped (tx_dropped stays 0); with the kernel's own queue
// of 500 the rest is dropped.
func TestQueueLen(t *testing.T) {
	const burst = 2000
	for _, tt := range []struct {
		name     string
		queueLen int
		wantLen  int
		lossless bool
	}{
		{"default", 0, tun.DefaultQueueLen, true},
		{"kernel", -1, 500, false},
		{"set", 3000, 3000, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ns := netns.NewT(t)
			dev, err := tun.Setup(ns, tun.Config{
				Name:     "tw0",
				Kernel:   []netip.Prefix{netns.KernelPrefix4},
				QueueLen: tt.queueLen,
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { dev.Close() })
			if n, err := dev.QueueLen(); n != tt.wantLen || err != nil {
				t.Fatalf("QueueLen() = %d, %v; want %d", n, err, tt.wantLen)
			}
			var c net.Conn
			if err := ns.Run(func() error {
				var err error
				c, err = net.Dial("udp4", netip.AddrPortFrom(netns.StackAddr4, 9).String())
				return err
			}); err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			for i := range burst {
				if _, err := c.Write([]byte("burst")); err != nil {
					t.Fatalf("datagram %d: %v", i, err)
				}
			}
			dropped := txDropped(t, ns)
			var read int
			buf := make([]byte, dev.MTU())
			for {
				n, err := dev.PollPacket(buf)
				if err != nil {
					t.Fatal(err)
				}
				if n == 0 {
					break
				}
				if p := buf[:n]; p[0]>>4 == 4 && p[9] == 17 { // IPv4 UDP
					read++
				}
			}
			t.Logf("queue %d: %d datagrams read, %d dropped", tt.wantLen, read, dropped)
			if tt.lossless && (read != burst || dropped != 0) {
				t.Errorf("read %d of %d datagrams, tx_dropped %d; want all read, none dropped", read, burst, dropped)
			}
			if !tt.lossless && (read > tt.wantLen || dropped == 0) {
				t.Errorf("read %d of %d datagrams with a queue of %d, tx_dropped %d; want the queue's worth, the rest dropped",
					read, burst, tt.wantLen, dropped)
			}
		})
	}
	_, dev := setup(t)
	if err := dev.SetQueueLen(0); err == nil {
		t.Error("SetQueueLen(0) succeeded")
	}
	if strconv.IntSize == 64 {
		// Over the kernel's int: not cut to its low 32 bits (100).
		big := int64(1)<<32 + 100
		if err := dev.SetQueueLen(int(big)); err == nil {
			n, _ := dev.QueueLen()
			t.Errorf("SetQueueLen(%d) succeeded: queue length %d", big, n)
		}
	}
	dev.Close()
	if err := dev.SetQueueLen(100); err == nil {
		t.Error("SetQueueLen after Close succeeded")
	}
}

// txDropped returns the tx_dropped counter of tw0 in ns: the packets its
// queue had no room for.
func txDropped(t *testing.T, ns *netns.NS) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := ns.Exec(ctx, "cat", "/sys/class/net/tw0/statistics/tx_dropped")
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}
