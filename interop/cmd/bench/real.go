//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"
)

// The real-link mode (-real) measures the stacks against the Linux
// kernel over real links, in network namespaces the bench makes and
// deletes (see realnet.go for the networks). Its columns: tcpwave and
// gVisor each on a TUN device, and two kernels joined by a veth pair
// (or, with loss, by two TUN devices and a userspace forwarder), the
// ceiling. "k2s" is the kernel end as client sending to the peer (the
// stack, or the second kernel) as server; "s2k" the peer as client
// sending to the kernel end.
//
// Its workloads:
//
//	real-bulk     200 MiB of random data on a new connection, each way,
//	              checked byte by byte at the receiver and timed from the
//	              Dial to the receiver's EOF (MB/s, 10^6 bytes), and the
//	              CPU time this process used meanwhile per GiB moved
//	              (/cpu: getrusage, user and system: the kernel's work
//	              in the system calls of both ends is in it, as is
//	              the checking, but not what ksoftirqd threads do), a
//	              measure that a busy machine disturbs less than time
//	real-http     HTTP/1.1 GETs of a 1 KiB body: net/http's server on
//	              the peer, net/http's client in the kernel end's
//	              namespace, 8 clients for 2 s, with keep-alive and
//	              with one connection per request (requests/s)
//	real-c1000    the same with keep-alive and 1000 clients, each on a
//	              connection of its own (requests/s), and the packets the
//	              links' devices dropped meanwhile (/drops: a TUN
//	              device's tx_dropped is its queue's overflow, when its
//	              reader is too slow)
//	real-loss-1   50 MiB each way with 1% of packets lost in each
//	              direction, on links without offload: the time (s), and
//	              the sender's retransmitted segments (/retrans) and
//	              retransmission timeouts (/rto): the kernel's
//	              TcpRetransSegs and TcpExtTCPTimeouts (as nstat shows
//	              them), tcpwave's counters of the same names, gVisor's
//	              TCP.Retransmits and TCP.Timeouts
//	real-loss-5   the same with 5% loss
//
// The ratios say how many times better tcpwave is than gVisor (vs gvisor)
// and than the kernel pair (vs kernel), >1 favouring tcpwave.

// realSizes are the lengths of the real-link workloads.
type realSizes struct {
	bulk      int64         // bytes of each real-bulk transfer
	httpDur   time.Duration // each real-http measurement
	httpConns int           // clients of real-http
	manyConns int           // clients of real-c1000
	manyDur   time.Duration // the real-c1000 measurement
	loss      int64         // bytes of each real-loss transfer
}

var (
	realDefault = realSizes{bulk: 200 << 20, httpDur: 2 * time.Second, httpConns: 8, manyConns: 1000, manyDur: 3 * time.Second, loss: 50 << 20}
	realQuick   = realSizes{bulk: 2 << 20, httpDur: 100 * time.Millisecond, httpConns: 4, manyConns: 50, manyDur: 150 * time.Millisecond, loss: 256 << 10}
)

// realWorkload is one workload of the real-link mode: run measures its
// metrics once on n.
type realWorkload struct {
	name    string
	metrics []metric
	loss    float64 // the links' loss; 0: links with offload
	run     func(ctx context.Context, n *realNet, sz realSizes) ([]float64, error)
}

