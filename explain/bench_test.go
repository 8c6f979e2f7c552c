package explain

import (
	"bufio"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/tcp"
	"github.com/tcpwave/tcpwave/wire"
)

// genShort writes a raw-IP pcap of n short connections, one starting
// every millisecond, each a handshake, a request and a response, and a
// four-way close: 8 segments, their headers only (cut by a snap length of
// 40, the payload lengths in the IP headers). It returns the number of
// packets written.
func genShort(w io.Writer, n int) (int, error) {
	bw := bufio.NewWriterSize(w, 1<<20)
	h := make([]byte, 24)
	binary.LittleEndian.PutUint32(h[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(h[4:], 2)
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], 40)
	binary.LittleEndian.PutUint32(h[20:], linkRaw)
	bw.Write(h)
	type step struct {
		fromClient bool
		flags      wire.Flags
		seq, ack   uint32
		data       int
	}
	steps := []step{
		{true, wire.SYN, 0, 0, 0},
		{false, wire.SYN | wire.ACK, 0, 1, 0},
		{true, wire.ACK, 1, 1, 0},
		{true, wire.ACK | wire.PSH, 1, 1, 300},
		{false, wire.ACK | wire.PSH, 1, 301, 1200},
		{true, wire.ACK | wire.FIN, 301, 1201, 0},
		{false, wire.ACK | wire.FIN, 1201, 302, 0},
		{true, wire.ACK, 302, 1202, 0},
	}
	rec := make([]byte, 16+40)
	packets := 0
	for i := 0; i < n; i++ {
		cli := [4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}
		srv := [4]byte{192, 0, 2, 80}
		port := uint16(10000 + i%50000)
		for k, s := range steps {
			t := time.Duration(i)*time.Millisecond + time.Duration(k)*50*time.Microsecond
			binary.LittleEndian.PutUint32(rec[0:], uint32(t/time.Second))
			binary.LittleEndian.PutUint32(rec[4:], uint32(t%time.Second/time.Microsecond))
			binary.LittleEndian.PutUint32(rec[8:], 40)
			binary.LittleEndian.PutUint32(rec[12:], uint32(40+s.data))
			ip := rec[16:]
			clear(ip)
			ip[0] = 0x45
			binary.BigEndian.PutUint16(ip[2:], uint16(40+s.data))
			ip[8], ip[9] = 64, 6
			src, dst, sp, dp := cli, srv, port, uint16(80)
			seq, ack := 1000+s.seq, 7000+s.ack
			if !s.fromClient {
				src, dst, sp, dp = srv, cli, 80, port
				seq, ack = 7000+s.seq, 1000+s.ack
			}
			if !s.flags.Has(wire.ACK) {
				ack = 0
			}
			copy(ip[12:], src[:])
			copy(ip[16:], dst[:])
			tcp := ip[20:]
			binary.BigEndian.PutUint16(tcp[0:], sp)
			binary.BigEndian.PutUint16(tcp[2:], dp)
			binary.BigEndian.PutUint32(tcp[4:], seq)
			binary.BigEndian.PutUint32(tcp[8:], ack)
			tcp[12] = 5 << 4
			tcp[13] = byte(s.flags)
			binary.BigEndian.PutUint16(tcp[14:], 502)
			if _, err := bw.Write(rec); err != nil {
				return packets, err
			}
			packets++
		}
	}
	return packets, bw.Flush()
}

// heapAfterGC returns the live heap.
func heapAfterGC() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// heapPeak samples the heap (live and not yet collected objects) every
// millisecond until stop is called, which returns the largest sample:
// the peak the process's heap reached, garbage included, which is what a
// capture's reading costs in memory before the collector catches up.
func heapPeak() (stop func() uint64) {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	done := make(chan struct{})
	var wg sync.WaitGroup
	var peak uint64
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(sample)
			if v := sample[0].Value; v.Kind() == metrics.KindUint64 {
				peak = max(peak, v.Uint64())
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		return peak
	}
}

// TestMemoryBounded: a capture of many short connections, streamed, keeps
// a live heap that does not grow with its length: closed connections are
// handed over and forgotten.
func TestMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 800,000 packets")
	}
	const n = 100_000
	pr, pw := io.Pipe()
	go func() {
		_, err := genShort(pw, n)
		pw.CloseWithError(err)
	}()
	var early, late uint64
	seen := 0
	sum, err := Explain(pr, Options{MaxSegments: -1, Reuse: true}, func(c *Conn) {
		seen++
		if c.Close != CloseThreeWay || c.Final[Client] != tcp.TimeWait {
			t.Errorf("connection %d: %s, final %v", c.ID, c.Close, c.Final[Client])
		}
		switch seen {
		case n / 5:
			early = heapAfterGC()
		case n - 1:
			late = heapAfterGC()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Conns != n || seen != n {
		t.Fatalf("%d connections handed over, want %d", seen, n)
	}
	t.Logf("live heap after %d connections: %d KiB; after %d: %d KiB", n/5, early>>10, n-1, late>>10)
	if late > early+early/2+1<<20 {
		t.Errorf("the live heap grew from %d KiB to %d KiB over the capture", early>>10, late>>10)
	}
}

// BenchmarkExplain: summary mode (no ladder segments kept) over a
// generated capture of 10,000,000 packets (1,250,000 short connections),
// read from a file. It reports packets/s, the live heap after a fifth
// of the connections and at the end, and the peak heap (garbage included)
// over the first run. packets/cpu-s divides by the
// process's CPU time (the garbage collector's included), which a busy
// machine does not inflate as it does the wall clock.
func BenchmarkExplain(b *testing.B) {
	const n = 1_250_000
	path := filepath.Join(b.TempDir(), "short.pcap")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	packets, err := genShort(f, n)
	if err != nil {
		b.Fatal(err)
	}
	f.Close()
	b.ResetTimer()
	var early, late, peak uint64
	stopPeak := heapPeak()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		seen := 0
		_, err = Explain(f, Options{MaxSegments: -1, Reuse: true}, func(c *Conn) {
			seen++
			if i == 0 && (seen == n/5 || seen == n-1) {
				b.StopTimer()
				if seen == n/5 {
					early = heapAfterGC()
				} else {
					late = heapAfterGC()
				}
				b.StartTimer()
			}
		})
		f.Close()
		if i == 0 {
			peak = stopPeak()
		}
		if err != nil || seen != n {
			b.Fatalf("%d connections, %v", seen, err)
		}
	}
	b.ReportMetric(float64(packets)*float64(b.N)/b.Elapsed().Seconds(), "packets/s")
	if cpu := cpuTime() - cpu0; cpu > 0 { // the machine is shared: what one core does
		b.ReportMetric(float64(packets)*float64(b.N)/cpu.Seconds(), "packets/cpu-s")
	}
	b.ReportMetric(float64(early)/(1<<20), "MiB-heap-at-20%")
	b.ReportMetric(float64(late)/(1<<20), "MiB-heap-at-end")
	b.ReportMetric(float64(peak)/(1<<20), "MiB-peak-heap")
}
