//go:build linux

package kernel_test

import (
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/link/faulty"
	"github.com/tcpwave/tcpwave/tcp"
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
			r.checkLossyClose(t, p, d.client())
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

// checkLossyClose checks the end of a close on a lossy, reordering link:
// the side whose FIN went first passes through TIME_WAIT, the other ends
// CLOSED. Unlike on a clean link, a segment reordered behind the close can
// reach the kernel after its socket is gone; the kernel answers with RST,
// which ends tcpwave's TIME_WAIT early (Linux does the same to its own
// TIME_WAIT sockets: tcp_rfc1337=0). So tcpwave's TIME_WAIT may be cut
// short, but it must have been entered, and nothing may be left open.
func (r *rig) checkLossyClose(t *testing.T, p *conns, first side) {
	t.Helper()
	end := time.Now().Add(r.pollFor)
	for {
		path := r.rec.path(p.tuple())
		row, kernelListed := r.kernelRow(t, p)
		stackRow, stackListed := r.stackRow(p)
		var ok bool
		if first == stackSide {
			ok = contains(path, tcp.TimeWait) && (!stackListed || stackRow.State == tcp.TimeWait) && !kernelListed
		} else {
			// The kernel's TIME-WAIT can be cut short the same way.
			ok = (!kernelListed || row.State == "TIME-WAIT") && !stackListed && contains(path, tcp.LastAck)
		}
		if ok {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("close on the lossy link: tcpwave path %v (listed %v: %v), kernel %v (listed %v)", path, stackListed, stackRow.State, row, kernelListed)
		}
		time.Sleep(pollEvery)
	}
}