var realWorkloads = []*realWorkload{
	{
		name: "real-bulk",
		metrics: []metric{
			{"real-bulk/k2s", "MB/s", false},
			{"real-bulk/k2s/cpu", "CPU s/GiB", true},
			{"real-bulk/s2k", "MB/s", false},
			{"real-bulk/s2k/cpu", "CPU s/GiB", true},
		},
		run: func(ctx context.Context, n *realNet, sz realSizes) ([]float64, error) {
			var out []float64
			for i, d := range []struct{ from, to end }{{n.kernel, n.peer}, {n.peer, n.kernel}} {
				cpu0 := cpuTime()
				t, err := realBulk(ctx, d.from, d.to, 5001+i, sz.bulk)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", []string{"k2s", "s2k"}[i], err)
				}
				cpu := cpuTime() - cpu0
				out = append(out, float64(sz.bulk)/1e6/t.Seconds(), cpu.Seconds()/(float64(sz.bulk)/(1<<30)))
			}
			return out, nil
		},
	},
	{
		name: "real-http",
		metrics: []metric{
			{"real-http/keepalive", "req/s", false},
			{"real-http/conn-per-req", "req/s", false},
		},
		run: func(ctx context.Context, n *realNet, sz realSizes) ([]float64, error) {
			ka, err := realHTTP(ctx, n.kernel, n.peer, 8001, sz.httpConns, true, sz.httpDur)
			if err != nil {
				return nil, fmt.Errorf("keep-alive: %w", err)
			}
			cpr, err := realHTTP(ctx, n.kernel, n.peer, 8002, sz.httpConns, false, sz.httpDur)
			if err != nil {
				return nil, fmt.Errorf("one connection per request: %w", err)
			}
			return []float64{ka, cpr}, nil
		},
	},
	{
		name: "real-c1000",
		metrics: []metric{
			{"real-c1000", "req/s", false},
			{"real-c1000/drops", "packets", true},
		},
		run: func(ctx context.Context, n *realNet, sz realSizes) ([]float64, error) {
			d0, err := n.drops(ctx)
			if err != nil {
				return nil, err
			}
			rps, err := realHTTP(ctx, n.kernel, n.peer, 8003, sz.manyConns, true, sz.manyDur)
			if err != nil {
				return nil, err
			}
			d1, err := n.drops(ctx)
			if err != nil {
				return nil, err
			}
			return []float64{rps, float64(d1 - d0)}, nil
		},
	},
	realLossWorkload("real-loss-1", 0.01),
	realLossWorkload("real-loss-5", 0.05),
}

// realLossWorkload is a real-loss workload with loss in each direction.
func realLossWorkload(name string, loss float64) *realWorkload {
	return &realWorkload{
		name: name,
		loss: loss,
		metrics: []metric{
			{name + "/s2k", "s", true},
			{name + "/s2k/retrans", "segments", true},
			{name + "/s2k/rto", "timeouts", true},
			{name + "/k2s", "s", true},
			{name + "/k2s/retrans", "segments", true},
			{name + "/k2s/rto", "timeouts", true},
		},
		run: func(ctx context.Context, n *realNet, sz realSizes) ([]float64, error) {
			var out []float64
			for i, d := range []struct{ from, to end }{{n.peer, n.kernel}, {n.kernel, n.peer}} {
				c0, err := d.from.counts()
				if err != nil {
					return nil, err
				}
				t, err := realBulk(ctx, d.from, d.to, 6001+i, sz.loss)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", []string{"s2k", "k2s"}[i], err)
				}
				c1, err := d.from.counts()
				if err != nil {
					return nil, err
				}
				out = append(out, t.Seconds(), float64(c1.retrans-c0.retrans), float64(c1.timeouts-c0.timeouts))
			}
			return out, nil
		},
	}
}

