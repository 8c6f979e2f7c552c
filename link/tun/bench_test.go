//go:build linux

package tun_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tcpwave/tcpwave/internal/netns"
)

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
