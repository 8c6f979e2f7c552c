package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/tcpwave/tcpwave/explain"
	"github.com/tcpwave/tcpwave/trace"
	"github.com/tcpwave/tcpwave/trace/htmlpage"
)

const explainSynopsis = "tcpwave explain [--json] [--only FILTER[,FILTER...]] [-v] [--conn N|A:P-B:P [--html FILE]] FILE|-"

const explainAbout = `Reads a pcap or pcapng capture (tcpdump -w, Wireshark; - for stdin, so
tcpdump -w - | tcpwave explain - works live) and explains every TCP
connection in it: both endpoints' states inferred from what crossed the
capture point, who closed first and holds TIME_WAIT, the kind of close and
what went wrong. A row is printed when a connection is over (the rest when
the capture ends). Exit status: 0, or 1 when the input is not a capture,
holds no TCP connection, or is cut short (after the rows read).

Columns: the client (it sent the SYN) and the server, the first packet's
time and the connection's length (seconds from the capture's first packet),
payload bytes each way by sequence number, the close kind, each side's
state when the capture ends (- for a side that had no connection, such as
a closed port) and the kinds of its findings (-v: their sentences). Every
state is inferred from the capture point: a segment seen there may still
have been lost beyond it; --json gives each change with its time, its
reason and what the capture cannot tell.

--conn N (the row's number, the order of first packets) or --conn
CLIENT:PORT-SERVER:PORT (either order; the first incarnation of a reused
4-tuple) draws that connection's ladder, as scenario run draws one: the
segments as the capture point saw them (the first 1000; arrows do not
slant, it is one place) and both sides' inferred states, marked
"(inferred)". --html FILE writes it as the scenarios' HTML page.

Filters (--only, any of them matches; repeat or separate with commas):
  close kinds:  four-way three-way simultaneous half-close rst refused
                syn-unanswered open half-closed
  findings:     time-wait close-wait fin-wait-2 fin-wait-1 half-close rst
                refused fin-retransmitted time-wait-reack dup-fin unacked-fin
                no-time-wait fin-wait-2-timeout orphan-retries
                time-wait-assassination time-wait-ack challenge-ack half-open
                reuse syn-retry retransmission dup-ack keepalive zero-window
                mid-stream
  states:       a side entered it: syn-sent syn-rcvd established closing
                last-ack time-wait ... (close-wait, fin-wait-1 and fin-wait-2
                match only a capture that ends in them)

Flags:
`

// explainCmd is `tcpwave explain`; FILE - reads stdin.
func explainCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tcpwave explain", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "JSON Lines: one object per connection, with its inferred states and findings")
	verbose := fs.Bool("v", false, "print each finding's sentence under its row")
	connSel := fs.String("conn", "", "draw the ladder of connection `N` or CLIENT:PORT-SERVER:PORT")
	htmlOut := fs.String("html", "", "with --conn: write the connection as an HTML page to `FILE`")
	var only []string
	fs.Func("only", "show only connections that match `FILTER` (see above)", func(s string) error {
		known := explain.Filters()
		for _, f := range strings.Split(s, ",") {
			f = strings.TrimSpace(f)
			if !slices.Contains(known, f) {
				return fmt.Errorf("unknown filter %q", f)
			}
			only = append(only, f)
		}
		return nil
	})
	synopsis := explainSynopsis + "\n\n" + strings.TrimSuffix(explainAbout, "\n")
	var files []string
	for {
		code, ok := parseArgs(fs, synopsis, args, stdout, stderr)
		if !ok {
			return code
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(files) != 1 {
		return usageError(fs, synopsis, stderr, "give one capture file, or - for stdin")
	}
	if *htmlOut != "" && *connSel == "" {
		return usageError(fs, synopsis, stderr, "--html needs --conn")
	}
	if *connSel != "" {
		return explainConn(ctx, files[0], stdin, *connSel, *htmlOut, stdout, stderr)
	}
	in, name, closeIn, err := openCapture(files[0], stdin)
	if err != nil {
		fmt.Fprintf(stderr, "tcpwave explain: %v\n", err)
		return exitFail
	}
	defer closeIn()
	rw := &rowWriter{out: bufio.NewWriter(stdout), only: only, json: *asJSON, verbose: *verbose, live: name == "stdin"}
	sum, err := explain.Explain(ctxReader{ctx, in}, explain.Options{MaxSegments: -1, Reuse: true}, rw.emit)
	if rw.err == nil {
		rw.err = rw.out.Flush()
	}
	if rw.err != nil {
		fmt.Fprintf(stderr, "tcpwave explain: writing the output: %v\n", rw.err)
		return exitFail
	}
	if err != nil {
		fmt.Fprintf(stderr, "tcpwave explain: %s: %s\n", name, oneLine(err))
		return exitFail
	}
	if !*asJSON {
		dups := ""
		if sum.Duplicate > 0 {
			dups = fmt.Sprintf(" (%d captured twice, skipped)", sum.Duplicate)
		}
		fmt.Fprintf(stdout, "%d connections (%d shown), %d TCP segments%s in %d records, %.6fs\n", sum.Conns, rw.shown, sum.Segments, dups, sum.Records, sum.Duration.Seconds())
	}
	return exitOK
}

// openCapture opens the capture named on the command line: a regular
// file, or stdin for "-" (its name is then "stdin"). closeIn closes it.
func openCapture(arg string, stdin io.Reader) (in io.Reader, name string, closeIn func(), err error) {
	if arg == "-" {
		return stdin, "stdin", func() {}, nil
	}
	f, err := os.Open(arg)
	if err != nil {
		return nil, arg, nil, err
	}
	if st, err := f.Stat(); err == nil && st.IsDir() {
		f.Close()
		return nil, arg, nil, fmt.Errorf("%s is a directory", arg)
	}
	return f, arg, func() { f.Close() }, nil
}

// rowWriter writes the table (or JSON Lines) as connections end: the
// header before the first row shown, each row flushed at once when live.
type rowWriter struct {
	out                 *bufio.Writer
	only                []string
	json, verbose, live bool
	shown               int
	err                 error // the first write error; later rows are dropped
}

// emit writes c if it matches the filters.
func (rw *rowWriter) emit(c *explain.Conn) {
	if rw.err != nil {
		return
	}
	if len(rw.only) > 0 && !slices.ContainsFunc(rw.only, func(f string) bool { return explain.Match(c, f) }) {
		return
	}
	rw.shown++
	if !rw.json && rw.shown == 1 {
		if _, rw.err = fmt.Fprintln(rw.out, explain.TableHeader); rw.err != nil {
			return
		}
	}
	if rw.json {
		rw.err = explain.WriteJSONL(rw.out, c)
	} else {
		rw.err = explain.WriteRow(rw.out, c, rw.verbose)
	}
	if rw.live && rw.err == nil {
		rw.err = rw.out.Flush() // live: each row as its connection ends
	}
}

// ctxReader is a reader that stops once its context is done (Ctrl-C).
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, errors.New("interrupted")
	}
	return c.r.Read(p)
}