// realBulk moves n bytes of xferPattern from one end to a listener on
// the other on a new connection, checks them at the receiver and returns
// the time from the Dial to the receiver's EOF.
func realBulk(ctx context.Context, from, to end, port int, n int64) (time.Duration, error) {
	ln, err := to.listen(port)
	if err != nil {
		return 0, fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	type result struct {
		n   int64
		err error
	}
	got := make(chan result, 1)
	limit := time.Now().Add(connTimeout + time.Duration(n/(256<<10))*time.Second) // at least 256 KiB/s
	go func() {
		s, err := ln.Accept()
		if err != nil {
			got <- result{err: fmt.Errorf("accept: %w", err)}
			return
		}
		defer s.Close()
		if err := checkCC(s); err != nil {
			got <- result{err: fmt.Errorf("accepted: %w", err)}
			return
		}
		s.SetDeadline(limit)
		k, err := xferRead(s)
		got <- result{k, err}
	}()
	start := time.Now()
	c, err := from.dial(ctx, netip.AddrPortFrom(to.addr(), uint16(port)))
	if err != nil {
		ln.Close()
		<-got
		return 0, fmt.Errorf("dial: %w", err)
	}
	defer c.Close()
	if err := checkCC(c); err != nil {
		ln.Close()
		<-got
		return 0, fmt.Errorf("dialled: %w", err)
	}
	c.SetDeadline(limit)
	hc, ok := c.(halfCloser)
	if !ok {
		return 0, fmt.Errorf("%T cannot half-close", c)
	}
	wrote := make(chan error, 1)
	go func() { wrote <- xferWrite(hc, n) }()
	r := <-got
	elapsed := time.Since(start)
	if r.err != nil {
		c.Close()
		<-wrote
		return 0, fmt.Errorf("read after %d bytes: %w", r.n, r.err)
	}
	switch werr := <-wrote; {
	case werr != nil:
		return 0, fmt.Errorf("write: %w", werr)
	case r.n != n:
		return 0, fmt.Errorf("received %d bytes, want %d", r.n, n)
	}
	return elapsed, nil
}

// checkCC returns an error if c is a kernel connection whose congestion
// control is not realCC.
func checkCC(c net.Conn) error {
	if _, ok := c.(*net.TCPConn); !ok {
		return nil // a stack's
	}
	cc, err := congestionControl(c)
	if err != nil {
		return err
	}
	if cc != realCC {
		return fmt.Errorf("kernel connection with congestion control %q, want %q", cc, realCC)
	}
	return nil
}

// httpBody is what the real-http server answers every GET with.
var httpBody = bytes.Repeat([]byte("0123456789abcdef"), 64)

// realHTTP serves GETs with net/http on to and makes them from clients
// goroutines on from for dur, each client's requests one after the
// other, each at least one; keepAlive reuses connections, otherwise each
// request has one of its own. It returns the requests completed per
// second.
func realHTTP(ctx context.Context, from, to end, port, clients int, keepAlive bool, dur time.Duration) (float64, error) {
	ln, err := to.listen(port)
	if err != nil {
		return 0, fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(httpBody)
		}),
		ReadHeaderTimeout: connTimeout,
		ErrorLog:          nil,
	}
	served := make(chan struct{})
	go func() { defer close(served); srv.Serve(ln) }()
	defer func() { srv.Close(); <-served }()
	target := netip.AddrPortFrom(to.addr(), uint16(port))
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return from.dial(ctx, target)
		},
		DisableKeepAlives:   !keepAlive,
		MaxIdleConnsPerHost: clients,
		DisableCompression:  true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: connTimeout}
	url := "http://" + target.String() + "/"
	var done atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(dur)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// At least one request each, even for a client that a busy
			// machine starts after dur: a short run never measures 0.
			for {
				if err := get(client, url); err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
				done.Add(1)
				if !time.Now().Before(end) || ctx.Err() != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return 0, fmt.Errorf("after %d requests: %w", done.Load(), firstErr)
	}
	return float64(done.Load()) / elapsed.Seconds(), nil
}

// get makes one GET and checks the answer.
func get(c *http.Client, url string) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	switch {
	case err != nil:
		return err
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("status %s", resp.Status)
	case !bytes.Equal(b, httpBody):
		return fmt.Errorf("body of %d bytes differs from the %d sent", len(b), len(httpBody))
	}
	return nil
}

// RealRow is one measured quantity of the real-link mode: the median of
// each peer's runs (NaN for none), and how many times better tcpwave is
// than gVisor on link/tun (Ratio), than gVisor's fdbased endpoint
// (RatioGVisorFD) and than the kernel pair (RatioKernel).
type RealRow struct {
	Workload      string
	Unit          string
	TCPWave       float64
	GVisor        float64
	GVisorFD      float64
	Kernel        float64
	Ratio         float64
	RatioGVisorFD float64
	RatioKernel   float64
}

