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
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
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

Run "tcpwave scenario run -h" (or tun serve -h, ...) for the flags.
`

// run is the whole CLI; it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	return runContext(context.Background(), args, stdout, stderr)
}

// runContext is run with a context that ends long-running commands.
func runContext(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
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
		}
	}
	if len(args) < 2 || args[0] != "scenario" {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[1] {
	case "list":
		return list(stdout)
	case "run":
		return runScenario(args[2:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "tcpwave: unknown command %q\n%s", args[1], usage)
	return 2
}

func list(w io.Writer) int {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for _, s := range scenario.Catalog() {
		fmt.Fprintf(tw, "%s\t%s\n", s.Name, s.Summary)
	}
	tw.Flush()
	return 0
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
	pcap       string
	html       string
	nstat      bool
}

func runScenario(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tcpwave scenario run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	d := scenario.DefaultParams()
	var f runFlags
	fs.BoolVar(&f.all, "all", false, "run every scenario and print a pass/fail line for each")
	fs.BoolVar(&f.json, "json", false, "print the events as JSON Lines instead of a ladder diagram")
	fs.Uint64Var(&f.seed, "seed", d.Seed, "seed of the network's random faults")
	fs.DurationVar(&f.delay, "delay", d.Link.Delay, "one-way latency of the link")
	fs.DurationVar(&f.jitter, "jitter", 0, "extra random delay per packet, up to this")
	fs.Float64Var(&f.loss, "loss", 0, "probability that a packet is lost (0..1)")
	fs.Float64Var(&f.dup, "dup", 0, "probability that a packet is duplicated (0..1)")
	fs.Float64Var(&f.reorder, "reorder", 0, "probability that a packet is held back and reordered (0..1)")
	fs.Float64Var(&f.corrupt, "corrupt", 0, "probability that a bit of a packet is flipped (0..1)")
	fs.Int64Var(&f.bandwidth, "bandwidth", 0, "link bandwidth in bit/s (0: unlimited)")
	fs.DurationVar(&f.timeWait, "time-wait", d.A.TCP.TimeWait, "TIME_WAIT duration on both hosts (Linux TCP_TIMEWAIT_LEN)")
	fs.DurationVar(&f.finTimeout, "fin-timeout", d.A.TCP.FinTimeout, "orphaned FIN_WAIT_2 lifetime on both hosts (tcp_fin_timeout)")
	fs.StringVar(&f.pcap, "pcap", "", "write every packet put on the wire to this pcap file (virtual timestamps)")
	fs.DurationVar(&f.netstatAt, "netstat-at", -1, "also print both hosts' connection tables (ss -tan -o) at this virtual time")
	fs.BoolVar(&f.nstat, "nstat", false, "also print both hosts' counters as nstat does at the end (not with --json)")
	fs.StringVar(&f.html, "html", "", "also write the run as a self-contained HTML page to this file (with --all: a directory of pages and index.html)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: tcpwave scenario run NAME|--all [flags]")
		fs.PrintDefaults()
	}
	// Accept flags before and after NAME.
	var names []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			return 2
		}
		args = fs.Args()
		if len(args) > 0 {
			names = append(names, args[0])
			args = args[1:]
		}
	}
	p, err := f.params()
	if err != nil {
		fmt.Fprintln(stderr, "tcpwave:", err)
		return 2
	}
	switch {
	case f.all && len(names) > 0:
		fmt.Fprintln(stderr, "tcpwave: give a scenario name or --all, not both")
		return 2
	case f.all:
		return runAll(p, f.html, stdout, stderr)
	case len(names) != 1:
		fs.Usage()
		return 2
	}
	s, err := scenario.Find(names[0])
	if err != nil {
		fmt.Fprintln(stderr, "tcpwave:", err)
		return 2
	}
	return runOne(s, p, &f, stdout, stderr)
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
	if f.timeWait < 0 || f.finTimeout < 0 {
		return p, fmt.Errorf("--time-wait and --fin-timeout must not be negative")
	}
	for _, o := range []*struct{ tw, ft *time.Duration }{
		{&p.A.TCP.TimeWait, &p.A.TCP.FinTimeout}, {&p.B.TCP.TimeWait, &p.B.TCP.FinTimeout},
	} {
		*o.tw, *o.ft = f.timeWait, f.finTimeout
	}
	if f.netstatAt >= 0 {
		p.ProbeAt = clock.Instant(f.netstatAt)
	}
	return p, nil
}

func runAll(p scenario.Params, htmlDir string, w, stderr io.Writer) int {
	site, herr := newHTMLSite(htmlDir)
	failed := 0
	for _, s := range scenario.Catalog() {
		start := time.Now()
		r, err := s.Execute(p)
		herr = errors.Join(herr, site.add(s, p, r, err))
		status, detail := "PASS", ""
		if err != nil {
			status, detail = "FAIL", "\n    "+strings.ReplaceAll(err.Error(), "\n", "\n    ")
			failed++
		}
		virt := "-"
		if r != nil {
			virt = r.Net.Now().String()
		}
		fmt.Fprintf(w, "%s  %-22s virtual %-12s wall %v%s\n", status, s.Name, virt, time.Since(start).Round(time.Microsecond), detail)
	}
	total := len(scenario.Catalog())
	fmt.Fprintf(w, "%d passed, %d failed\n", total-failed, failed)
	if herr = errors.Join(herr, site.finish()); herr != nil {
		fmt.Fprintln(stderr, "tcpwave: --html:", herr)
		return 1
	}
	if failed > 0 {
		return 1
	}
	return 0
}

func runOne(s *scenario.Scenario, p scenario.Params, f *runFlags, stdout, stderr io.Writer) int {
	var tables strings.Builder
	if f.netstatAt >= 0 {
		p.Probe = func(r *scenario.Run) {
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
	var pw *pcap.Writer
	if f.pcap != "" {
		file, err := os.Create(f.pcap)
		if err != nil {
			fmt.Fprintln(stderr, "tcpwave:", err)
			return 1
		}
		bw := bufio.NewWriter(file)
		defer func() {
			if err := errors.Join(pw.Err(), bw.Flush(), file.Close()); err != nil {
				fmt.Fprintln(stderr, "tcpwave: writing", f.pcap+":", err)
			}
		}()
		if pw, err = pcap.NewWriter(bw); err != nil {
			fmt.Fprintln(stderr, "tcpwave:", err)
			return 1
		}
		p.Tap = func(now clock.Instant, pkt []byte) { pw.WritePacket(now, pkt) }
	}
	r, err := s.Execute(p)
	if f.html != "" {
		if herr := writeHTMLFile(f.html, s, p, r, err, ""); herr != nil {
			fmt.Fprintln(stderr, "tcpwave: --html:", herr)
			return 1
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
			fmt.Fprintln(stderr, "tcpwave:", werr)
			return 1
		}
	}
	if tables.Len() > 0 {
		fmt.Fprint(stdout, "\n"+tables.String())
	}
	if f.nstat && r != nil && !f.json {
		writeScenarioNstat(stdout, r)
	}
	if err != nil {
		fmt.Fprintf(stderr, "FAIL %s: %v\n", s.Name, err)
		return 1
	}
	if !f.json {
		fmt.Fprintf(stdout, "\nPASS %s (seed %d)\n", s.Name, p.Seed)
	}
	return 0
}
