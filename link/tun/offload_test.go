//go:build linux

package tun_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tcpwave/tcpwave"
	"github.com/tcpwave/tcpwave/internal/netns"
	"github.com/tcpwave/tcpwave/link"
	"github.com/tcpwave/tcpwave/link/tun"
	"github.com/tcpwave/tcpwave/wire"
)

// offloadMTU is the MTU of the devices with offload: Ethernet's, so the
// segments inside a super-packet are the usual 1448-byte ones.
const offloadMTU = 1500

// watched is a link.Offloader that records the largest super-packet
// written and the largest packet read, which show that offload happened.
type watched struct {
	link.Offloader
	gsoWrites   atomic.Int64 // WriteGSO calls with more than MTU bytes
	maxGSOWrite atomic.Int64 // bytes of the largest of them
	bigReads    atomic.Int64 // reads of more than MTU bytes
	maxRead     atomic.Int64 // bytes of the largest read
}

func (w *watched) WriteGSO(pkt []byte, segSize int) error {
	if len(pkt) > w.MTU() {
		w.gsoWrites.Add(1)
		atomicMax(&w.maxGSOWrite, int64(len(pkt)))
	}
	return w.Offloader.WriteGSO(pkt, segSize)
}

func (w *watched) ReadPacket(buf []byte) (int, error) {
	n, err := w.Offloader.ReadPacket(buf)
	if err == nil && n > w.MTU() {
		w.bigReads.Add(1)
		atomicMax(&w.maxRead, int64(n))
	}
	return n, err
}

// PollPacket passes the device's PollPacket on (link.Poller), so that
// the host batches its reads as it does on the device itself.
func (w *watched) PollPacket(buf []byte) (int, error) {
	n, err := w.Offloader.(link.Poller).PollPacket(buf)
	if err == nil && n > w.MTU() {
		w.bigReads.Add(1)
		atomicMax(&w.maxRead, int64(n))
	}
	return n, err
}

func atomicMax(a *atomic.Int64, v int64) {
	for {
		old := a.Load()
		if v <= old || a.CompareAndSwap(old, v) {
			return
		}
	}
}

// offloadRig is a namespace with a TUN device with offload, a tcpwave
// stack on it (10.9.0.2, fd00:9::2) and an echo server on port 7.
type offloadRig struct {
	ns  *netns.NS
	dev *tun.Device
	w   *watched
	st  *tcpwave.Stack
}

func newOffloadRig(t testing.TB, offload bool) *offloadRig {
	t.Helper()
	ns := netns.NewT(t)
	dev, err := tun.Setup(ns, tun.Config{
		Name:    "tw0",
		MTU:     offloadMTU,
		Kernel:  []netip.Prefix{netns.KernelPrefix4, netns.KernelPrefix6},
		Offload: offload,
	})
	if err != nil {
		t.Fatal(err)
	}
	if dev.Offload() != offload || (dev.GSOMaxSize() > dev.MTU()) != offload {
		dev.Close()
		t.Fatalf("Offload() %v, GSOMaxSize %d with MTU %d; want offload %v", dev.Offload(), dev.GSOMaxSize(), dev.MTU(), offload)
	}
	w := &watched{Offloader: dev}
	st, err := tcpwave.New(w, []netip.Addr{netns.StackAddr4, netns.StackAddr6})
	if err != nil {
		dev.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		st.CloseContext(ctx)
	})
	return &offloadRig{ns: ns, dev: dev, w: w, st: st}
}

