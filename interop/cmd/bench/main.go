// Command bench compares tcpwave with gVisor's netstack, workload by
// workload: each workload runs on two tcpwave stacks and on two gVisor
// stacks, each pair joined by the same kind of in-memory link
// (interop.Link: every packet copied into a buffer of its own, no
// checksum offload, so both stacks compute and verify every checksum;
// bulk-1500-offload adds segmentation offload, see below),
// through the same net.Conn code (interop.Host and interop.Conn).
//
// Usage:
//
//	cd interop && go run ./cmd/bench [-count N] [-workloads a,b,...] [-quick] [-json]
//
// It prints one row per measured quantity: the median of -count runs for
// each stack, and a ratio that always says how many times better tcpwave
// is (tcpwave/gvisor where higher is better, gvisor/tcpwave where lower
// is better), so that a ratio above 1 favours tcpwave. With -json it
// prints one JSON object per row, one per line:
//
//	{"workload":"bulk-1500","unit":"Gbit/s","tcpwave":5.1,"gvisor":1.5,"ratio":3.4}
//
// The workloads:
//
//	bulk-1500          one flow, MTU 1500, 64 KiB writes and reads, 1 s
//	                   measured after 0.2 s: goodput (Gbit/s), and CPU
//	                   time per GiB moved (row bulk-1500/cpu: getrusage
//	                   user+system of the run's process, which holds both
//	                   stacks of the pair, the link and the workload)
//	bulk-65535         the same on a 65535-byte MTU; both stacks take
//	                   their MSS from the link MTU (65495)
//	bulk-1500-offload  bulk-1500 on a link with segmentation offload for
//	                   both stacks, as a veth pair with TSO and GRO:
//	                   TCP super-packets of up to 64 KiB travel whole
//	                   (interop.LinkConfig.GSOMaxSize). tcpwave uses it
//	                   by itself; gVisor's NIC offers host GSO
//	                   (stack.HostGSOSupported), so its TCP leaves the
//	                   checksum partial, and the link host completes it
//	                   as a NIC with TX checksum offload would (with
//	                   gVisor's checksum code, in the same process).
//	                   Neither stack skips a checksum: tcpwave computes
//	                   and verifies all of them, gVisor verifies all of
//	                   them and has its transmit checksums completed by
//	                   the link. The run fails unless the client sent
//	                   over 4 segments a packet
//	churn-1            5,000 whole connections, one client at a time:
//	                   connect, one byte each way, the client closes
//	                   first, the server closes on EOF; lifecycles/s
//	churn-8            the same with 8 concurrent clients
//	handshake          from Dial until both Dial and Accept have
//	                   returned, one at a time: median µs of 2,000
//	idle-mem           heap bytes per endpoint (two per connection) with
//	                   10,000 idle connections open, and goroutines per
//	                   connection (row idle-mem/goroutines)
//	timewait-mem       heap bytes per connection with 50,000 connections
//	                   in TIME_WAIT (each stack's default 60 s TIME_WAIT),
//	                   right after the closes
//	allocs-per-segment steady-state bulk (0.5 s after 0.2 s): heap
//	                   allocations (runtime.MemStats.Mallocs) per TCP
//	                   segment sent by either stack (its own counters)
//	lossy-goodput      bulk goodput (1.5 s after 0.3 s) with 1% of packets
//	                   lost at random in each direction (the same seeded
//	                   loss for both)
//	xfer-MTU-LINK      whole transfers timed from the Dial, nothing
//	                   warmed up: for 64 KiB, 1 MiB and 16 MiB a new
//	                   connection moves that much random data, checked
//	                   byte by byte at the receiver, and the row (ms) is
//	                   the time from the Dial to the receiver's EOF; the
//	                   row of the workload's own name is a 2 GiB
//	                   transfer's goodput the same way (Gbit/s) and /cpu
//	                   its CPU time per GiB (with -quick the rows keep
//	                   their names but move 16 KiB, 64 KiB, 1 MiB and
//	                   2 MiB). MTU is
//	                   1500 or 65535; LINK is "shared" (the interop.Link
//	                   of the other workloads) or "native", each stack on
//	                   its own in-memory link (interop.NewNativePair:
//	                   link/pipe for tcpwave, two gVisor channel
//	                   endpoints joined by a goroutine a direction for
//	                   gVisor), the link its users would pick
//
// With -real (Linux, root, /dev/net/tun) the command instead measures
// both stacks against the Linux kernel over real links in network
// namespaces it makes: the kernel against tcpwave and against gVisor,
// each on a TUN device with offload, and against a second kernel over a
// veth pair, the ceiling; the table then has a column for each and two
// ratios (see real.go for the workloads and realnet.go for the
// networks). -count defaults to 1 there; a default run takes a few
// minutes, most of it the transfers at 5% loss:
//
//	cd interop && sudo go run ./cmd/bench -real [-workloads real-bulk,...] [-quick] [-json]
//
// Both stacks run with their own defaults (tcpwave's are Linux's; gVisor's
// are its own: 1 MiB buffers growing to 4 MiB, SACK, RACK, Reno), with
// two exceptions: the MSS on the jumbo link, and, in timewait-mem, the
// ephemeral port range, widened to 1024-65535 on both stacks so that
// 50,000 client ports fit (tcpwave allocates an ephemeral port for the
// whole host, not per destination, so more listener ports or client
// addresses would not help it).
//
// Every run is made in a child process of its own (the command runs
// itself again), on a fresh pair of stacks that it stops at the end,
// waiting for the goroutines to go back to where they were: so no run
// sees the heap, the garbage or the CPU time of another (a destroyed
// gVisor stack keeps its TIME_WAIT endpoints reachable for tens of
// seconds after Stack.Destroy). -inprocess makes every run in one
// process instead.
//
// A default run (-count 5) takes about two and a half minutes on two
// cores (150 s measured; timewait-mem is 65 s of it, most of that gVisor
// making and collecting its 50,000 endpoints); -quick -count 1 takes
// about five seconds.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tcpwave/tcpwave/interop"
)

