//go:build linux

package tun_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tcpwave/tcpwave/internal/netns"
	"github.com/tcpwave/tcpwave/link/tun"
	"github.com/tcpwave/tcpwave/wire"
)

// testMTU is not the default, so that the SYN's MSS proves Open set it.
const testMTU = 1400

// timeout bounds every wait on the kernel.
const timeout = 5 * time.Second

// setup makes a namespace and a TUN device "tw0" in it with both of the
// kernel's test addresses. Both go away when the test ends.
func setup(t *testing.T) (*netns.NS, *tun.Device) {
	t.Helper()
	ns := netns.NewT(t)
	dev, err := tun.Setup(ns, tun.Config{
		Name:   "tw0",
		MTU:    testMTU,
		Kernel: []netip.Prefix{netns.KernelPrefix4, netns.KernelPrefix6},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dev.Close() })
	return ns, dev
}

// TestKernelConnectRefused shows the plumbing end to end without a TCP
// stack: a kernel socket in the namespace connects to tcpwave's address,
// its SYN comes out of the TUN device with Linux's options, and a
// hand-built RST+ACK written into the device makes the connect fail.
//
//	+0 > S 0:0(0) win 64240 <mss 1360,sackOK,TS val ... ecr 0,nop,wscale 7>
//	+0 < R. 0:0(0) ack 1 win 0
//	connect() = ECONNREFUSED
func TestKernelConnectRefused(t *testing.T) {
	ns, dev := setup(t)
	for _, tc := range []struct {
		name   string
		kernel netip.Addr
		stack  netip.Addr
		mss    uint16
	}{
		{"ipv4", netns.KernelPrefix4.Addr(), netns.StackAddr4, testMTU - 40},
		{"ipv6", netns.KernelPrefix6.Addr(), netns.StackAddr6, testMTU - 60},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fd := connect(t, ns, netip.AddrPortFrom(tc.stack, 80))
			raw, syn := nextTCP(t, dev)
			t.Logf("%v:%d > %v:%d %s", syn.Src, syn.TCP.SrcPort, syn.Dst, syn.TCP.DstPort,
				wire.FormatSegment(&syn.TCP, len(syn.Payload), syn.TCP.Seq, 0, true))
			checkSYN(t, raw, &syn, tc.kernel, tc.stack, tc.mss)

			rst := wire.Packet{
				Src: tc.stack, Dst: syn.Src,
				TCP: wire.TCPFields{
					SrcPort: 80, DstPort: syn.TCP.SrcPort,
					Ack: syn.TCP.Seq + 1, Flags: wire.RST | wire.ACK,
				},
			}
			buf := make([]byte, wire.PacketLen(&rst))
			n, err := wire.EncodePacket(buf, &rst, 64, 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := dev.WritePacket(buf[:n]); err != nil {
				t.Fatal(err)
			}
			if err := connectResult(fd); !errors.Is(err, unix.ECONNREFUSED) {
				logKernel(t, ns)
				t.Fatalf("connect after RST+ACK: %v, want ECONNREFUSED", err)
			}
		})
	}
}

// logKernel logs the namespace's counters and sockets, which say why the
// kernel dropped a packet.
func logKernel(t *testing.T, ns *netns.NS) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for _, cmd := range [][]string{{"nstat", "-a"}, {"ss", "-tanoi"}} {
		out, err := ns.Exec(ctx, cmd...)
		t.Logf("%s: %v\n%s", strings.Join(cmd, " "), err, out)
	}
}

