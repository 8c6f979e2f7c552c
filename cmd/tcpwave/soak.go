package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/tcpwave/tcpwave/soak"
	"github.com/tcpwave/tcpwave/trace"
	"github.com/tcpwave/tcpwave/trace/htmlpage"
)

// soakFlags are the flags of `tcpwave soak`.
type soakFlags struct {
	seeds   int
	from    uint64
	seed    uint64
	replay  bool // --seed was given
	workers int
	verbose bool
	ladder  bool
	json    bool
	html    string
	cfg     soak.Config
}

// soakCmd is `tcpwave soak`: it runs seeds S..S+N-1 of the soak test (many
// connections through their whole lifecycle on a faulty simulated
// network), prints a line per failing seed and a total, and exits 1 if any
// failed; or, with --seed, replays one seed and can draw it.
func soakCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f, code := parseSoakFlags(args, stdout, stderr)
	if f == nil {
		return code
	}
	if f.replay {
		return soakReplay(ctx, f, stdout, stderr)
	}
	return soakRange(ctx, f, stdout, stderr)
}

// Bounds of soak's counts, checked before anything runs.
const (
	maxSeeds   = 100_000_000
	maxWorkers = 1024
)

func parseSoakFlags(args []string, stdout, stderr io.Writer) (*soakFlags, int) {
	const synopsis = "tcpwave soak [--seeds N] [--from S] [--clients K] [flags]\n       tcpwave soak --seed S [--trace|--json] [--html FILE] [flags]"
	fs := flag.NewFlagSet("tcpwave soak", flag.ContinueOnError)
	d := soak.DefaultConfig()
	f := &soakFlags{cfg: d}
	fs.IntVar(&f.seeds, "seeds", 100, "number of seeds to run")
	fs.Uint64Var(&f.from, "from", 1, "first seed")
	fs.Uint64Var(&f.seed, "seed", 0, "replay this one seed (with --trace, --json or --html to see it)")
	fs.IntVar(&f.workers, "workers", runtime.GOMAXPROCS(0), "seeds run in parallel")
	fs.BoolVar(&f.verbose, "v", false, "print a line of statistics for every seed, not only failing ones")
	fs.BoolVar(&f.ladder, "trace", false, "with --seed: print the ladder diagram of hosts A and B (their segments to other hosts too: use --hosts 2 for a clean picture)")
	fs.BoolVar(&f.json, "json", false, "with --seed: print every event as JSON Lines")
	fs.StringVar(&f.html, "html", "", "with --seed: write the run between hosts A and B as an HTML page to this file")
	fs.IntVar(&f.cfg.Clients, "clients", d.Clients, "connections per seed")
	fs.IntVar(&f.cfg.Hosts, "hosts", d.Hosts, "hosts per seed, 2 to 4 (0: the seed chooses)")
	fs.IntVar(&f.cfg.MaxBytes, "max-bytes", d.MaxBytes, "most bytes one side writes on a connection")
	fs.DurationVar(&f.cfg.FaultPhase, "faults", d.FaultPhase, "how long the faults last before the network heals")
	fs.IntVar(&f.cfg.MaxCrashes, "crashes", d.MaxCrashes, "most host crashes per seed")
	fs.IntVar(&f.cfg.MaxPartitions, "partitions", d.MaxPartitions, "most partitions per seed")
	fs.DurationVar(&f.cfg.MaxPartition, "partition", d.MaxPartition, "longest partition")
	fs.Float64Var(&f.cfg.MaxLoss, "loss", d.MaxLoss, "highest loss rate of a link (0..1)")
	fs.Float64Var(&f.cfg.MaxDup, "dup", d.MaxDup, "highest duplication rate of a link (0..1)")
	fs.Float64Var(&f.cfg.MaxReorder, "reorder", d.MaxReorder, "highest reordering rate of a link (0..1)")
	fs.Float64Var(&f.cfg.MaxCorrupt, "corrupt", d.MaxCorrupt, "highest corruption rate of a link (0..1)")
	fs.IntVar(&f.cfg.MaxSteps, "max-steps", d.MaxSteps, "simulator steps a seed may take (0: scaled to --clients and --max-bytes)")
	if code, ok := parseArgs(fs, synopsis, args, stdout, stderr); !ok {
		return nil, code
	}
	fs.Visit(func(fl *flag.Flag) {
		if fl.Name == "seed" {
			f.replay = true
		}
	})
	// Clients start while the faults last, and a little after.
	f.cfg.StartWindow = f.cfg.FaultPhase + d.StartWindow - d.FaultPhase
	var err error
	switch {
	case fs.NArg() > 0:
		err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case f.seeds < 1 || f.seeds > maxSeeds:
		err = fmt.Errorf("--seeds %d: want 1 to %d", f.seeds, maxSeeds)
	case f.workers < 1 || f.workers > maxWorkers:
		err = fmt.Errorf("--workers %d: want 1 to %d", f.workers, maxWorkers)
	case f.cfg.Clients < 0 || f.cfg.Clients > soak.MaxClients:
		err = fmt.Errorf("--clients %d: want 0 to %d", f.cfg.Clients, soak.MaxClients)
	case f.cfg.MaxBytes < 0 || f.cfg.MaxBytes > soak.MaxMaxBytes:
		err = fmt.Errorf("--max-bytes %d: want 0 to %d", f.cfg.MaxBytes, soak.MaxMaxBytes)
	case !f.replay && (f.ladder || f.json || f.html != ""):
		err = fmt.Errorf("--trace, --json and --html need --seed")
	case f.ladder && f.json:
		err = fmt.Errorf("give --trace or --json, not both")
	case f.from+uint64(f.seeds)-1 < f.from:
		err = fmt.Errorf("--from %d --seeds %d runs past the last seed", f.from, f.seeds)
	default:
		err = f.cfg.Validate()
	}
	if err != nil {
		return nil, usageError(fs, synopsis, stderr, "%s", strings.TrimPrefix(err.Error(), "soak: "))
	}
	return f, 0
}