// MarshalJSON writes the row with four significant digits, a missing
// value and an infinite or undefined ratio as null.
func (r RealRow) MarshalJSON() ([]byte, error) {
	num := func(v float64) any {
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return nil
		}
		return round(v)
	}
	return json.Marshal(struct {
		Workload      string `json:"workload"`
		Unit          string `json:"unit"`
		TCPWave       any    `json:"tcpwave"`
		GVisor        any    `json:"gvisor"`
		GVisorFD      any    `json:"gvisor_fd"`
		Kernel        any    `json:"kernel"`
		Ratio         any    `json:"ratio"`
		RatioGVisorFD any    `json:"ratio_gvisor_fd"`
		RatioKernel   any    `json:"ratio_kernel"`
	}{r.Workload, r.Unit, num(r.TCPWave), num(r.GVisor), num(r.GVisorFD), num(r.Kernel),
		num(r.Ratio), num(r.RatioGVisorFD), num(r.RatioKernel)})
}

// selectRealWorkloads returns the real workloads list names
// (comma-separated; "all" for every one).
func selectRealWorkloads(list string) ([]*realWorkload, error) {
	if list == "all" {
		return realWorkloads, nil
	}
	var out []*realWorkload
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		var w *realWorkload
		for _, x := range realWorkloads {
			if x.name == name {
				w = x
			}
		}
		if w == nil {
			return nil, fmt.Errorf("unknown real workload %q (have %s)", name, strings.Join(realWorkloadNames(), ", "))
		}
		out = append(out, w)
	}
	return out, nil
}

// realRunTimeout bounds one run of a real workload on one peer.
const realRunTimeout = 5 * time.Minute

// runReal is the command with -real.
func runReal(o options, list string, stdout, stderr io.Writer) int {
	ws, err := selectRealWorkloads(list)
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 2
	}
	if err := realPreflight(); err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}
	defer deleteOnSignal(stderr)()
	sz := realDefault
	if o.quick {
		sz = realQuick
	}
	start := time.Now()
	var rows []RealRow
	failed := false
	enc := json.NewEncoder(stdout)
	for _, w := range ws {
		r, err := runRealWorkload(w, sz, o, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "bench: %s: %v\n", w.name, err)
			failed = true
			continue
		}
		rows = append(rows, r...)
		if o.json {
			for _, row := range r {
				if err := enc.Encode(row); err != nil {
					fmt.Fprintf(stderr, "bench: %v\n", err)
					return 1
				}
			}
		}
	}
	if !o.json {
		printRealTable(stdout, rows, o, realCC, time.Since(start))
	}
	if failed {
		return 1
	}
	return 0
}

// deleteOnSignal has the process, once it gets SIGINT or SIGTERM, delete
// the namespaces of the real-link mode and exit with status 128+signal;
// stop ends that.
func deleteOnSignal(stderr io.Writer) (stop func()) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-sigs:
			if err := liveNS.deleteAll(); err != nil {
				fmt.Fprintf(stderr, "bench: %v: deleting the namespaces: %v\n", sig, err)
			} else {
				fmt.Fprintf(stderr, "bench: %v: namespaces deleted\n", sig)
			}
			code := 128 + 2
			if s, ok := sig.(syscall.Signal); ok {
				code = 128 + int(s)
			}
			os.Exit(code)
		case <-done:
		}
	}()
	return func() {
		signal.Stop(sigs)
		close(done)
	}
}