// checkSYN checks that the kernel's SYN went from kernel to stack:80 and
// carries Linux's options, in Linux's order: mss, sackOK and TS (in one
// word), nop, wscale.
func checkSYN(t *testing.T, raw []byte, syn *wire.Packet, kernel, stack netip.Addr, mss uint16) {
	t.Helper()
	if syn.Src != kernel || syn.Dst != stack || syn.TCP.DstPort != 80 {
		t.Errorf("SYN from %v to %v:%d, want from %v to %v:80",
			syn.Src, syn.Dst, syn.TCP.DstPort, kernel, stack)
	}
	if syn.TCP.Flags != wire.SYN || syn.TCP.Ack != 0 || len(syn.Payload) != 0 {
		t.Errorf("flags %v ack %d payload %d, want a bare SYN", syn.TCP.Flags, syn.TCP.Ack, len(syn.Payload))
	}
	o := syn.TCP.Options
	if o.MSS != mss || !o.SACKPermitted || !o.HasTimestamp || o.TSEcr != 0 || !o.HasWScale {
		t.Errorf("options %+v, want mss %d, sackOK, TS with ecr 0, wscale", o, mss)
	}
	hl := wire.IPv4HeaderLen
	if raw[0]>>4 == 6 {
		hl = wire.IPv6HeaderLen
	}
	seg := raw[hl:]
	if doff := int(seg[12]>>4) * 4; doff != 40 {
		t.Fatalf("TCP header of %d bytes, want 40 (20 of options)", doff)
	}
	opts := seg[20:40]
	layout := []struct {
		at   int
		want []byte
	}{
		{0, []byte{2, 4, byte(mss >> 8), byte(mss)}}, // mss
		{4, []byte{4, 2, 8, 10}},                     // sackOK, TS
		{16, []byte{1, 3, 3}},                        // nop, wscale
	}
	for _, l := range layout {
		if got := opts[l.at : l.at+len(l.want)]; !bytes.Equal(got, l.want) {
			t.Errorf("option bytes %d..: % x, want % x (all: % x)", l.at, got, l.want, opts)
		}
	}
}

// connect makes a non-blocking TCP socket inside the namespace and starts
// connecting it to to. The socket is closed when the test ends.
func connect(t *testing.T, ns *netns.NS, to netip.AddrPort) int {
	t.Helper()
	family := unix.AF_INET6
	var sa unix.Sockaddr = &unix.SockaddrInet6{Port: int(to.Port()), Addr: to.Addr().As16()}
	if to.Addr().Is4() {
		family = unix.AF_INET
		sa = &unix.SockaddrInet4{Port: int(to.Port()), Addr: to.Addr().As4()}
	}
	fd := -1
	err := ns.Run(func() error {
		var err error
		fd, err = unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		if err := unix.Connect(fd, sa); !errors.Is(err, unix.EINPROGRESS) {
			return fmt.Errorf("connect(%v) = %v, want EINPROGRESS", to, err)
		}
		return nil
	})
	if fd >= 0 {
		t.Cleanup(func() { unix.Close(fd) })
	}
	if err != nil {
		t.Fatal(err)
	}
	return fd
}

// connectResult waits for a non-blocking connect on fd to finish and
// returns its error (SO_ERROR), or an error after timeout.
func connectResult(fd int) error {
	deadline := time.Now().Add(timeout)
	for range 100 {
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		n, err := unix.Poll(fds, int(left.Milliseconds())+1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("poll: %w", err)
		}
		if n == 0 {
			break
		}
		soerr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if err != nil {
			return fmt.Errorf("SO_ERROR: %w", err)
		}
		if soerr == 0 {
			return nil
		}
		return unix.Errno(soerr)
	}
	return fmt.Errorf("connect did not finish in %v", timeout)
}

// nextTCP reads packets from dev until a TCP one comes (the kernel also
// sends IPv6 router solicitations and MLD reports into the device) and
// returns it raw and parsed. After timeout it closes dev and fails.
func nextTCP(t *testing.T, dev *tun.Device) ([]byte, wire.Packet) {
	t.Helper()
	type result struct {
		raw []byte
		p   wire.Packet
		err error
	}
	done := make(chan result, 1)
	go func() {
		buf := make([]byte, dev.MTU())
		for range 100 {
			n, err := dev.ReadPacket(buf)
			if err != nil {
				done <- result{err: err}
				return
			}
			var p wire.Packet
			err = wire.ParsePacket(buf[:n], &p)
			if errors.Is(err, wire.ErrNotTCP) {
				continue
			}
			done <- result{raw: buf[:n], p: p, err: err}
			return
		}
		done <- result{err: errors.New("100 packets, none of them TCP")}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatal(r.err)
		}
		return r.raw, r.p
	case <-time.After(timeout):
		dev.Close()
		<-done
		t.Fatalf("no TCP packet from the kernel in %v", timeout)
	}
	panic("unreachable")
}