func main() {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(child(spec, os.Stdout, os.Stderr))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Row is one measured quantity: the median of each stack's runs, and how
// many times better tcpwave is.
type Row struct {
	Workload string  `json:"workload"`
	Unit     string  `json:"unit"`
	TCPWave  float64 `json:"tcpwave"`
	GVisor   float64 `json:"gvisor"`
	Ratio    float64 `json:"ratio"`
}

// MarshalJSON writes the row with each number rounded to four
// significant digits; an infinite ratio (tcpwave measured zero of a
// lower-is-better quantity that gVisor did not) is written as null.
func (r Row) MarshalJSON() ([]byte, error) {
	var ratio any = round(r.Ratio)
	if math.IsInf(r.Ratio, 0) || math.IsNaN(r.Ratio) {
		ratio = nil
	}
	return json.Marshal(struct {
		Workload string  `json:"workload"`
		Unit     string  `json:"unit"`
		TCPWave  float64 `json:"tcpwave"`
		GVisor   float64 `json:"gvisor"`
		Ratio    any     `json:"ratio"`
	}{r.Workload, r.Unit, round(r.TCPWave), round(r.GVisor), ratio})
}

// round rounds v to four significant digits.
func round(v float64) float64 {
	if v == 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return v
	}
	p := math.Pow(10, 3-math.Floor(math.Log10(math.Abs(v))))
	return math.Round(v*p) / p
}

// ratio says how many times better t (tcpwave) is than g (gVisor).
func ratio(t, g float64, lowerBetter bool) float64 {
	if math.IsNaN(t) || math.IsNaN(g) {
		return math.NaN() // a value missing
	}
	if lowerBetter {
		t, g = g, t
	}
	switch {
	case t == 0 && g == 0:
		return 1
	case g == 0:
		return math.Inf(1)
	}
	return t / g
}

// options are the command's flags.
type options struct {
	count      int
	workloads  []*workload
	quick      bool
	json       bool
	verbose    bool
	inprocess  bool
	cpuprofile string
	memprofile string
}