// explainConn is explain --conn: the ladder (or HTML page) of one
// connection.
func explainConn(ctx context.Context, name string, stdin io.Reader, sel, htmlOut string, stdout, stderr io.Writer) int {
	match, err := connMatcher(sel)
	if err != nil {
		fmt.Fprintf(stderr, "tcpwave explain: --conn: %v\n", err)
		return exitUsage
	}
	in, name, closeIn, err := openCapture(name, stdin)
	if err != nil {
		fmt.Fprintf(stderr, "tcpwave explain: %v\n", err)
		return exitFail
	}
	defer closeIn()
	var found *explain.Conn
	_, err = explain.Explain(ctxReader{ctx, in}, explain.Options{MaxSegments: 1000}, func(c *explain.Conn) {
		if found == nil && match(c) {
			found = c
		}
	})
	if err != nil {
		fmt.Fprintf(stderr, "tcpwave explain: %s: %s\n", name, oneLine(err))
		return exitFail
	}
	if found == nil {
		fmt.Fprintf(stderr, "tcpwave explain: no connection %s in %s\n", sel, name)
		return exitFail
	}
	client, server := found.HostNames()
	events := found.Trace()
	if htmlOut != "" {
		page := htmlpage.Page{
			Title:   fmt.Sprintf("%s ↔ %s", client, server),
			Summary: htmlpage.Text{EN: fmt.Sprintf("Connection %d of %s: %s close. Every state is inferred from what crossed the capture point.", found.ID, name, found.Close)},
			Left:    htmlpage.Host{Name: client, Role: htmlpage.Text{EN: "client", ZH: "客户端"}},
			Right:   htmlpage.Host{Name: server, Role: htmlpage.Text{EN: "server", ZH: "服务器"}},
			Origin:  htmlpage.Text{EN: "Explained by tcpwave from a capture: states and reasons are inferred, not seen.", ZH: "由 tcpwave 根据抓包推断：状态与原因均为推断结果。"},
		}
		if err := writeFileWith(htmlOut, func(w io.Writer) error { return htmlpage.Write(w, events, page) }); err != nil {
			fmt.Fprintf(stderr, "tcpwave explain: %v\n", err)
			return exitFail
		}
		return exitOK
	}
	out := bufio.NewWriter(stdout)
	trace.WriteLadder(out, events, client, server)
	for _, f := range found.Findings {
		fmt.Fprintf(out, "  finding at %.6fs: %s\n", f.T.Seconds(), f.Text)
	}
	if err := out.Flush(); err != nil {
		fmt.Fprintf(stderr, "tcpwave explain: writing the output: %v\n", err)
		return exitFail
	}
	return exitOK
}

// connMatcher reads --conn: a row number, or two endpoints. Its error is
// one line that names the part it could not read.
func connMatcher(sel string) (func(*explain.Conn) bool, error) {
	if n, err := strconv.Atoi(sel); err == nil {
		if n <= 0 {
			return nil, fmt.Errorf("connection numbers start at 1, not %d", n)
		}
		return func(c *explain.Conn) bool { return c.ID == n }, nil
	}
	a, b, ok := strings.Cut(sel, "-")
	if !ok {
		return nil, fmt.Errorf("%q is neither a number nor ADDR:PORT-ADDR:PORT", sel)
	}
	var ends [2]netip.AddrPort
	for i, s := range []string{a, b} {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return nil, fmt.Errorf("%q in %q: %w", s, sel, err)
		}
		ends[i] = ap
	}
	x, y := ends[0], ends[1]
	return func(c *explain.Conn) bool {
		return c.Addr[explain.Client] == x && c.Addr[explain.Server] == y || c.Addr[explain.Client] == y && c.Addr[explain.Server] == x
	}, nil
}