// TestDeviceInNamespace checks that the device, its MTU, its state and
// its addresses are in the namespace, as the kernel sees them, and not in
// the test's own namespace.
func TestDeviceInNamespace(t *testing.T) {
	ns, dev := setup(t)
	if dev.Name() != "tw0" || dev.MTU() != testMTU || dev.Index() <= 0 {
		t.Errorf("Name %q MTU %d Index %d, want tw0, %d and an index", dev.Name(), dev.MTU(), dev.Index(), testMTU)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := ns.Exec(ctx, "ip", "-o", "link", "show", "dev", "tw0")
	if err != nil {
		t.Fatal(err)
	}
	link := string(out)
	if !strings.Contains(link, fmt.Sprintf("%d: tw0:", dev.Index())) ||
		!strings.Contains(link, ",UP") || !strings.Contains(link, fmt.Sprintf("mtu %d ", testMTU)) {
		t.Errorf("ip link: %s; want index %d, UP and mtu %d", link, dev.Index(), testMTU)
	}
	out, err = ns.Exec(ctx, "ip", "-o", "addr", "show", "dev", "tw0")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"inet " + netns.KernelPrefix4.String(), "inet6 " + netns.KernelPrefix6.String()} {
		if !strings.Contains(string(out), want) {
			t.Errorf("ip addr: %s; want %q", out, want)
		}
	}
	out, err = ns.Exec(ctx, "ip", "route", "get", netns.StackAddr4.String())
	if err != nil || !strings.Contains(string(out), "dev tw0") {
		t.Errorf("ip route get %v: %s %v; want dev tw0", netns.StackAddr4, out, err)
	}
	if _, err := net.InterfaceByName("tw0"); err == nil {
		t.Errorf("tw0 is visible outside the namespace")
	}
}

// TestCloseUnblocksRead checks that Close wakes a ReadPacket that is
// waiting, and that everything after Close says net.ErrClosed.
func TestCloseUnblocksRead(t *testing.T) {
	_, dev := setup(t)
	checkCloseUnblocksRead(t, dev, dev.MTU())
	if _, err := dev.ReadPacket(make([]byte, 100)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("ReadPacket after Close: %v", err)
	}
	if err := dev.WritePacket([]byte{0x45}); !errors.Is(err, net.ErrClosed) {
		t.Errorf("WritePacket after Close: %v", err)
	}
	if err := dev.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
	if err := dev.AddAddress(netip.MustParsePrefix("10.9.1.1/24")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("AddAddress after Close: %v", err)
	}
}

// checkCloseUnblocksRead closes dev while a ReadPacket into a buffer of
// bufLen bytes waits, and checks that it returns net.ErrClosed.
func checkCloseUnblocksRead(t *testing.T, dev *tun.Device, bufLen int) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, bufLen)
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
}

// TestErrors checks the errors of bad calls.
func TestErrors(t *testing.T) {
	ns, dev := setup(t)
	if err := dev.WritePacket(make([]byte, testMTU+1)); err == nil {
		t.Error("WritePacket larger than the MTU succeeded")
	}
	if err := dev.WritePacket(nil); err == nil {
		t.Error("WritePacket of nothing succeeded")
	}
	if err := dev.WritePacket(make([]byte, 40)); !errors.Is(err, unix.EINVAL) {
		t.Errorf("WritePacket of a version-0 packet: %v, want EINVAL", err)
	}
	if _, err := dev.ReadPacket(nil); err == nil {
		t.Error("ReadPacket into nothing succeeded")
	}
	if err := dev.AddAddress(netip.Prefix{}); err == nil {
		t.Error("AddAddress of an invalid prefix succeeded")
	}
	if err := dev.AddAddress(netns.KernelPrefix4); !errors.Is(err, unix.EEXIST) {
		t.Errorf("AddAddress of an address it has: %v, want EEXIST", err)
	}
	err := ns.Run(func() error {
		_, err := tun.Open(strings.Repeat("x", 16), 0)
		return err
	})
	if err == nil {
		t.Error("Open with a 16-byte name succeeded")
	}
}

