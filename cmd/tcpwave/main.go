// Command tcpwave replays the TCP connection lifecycle on a deterministic
// simulated network and shows every segment and state change; it also runs
// tcpwave on a Linux TUN device so that kernel programs can talk to it.
//
//	tcpwave scenario list
//	tcpwave scenario run NAME [flags]   ladder diagram (or --json, --pcap)
//	tcpwave scenario run --all [flags]  a pass/fail line per scenario
//	tcpwave tun serve [flags]           echo/discard server on a TUN device
//	tcpwave tun dial --to IP:PORT       a client on a TUN device
//	tcpwave netstat                     the running process's connections
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/link/pcap"
	"github.com/tcpwave/tcpwave/scenario"
	"github.com/tcpwave/tcpwave/trace"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(runContext(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage:
  tcpwave scenario list
  tcpwave scenario run NAME [flags]
  tcpwave scenario run --all [flags]
  tcpwave tun serve [--addr IP:PORT] [--echo|--discard] [flags]
  tcpwave tun dial --to IP:PORT [--send TEXT] [flags]
  tcpwave netstat [--control PATH]
  tcpwave soak [--seeds N] [--from S] [--clients K] | --seed S [--trace] [--html FILE]
  tcpwave nstat [--control PATH] [-z]
  tcpwave conform [--backend kernel|tcpwave|both] [--json] [--trace] [--known FILE] SCRIPT|DIR...
  tcpwave explain [--json] [--only FILTER] [-v] FILE|-

Run "tcpwave scenario run -h" (or tun serve -h, ...) for the flags.
`

const scenarioUsage = `usage:
  tcpwave scenario list              the catalog: a name and a summary per scenario
  tcpwave scenario run NAME [flags]  one scenario as a ladder diagram (or --json, --pcap, --html)
  tcpwave scenario run --all [flags] every scenario, a PASS/FAIL line each (or --json)

Run "tcpwave scenario run -h" for the flags.
`

const listUsage = `usage: tcpwave scenario list

Prints every scenario of the catalog: its name and a one-line summary.
`

// The CLI's exit statuses: a run that failed (a scenario's check, an I/O
// error, an interruption) exits 1; bad usage exits 2 after a one-line
// error and the usage on stderr; an explicit -h or --help prints the
// usage on stdout and exits 0.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// textUsageError prints a one-line error and then the usage text on
// stderr, and returns the bad-usage exit status (usageError is its form
// for a flag set).
func textUsageError(stderr io.Writer, text string, format string, args ...any) int {
	fmt.Fprintf(stderr, "tcpwave: "+format+"\n", args...)
	fmt.Fprint(stderr, text)
	return exitUsage
}

// run is the whole CLI; it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	return runContext(context.Background(), args, stdout, stderr)
}

// runContext is run with a context that ends long-running commands.
func runContext(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		return textUsageError(stderr, usage, "no command given")
	}
	switch args[0] {
	case "tun":
		return tunCmd(ctx, args[1:], stdout, stderr)
	case "netstat":
		return netstat(ctx, args[1:], stdout, stderr)
	case "soak":
		return soakCmd(ctx, args[1:], stdout, stderr)
	case "nstat":
		return nstatCmd(ctx, args[1:], stdout, stderr)
	case "conform":
		return conformCmd(ctx, args[1:], stdout, stderr)
	case "scenario":
		return scenarioCmd(ctx, args[1:], stdout, stderr)
	case "explain":
		return explainCmd(ctx, args[1:], os.Stdin, stdout, stderr)
	}
	if isHelp(args[0]) {
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	return textUsageError(stderr, usage, "unknown command %q", args[0])
}

// scenarioCmd is `tcpwave scenario list|run`.
func scenarioCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		return textUsageError(stderr, scenarioUsage, "scenario: give a subcommand, list or run")
	}
	switch args[0] {
	case "list":
		return list(args[1:], stdout, stderr)
	case "run":
		return runScenario(ctx, args[1:], stdout, stderr)
	}
	if isHelp(args[0]) {
		fmt.Fprint(stdout, scenarioUsage)
		return exitOK
	}
	return textUsageError(stderr, scenarioUsage, "scenario: unknown subcommand %q", args[0])
}

// parseFlags parses args with fs, whose usage text is usage. It returns
// the exit status to end with and false when the command should stop
// there: 0 after -h (usage on stdout), 2 after a bad flag (a one-line
// error and the usage on stderr).
func parseFlags(fs *flag.FlagSet, args []string, usage func(io.Writer), stdout, stderr io.Writer) (int, bool) {
	fs.SetOutput(io.Discard) // the errors are printed here, once, on one line
	fs.Usage = func() {}
	err := fs.Parse(args)
	switch {
	case err == nil:
		return exitOK, true
	case errors.Is(err, flag.ErrHelp):
		usage(stdout)
		return exitOK, false
	}
	fmt.Fprintf(stderr, "tcpwave: %s: %v\n", fs.Name(), err)
	usage(stderr)
	return exitUsage, false
}

// list is `tcpwave scenario list`: the catalog, a name and a summary each.
func list(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("scenario list", flag.ContinueOnError)
	printUsage := func(w io.Writer) { fmt.Fprint(w, listUsage) }
	if code, ok := parseFlags(fs, args, printUsage, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return textUsageError(stderr, listUsage, "scenario list: unexpected argument %q", fs.Arg(0))
	}
	tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	for _, s := range scenario.Catalog() {
		fmt.Fprintf(tw, "%s\t%s\n", s.Name, s.Summary)
	}
	if err := tw.Flush(); err != nil {
		fmt.Fprintln(stderr, "tcpwave: scenario list:", err)
		return exitFail
	}
	return exitOK
}

// maxDuration bounds every duration flag: far beyond any run (a run stops
// at scenario.DefaultParams().Until of virtual time) and far from the
// int64 nanoseconds where virtual time would overflow.
const maxDuration = 24 * time.Hour

// durationFlag is a time.Duration flag that rejects negative values and
// values beyond maxDuration.
type durationFlag struct{ d *time.Duration }

func (f durationFlag) String() string {
	if f.d == nil {
		return ""
	}
	return f.d.String()
}

func (f durationFlag) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return errors.New("not a duration (e.g. 1.5s, 200ms, 2m)")
	}
	if d < 0 || d > maxDuration {
		return fmt.Errorf("%v is out of range [0, %v]", d, maxDuration)
	}
	*f.d = d
	return nil
}

type runFlags struct {
	all        bool
	json       bool
	seed       uint64
	delay      time.Duration
	jitter     time.Duration
	loss       float64
	dup        float64
	reorder    float64
	corrupt    float64
	bandwidth  int64
	timeWait   time.Duration
	finTimeout time.Duration
	netstatAt  time.Duration
	netstatSet bool
	pcap       string
	html       string
	nstat      bool
}

// newRunFlags declares scenario run's flags on a new flag set.
func newRunFlags() (*flag.FlagSet, *runFlags) {
	fs := flag.NewFlagSet("scenario run", flag.ContinueOnError)
	d := scenario.DefaultParams()
	f := &runFlags{delay: d.Link.Delay, timeWait: d.A.TCP.TimeWait, finTimeout: d.A.TCP.FinTimeout}
	fs.BoolVar(&f.all, "all", false, "run every scenario and print a pass/fail line for each (with --json: a JSON object each)")
	fs.BoolVar(&f.json, "json", false, "print the events as JSON Lines instead of a ladder diagram")
	fs.Uint64Var(&f.seed, "seed", d.Seed, "seed of the network's random faults")
	fs.Var(durationFlag{&f.delay}, "delay", "one-way latency of the link, a `duration` from 0 to 24h")
	fs.Var(durationFlag{&f.jitter}, "jitter", "extra random delay per packet, up to this `duration` (0 to 24h)")
	fs.Float64Var(&f.loss, "loss", 0, "probability that a packet is lost (0..1)")
	fs.Float64Var(&f.dup, "dup", 0, "probability that a packet is duplicated (0..1)")
	fs.Float64Var(&f.reorder, "reorder", 0, "probability that a packet is held back and reordered (0..1)")
	fs.Float64Var(&f.corrupt, "corrupt", 0, "probability that a bit of a packet is flipped (0..1)")
	fs.Int64Var(&f.bandwidth, "bandwidth", 0, "link bandwidth in bit/s (0: unlimited)")
	fs.Var(durationFlag{&f.timeWait}, "time-wait", "TIME_WAIT `duration` on both hosts, 0 to 24h (Linux TCP_TIMEWAIT_LEN)")
	fs.Var(durationFlag{&f.finTimeout}, "fin-timeout", "orphaned FIN_WAIT_2 lifetime on both hosts, a `duration` from 0 to 24h (tcp_fin_timeout)")
	fs.StringVar(&f.pcap, "pcap", "", "write every packet put on the wire to this pcap file (virtual timestamps)")
	fs.Func("netstat-at", fmt.Sprintf("also print both hosts' connection tables (ss -tan -o) at this virtual `time` (0 to %v, the end of the run)", d.Until), func(s string) error {
		t, err := time.ParseDuration(s)
		if err != nil {
			return errors.New("not a duration (e.g. 1.5s)")
		}
		if t < 0 || t > d.Until {
			return fmt.Errorf("%v is outside the run, which spans 0 to %v of virtual time", t, d.Until)
		}
		f.netstatAt, f.netstatSet = t, true
		return nil
	})
	fs.BoolVar(&f.nstat, "nstat", false, "also print both hosts' counters as nstat does at the end (not with --json)")
	fs.StringVar(&f.html, "html", "", "also write the run as a self-contained HTML page to this file (with --all: a directory of pages and index.html)")
	return fs, f
}

// runScenario is `tcpwave scenario run`: flags before and after the NAME.
func runScenario(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, f := newRunFlags()
	printUsage := func(w io.Writer) {
		fmt.Fprintln(w, "usage: tcpwave scenario run NAME|--all [flags]")
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	// Accept flags before and after NAME.
	var names []string
	for {
		if code, ok := parseFlags(fs, args, printUsage, stdout, stderr); !ok {
			return code
		}
		if args = fs.Args(); len(args) == 0 {
			break
		}
		names, args = append(names, args[0]), args[1:]
	}
	bad := func(format string, args ...any) int {
		fmt.Fprintf(stderr, "tcpwave: scenario run: "+format+"\n", args...)
		printUsage(stderr)
		return exitUsage
	}
	switch {
	case f.all && len(names) > 0:
		return bad("give a scenario name or --all, not both")
	case f.all && (f.pcap != "" || f.netstatSet || f.nstat):
		return bad("--pcap, --netstat-at and --nstat show one scenario: give its name, not --all")
	case !f.all && len(names) == 0:
		return bad("give a scenario name (see tcpwave scenario list) or --all")
	case len(names) > 1:
		return bad("one scenario at a time (got %q)", names)
	}
	p, err := f.params()
	if err != nil {
		return bad("%v", err)
	}
	if f.all {
		return runAll(ctx, p, f, stdout, stderr)
	}
	s, err := scenario.Find(names[0])
	if err != nil {
		return bad("no scenario named %q (see tcpwave scenario list)", names[0])
	}
	return runOne(ctx, s, p, f, stdout, stderr)
}

func (f *runFlags) params() (scenario.Params, error) {
	p := scenario.DefaultParams()
	p.Seed = f.seed
	p.Link.Delay, p.Link.Jitter = f.delay, f.jitter
	p.Link.Loss, p.Link.Dup, p.Link.Reorder, p.Link.Corrupt = f.loss, f.dup, f.reorder, f.corrupt
	p.Link.Bandwidth = f.bandwidth
	if err := p.Link.Validate(); err != nil {
		return p, err
	}
	for _, o := range []*struct{ tw, ft *time.Duration }{
		{&p.A.TCP.TimeWait, &p.A.TCP.FinTimeout}, {&p.B.TCP.TimeWait, &p.B.TCP.FinTimeout},
	} {
		*o.tw, *o.ft = f.timeWait, f.finTimeout
	}
	if f.netstatSet {
		p.ProbeAt = clock.Instant(f.netstatAt)
	}
	return p, nil
}

// oneLine writes err on one line: errors.Join's lines (often the same
// write error twice, from a writer and its flush) deduplicated and joined.
func oneLine(err error) string {
	var parts []string
	for _, l := range strings.Split(err.Error(), "\n") {
		if l = strings.TrimSpace(l); l != "" && !slices.Contains(parts, l) {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, "; ")
}

// allResult is one scenario's line of `scenario run --all --json`.
type allResult struct {
	Name      string `json:"name"`
	Pass      bool   `json:"pass"`
	Reason    string `json:"reason,omitempty"`  // the failure's first line
	Details   string `json:"details,omitempty"` // the rest of it (expected and actual lists)
	VirtualUS int64  `json:"virtual_us"`        // virtual time at the end of the run
	WallUS    int64  `json:"wall_us"`           // wall time the run took
}

// runAll is `scenario run --all`: every scenario, a PASS/FAIL line or a
// JSON object each, until done or ctx ends.
func runAll(ctx context.Context, p scenario.Params, f *runFlags, w, stderr io.Writer) int {
	site, err := newHTMLSite(f.html)
	if err != nil {
		fmt.Fprintln(stderr, "tcpwave: --html:", oneLine(err))
		return exitFail
	}
	var herr error
	enc := json.NewEncoder(w)
	catalog := scenario.Catalog()
	failed, ran := 0, 0
	for _, s := range catalog {
		if ctx.Err() != nil {
			break
		}
		start := time.Now()
		r, err := s.ExecuteContext(ctx, p)
		if ctx.Err() != nil {
			break // interrupted mid-run: neither a pass nor a failure
		}
		ran++
		herr = errors.Join(herr, site.add(s, p, r, err))
		res := allResult{Name: s.Name, Pass: err == nil, WallUS: time.Since(start).Microseconds()}
		if r != nil {
			res.VirtualUS = r.Net.Now().Micros()
		}
		if err != nil {
			failed++
			res.Reason, res.Details, _ = strings.Cut(err.Error(), "\n")
		}
		var werr error
		if f.json {
			werr = enc.Encode(res)
		} else {
			werr = writeAllLine(w, res, r)
		}
		if werr != nil {
			fmt.Fprintln(stderr, "tcpwave:", oneLine(werr))
			return exitFail
		}
	}
	if !f.json {
		fmt.Fprintf(w, "%d passed, %d failed\n", ran-failed, failed)
	}
	if ran < len(catalog) {
		fmt.Fprintf(stderr, "tcpwave: scenario run --all: interrupted after %d of %d scenarios\n", ran, len(catalog))
		return exitFail
	}
	if herr = errors.Join(herr, site.finish()); herr != nil {
		fmt.Fprintln(stderr, "tcpwave: --html:", oneLine(herr))
		return exitFail
	}
	if failed > 0 {
		return exitFail
	}
	return exitOK
}

// writeAllLine prints one scenario's PASS/FAIL line of `scenario run --all`.
func writeAllLine(w io.Writer, res allResult, r *scenario.Run) error {
	status, detail := "PASS", ""
	if !res.Pass {
		status = "FAIL"
		detail = "\n    " + strings.ReplaceAll(strings.TrimRight(res.Reason+"\n"+res.Details, "\n"), "\n", "\n    ")
	}
	virt := "-"
	if r != nil {
		virt = r.Net.Now().String()
	}
	wall := (time.Duration(res.WallUS) * time.Microsecond).String()
	_, err := fmt.Fprintf(w, "%s  %-22s virtual %-12s wall %v%s\n", status, res.Name, virt, wall, detail)
	return err
}

// runOne runs one scenario and shows it: a ladder diagram or JSON Lines,
// and what --netstat-at, --nstat, --pcap and --html ask for.
func runOne(ctx context.Context, s *scenario.Scenario, p scenario.Params, f *runFlags, stdout, stderr io.Writer) int {
	var tables strings.Builder
	probed := false
	if f.netstatSet {
		p.Probe = func(r *scenario.Run) {
			probed = true
			fmt.Fprintf(&tables, "--- connections at %v ---\n", r.Net.Now())
			for _, h := range []struct {
				name string
				rows func() error
			}{
				{"A", func() error { return trace.WriteTable(&tables, r.A.Stack.Connections(r.Net.Now())) }},
				{"B", func() error { return trace.WriteTable(&tables, r.B.Stack.Connections(r.Net.Now())) }},
			} {
				fmt.Fprintf(&tables, "host %s:\n", h.name)
				if err := h.rows(); err != nil {
					fmt.Fprintln(stderr, "tcpwave:", err)
				}
			}
		}
	}
	var capture *pcapFile
	if f.pcap != "" {
		var err error
		if capture, err = createPcap(f.pcap); err != nil {
			fmt.Fprintln(stderr, "tcpwave: --pcap:", oneLine(err))
			return exitFail
		}
		p.Tap = capture.write
	}
	r, err := s.ExecuteContext(ctx, p)
	code := exitOK
	if capture != nil {
		if cerr := capture.close(); cerr != nil {
			fmt.Fprintln(stderr, "tcpwave: --pcap:", oneLine(cerr))
			code = exitFail
		}
	}
	if f.html != "" {
		if herr := writeHTMLFile(f.html, s, p, r, err, ""); herr != nil {
			fmt.Fprintln(stderr, "tcpwave: --html:", oneLine(herr))
			code = exitFail
		}
	}
	if r != nil {
		var werr error
		if f.json {
			werr = trace.WriteJSONL(stdout, r.Rec.Events())
		} else {
			fmt.Fprintf(stdout, "scenario %s: %s\n\n", s.Name, s.Summary)
			werr = trace.WriteLadder(stdout, r.Rec.Events(), "A", "B")
		}
		if werr != nil {
			fmt.Fprintln(stderr, "tcpwave:", oneLine(werr))
			return exitFail
		}
	}
	if tables.Len() > 0 {
		fmt.Fprint(stdout, "\n"+tables.String())
	}
	if f.netstatSet && !probed {
		fmt.Fprintf(stderr, "tcpwave: --netstat-at %v: the run stopped before that instant; no connection tables\n", f.netstatAt)
		code = exitFail
	}
	if f.nstat && r != nil && !f.json {
		if nerr := writeScenarioNstat(stdout, r); nerr != nil {
			fmt.Fprintln(stderr, "tcpwave: --nstat:", oneLine(nerr))
			code = exitFail
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "FAIL %v\n", err)
		return exitFail
	}
	if !f.json {
		fmt.Fprintf(stdout, "\nPASS %s (seed %d)\n", s.Name, p.Seed)
	}
	return code
}

// pcapFile is --pcap's capture: a pcap writer on a buffered file.
type pcapFile struct {
	f  *os.File
	bw *bufio.Writer
	pw *pcap.Writer
}

// createPcap creates path and writes the pcap file header to it.
func createPcap(path string) (*pcapFile, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	bw := bufio.NewWriter(f)
	pw, err := pcap.NewWriter(bw)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &pcapFile{f: f, bw: bw, pw: pw}, nil
}

// write captures one packet (the simulator's tap); errors stick in pw.
func (c *pcapFile) write(now clock.Instant, pkt []byte) { c.pw.WritePacket(now, pkt) }

// close flushes and closes the file and reports the first error: the
// writer's and the flush's are the same sticky write error.
func (c *pcapFile) close() error {
	err := c.pw.Err()
	if err == nil {
		err = c.bw.Flush()
	}
	if cerr := c.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", c.f.Name(), err)
	}
	return nil
}