// run is the command: it parses args, runs the workloads and writes the
// results to stdout, and progress and errors to stderr. It returns the
// exit status.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var list string
	fs.IntVar(&o.count, "count", 5, "runs per workload and stack; the median is reported")
	fs.StringVar(&list, "workloads", "all", "comma-separated workloads to run: "+strings.Join(workloadNames(), ", "))
	fs.BoolVar(&o.quick, "quick", false, "small sizes and short runs (for tests)")
	fs.BoolVar(&o.json, "json", false, "print one JSON object per row instead of a table")
	fs.BoolVar(&o.verbose, "v", false, "report each run on stderr")
	fs.BoolVar(&o.inprocess, "inprocess", false, "make every run in this process, not each in a child process of its own\n(memory rows then see what earlier runs left behind)")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write CPU profiles: one per run, to `file`.<workload>-<stack>-<run>\n(with -inprocess, one of the whole command, to file)")
	fs.StringVar(&o.memprofile, "memprofile", "", "write allocation profiles to `file`, named as -cpuprofile's")
	realMode := fs.Bool("real", false, "real-link mode: the Linux kernel in a namespace against each stack over a TUN device,\nand against a second kernel over veth (needs root and /dev/net/tun; -count defaults to 1;\n-workloads from: "+strings.Join(realWorkloadNames(), ", ")+")")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: bench [flags]\n\nRuns each workload on two tcpwave stacks and on two gVisor stacks and compares them.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bench: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if o.count < 1 {
		fmt.Fprintln(stderr, "bench: -count must be at least 1")
		return 2
	}
	if *realMode {
		countSet := false
		fs.Visit(func(f *flag.Flag) { countSet = countSet || f.Name == "count" })
		if !countSet {
			o.count = 1
		}
		return runReal(o, list, stdout, stderr)
	}
	var err error
	if o.workloads, err = selectWorkloads(list); err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 2
	}
	if o.inprocess && o.memprofile != "" {
		runtime.MemProfileRate = 64 << 10
	}
	if o.inprocess && o.cpuprofile != "" {
		f, err := os.Create(o.cpuprofile)
		if err != nil {
			fmt.Fprintf(stderr, "bench: %v\n", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "bench: %v\n", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}

	sz := defaultSizes
	if o.quick {
		sz = quickSizes
	}
	start := time.Now()
	var rows []Row
	var times []time.Duration
	failed := false
	for _, w := range o.workloads {
		t0 := time.Now()
		r, err := runWorkload(w, sz, o, stderr)
		times = append(times, time.Since(t0))
		if err != nil {
			fmt.Fprintf(stderr, "bench: %s: %v\n", w.name, err)
			failed = true
			continue
		}
		rows = append(rows, r...)
		if o.json {
			enc := json.NewEncoder(stdout)
			for _, row := range r {
				if err := enc.Encode(row); err != nil {
					fmt.Fprintf(stderr, "bench: %v\n", err)
					return 1
				}
			}
		}
	}
	total := time.Since(start)
	if o.json {
		fmt.Fprintf(stderr, "bench: %d workloads, -count %d, in %v\n", len(o.workloads), o.count, total.Round(time.Second/10))
	} else {
		printTable(stdout, rows, o, times, total)
	}
	if o.inprocess && o.memprofile != "" {
		if err := writeHeapProfile(o.memprofile); err != nil {
			fmt.Fprintf(stderr, "bench: %v\n", err)
			failed = true
		}
	}
	if failed {
		return 1
	}
	return 0
}

func writeHeapProfile(name string) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// runWorkload runs w -count times on each stack, alternating which goes
// first, each run in a child process of its own unless -inprocess, and
// returns its rows.
func runWorkload(w *workload, sz sizes, o options, stderr io.Writer) ([]Row, error) {
	kinds := []interop.Kind{interop.TCPWave, interop.GVisor}
	vals := runValues[interop.Kind]{}
	for i := range o.count {
		order := kinds
		if i%2 == 1 {
			order = []interop.Kind{interop.GVisor, interop.TCPWave}
		}
		for _, k := range order {
			var v []float64
			var err error
			if o.inprocess {
				v, err = runOnce(w, k, sz, i)
			} else {
				v, err = runChild(w, k, i, o)
			}
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
	rows := make([]Row, len(w.metrics))
	for j, m := range w.metrics {
		t, g := vals.median(interop.TCPWave, j), vals.median(interop.GVisor, j)
		rows[j] = Row{Workload: m.name, Unit: m.unit, TCPWave: t, GVisor: g, Ratio: ratio(t, g, m.lowerBetter)}
	}
	return rows, nil
}

// runTimeout bounds one run of one workload on one stack.
const runTimeout = 2 * time.Minute

// runOnce runs w once on kind k, bounded by runTimeout, and then waits
// for the goroutines the run started to end.
func runOnce(w *workload, k interop.Kind, sz sizes, i int) ([]float64, error) {
	runtime.GC()
	g0 := runtime.NumGoroutine()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	v, err := w.run(ctx, k, sz, i)
	if gerr := waitGoroutines(g0, 10*time.Second); gerr != nil && err == nil {
		err = gerr
	}
	return v, err
}

// waitGoroutines waits until no more than n goroutines are running.
func waitGoroutines(n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d goroutines still running after the run, %d before it", runtime.NumGoroutine(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

// runValues holds the values of each run, per peer and then per metric.
type runValues[K comparable] map[K][][]float64

// add records the values v of one run of peer k: one per metric of the
// workload's n.
func (rv runValues[K]) add(k K, v []float64, n int) error {
	if len(v) != n {
		return fmt.Errorf("%v: %d values for %d metrics", k, len(v), n)
	}
	if rv[k] == nil {
		rv[k] = make([][]float64, n)
	}
	for j := range v {
		rv[k][j] = append(rv[k][j], v[j])
	}
	return nil
}

// median returns the median of peer k's values of metric j, or NaN when
// k has none.
func (rv runValues[K]) median(k K, j int) float64 {
	if j >= len(rv[k]) {
		return math.NaN()
	}
	return median(rv[k][j])
}

// median returns the median of v (the mean of the middle two when v has
// an even length), or NaN for no values.
func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

// printTable writes rows as an aligned table (names to the left, numbers
// to the right), then the time each workload took.
func printTable(w io.Writer, rows []Row, o options, times []time.Duration, total time.Duration) {
	mode := "default sizes"
	if o.quick {
		mode = "quick sizes"
	}
	fmt.Fprintf(w, "tcpwave vs gVisor netstack: median of %d runs, %s, %s %s/%s, GOMAXPROCS %d\n",
		o.count, mode, runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0))
	fmt.Fprintf(w, "ratio: how many times better tcpwave is (>1 favours tcpwave)\n\n")
	cells := [][]string{{"workload", "unit", "tcpwave", "gvisor", "ratio"}}
	for _, r := range rows {
		cells = append(cells, []string{r.Workload, r.Unit, formatNum(r.TCPWave), formatNum(r.GVisor), formatRatio(r.Ratio)})
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
			if i < 2 { // names to the left, numbers to the right
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
	fmt.Fprintf(w, "\ntime:")
	for i, wl := range o.workloads {
		if i < len(times) {
			fmt.Fprintf(w, " %s %.1fs,", wl.name, times[i].Seconds())
		}
	}
	fmt.Fprintf(w, " total %.1fs\n", total.Seconds())
}

// formatNum prints v with three significant digits, or as an integer
// from 1000 up.
func formatNum(v float64) string {
	switch a := math.Abs(v); {
	case math.IsNaN(v):
		return "-"
	case a >= 1000:
		return fmt.Sprintf("%.0f", v)
	case a >= 100:
		return fmt.Sprintf("%.1f", v)
	case a == 0:
		return "0"
	case a < 0.001:
		return fmt.Sprintf("%.2e", v)
	}
	return fmt.Sprintf("%.3g", v)
}

func formatRatio(r float64) string {
	if math.IsNaN(r) {
		return "-"
	}
	if math.IsInf(r, 0) {
		return "inf"
	}
	return fmt.Sprintf("%.2fx", r)
}
