//go:build linux

package tun_test

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave"
	"github.com/tcpwave/tcpwave/internal/netns"
	"github.com/tcpwave/tcpwave/link"
	"github.com/tcpwave/tcpwave/link/tun"
)

// offloadMTU is the MTU of the devices with offload: Ethernet's, so the
// segments inside a super-packet are the usual 1448-byte ones.
const offloadMTU = 1500

// watched is a link.Offloader that records the largest super-packet
// written and the largest packet read, which show that offload happened.
// It passes checksum offload on too (link.ChecksumOffloader), when the
// device has it, and counts the packets it vouched for and those written
// with partial checksums.
type watched struct {
	link.Offloader
	gsoWrites     atomic.Int64 // WriteGSO (or WritePartial) calls with more than MTU bytes
	maxGSOWrite   atomic.Int64 // bytes of the largest of them
	bigReads      atomic.Int64 // reads of more than MTU bytes
	maxRead       atomic.Int64 // bytes of the largest read
	checkedReads  atomic.Int64 // packets read whose checksum the device vouched for
	partialWrites atomic.Int64 // packets and super-packets written with partial checksums
}

func (w *watched) WriteGSO(pkt []byte, segSize int) error {
	w.wroteGSO(pkt)
	return w.Offloader.WriteGSO(pkt, segSize)
}

func (w *watched) wroteGSO(pkt []byte) {
	if len(pkt) > w.MTU() {
		w.gsoWrites.Add(1)
		atomicMax(&w.maxGSOWrite, int64(len(pkt)))
	}
}

func (w *watched) ReadPacket(buf []byte) (int, error) {
	n, err := w.Offloader.ReadPacket(buf)
	w.read(n, err)
	return n, err
}

func (w *watched) read(n int, err error) {
	if err == nil && n > w.MTU() {
		w.bigReads.Add(1)
		atomicMax(&w.maxRead, int64(n))
	}
}

// ChecksumOffload is the device's (link.ChecksumOffloader), false for an
// endpoint without checksum offload.
func (w *watched) ChecksumOffload() bool {
	c, ok := w.Offloader.(link.ChecksumOffloader)
	return ok && c.ChecksumOffload()
}

// ReadPacketChecked passes the device's on (link.ChecksumOffloader).
func (w *watched) ReadPacketChecked(buf []byte, wait bool) (int, bool, error) {
	n, checked, err := w.Offloader.(link.ChecksumOffloader).ReadPacketChecked(buf, wait)
	w.read(n, err)
	if checked {
		w.checkedReads.Add(1)
	}
	return n, checked, err
}

// WritePartial passes the device's on (link.ChecksumOffloader).
func (w *watched) WritePartial(pkt []byte, segSize int) error {
	w.partialWrites.Add(1)
	if segSize > 0 {
		w.wroteGSO(pkt)
	}
	return w.Offloader.(link.ChecksumOffloader).WritePartial(pkt, segSize)
}

// PollPacket passes the device's PollPacket on (link.Poller), so that
// the host batches its reads as it does on the device itself.
func (w *watched) PollPacket(buf []byte) (int, error) {
	n, err := w.Offloader.(link.Poller).PollPacket(buf)
	w.read(n, err)
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
