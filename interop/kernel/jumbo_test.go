//go:build linux

package kernel_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/tcp"
	"github.com/tcpwave/tcpwave/wire"
)

// jumboMTU is the device MTU of TestJumbo, as on loopback.
const jumboMTU = 65535

// TestJumbo moves 4 MiB each way over a TUN device with a 65535-byte MTU,
// where the MSS (65495) is as large as the windows first offered, and
// checks two Linux rules that a small MTU never reaches:
//
//   - the send MSS is bounded by half the largest window the peer has
//     offered (tcp_bound_to_half_wnd, applied by tcp_sync_mss whenever
//     that window grows): segments are at most half of it. The kernel's
//     own segments are checked by the same rule, so the test knows it
//     describes the kernel;
//   - a read that frees lots of space sends a window update
//     (tcp_cleanup_rbuf): the kernel, sending, never has to probe a zero
//     window (TcpExtTCPWinProbe does not move).
func TestJumbo(t *testing.T) {
	for _, d := range dialers {
		t.Run(d.String(), func(t *testing.T) {
			t.Parallel()
			r := newRig(t, rigConfig{direct: true, mtu: jumboMTU, tcp: func(c *tcp.Config) { c.MSS = jumboMTU - 40 }})
			p := r.pair(t, ipv4, d)
			data := randomBytes(4 << 20)
			probes0 := r.kernelCounter(t, "TcpExtTCPWinProbe")
			start := time.Now()
			copyOver(t, "kernel to tcpwave", p.kernel, p.stack, data)
			t.Logf("kernel to tcpwave: %v", time.Since(start))
			if n := r.kernelCounter(t, "TcpExtTCPWinProbe") - probes0; n != 0 {
				t.Errorf("the kernel sent %d zero-window probes to tcpwave: a read did not reopen tcpwave's window", n)
			}
			start = time.Now()
			copyOver(t, "tcpwave to kernel", p.stack, p.kernel, data)
			t.Logf("tcpwave to kernel: %v", time.Since(start))
			checkHalfWindow(t, r.rec.packets())
		})
	}
}

// copyOver writes data on from and reads it all on to, checking it.
func copyOver(t *testing.T, what string, from io.Writer, to io.Reader, data []byte) {
	t.Helper()
	werr := make(chan error, 1)
	go func() {
		_, err := from.Write(data)
		werr <- err
	}()
	got := make([]byte, len(data))
	if dl, ok := to.(interface{ SetReadDeadline(time.Time) error }); ok {
		dl.SetReadDeadline(time.Now().Add(opTimeout))
	}
	if _, err := io.ReadFull(to, got); err != nil {
		t.Fatalf("%s: read: %v", what, err)
	}
	if err := <-werr; err != nil {
		t.Fatalf("%s: write: %v", what, err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("%s: the data differs", what)
	}
}

// checkHalfWindow checks every data segment of pkts against half the
// largest window its receiver had offered when it was sent or received.
func checkHalfWindow(t *testing.T, pkts []pkt) {
	t.Helper()
	// scale[s]: the window scale of what side s receives with (s = sent
	// by tcpwave: the kernel receives); maxWnd[s] likewise.
	var scale, maxWnd [2]int
	idx := func(sent bool) int {
		if sent {
			return 1
		}
		return 0
	}
	checked := [2]int{}
	for _, k := range pkts {
		from := idx(k.sent) // the sender of k; its window is for the other side's data
		if k.flags.Has(wire.SYN) {
			if k.wscale >= 0 {
				scale[1-from] = k.wscale // data sent to this packet's sender uses its scale
			}
			maxWnd[1-from] = max(maxWnd[1-from], k.window)
			continue
		}
		if k.flags.Has(wire.ACK) {
			maxWnd[1-from] = max(maxWnd[1-from], k.window<<scale[1-from])
		}
		if k.len == 0 {
			continue
		}
		// k carries data from its sender to the other side, which had
		// offered maxWnd[from] (windows for data sent by "from").
		if w := maxWnd[from]; w > 536 && k.len > w/2 {
			who := "kernel"
			if k.sent {
				who = "tcpwave"
			}
			t.Errorf("%s sent a %d-byte segment; the largest window offered to it was %d: want at most half", who, k.len, w)
		}
		checked[from]++
	}
	if checked[0] == 0 || checked[1] == 0 {
		t.Errorf("data segments checked: %d from the kernel, %d from tcpwave; want some each way", checked[0], checked[1])
	}
	if len(pkts) >= maxLog {
		t.Logf("checked the first %d packets", len(pkts))
	}
}

// kernelCounter returns one of the namespace's nstat counters (absolute).
func (r *rig) kernelCounter(t *testing.T, name string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), opTimeout)
	defer cancel()
	out, err := r.ns.Exec(ctx, "nstat", "-asz", name)
	if err != nil {
		t.Fatalf("nstat: %v", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == name {
			v, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatalf("nstat %s: %v", name, err)
			}
			return v
		}
	}
	t.Fatal(fmt.Errorf("nstat does not list %s:\n%s", name, out))
	return 0
}