// serve accepts connections on addr and runs handle on each until the
// test ends.
func (r *offloadRig) serve(t testing.TB, addr netip.AddrPort, handle func(net.Conn)) {
	t.Helper()
	ln, err := r.st.Listen("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
}

// dial connects a kernel socket in the namespace to to.
func (r *offloadRig) dial(t testing.TB, to netip.AddrPort) *net.TCPConn {
	t.Helper()
	var c net.Conn
	err := r.ns.Run(func() error {
		d := net.Dialer{Timeout: timeout}
		var err error
		c, err = d.DialContext(t.Context(), "tcp", to.String())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// kernelTCP returns the namespace's Tcp counters from /proc/net/snmp
// (RetransSegs, InCsumErrors, OutSegs, ...).
func kernelTCP(t testing.TB, ns *netns.NS) map[string]uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := ns.Exec(ctx, "cat", "/proc/net/snmp")
	if err != nil {
		t.Fatalf("/proc/net/snmp: %v: %s", err, out)
	}
	var names []string
	m := map[string]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || f[0] != "Tcp:" {
			continue
		}
		if names == nil {
			names = f[1:]
			continue
		}
		for i, v := range f[1:] {
			if i < len(names) {
				n, _ := strconv.ParseUint(v, 10, 64)
				m[names[i]] = n
			}
		}
	}
	if len(m) == 0 {
		t.Fatalf("no Tcp counters in /proc/net/snmp:\n%s", out)
	}
	return m
}

// TestOffloadEcho: a kernel socket in the namespace sends 16 MiB of
// random data to a tcpwave echo server over a TUN device with offload
// and reads it back; both directions arrive whole (SHA-256). Offload
// really happened: tcpwave wrote super-packets (WriteGSO of more than
// MTU bytes) and read the kernel's (reads of more than MTU bytes). And
// the checksums were right: tcpwave counted no bad checksum, the kernel
// none either, and neither side had to retransmit more than a few
// segments (a bad checksum is a drop, and a drop a retransmission).
func TestOffloadEcho(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stack netip.Addr
	}{
		{"ipv4", netns.StackAddr4},
		{"ipv6", netns.StackAddr6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newOffloadRig(t, true)
			to := netip.AddrPortFrom(tc.stack, 7)
			r.serve(t, to, func(c net.Conn) { io.Copy(c, c) })
			c := r.dial(t, to)
			c.SetDeadline(time.Now().Add(60 * time.Second))

			const size = 16 << 20
			data := make([]byte, size)
			rand.Read(data)
			sent := sha256.Sum256(data)
			wrote := make(chan error, 1)
			go func() {
				_, err := c.Write(data)
				if err == nil {
					err = c.CloseWrite()
				}
				wrote <- err
			}()
			h := sha256.New()
			n, err := io.Copy(h, c)
			if werr := <-wrote; werr != nil {
				t.Fatalf("kernel write: %v", werr)
			}
			if err != nil || n != size {
				t.Fatalf("kernel read %d bytes, %v; want %d and EOF", n, err, size)
			}
			if got := [32]byte(h.Sum(nil)); got != sent {
				t.Fatalf("echoed data differs: SHA-256 %x, sent %x", got, sent)
			}

			t.Logf("tcpwave: %d super-packets written (largest %d bytes), %d reads above the MTU (largest %d bytes)",
				r.w.gsoWrites.Load(), r.w.maxGSOWrite.Load(), r.w.bigReads.Load(), r.w.maxRead.Load())
			if r.w.gsoWrites.Load() == 0 {
				t.Errorf("tcpwave wrote no super-packet: no segmentation offload")
			}
			if r.w.bigReads.Load() == 0 {
				t.Errorf("tcpwave read no packet above the MTU: the kernel sent no super-packet")
			}
			sc := r.st.Counters()
			k := kernelTCP(t, r.ns)
			t.Logf("tcpwave: InSegs %d OutSegs %d RetransSegs %d InCsumErrors %d; kernel: InSegs %d OutSegs %d RetransSegs %d InCsumErrors %d InErrs %d",
				sc.InSegs, sc.OutSegs, sc.RetransSegs, sc.InCsumErrors, k["InSegs"], k["OutSegs"], k["RetransSegs"], k["InCsumErrors"], k["InErrs"])
			if sc.InCsumErrors != 0 {
				t.Errorf("tcpwave counted %d segments with a bad checksum", sc.InCsumErrors)
			}
			if k["InCsumErrors"] != 0 || k["InErrs"] != 0 {
				t.Errorf("the kernel counted InCsumErrors %d, InErrs %d; want 0", k["InCsumErrors"], k["InErrs"])
			}
			// 16 MiB both ways is over 23,000 segments of 1448 bytes: a
			// few retransmissions are the TUN queue's, a storm is not.
			const most = 200
			if sc.RetransSegs > most || k["RetransSegs"] > most {
				t.Errorf("retransmissions: tcpwave %d, kernel %d; want at most %d each", sc.RetransSegs, k["RetransSegs"], most)
			}
		})
	}
}

// BenchmarkKernelTCP times bulk transfers of 200 MiB between a kernel
// socket in the namespace and tcpwave over the TUN device, with offload
// and without, both ways: "upload" is the kernel client sending to a
// tcpwave server that discards, "download" a tcpwave server sending to a
// kernel client that discards. Each transfer is timed from the first
// write to the last byte read, the connection already made; the MB/s
// column is the rate (1 MB = 10^6 bytes).
//
//	go test -run '^$' -bench KernelTCP -benchtime 1x ./link/tun
func BenchmarkKernelTCP(b *testing.B) {
	const size = 200 << 20
	for _, dir := range []string{"upload", "download"} {
		for _, mode := range []string{"offload", "plain"} {
			b.Run(dir+"/"+mode, func(b *testing.B) {
				b.SetBytes(size)
				var cpu time.Duration
				for range b.N {
					b.StopTimer()
					cpu += benchTransfer(b, dir == "upload", mode == "offload", size)
				}
				b.ReportMetric(cpu.Seconds()/float64(b.N)/(float64(size)/(1<<30)), "CPU-s/GiB")
			})
		}
	}
}

