package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/tcpwave/tcpwave/scenario"
	"github.com/tcpwave/tcpwave/stack"
)

// The control socket's protocol: the client sends one request line,
// "netstat" (the connection table, as `ss -tan -o` shows it) or "nstat"
// (the MIB counters, as `nstat -az` shows them), and reads the answer to
// EOF. A client that sends nothing gets the connection table.
const (
	reqNetstat     = "netstat"
	reqNetstatInfo = "netstat -i" // the table with ss -i's lines
	reqNstat       = "nstat"
)

// nstatCmd asks a running tcpwave process for its counters and prints them
// as nstat does: absolute values, zeros left out unless -z.
func nstatCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	const synopsis = "tcpwave nstat [--control PATH] [-z]"
	fs := flag.NewFlagSet("tcpwave nstat", flag.ContinueOnError)
	control := fs.String("control", "", "the control socket of the running tcpwave process (default: the one running in this network namespace)")
	zeros := fs.Bool("z", false, "also print the counters that are zero (nstat -z)")
	if code, ok := parseArgs(fs, synopsis, args, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() != 0 {
		return usageError(fs, synopsis, stderr, "unexpected argument %q", fs.Arg(0))
	}
	var out strings.Builder
	if err := askControl(ctx, *control, reqNstat, &out); err != nil {
		fmt.Fprintf(stderr, "tcpwave nstat: %v\n", err)
		return 1
	}
	for _, line := range strings.SplitAfter(out.String(), "\n") {
		if f := strings.Fields(line); *zeros || len(f) < 2 || f[1] != "0" {
			io.WriteString(stdout, line)
		}
	}
	return 0
}

// writeNstat prints counters in nstat's layout: a "#kernel" line, then one
// line per counter, its name in 32 columns, its value in 16, and the rate
// (always 0.0: tcpwave keeps no history to take a rate from). Zeros are
// left out unless zeros is set.
func writeNstat(w io.Writer, c stack.Counters, zeros bool) error {
	if _, err := fmt.Fprintln(w, "#kernel"); err != nil {
		return err
	}
	for _, r := range c.NstatRows() {
		if r.Value == 0 && !zeros {
			continue
		}
		if _, err := fmt.Fprintf(w, "%-32s%-16d%6.1f\n", r.Name, r.Value, 0.0); err != nil {
			return err
		}
	}
	return nil
}

// writeScenarioNstat prints both hosts' counters at the end of a scenario
// (scenario run --nstat).
func writeScenarioNstat(w io.Writer, r *scenario.Run) error {
	fmt.Fprintln(w, "\n--- counters at the end (nstat) ---")
	for _, h := range []struct {
		name string
		st   *stack.Stack
	}{{"A", r.A.Stack}, {"B", r.B.Stack}} {
		fmt.Fprintf(w, "host %s:\n", h.name)
		if err := writeNstat(w, h.st.Counters(), false); err != nil {
			return err
		}
	}
	return nil
}
