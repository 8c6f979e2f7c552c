package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/tcpwave/tcpwave/conform"
)

// conformCmd runs conformance scripts against the Linux kernel, tcpwave or
// both, and prints a line per script and backend.
func conformCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	const synopsis = "tcpwave conform [--backend kernel|tcpwave|both] [--ip_version ipv4|ipv6|both|ipv4-mapped-ipv6] [--json] [--trace] [--known FILE] [--tcp_ts_tick_usecs N] SCRIPT|DIR..."
	fs := flag.NewFlagSet("tcpwave conform", flag.ContinueOnError)
	backend := fs.String("backend", "both", "where to run the scripts: kernel, tcpwave or both")
	asJSON := fs.Bool("json", false, "print one JSON object per script and backend")
	trace := fs.Bool("trace", false, "print every packet and call as it happens")
	tick := fs.Uint("tcp_ts_tick_usecs", 0, "compare the host's TS val, N µs a tick (1000 for Linux), in every script whose header does not say otherwise; 0 compares none (packetdrill's default)")
	knownPath := fs.String("known", "", "a KNOWN-DIFFERENCES.md file: the scripts it lists are expected to fail on tcpwave (XFAIL); one that passes there is a failure (XPASS)")
	ipVersion := fs.String("ip_version", "ipv4", "the family to run scripts that name none in: ipv4, ipv6, both or ipv4-mapped-ipv6 (a script's own --ip_version wins)")
	if code, ok := parseArgs(fs, synopsis, args, stdout, stderr); !ok {
		return code
	}
	family := conform.IPAny
	if *ipVersion != "both" {
		var err error
		if family, err = conform.ParseIPVersion(*ipVersion); err != nil {
			return usageError(fs, synopsis, stderr, "%v (or both)", err)
		}
	}
	if fs.NArg() == 0 {
		return usageError(fs, synopsis, stderr, "no script given")
	}
	if maxTick := uint(conform.MaxTSTick / time.Microsecond); *tick > maxTick {
		return usageError(fs, synopsis, stderr, "--tcp_ts_tick_usecs %d: at most %d", *tick, maxTick)
	}
	base := conform.DefaultOptions()
	base.TSTick = time.Duration(*tick) * time.Microsecond
	type namedOpener struct {
		name string
		open conform.Opener
	}
	var backends []namedOpener
	switch *backend {
	case "kernel":
		backends = []namedOpener{{"kernel", conform.Kernel}}
	case "tcpwave":
		backends = []namedOpener{{"tcpwave", conform.TCPWave}}
	case "both":
		backends = []namedOpener{{"kernel", conform.Kernel}, {"tcpwave", conform.TCPWave}}
	default:
		return usageError(fs, synopsis, stderr, "--backend %q: want kernel, tcpwave or both", *backend)
	}
	known := map[string]bool{}
	if *knownPath != "" {
		var err error
		if known, err = conform.LoadKnown(*knownPath); err != nil {
			fmt.Fprintf(stderr, "tcpwave conform: %v\n", err)
			return 2
		}
	}
	files, err := conform.Files(fs.Args())
	if err != nil {
		fmt.Fprintf(stderr, "tcpwave conform: %v\n", err)
		return 2
	}
	var tw io.Writer
	if *trace {
		tw = stdout
	}
	enc := json.NewEncoder(stdout)
	failed, total := 0, 0
	for _, path := range files {
		if ctx.Err() != nil {
			fmt.Fprintf(stderr, "tcpwave conform: %v\n", ctx.Err())
			return 1
		}
		parsed, err := conform.ParseFileWith(path, base)
		runs := []*conform.Script{nil} // a script that does not parse fails once
		if err == nil {
			runs = runs[:0]
			for _, v := range parsed.Families(family) {
				s, _ := parsed.InFamily(v)
				runs = append(runs, s)
			}
		}
		for _, s := range runs {
			for _, b := range backends {
				var res conform.Result
				if err != nil {
					res = conform.Result{Script: path, Backend: b.name, Error: err.Error()}
				} else {
					res = conform.RunContext(ctx, s, b.name, b.open, tw)
				}
				if ctx.Err() != nil {
					fmt.Fprintf(stderr, "tcpwave conform: %v\n", ctx.Err())
					return 1
				}
				status := outcome(&res, b.name == "tcpwave" && known[res.Script])
				total++
				if status == "FAIL" || status == "XPASS" {
					failed++
				}
				if *asJSON {
					enc.Encode(struct {
						conform.Result
						Status string `json:"status"`
					}{res, status})
					continue
				}
				line := res.String()
				switch status {
				case "XFAIL":
					line = "XFAIL (known difference) " + line[len("FAIL "):]
				case "XPASS":
					line = "XPASS (listed as a known difference, but passes: remove it from the list) " + line[len("PASS "):]
				}
				fmt.Fprintln(stdout, line)
			}
		}
	}
	if !*asJSON {
		fmt.Fprintf(stdout, "%d of %d runs passed\n", total-failed, total)
	}
	if failed > 0 {
		return 1
	}
	return 0
}

// outcome names a result: PASS, FAIL, SKIP, or for a known difference
// XFAIL (it fails, as expected) or XPASS (it passes: the list is stale).
func outcome(r *conform.Result, knownDiff bool) string {
	switch {
	case r.Skipped:
		return "SKIP"
	case knownDiff && r.Pass:
		return "XPASS"
	case knownDiff:
		return "XFAIL"
	case r.Pass:
		return "PASS"
	}
	return "FAIL"
}
