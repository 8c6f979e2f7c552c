package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/tcpwave/tcpwave/scenario"
	"github.com/tcpwave/tcpwave/stack"
)

// The control socket's protocol: the client sends one request line,
// "netstat" (the connection table, as `ss -tan -o` shows it) or "nstat"
// (the MIB counters, as `nstat -az` shows them), and reads the answer to
// EOF. A client that sends nothing gets the connection table.
const (
	reqNetstat = "netstat"
	reqNstat   = "nstat"
)

// nstatCmd asks a running tcpwave process for its counters and prints them
// as nstat does: absolute values, zeros left out unless -z.
func nstatCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tcpwave nstat", flag.ContinueOnError)
	fs.SetOutput(stderr)
	control := fs.String("control", defaultControl, "the control socket of the running tcpwave process")
	zeros := fs.Bool("z", false, "also print the counters that are zero (nstat -z)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: tcpwave nstat [--control PATH] [-z]")
		return 2
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

// askControl sends req to the control socket at path and copies the answer
// to w.
func askControl(ctx context.Context, path, req string, w io.Writer) error {
	var d net.Dialer
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return fmt.Errorf("is a `tcpwave tun serve` running? %w", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, req+"\n"); err != nil {
		return err
	}
	_, err = io.Copy(w, c)
	return err
}

// readRequest reads the client's request line, waiting at most wait for
// it; "" if none came.
func readRequest(c net.Conn, wait time.Duration) string {
	c.SetReadDeadline(time.Now().Add(wait))
	line, _ := bufio.NewReader(io.LimitReader(c, 64)).ReadString('\n')
	return strings.TrimSpace(line)
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
