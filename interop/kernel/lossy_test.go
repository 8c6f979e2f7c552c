//go:build linux

package kernel_test

import (
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/link/faulty"
)

// lossySize is each direction's data in TestLossyTransfer. On this
// network tcpwave sends at about 1.3 Mbit/s (the kernel at about 11):
// 1 MiB each way takes 5 to 10 s.
const lossySize = 1 << 20

// lossyFaults are the network: loss 5%, delay 5 ms, reorder 10%
// (netem loss 5% delay 5ms reorder 10%).
var lossyFaults = faulty.Config{Seed: 1, Loss: 0.05, Delay: 5 * time.Millisecond, Reorder: 0.10}

// TestLossyTransfer is TestBulk on a poor network: loss 5%, delay 5 ms,
// reorder 10%, from netem on the TUN device when the kernel has it, and
// from a link/faulty between the device and tcpwave otherwise (this
// machine's kernel has no netem). Data goes both ways at once; every
// byte must arrive with its SHA-256, and both sides must end CLOSED or in
// TIME_WAIT.
func TestLossyTransfer(t *testing.T) {
	for _, d := range dialers {
		t.Run(d.String(), func(t *testing.T) {
			t.Parallel() // mostly waiting for retransmissions
			f := lossyFaults
			f.Seed = uint64(d) + 1
			r := newRig(t, rigConfig{netem: &f})
			p := r.pair(t, ipv4, d)
			transfer(t, p, d.client(), lossySize, lossySize, time.Now().Add(time.Minute))
			r.pollFor = 20 * time.Second // a lost FIN waits for its retransmission
			r.checkCleanClose(t, p, d.client(), time.Minute)
			c := r.st.Counters()
			t.Logf("faults by %s; tcpwave: %d segments in, %d out, %d retransmitted", r.mechanism, c.InSegs, c.OutSegs, c.RetransSegs)
			if r.link != nil {
				for _, dir := range []faulty.Direction{faulty.Out, faulty.In} {
					s := r.link.Stats(dir)
					t.Logf("link %v: %+v", dir, s)
					if s.Lost == 0 || s.Reordered == 0 || s.Delayed == 0 {
						t.Errorf("link %v applied no loss, reordering or delay: %+v", dir, s)
					}
				}
			}
			if c.RetransSegs == 0 {
				t.Error("tcpwave retransmitted nothing on a lossy link")
			}
		})
	}
}
