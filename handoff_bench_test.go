package tcpwave

import (
	"runtime/metrics"
	"syscall"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/link/pipe"
	"github.com/tcpwave/tcpwave/tcp"
)

// BenchmarkHandOff streams data one way between two hosts on link/pipe,
// 64 KiB writes and reads, at MTU 1500, at 65535 and with segmentation
// offload, and reports besides the throughput what the hand-off between
// the host's goroutines costs: the time goroutines waited for a
// sync.Mutex in the process (runtime/metrics /sync/mutex/wait/total),
// per packet the sender wrote to the link and per MB; the host locks
// taken per such packet, on each side; the cores used (CPU time of the
// process over wall time) and the CPU time per MB, which a busy machine
// changes less than the throughput.
func BenchmarkHandOff(b *testing.B) {
	tests := []struct {
		name string
		ends func() (*pipe.End, *pipe.End)
		mss  uint16
	}{
		{"mtu1500", func() (*pipe.End, *pipe.End) { return pipe.NewEnds(1500, 0) }, 0},
		{"mtu65535", func() (*pipe.End, *pipe.End) { return pipe.NewEnds(65535, 0) }, 65495},
		{"offload", func() (*pipe.End, *pipe.End) { return pipe.NewOffload(1500, 65535, 0) }, 0},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			ea, eb := tt.ends()
			var opts []Option
			if tt.mss != 0 {
				opts = append(opts, WithTCP(func(c *tcp.Config) { c.MSS = tt.mss }))
			}
			sa, sb := hostsOn(b, ea, eb, opts...)
			client, server := connPair(b, sa, sb)
			done := make(chan struct{})
			go func() {
				defer close(done)
				buf := make([]byte, 64<<10)
				for {
					if _, err := server.Read(buf); err != nil {
						return
					}
				}
			}()
			chunk := make([]byte, 64<<10)
			// Warm up: the windows and buffers grow to their steady sizes.
			for range 256 {
				client.Write(chunk)
			}
			holds := func(s *Stack) (h uint64) {
				s.run(func() { h = s.holds })
				return h
			}
			pk0, ha0, hb0 := eb.Stats().Sent, holds(sa), holds(sb)
			w0, c0, t0 := mutexWait(), procCPU(), time.Now()
			b.SetBytes(int64(len(chunk)))
			b.ResetTimer()
			for range b.N {
				if _, err := client.Write(chunk); err != nil {
					b.Fatal(err)
				}
			}
			client.CloseWrite()
			<-done
			b.StopTimer()
			wall, cpu, wait := time.Since(t0), procCPU()-c0, mutexWait()-w0
			pkts := float64(eb.Stats().Sent - pk0)
			mb := float64(b.N) * float64(len(chunk)) / 1e6
			b.ReportMetric(wait.Seconds()*1e9/pkts, "mutex-wait-ns/pkt")
			b.ReportMetric(wait.Seconds()*1e6/mb, "mutex-wait-us/MB")
			b.ReportMetric(float64(holds(sb)-hb0)/pkts, "sender-locks/pkt")
			b.ReportMetric(float64(holds(sa)-ha0)/pkts, "receiver-locks/pkt")
			b.ReportMetric(cpu.Seconds()/wall.Seconds(), "cores")
			b.ReportMetric(cpu.Seconds()*1e6/mb, "cpu-us/MB")
		})
	}
}

// mutexWait is the time goroutines have waited for a sync.Mutex or
// sync.RWMutex in this process.
func mutexWait() time.Duration {
	s := []metrics.Sample{{Name: "/sync/mutex/wait/total:seconds"}}
	metrics.Read(s)
	return time.Duration(s[0].Value.Float64() * 1e9)
}

// procCPU is the user and system CPU time of this process.
func procCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
