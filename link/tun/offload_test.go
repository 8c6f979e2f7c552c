//go:build linux

package tun_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave"
	"github.com/tcpwave/tcpwave/internal/netns"
	"github.com/tcpwave/tcpwave/link/tun"
	"github.com/tcpwave/tcpwave/wire"
)

// TestOffloadEcho: a kernel socket in the namespace sends 16 MiB of
// random data to a tcpwave echo server over a TUN device with offload
// and reads it back; both directions arrive whole (SHA-256). Offload
// really happened: tcpwave wrote super-packets (WriteGSO of more than
// MTU bytes) and read the kernel's (reads of more than MTU bytes), and so
// did checksum offload: tcpwave read packets whose checksums the kernel
// vouched for, unverified, and wrote packets with partial checksums for
// the kernel to trust. And the checksums were right: tcpwave counted no
// bad checksum, the kernel none either, and neither side had to
// retransmit more than a few segments (a bad checksum is a drop, and a
// drop a retransmission).
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
			t.Logf("tcpwave: %d packets read with checksums the kernel vouched for, %d written with partial checksums",
				r.w.checkedReads.Load(), r.w.partialWrites.Load())
			if r.w.checkedReads.Load() == 0 || r.w.partialWrites.Load() == 0 {
				t.Errorf("no checksum offload: %d packets read checked, %d written partial; want some of each",
					r.w.checkedReads.Load(), r.w.partialWrites.Load())
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
	checkCloseUnblocksRead(t, dev, dev.GSOMaxSize())
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

// TestOffloadNoAllocs: on a device with offload, writing a packet, writing
// a super-packet, both again with partial checksums (WritePartial), and
// reading what the kernel answers (its RSTs, whose checksums readRaw
// completes or ReadPacketChecked vouches for) allocate nothing: the iovecs, the
// virtio-net header and a super-packet's headers live in the device.
func TestOffloadNoAllocs(t *testing.T) {
	dev := newOffloadRigDevice(t)
	packet := func(payload int) []byte {
		p := wire.Packet{
			Src: netns.StackAddr4, Dst: netns.KernelPrefix4.Addr(),
			TCP:     wire.TCPFields{SrcPort: 40000, DstPort: 9, Seq: 1, Ack: 1, Flags: wire.ACK, Window: 1000},
			Payload: make([]byte, payload),
		}
		b := make([]byte, wire.PacketLen(&p))
		n, err := wire.EncodePacket(b, &p, 64, 1)
		if err != nil {
			t.Fatal(err)
		}
		return b[:n]
	}
	one, super := packet(100), packet(10*1400)
	partial := func(pkt []byte) []byte {
		pkt = bytes.Clone(pkt)
		binary.BigEndian.PutUint16(pkt[20+16:], wire.PseudoHeaderSum(netns.StackAddr4, netns.KernelPrefix4.Addr(), len(pkt)-20))
		return pkt
	}
	partialOne, partialSuper := partial(one), partial(super)
	buf := make([]byte, dev.GSOMaxSize())
	var read int
	allocs := testing.AllocsPerRun(100, func() {
		if err := dev.WritePacket(one); err != nil {
			t.Fatal(err)
		}
		if err := dev.WriteGSO(super, 1400); err != nil {
			t.Fatal(err)
		}
		if err := dev.WritePartial(partialOne, 0); err != nil {
			t.Fatal(err)
		}
		if err := dev.WritePartial(partialSuper, 1400); err != nil {
			t.Fatal(err)
		}
		for i := 0; ; i++ {
			var n int
			var err error
			if i%2 == 0 {
				n, err = dev.PollPacket(buf)
			} else {
				n, _, err = dev.ReadPacketChecked(buf, false)
			}
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				break
			}
			read++
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per write, super-packet write and reads, want 0", allocs)
	}
	if read == 0 {
		t.Error("read no packet from the kernel: the reads were not measured")
	}
}