// runRealWorkload runs w -count times on each peer, in turn, each run on
// a network of its own, and returns its rows.
func runRealWorkload(w *realWorkload, sz realSizes, o options, stderr io.Writer) ([]RealRow, error) {
	vals := runValues[realKind]{}
	for i := range o.count {
		for _, k := range realKinds {
			if k == realGVisorFD && w.loss > 0 {
				continue // its rows stay empty
			}
			prof := ""
			if o.cpuprofile != "" {
				prof = fmt.Sprintf("%s.%s-%s-%d", o.cpuprofile, w.name, k, i+1)
			}
			v, err := runRealOnce(w, k, sz, uint64(i+1), prof)
			if err != nil {
				return nil, fmt.Errorf("%s, run %d: %w", k, i+1, err)
			}
			if err := vals.add(k, v, len(w.metrics)); err != nil {
				return nil, err
			}
			if o.verbose {
				fmt.Fprintf(stderr, "bench: %s %s run %d: %v\n", w.name, k, i+1, v)
			}
		}
	}
	rows := make([]RealRow, len(w.metrics))
	for j, m := range w.metrics {
		t, g, gf, kk := vals.median(realTCPWave, j), vals.median(realGVisor, j), vals.median(realGVisorFD, j), vals.median(realKernel, j)
		rows[j] = RealRow{Workload: m.name, Unit: m.unit, TCPWave: t, GVisor: g, GVisorFD: gf, Kernel: kk,
			Ratio: ratio(t, g, m.lowerBetter), RatioGVisorFD: ratio(t, gf, m.lowerBetter), RatioKernel: ratio(t, kk, m.lowerBetter)}
	}
	return rows, nil
}

// runRealOnce builds the network of peer k for w, runs w once on it and
// tears it down; with a cpuprofile file name, it writes the run's CPU
// profile there.
func runRealOnce(w *realWorkload, k realKind, sz realSizes, seed uint64, cpuprofile string) (v []float64, err error) {
	n, err := newRealNet(k, w.loss, seed)
	if err != nil {
		return nil, fmt.Errorf("building the network: %w", err)
	}
	// Deferred first, so that it runs last and on every return: a
	// profile that cannot be written must not leave the network behind.
	defer func() {
		if cerr := n.close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("tearing the network down: %w", cerr))
		}
	}()
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return nil, fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	ctx, cancel := context.WithTimeout(context.Background(), realRunTimeout)
	defer cancel()
	return w.run(ctx, n, sz)
}

// printRealTable writes the real-link rows as an aligned table.
func printRealTable(w io.Writer, rows []RealRow, o options, cc string, total time.Duration) {
	mode := "default sizes"
	if o.quick {
		mode = "quick sizes"
	}
	fmt.Fprintf(w, "real links: the Linux kernel in a namespace against tcpwave and gVisor over a TUN device with offload (link/tun:\n")
	fmt.Fprintf(w, "virtio-net header, TSO, checksum offload), gVisor's fdbased endpoint on a plain TUN (gvisor-fd), and a second\n")
	fmt.Fprintf(w, "kernel over veth; loss rows on plain TUN links losing packets in userspace (link/faulty), none for gvisor-fd\n")
	fmt.Fprintf(w, "median of %d runs, %s, %s %s/%s, GOMAXPROCS %d, kernel congestion control %s\n",
		o.count, mode, runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0), cc)
	fmt.Fprintf(w, "k2s: kernel client sends to the peer's server; s2k: the peer's client sends to the kernel's server\n")
	fmt.Fprintf(w, "ratios: how many times better tcpwave is (>1 favours tcpwave)\n\n")
	cells := [][]string{{"workload", "unit", "tcpwave", "gvisor", "gvisor-fd", "kernel", "vs gvisor", "vs gvisor-fd", "vs kernel"}}
	for _, r := range rows {
		cells = append(cells, []string{r.Workload, r.Unit, formatNum(r.TCPWave), formatNum(r.GVisor), formatNum(r.GVisorFD), formatNum(r.Kernel),
			formatRatio(r.Ratio), formatRatio(r.RatioGVisorFD), formatRatio(r.RatioKernel)})
	}
	width := make([]int, len(cells[0]))
	for _, row := range cells {
		for i, c := range row {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	for _, row := range cells {
		var b strings.Builder
		for i, c := range row {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if i < 2 {
				b.WriteString(c + pad)
			} else {
				b.WriteString(pad + c)
			}
			if i < len(row)-1 {
				b.WriteString("  ")
			}
		}
		fmt.Fprintln(w, b.String())
	}
	fmt.Fprintf(w, "\ntotal %.1fs\n", total.Seconds())
}

// realWorkloadNames returns the names of the real-link workloads.
func realWorkloadNames() []string {
	var names []string
	for _, w := range realWorkloads {
		names = append(names, w.name)
	}
	return names
}
