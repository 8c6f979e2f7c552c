//go:build linux

package main

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/internal/netns"
)

// A kernel client connects to `tcpwave tun serve` and to a port with no
// listener; `tcpwave nstat` then shows the running process's passive open
// and the RST it answered the second SYN with.
func TestTunNstat(t *testing.T) {
	ns := netns.NewT(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	control := filepath.Join(t.TempDir(), "tcpwave.sock")
	var out, errb syncBuffer
	done := make(chan int, 1)
	go ns.Run(func() error {
		done <- runContext(ctx, []string{"tun", "serve", "--dev", "tw2", "--addr", "10.9.0.2:7", "--control", control}, &out, &errb)
		return nil
	})
	nstatOut := func() string {
		var o, e bytes.Buffer
		run([]string{"nstat", "--control", control}, &o, &e)
		return o.String() + e.String()
	}
	eventually(t, "the server", func() (bool, string) {
		s := nstatOut()
		return strings.HasPrefix(s, "#kernel\n"), s + errb.String()
	})
	err := ns.Run(func() error {
		c, err := net.DialTimeout("tcp", "10.9.0.2:7", 5*time.Second)
		if err != nil {
			return err
		}
		c.Close()
		if c, err := net.DialTimeout("tcp", "10.9.0.2:8", 5*time.Second); err == nil {
			c.Close()
			t.Error("connected to a port with no listener")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the counters", func() (bool, string) {
		s := nstatOut()
		return strings.Contains(s, nstatLine("TcpPassiveOpens", 1)) && strings.Contains(s, "TcpOutRsts ") && !strings.Contains(s, "TcpActiveOpens"), s
	})
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("tun serve exited %d: %s", code, errb.String())
	}
}
