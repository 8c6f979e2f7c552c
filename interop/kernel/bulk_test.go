//go:build linux

package kernel_test

import (
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/tcp"
)

// bulkSize is each direction's data in TestBulk.
const bulkSize = 64 << 20

// bulkTimeout bounds one bulk transfer. 64 MiB each way takes about
// 0.5 s, and about 5 s with the race detector.
const bulkTimeout = 60 * time.Second

// TestBulk moves 64 MiB each way at once between tcpwave and the kernel,
// with tcpwave as the client and as the server, over IPv4 and IPv6,
// checks every byte by SHA-256, and closes cleanly: the client shuts
// down its sending half after its data, so its FIN is the first and it
// ends in TIME_WAIT, Linux's 60 s on both sides; the server passes
// CLOSE_WAIT and LAST_ACK and ends CLOSED.
func TestBulk(t *testing.T) {
	for _, fam := range families {
		for _, d := range dialers {
			t.Run(fam.name+"/"+d.String(), func(t *testing.T) {
				r := newRig(t, rigConfig{direct: true}) // Linux's timers, TIME_WAIT 60 s
				p := r.pair(t, fam, d)
				transfer(t, p, d.client(), bulkSize, bulkSize, time.Now().Add(bulkTimeout))
				r.checkCleanClose(t, p, d.client(), time.Minute)
				c := r.st.Counters()
				t.Logf("tcpwave: %d segments in, %d out, %d retransmitted", c.InSegs, c.OutSegs, c.RetransSegs)
				if c.OutRsts != 0 || c.EstabResets != 0 {
					t.Errorf("resets in a clean transfer: %+v", c)
				}
			})
		}
	}
}

// checkCleanClose checks how a transfer's close ended: first, whose FIN
// went first, holds TIME_WAIT (tcpwave's lasting tw); the other side
// passed CLOSE_WAIT and LAST_ACK and is gone.
func (r *rig) checkCleanClose(t *testing.T, p *conns, first side, tw time.Duration) {
	t.Helper()
	if first == stackSide {
		row := r.waitStack(t, p, tcp.TimeWait)
		if row.TimerLeft <= tw-10*time.Second || row.TimerLeft > tw {
			t.Errorf("tcpwave TIME_WAIT timer: %v left, want about %v", row.TimerLeft, tw)
		}
		r.waitKernel(t, p, "")
		r.checkActiveClosePath(t, p)
		return
	}
	r.waitKernelTimeWait(t, p)
	r.waitStack(t, p, tcp.Closed)
	r.checkStackPath(t, p, tcp.Established, tcp.CloseWait, tcp.LastAck, tcp.Closed)
}

// checkActiveClosePath checks tcpwave's states when its FIN went first
// and the kernel's followed: the kernel's ACK of our FIN comes alone
// (FIN_WAIT_2, then TIME_WAIT on its FIN), or, when the kernel closed
// before it sent that ACK, rides on its FIN (FIN_WAIT_1 straight to
// TIME_WAIT, the three-way close).
func (r *rig) checkActiveClosePath(t *testing.T, p *conns) {
	t.Helper()
	if contains(r.rec.path(p.tuple()), tcp.FinWait2) {
		r.checkStackPath(t, p, tcp.Established, tcp.FinWait1, tcp.FinWait2, tcp.TimeWait)
	} else {
		r.checkStackPath(t, p, tcp.Established, tcp.FinWait1, tcp.TimeWait)
	}
}
