//go:build linux

package kernel_test

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/link/faulty"
	"github.com/tcpwave/tcpwave/tcp"
	"golang.org/x/sys/unix"
)

// TestLossRace measures loss recovery against Linux's: the same transfer
// at 5% loss each way (delay 5 ms, or TCPWAVE_LOSSRACE_DELAY;
// TCPWAVE_LOSSRACE_REORDER adds that share of reordering) once with the kernel sending to tcpwave (Linux
// CUBIC's recovery, its RTOs from the namespace's TcpExtTCPTimeouts) and
// once with tcpwave sending to the kernel (tcpwave's, from its counters),
// each on a rig of its own. It is a measurement, not a check: it runs only
// when TCPWAVE_LOSSRACE_MIB gives the MiB to move, and logs a table.
func TestLossRace(t *testing.T) {
	mib, _ := strconv.Atoi(os.Getenv("TCPWAVE_LOSSRACE_MIB"))
	if mib <= 0 {
		t.Skip("a measurement: set TCPWAVE_LOSSRACE_MIB (e.g. 50) to run it; TCPWAVE_LOSSRACE_NORACK=1 turns RACK off")
	}
	rc := rigConfig{}
	if os.Getenv("TCPWAVE_LOSSRACE_NORACK") != "" {
		rc.tcp = func(c *tcp.Config) { c.RACK = false } // the RFC 6675 rules alone, as before RACK
	}
	reorder, _ := strconv.ParseFloat(os.Getenv("TCPWAVE_LOSSRACE_REORDER"), 64)
	delay := 5 * time.Millisecond
	if d, err := time.ParseDuration(os.Getenv("TCPWAVE_LOSSRACE_DELAY")); err == nil {
		delay = d
	}
	runs, _ := strconv.Atoi(os.Getenv("TCPWAVE_LOSSRACE_RUNS"))
	runs = max(runs, 1)
	size := int64(mib) << 20
	for run := range runs {
		for _, sender := range []side{kernelSide, stackSide} {
			f := faulty.Config{Seed: uint64(run*2+int(sender)) + 7, Loss: 0.05, Delay: delay, Reorder: reorder}
			rc.faults = f
			r := newRig(t, rc)
			p := r.pair(t, ipv4, stackDials)
			setCubic(t, p.kernel)
			k0 := kernelNstat(t, r)
			stop := make(chan struct{})
			done := make(chan struct{})
			if os.Getenv("TCPWAVE_LOSSRACE_VERBOSE") != "" {
				go func() { // samples both ends' windows
					defer close(done)
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						case <-time.After(200 * time.Millisecond):
						}
						if i%5 != 0 {
							continue
						}
						ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
						out, _ := r.ns.Exec(ctx, "ss", "-tin", "state", "established")
						cancel()
						info, _ := p.stack.Info()
						t.Logf("ss: %s", strings.Join(strings.Fields(string(out)), " "))
						t.Logf("tcpwave: %+v", info)
					}
				}()
			} else {
				close(done)
			}
			start := time.Now()
			transfer(t, p, sender, size, 0, time.Now().Add(10*time.Minute))
			el := time.Since(start)
			close(stop)
			<-done
			k1 := kernelNstat(t, r)
			c := r.st.Counters()
			if os.Getenv("TCPWAVE_LOSSRACE_VERBOSE") != "" {
				var diff []string
				for k, v := range k1 {
					if d := v - k0[k]; d != 0 && strings.HasPrefix(k, "TcpExt") {
						diff = append(diff, k+"="+strconv.FormatUint(d, 10))
					}
				}
				t.Logf("kernel: %v", diff)
				t.Logf("tcpwave: %+v", c)
			}
			if sender == kernelSide {
				t.Logf("run %d: Linux CUBIC sends %d MiB: %.1f s, %.2f Mbit/s, RTOs %d, retrans %d, lost retrans %d",
					run, mib, el.Seconds(), float64(size)*8/el.Seconds()/1e6,
					k1["TcpExtTCPTimeouts"]-k0["TcpExtTCPTimeouts"], k1["TcpRetransSegs"]-k0["TcpRetransSegs"],
					k1["TcpExtTCPLostRetransmit"]-k0["TcpExtTCPLostRetransmit"])
			} else {
				t.Logf("run %d: tcpwave sends %d MiB: %.1f s, %.2f Mbit/s, RTOs %d, retrans %d, lost retrans %d, recoveries %d, recovery fails %d",
					run, mib, el.Seconds(), float64(size)*8/el.Seconds()/1e6,
					c.TCPTimeouts, c.RetransSegs, c.TCPLostRetransmit, c.TCPSackRecovery, c.TCPSackRecoveryFail)
			}
		}
	}
}

// kernelNstat reads the namespace's TCP counters (nstat -az).
func kernelNstat(t *testing.T, r *rig) map[string]uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := r.ns.Exec(ctx, "nstat", "-a", "-s", "-z")
	if err != nil {
		t.Fatalf("nstat: %v", err)
	}
	m := map[string]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 {
			if v, err := strconv.ParseUint(f[1], 10, 64); err == nil {
				m[f[0]] = v
			}
		}
	}
	return m
}

// setCubic makes c's congestion control CUBIC (TCP_CONGESTION), whatever
// the machine's default: the issue compares with Linux CUBIC.
func setCubic(t *testing.T, c *net.TCPConn) {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptString(int(fd), unix.IPPROTO_TCP, unix.TCP_CONGESTION, "cubic")
	}); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatalf("TCP_CONGESTION cubic: %v", serr)
	}
}