// soakLine is the line for one seed: its broken invariant, or with -v its
// statistics.
func soakLine(r soak.Result) string {
	if r.Err != nil {
		return r.Err.Error() // "seed S: invariant at T: ..."
	}
	return fmt.Sprintf("seed %d: ok: %d hosts, %d connections (%d established, %d failed, %d complete), %d errors told, %d quit, %d gave up, %d SYN-cookie ghosts, %d crashes, %d partitions, %d bytes, %d steps, settled at %v",
		r.Seed, r.Hosts, r.Conns, r.Established, r.Failed, r.Complete, r.Errors, r.Quit, r.GaveUp, r.Ghosts, r.Crashes, r.Partitions, r.Bytes, r.Steps, r.End)
}

// soakRange runs the seeds on f.workers goroutines and prints in seed
// order as the results come in. It holds only the results that came in
// ahead of an earlier seed: at most about f.workers of them.
func soakRange(ctx context.Context, f *soakFlags, stdout, stderr io.Writer) int {
	type done struct {
		i int
		r soak.Result
	}
	next, out := make(chan int), make(chan done)
	var wg sync.WaitGroup
	for range min(f.workers, f.seeds) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out <- done{i, soak.RunContext(ctx, f.from+uint64(i), f.cfg)}
			}
		}()
	}
	go func() {
		defer close(next)
		for i := range f.seeds {
			if ctx.Err() != nil {
				return
			}
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() {
		wg.Wait()
		close(out)
	}()
	w := bufio.NewWriter(stdout)
	ahead := map[int]soak.Result{} // results past the first seed still running
	ran, failed := 0, 0            // seeds [0, ran) are in and printed
	report := func(r soak.Result) {
		if r.Err != nil || f.verbose {
			fmt.Fprintln(w, soakLine(r))
		}
		if r.Err != nil {
			failed++
		}
	}
	for d := range out {
		if ctx.Err() != nil && errors.Is(d.r.Err, ctx.Err()) {
			continue // stopped part way: neither a pass nor a failure
		}
		ahead[d.i] = d.r
		for {
			r, ok := ahead[ran]
			if !ok {
				break
			}
			delete(ahead, ran)
			report(r)
			ran++
		}
		w.Flush()
	}
	total := ran
	for _, i := range slices.Sorted(maps.Keys(ahead)) { // interrupted: what ran past the first gap
		total++
		if r := ahead[i]; r.Err != nil {
			failed++
			fmt.Fprintln(w, soakLine(r))
		}
	}
	fmt.Fprintf(w, "%d seeds, %d failures\n", total, failed)
	w.Flush()
	if total < f.seeds {
		fmt.Fprintf(stderr, "tcpwave soak: interrupted after %d of %d seeds\n", total, f.seeds)
		return 1
	}
	if failed > 0 {
		return 1
	}
	return 0
}

// soakReplay runs one seed with a trace and shows it.
func soakReplay(ctx context.Context, f *soakFlags, stdout, stderr io.Writer) int {
	rec := &trace.Recorder{}
	f.cfg.Trace = rec
	r := soak.RunContext(ctx, f.seed, f.cfg)
	if ctx.Err() != nil && errors.Is(r.Err, ctx.Err()) {
		fmt.Fprintln(stderr, "tcpwave soak:", r.Err)
		return 1
	}
	events := rec.Events()
	var err error
	switch {
	case f.json:
		err = trace.WriteJSONL(stdout, events)
	case f.ladder:
		err = trace.WriteLadder(stdout, events, "A", "B")
		fmt.Fprintln(stdout)
	}
	if f.html != "" {
		err = errors.Join(err, writeSoakHTML(f.html, events, r))
	}
	if err != nil {
		fmt.Fprintln(stderr, "tcpwave soak:", err)
		return 1
	}
	failed := 0
	if r.Err != nil {
		failed = 1
	}
	if !f.json {
		fmt.Fprintln(stdout, soakLine(r))
		fmt.Fprintf(stdout, "1 seeds, %d failures\n", failed)
	} else if r.Err != nil {
		fmt.Fprintln(stderr, soakLine(r))
	}
	return failed
}

// writeSoakHTML writes the conversation of hosts A and B in run r as an
// HTML page.
func writeSoakHTML(path string, events []trace.Event, r soak.Result) error {
	status := "PASS"
	if r.Err != nil {
		status = "FAIL: " + strings.TrimPrefix(r.Err.Error(), fmt.Sprintf("seed %d: ", r.Seed))
	}
	page := htmlpage.Page{
		Title: fmt.Sprintf("soak seed %d", r.Seed),
		Summary: htmlpage.Text{
			EN: fmt.Sprintf("%d connections between %d hosts through their whole lifecycle, under loss, duplication, reordering, corruption, %d partitions and %d crashes, then a healed network; hosts A and B shown.", r.Conns, r.Hosts, r.Partitions, r.Crashes),
			ZH: fmt.Sprintf("%d 台主机之间的 %d 个连接走完整个生命周期：先经历丢包、重复、乱序、损坏、%d 次网络分区和 %d 次主机崩溃，然后网络恢复；图中是主机 A 和 B。", r.Hosts, r.Conns, r.Partitions, r.Crashes),
		},
		Left:   htmlpage.Host{Name: "A"},
		Right:  htmlpage.Host{Name: "B"},
		Status: status,
		Facts:  []string{fmt.Sprintf("seed %d", r.Seed), fmt.Sprintf("%d steps", r.Steps), "settled at " + r.End.String()},
	}
	file, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(file)
	err = htmlpage.Write(bw, events, page)
	return errors.Join(err, bw.Flush(), file.Close())
}