// benchTransfer sets up a rig and moves size bytes over one connection,
// the kernel sending if upload, timing only the transfer. It returns the
// CPU time the process used meanwhile, in user space and in the kernel
// (where the kernel's TCP works for both of its sockets' system calls
// and for tcpwave's, as on a real host: the namespace's kernel runs in
// this process's threads).
func benchTransfer(b *testing.B, upload, offload bool, size int64) time.Duration {
	r := newOffloadRig(b, offload)
	to := netip.AddrPortFrom(netns.StackAddr4, 9)
	got := make(chan int64, 1)
	chunk := make([]byte, 256<<10)
	rand.Read(chunk)
	r.serve(b, to, func(c net.Conn) {
		if upload {
			n, _ := io.Copy(io.Discard, c)
			got <- n
			return
		}
		for sent := int64(0); sent < size; sent += int64(len(chunk)) {
			if _, err := c.Write(chunk[:min(int64(len(chunk)), size-sent)]); err != nil {
				return
			}
		}
	})
	c := r.dial(b, to)
	c.SetDeadline(time.Now().Add(5 * time.Minute))
	cpu0 := cpuTime(b)
	b.StartTimer()
	var n int64
	if upload {
		for sent := int64(0); sent < size; sent += int64(len(chunk)) {
			if _, err := c.Write(chunk[:min(int64(len(chunk)), size-sent)]); err != nil {
				b.Fatalf("kernel write: %v", err)
			}
		}
		c.CloseWrite()
		n = <-got
	} else {
		var err error
		n, err = io.Copy(io.Discard, c)
		if err != nil {
			b.Fatalf("kernel read: %v", err)
		}
	}
	b.StopTimer()
	cpu := cpuTime(b) - cpu0
	if n != size {
		b.Fatalf("%d bytes arrived, want %d", n, size)
	}
	sc := r.st.Counters()
	k := kernelTCP(b, r.ns)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	drops, _ := r.ns.Exec(ctx, "cat", "/sys/class/net/tw0/statistics/tx_dropped")
	b.Logf("tcpwave: %d super-packets written, %d reads above the MTU, InSegs %d, OutSegs %d, RetransSegs %d, InCsumErrors %d; kernel: RetransSegs %d; TUN queue drops %s",
		r.w.gsoWrites.Load(), r.w.bigReads.Load(), sc.InSegs, sc.OutSegs, sc.RetransSegs, sc.InCsumErrors, k["RetransSegs"], bytes.TrimSpace(drops))
	return cpu
}