// TestOpenErrors: opening a device another process (here, another
// descriptor) holds fails with EBUSY and says the device is busy; opening
// one without CAP_NET_ADMIN fails with EPERM and says so. The two are told
// apart (errors.Is), so that a caller does not blame permissions for a
// busy device.
func TestOpenErrors(t *testing.T) {
	ns, _ := setup(t) // holds tw0
	tests := []struct {
		name    string
		dev     string
		dropCap bool
		errno   unix.Errno
		msg     string
	}{
		{"busy", "tw0", false, unix.EBUSY, "device busy"},
		{"no CAP_NET_ADMIN", "tw1", true, unix.EPERM, "needs root or CAP_NET_ADMIN"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := openInNS(t, ns.Path(), tc.dev, tc.dropCap)
			if !errors.Is(err, tc.errno) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("Open = %v, want %v and %q", err, tc.errno, tc.msg)
			}
			other := unix.EPERM
			if tc.errno == unix.EPERM {
				other = unix.EBUSY
			}
			if errors.Is(err, other) {
				t.Errorf("Open = %v is also %v", err, other)
			}
		})
	}
}

// openInNS opens the device name in the namespace at nsPath on a thread of
// its own, without CAP_NET_ADMIN if dropCap, and returns Open's error. The
// thread is never unlocked, so it ends with its goroutine and its changed
// namespace and capabilities go with it.
func openInNS(t *testing.T, nsPath, name string, dropCap bool) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		fd, err := unix.Open(nsPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			done <- fmt.Errorf("open namespace: %w", err)
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("setns: %w", err)
			return
		}
		if dropCap {
			hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
			var data [2]unix.CapUserData
			if err := unix.Capget(&hdr, &data[0]); err != nil {
				done <- fmt.Errorf("capget: %w", err)
				return
			}
			data[0].Effective &^= 1 << unix.CAP_NET_ADMIN
			if err := unix.Capset(&hdr, &data[0]); err != nil {
				done <- fmt.Errorf("capset: %w", err)
				return
			}
		}
		d, err := tun.Open(name, 0)
		if err == nil {
			d.Close()
			err = errors.New("Open succeeded")
		}
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(timeout):
		t.Fatal("Open did not return")
		return nil
	}
}

// TestReadTruncated checks that a packet longer than the buffer is cut
// and reported, and that one that just fits is not.
func TestReadTruncated(t *testing.T) {
	ns, dev := setup(t)
	stop := time.AfterFunc(timeout, func() { dev.Close() }) // bounds the reads
	defer stop.Stop()
	const synLen = 20 + 40 // IPv4 header, TCP header with 20 bytes of options
	for _, size := range []int{30, synLen} {
		connect(t, ns, netip.AddrPortFrom(netns.StackAddr4, 80))
		n, err := readIPv4(t, dev, make([]byte, size))
		if size < synLen && (n != size || err == nil) {
			t.Errorf("ReadPacket of a SYN into %d bytes = %d, %v; want %d and an error", size, n, err, size)
		}
		if size == synLen && (n != size || err != nil) {
			t.Errorf("ReadPacket of a SYN into %d bytes = %d, %v; want %d and no error", size, n, err, size)
		}
	}
}

// readIPv4 reads into buf until an IPv4 packet comes.
func readIPv4(t *testing.T, dev *tun.Device, buf []byte) (int, error) {
	t.Helper()
	for range 100 {
		n, err := dev.ReadPacket(buf)
		if errors.Is(err, net.ErrClosed) {
			t.Fatalf("no IPv4 packet in %v", timeout)
		}
		if n > 0 && buf[0]>>4 == 4 {
			return n, err
		}
	}
	t.Fatal("no IPv4 packet in 100")
	return 0, nil
}
