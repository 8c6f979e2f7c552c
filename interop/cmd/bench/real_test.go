//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/internal/netns"
)

// TestRealQuickJSON runs the real-link mode once with -quick and -json
// (a few seconds: namespaces, TUN devices, a veth pair) and checks every
// row: the specified fields, positive rates and times, ratios that
// match the values, no drops counted for 50 clients, and lossy links
// that made each peer's sender retransmit.
func TestRealQuickJSON(t *testing.T) {
	netns.Require(t) // root, /dev/net/tun and ip; with CI=true their lack fails the test
	var out, errs bytes.Buffer
	if code := run([]string{"-real", "-quick", "-json"}, &out, &errs); code != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", code, errs.String())
	}
	want := map[string]metric{}
	for _, w := range realWorkloads {
		for _, m := range w.metrics {
			want[m.name] = m
		}
	}
	type row struct {
		Workload    string   `json:"workload"`
		Unit        string   `json:"unit"`
		TCPWave     *float64 `json:"tcpwave"`
		GVisor      *float64 `json:"gvisor"`
		GVisorFD    *float64 `json:"gvisor_fd"`
		Kernel      *float64 `json:"kernel"`
		Ratio       *float64 `json:"ratio"`
		RatioFD     *float64 `json:"ratio_gvisor_fd"`
		RatioKernel *float64 `json:"ratio_kernel"`
	}
	lossy := map[string]bool{}
	for _, w := range realWorkloads {
		for _, m := range w.metrics {
			lossy[m.name] = w.loss > 0
		}
	}
	rows := map[string]row{}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		line := sc.Text()
		var r row
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		m, ok := want[r.Workload]
		switch {
		case !ok:
			t.Errorf("line %q: unknown workload", line)
			continue
		case r.Unit != m.unit:
			t.Errorf("%s: unit %q, want %q", r.Workload, r.Unit, m.unit)
		case r.TCPWave == nil || r.GVisor == nil || r.Kernel == nil:
			t.Errorf("line %q: a missing or null value", line)
			continue
		case lossy[r.Workload] != (r.GVisorFD == nil) || lossy[r.Workload] != (r.RatioFD == nil):
			// gVisor's fdbased endpoint has every row but the lossy ones.
			t.Errorf("line %q: gvisor_fd and its ratio should be null just for lossy rows", line)
			continue
		case (r.Ratio == nil || r.RatioKernel == nil) && !(m.lowerBetter && *r.TCPWave == 0):
			// Only tcpwave's zero of a lower-is-better count against
			// another's non-zero makes an infinite ratio, written as null.
			t.Errorf("line %q: a null ratio", line)
		}
		if _, dup := rows[r.Workload]; dup {
			t.Errorf("%s appears twice", r.Workload)
		}
		rows[r.Workload] = r
		tw, gv, k := *r.TCPWave, *r.GVisor, *r.Kernel
		switch r.Unit {
		case "MB/s", "req/s", "s":
			if !(tw > 0 && gv > 0 && k > 0) {
				t.Errorf("%s: values %v, %v, %v; want all positive", r.Workload, tw, gv, k)
				continue
			}
			if r.Ratio == nil || r.RatioKernel == nil {
				continue
			}
			checkRatio(t, r.Workload+" vs gvisor", *r.Ratio, tw, gv, m.lowerBetter)
			if r.GVisorFD != nil {
				if !(*r.GVisorFD > 0) {
					t.Errorf("%s: gvisor-fd %v, want positive", r.Workload, *r.GVisorFD)
				} else {
					checkRatio(t, r.Workload+" vs gvisor-fd", *r.RatioFD, tw, *r.GVisorFD, m.lowerBetter)
				}
			}
			checkRatio(t, r.Workload+" vs kernel", *r.RatioKernel, tw, k, m.lowerBetter)
		case "packets":
			if tw != 0 || gv != 0 || k != 0 || *r.GVisorFD != 0 {
				t.Errorf("%s: %v, %v, %v, %v packets dropped by 50 clients' traffic", r.Workload, tw, gv, *r.GVisorFD, k)
			}
		default:
			if tw < 0 || gv < 0 || k < 0 {
				t.Errorf("%s: negative count in %v, %v, %v", r.Workload, tw, gv, k)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for name := range want {
		if _, ok := rows[name]; !ok {
			t.Errorf("no row for %s", name)
		}
	}
	// At 5% loss each way, each sender retransmits: 256 KiB is about 180
	// segments, all of which escape loss with a chance of 1 in 10,000.
	for _, dir := range []string{"s2k", "k2s"} {
		r, ok := rows["real-loss-5/"+dir+"/retrans"]
		if !ok || r.TCPWave == nil || r.GVisor == nil || r.Kernel == nil {
			continue
		}
		if *r.TCPWave == 0 || *r.GVisor == 0 || *r.Kernel == 0 {
			t.Errorf("real-loss-5/%s/retrans: %v, %v, %v; want every sender to have retransmitted", dir, *r.TCPWave, *r.GVisor, *r.Kernel)
		}
	}
}

// checkRatio checks that got says how many times better a is than b.
func checkRatio(t *testing.T, name string, got, a, b float64, lowerBetter bool) {
	t.Helper()
	want := a / b
	if lowerBetter {
		want = b / a
	}
	if math.Abs(got-want) > 0.01*want {
		t.Errorf("%s: ratio %v, want %v (%v against %v, lower is better: %v)", name, got, want, a, b, lowerBetter)
	}
}

// TestRealTable checks the table of the real-link mode: its columns,
// the rows given, and a missing value (gvisor-fd on a lossy row) shown
// as "-".
func TestRealTable(t *testing.T) {
	rows := []RealRow{
		{Workload: "real-bulk/k2s", Unit: "MB/s", TCPWave: 900, GVisor: 450, GVisorFD: 150, Kernel: 1800,
			Ratio: 2, RatioGVisorFD: 6, RatioKernel: 0.5},
		{Workload: "real-loss-5/s2k", Unit: "s", TCPWave: 10, GVisor: 20, GVisorFD: math.NaN(), Kernel: 10,
			Ratio: 2, RatioGVisorFD: math.NaN(), RatioKernel: 1},
	}
	var out bytes.Buffer
	printRealTable(&out, rows, options{count: 3}, realCC, time.Second)
	s := out.String()
	for _, want := range []string{"vs gvisor", "vs gvisor-fd", "vs kernel", "median of 3 runs", "cubic",
		"real-bulk/k2s", "2.00x", "6.00x", "0.50x", "real-loss-5/s2k"} {
		if !strings.Contains(s, want) {
			t.Errorf("table lacks %q:\n%s", want, s)
		}
	}
	var loss string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "real-loss-5/s2k") {
			loss = l
		}
	}
	if f := strings.Fields(loss); len(f) != 9 || f[4] != "-" || f[7] != "-" {
		t.Errorf("lossy row %q: want 9 columns, gvisor-fd and its ratio as -", loss)
	}
	b, err := json.Marshal(rows[1])
	if err != nil || !strings.Contains(string(b), `"gvisor_fd":null`) || !strings.Contains(string(b), `"ratio_gvisor_fd":null`) {
		t.Errorf("lossy row as JSON: %s, %v; want gvisor_fd and its ratio null", b, err)
	}
}