// cpuTime returns the CPU time the process has used, user and system.
func cpuTime(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestPollPacket: PollPacket returns 0 at once when no packet waits,
// and the next packet when one does; on a device with offload the
// kernel's SYN, sent with a partial checksum, comes out with a correct
// one.
func TestPollPacket(t *testing.T) {
	tests := []struct {
		name    string
		offload bool
		stack   netip.Addr
	}{
		{"plain ipv4", false, netns.StackAddr4},
		{"offload ipv4", true, netns.StackAddr4},
		{"offload ipv6", true, netns.StackAddr6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ns := netns.NewT(t)
			dev, err := tun.Setup(ns, tun.Config{
				Name: "tw0", MTU: offloadMTU, Offload: tc.offload,
				Kernel: []netip.Prefix{netns.KernelPrefix4, netns.KernelPrefix6},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer dev.Close()
			buf := make([]byte, max(dev.GSOMaxSize(), dev.MTU()))
			// Whatever the kernel sent on its own (IPv6 router
			// solicitations, MLD reports) drains, then the device is empty.
			empty := false
			for range 100 {
				start := time.Now()
				n, err := dev.PollPacket(buf)
				if err != nil {
					t.Fatal(err)
				}
				if took := time.Since(start); took > time.Second {
					t.Fatalf("PollPacket took %v", took)
				}
				if n == 0 {
					empty = true
					break
				}
			}
			if !empty {
				t.Fatal("100 packets polled and never an empty device")
			}
			connect(t, ns, netip.AddrPortFrom(tc.stack, 80))
			deadline := time.Now().Add(timeout)
			for time.Now().Before(deadline) {
				n, err := dev.PollPacket(buf)
				if err != nil {
					t.Fatal(err)
				}
				if n == 0 {
					time.Sleep(time.Millisecond)
					continue
				}
				var p wire.Packet
				err = wire.ParsePacket(buf[:n], &p)
				if errors.Is(err, wire.ErrNotTCP) {
					continue
				}
				if err != nil {
					t.Fatalf("polled packet: %v: % x", err, buf[:n])
				}
				ipLen, _, err := wire.TCPHeaders(buf[:n])
				if err != nil {
					t.Fatal(err)
				}
				if p.TCP.Flags != wire.SYN || p.Dst != tc.stack {
					t.Fatalf("polled %v to %v, want a SYN to %v", p.TCP.Flags, p.Dst, tc.stack)
				}
				if !wire.VerifyTCPChecksum(p.Src, p.Dst, buf[ipLen:n]) {
					t.Fatalf("the SYN's checksum is wrong: % x", buf[:n])
				}
				return
			}
			t.Fatalf("no SYN polled in %v", timeout)
		})
	}
}

// gsoClaim is a device without offload that a host is told takes
// super-packets: its WriteGSO must then cut them to the MTU itself.
type gsoClaim struct{ *watched }

func (g gsoClaim) GSOMaxSize() int { return tun.MaxGSOSize }

// TestWriteGSOWithoutOffload: on a device without offload WriteGSO cuts a
// super-packet into segments that fit the MTU (wire.SplitTCP), so a
// kernel client downloads 4 MiB whole from a tcpwave server whose host
// believes the link takes super-packets.
func TestWriteGSOWithoutOffload(t *testing.T) {
	ns := netns.NewT(t)
	dev, err := tun.Setup(ns, tun.Config{Name: "tw0", MTU: offloadMTU, Kernel: []netip.Prefix{netns.KernelPrefix4}})
	if err != nil {
		t.Fatal(err)
	}
	w := &watched{Offloader: dev}
	st, err := tcpwave.New(gsoClaim{w}, []netip.Addr{netns.StackAddr4})
	if err != nil {
		dev.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() }) // after the kernel's socket closes (cleanups run last first)
	r := &offloadRig{ns: ns, dev: dev, w: w, st: st}
	const size = 4 << 20
	data := make([]byte, size)
	rand.Read(data)
	to := netip.AddrPortFrom(netns.StackAddr4, 9)
	r.serve(t, to, func(c net.Conn) { c.Write(data) })
	c := r.dial(t, to)
	c.SetDeadline(time.Now().Add(30 * time.Second))
	start := time.Now()
	got, err := io.ReadAll(c)
	t.Logf("%d bytes in %v", len(got), time.Since(start))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes (%v), want the %d sent", len(got), err, size)
	}
	if w.gsoWrites.Load() == 0 {
		t.Error("the host wrote no super-packet: the test tested nothing")
	}
	if sc := st.Counters(); sc.RetransSegs > 50 {
		t.Errorf("tcpwave retransmitted %d segments", sc.RetransSegs)
	}
}

// TestOffloadClose: on a device with offload too, Close wakes a
// ReadPacket that waits, and every call after it says net.ErrClosed.
func TestOffloadClose(t *testing.T) {
	dev := newOffloadRigDevice(t)
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, dev.GSOMaxSize())
		for range 100 { // skip what the kernel sends on its own
			if _, err := dev.ReadPacket(buf); err != nil {
				done <- err
				return
			}
		}
		done <- errors.New("100 packets and no close")
	}()
	time.Sleep(50 * time.Millisecond) // let the reader block
	if err := dev.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("pending ReadPacket returned %v, want net.ErrClosed", err)
		}
	case <-time.After(timeout):
		t.Fatal("Close did not unblock ReadPacket")
	}
	pkt := make([]byte, 100)
	pkt[0] = 0x45
	for name, err := range map[string]error{
		"ReadPacket":  func() error { _, err := dev.ReadPacket(pkt); return err }(),
		"PollPacket":  func() error { _, err := dev.PollPacket(pkt); return err }(),
		"WritePacket": dev.WritePacket(pkt),
		"WriteGSO":    dev.WriteGSO(pkt, 10),
	} {
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("%s after Close: %v, want net.ErrClosed", name, err)
		}
	}
}

// newOffloadRigDevice makes a namespace and a device with offload in it;
// the device is closed when the test ends, if the test has not.
func newOffloadRigDevice(t *testing.T) *tun.Device {
	t.Helper()
	ns := netns.NewT(t)
	dev, err := tun.Setup(ns, tun.Config{Name: "tw0", MTU: offloadMTU, Offload: true,
		Kernel: []netip.Prefix{netns.KernelPrefix4, netns.KernelPrefix6}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dev.Close() })
	return dev
}