func TestSelectRealWorkloads(t *testing.T) {
	all, err := selectRealWorkloads("all")
	if err != nil || len(all) != len(realWorkloads) {
		t.Fatalf("all: %d workloads, %v", len(all), err)
	}
	sel, err := selectRealWorkloads("real-loss-5,real-bulk")
	if err != nil || len(sel) != 2 || sel[0].name != "real-loss-5" || sel[1].name != "real-bulk" {
		t.Fatalf("got %v, %v", sel, err)
	}
	if _, err := selectRealWorkloads("bulk-1500"); err == nil {
		t.Error("bulk-1500 accepted as a real workload")
	}
}

// TestRealInterrupt interrupts a real-link run (this test binary again,
// as a child process) once it has made a namespace and checks that the
// command deletes its namespaces before it exits.
func TestRealInterrupt(t *testing.T) {
	netns.Require(t)
	if os.Getenv("BENCH_REAL_INTERRUPT_CHILD") == "1" {
		os.Exit(run([]string{"-real", "-workloads", "real-bulk"}, os.Stdout, os.Stderr))
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestRealInterrupt$")
	cmd.Env = append(os.Environ(), "BENCH_REAL_INTERRUPT_CHILD=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	// The child's namespaces are named after its process ID.
	prefix := fmt.Sprintf("%s-%d-", netns.Prefix, pid)
	left := func() []string {
		var names []string
		entries, _ := os.ReadDir(netns.Dir)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), prefix) {
				names = append(names, e.Name())
			}
		}
		return names
	}
	deadline := time.Now().Add(60 * time.Second)
	for len(left()) == 0 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-waited
			t.Fatalf("no namespace %s* after 60 s; stderr:\n%s", prefix, stderr.String())
		}
		select {
		case err := <-waited:
			t.Fatalf("the run ended (%v) before it made a namespace; stderr:\n%s", err, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	time.Sleep(300 * time.Millisecond) // most often mid-run, sometimes still building
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-waited:
		if err == nil {
			t.Errorf("interrupted run exited 0; stderr:\n%s", stderr.String())
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-waited
		t.Fatalf("interrupted run still going after 60 s; stderr:\n%s", stderr.String())
	}
	if names := left(); len(names) != 0 {
		for _, n := range names {
			exec.Command("ip", "netns", "del", n).Run()
		}
		t.Errorf("namespaces left after the interrupt: %v; stderr:\n%s", names, stderr.String())
	}
	if !strings.Contains(stderr.String(), "namespaces deleted") {
		t.Errorf("stderr does not say the namespaces were deleted:\n%s", stderr.String())
	}
}

// TestRealOnceProfileError: a run whose CPU profile cannot be written
// fails and deletes the network it built.
func TestRealOnceProfileError(t *testing.T) {
	netns.Require(t)
	_, err := runRealOnce(realWorkloads[0], realTCPWave, realQuick, 1, filepath.Join(t.TempDir(), "no", "such", "dir"))
	if err == nil || !strings.Contains(err.Error(), "cpu profile") {
		t.Fatalf("err = %v; want a cpu profile error", err)
	}
	prefix := fmt.Sprintf("%s-%d-", netns.Prefix, os.Getpid())
	entries, _ := os.ReadDir(netns.Dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			t.Errorf("namespace %s left behind", e.Name())
		}
	}
}

// loopEnd is an end on this host's loopback, for tests of the
// workloads' code that need no namespace: its dials go to its own
// listener, whatever address they name.
type loopEnd struct{ ln net.Listener }

func (l *loopEnd) listen(int) (net.Listener, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	l.ln = ln
	return ln, err
}

func (l *loopEnd) dial(ctx context.Context, _ netip.AddrPort) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp4", l.ln.Addr().String())
}

func (l *loopEnd) addr() netip.Addr           { return netip.MustParseAddr("127.0.0.1") }
func (l *loopEnd) counts() (tcpCounts, error) { return tcpCounts{}, nil }

// TestRealHTTPAtLeastOne: every client makes a request even when the
// measurement is over before it starts (a busy machine, a short -quick
// run), so that a rate is never 0.
func TestRealHTTPAtLeastOne(t *testing.T) {
	l := &loopEnd{}
	for _, keepAlive := range []bool{true, false} {
		rate, err := realHTTP(context.Background(), l, l, 0, 3, keepAlive, 0)
		if err != nil || !(rate > 0) {
			t.Errorf("keep-alive %v: %v requests/s, %v; want some", keepAlive, rate, err)
		}
	}
}
