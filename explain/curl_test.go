//go:build linux

package explain

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/internal/netns"
	"github.com/tcpwave/tcpwave/tcp"
)

var (
	curlN    = flag.Int("explain.curl", 1000, "TestCurlWorkload: `requests` made with Connection: close, and as many over keep-alive")
	curlPcap = flag.String("explain.curlpcap", "", "TestCurlWorkload: copy its capture to `FILE`")
)

// needTool returns the path of a command a test needs, or skips the test
// (fails it under CI=true) when it is missing.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatalf("needs %s: %v [CI=true: a missing prerequisite is a failure]", name, err)
		}
		t.Skipf("needs %s: %v", name, err)
	}
	return p
}

// curlPhase is one half of the workload: its server port, how many
// requests, and how many connections curl should make for them.
type curlPhase struct {
	name     string
	port     uint16
	requests int
	conns    int
	closer   Side // who must close first (keep-alive: curl, when it exits); -1: either
}

// phaseCount is what explain found for one phase.
type phaseCount struct {
	conns     int
	kinds     map[string]int
	firstFIN  [2]int
	timeWait  [2]int
	rsts      int
	retrans   int
	entered   int // sides that entered TIME_WAIT
	midStream int
}

// TestCurlWorkload: curl against a Go net/http server on kernel sockets,
// on the loopback of a namespace of its own, captured by dumpcap: N
// requests each on its own connection (Connection: close: the server
// closes after its reply and curl once it has read it, whichever is
// first: mostly the server, sometimes curl, sometimes both at once) and N
// over keep-alive (N/100 curl processes of 100 requests: curl closes
// first when it exits). The
// explained capture must count the connections nstat counted (active and
// passive opens), the segments (TcpOutSegs + TcpRetransSegs: every
// segment crosses lo once), the RSTs (TcpOutRsts), and the TIME_WAIT
// holders ss -tan lists at the end, socket by socket, on each side; each
// phase's connections must be closed first by the side the workload
// makes close. -explain.curl=10000 runs the full workload.
func TestCurlWorkload(t *testing.T) {
	if testing.Short() {
		t.Skip("runs curl a few thousand times")
	}
	ns := netns.NewT(t)
	curl := needTool(t, "curl")
	needTool(t, "dumpcap")
	needTool(t, "nstat")
	n := *curlN
	perProc := min(100, n)
	phases := []curlPhase{
		{"close", 80, n, n, -1}, // the server closes after its reply, curl once it has read it: a race
		{"keep-alive", 8080, n, (n + perProc - 1) / perProc, Client},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// The server, on kernel sockets inside the namespace.
	var open atomic.Int64
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "0")
		}),
		ConnState: func(c net.Conn, s http.ConnState) {
			switch s {
			case http.StateNew:
				open.Add(1)
			case http.StateClosed, http.StateHijacked:
				open.Add(-1)
			}
		},
	}
	defer srv.Close()
	for _, ph := range phases {
		var ln net.Listener
		err := ns.Run(func() error {
			var err error
			ln, err = net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", ph.port))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		go srv.Serve(ln)
	}

	file := filepath.Join(t.TempDir(), "curl.pcapng")
	stopCapture := startDumpcap(t, ns, file, "lo")
	defer stopCapture()
	start := time.Now()

	// The requests.
	connects := make([]int, len(phases))
	for i, ph := range phases {
		runs := []string{fmt.Sprintf("http://127.0.0.1:%d/%s/[1-%d]", ph.port, ph.name, ph.requests)}
		args := []string{"-sS", "-w", "%{http_code} %{num_connects}\\n"}
		if ph.closer != Client {
			args = append(args, "-Z", "--parallel-max", "4", "-H", "Connection: close")
		} else {
			runs = runs[:0]
			for k := 0; k < ph.requests; k += perProc {
				runs = append(runs, fmt.Sprintf("http://127.0.0.1:%d/%s/%d/[1-%d]", ph.port, ph.name, k, min(perProc, ph.requests-k)))
			}
		}
		var mu sync.Mutex
		var wg sync.WaitGroup
		var errs []error
		ok := 0
		sem := make(chan struct{}, 4)
		for _, url := range runs {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				out, err := ns.Exec(ctx, append(append([]string{curl}, args...), url)...)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
					return
				}
				for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
					var code, nc int
					if _, err := fmt.Sscanf(line, "%d %d", &code, &nc); err == nil && code == 200 {
						ok++
						connects[i] += nc
					}
				}
			}()
		}
		wg.Wait()
		if len(errs) > 0 {
			t.Fatalf("%s: curl: %v", ph.name, errs[0])
		}
		if ok != ph.requests || connects[i] != ph.conns {
			t.Fatalf("%s: curl made %d requests on %d connections, want %d on %d", ph.name, ok, connects[i], ph.requests, ph.conns)
		}
	}
	// Every connection closed by the server too, and its last ACK sent.
	for deadline := time.Now().Add(30 * time.Second); open.Load() > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d server connections still open", open.Load())
		}
	}
	time.Sleep(300 * time.Millisecond)
	elapsed := time.Since(start)
	rows, err := ns.SS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out, err := ns.Exec(ctx, "nstat", "-asz")
	if err != nil {
		t.Fatal(err)
	}
	mib := parseNstat(string(out))
	dropped := stopCapture()
	if dropped != 0 {
		t.Fatalf("dumpcap dropped %d packets: the capture cannot count what the kernel did", dropped)
	}
	if *curlPcap != "" {
		if data, err := os.ReadFile(file); err == nil {
			err = os.WriteFile(*curlPcap, data, 0o644)
			if err != nil {
				t.Error(err)
			}
		}
	}

	// The capture, explained twice: with the default Linger (5 s), and with a
	// Linger of 1 s, after which most reuses (tcp_tw_reuse waits 1 s) come
	// to a 4-tuple whose connection was over and quiet: held back, not yet
	// handed over (MaxHeld covers the workload).
	for _, linger := range []time.Duration{5 * time.Second, time.Second} {
		t.Run(fmt.Sprintf("linger=%v", linger), func(t *testing.T) {
			// The capture, explained.
			f, err := os.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			type tw struct{ local, peer netip.AddrPort }
			// The TIME_WAIT holders at the end, socket by socket, connection by
			// connection: curl may reuse a port whose TIME_WAIT is over a second
			// old (Linux tcp_tw_reuse on loopback), which ends that TIME_WAIT; the
			// old connection's row must say so (held back until then: MaxHeld
			// covers the workload), and each reuse must be told by a "reuse"
			// finding and a new incarnation.
			explained := map[tw]bool{}
			seen := map[tw]int{} // connections on the 4-tuple so far
			reused, twice := 0, []string(nil)
			reuses := map[string]bool{} // by 4-tuple and time: both sides of a simultaneous close have one
			counts := make([]phaseCount, len(phases))
			for i := range counts {
				counts[i].kinds = map[string]int{}
			}
			var stray []string
			var bad []string
			sum, err := Explain(f, Options{MaxSegments: -1, Linger: linger, MaxHeld: 4 * n}, func(c *Conn) {
				i := slices.IndexFunc(phases, func(ph curlPhase) bool { return ph.port == c.Addr[Server].Port() })
				if i < 0 {
					stray = append(stray, fmt.Sprintf("%v-%v", c.Addr[Client], c.Addr[Server]))
					return
				}
				pc := &counts[i]
				pc.conns++
				pc.kinds[c.Close]++
				if c.MidStream {
					pc.midStream++
				}
				if c.Closer {
					pc.firstFIN[c.FirstFIN]++
				}
				if !c.Closer || phases[i].closer >= 0 && c.FirstFIN != phases[i].closer || c.Close == CloseRST || c.Close == CloseOpen {
					if len(bad) < 5 {
						bad = append(bad, fmt.Sprintf("%s %v-%v: close %s, closer %v (%v)\n%s", phases[i].name, c.Addr[Client], c.Addr[Server], c.Close, c.FirstFIN, c.Closer, dump(c)))
					}
				}
				if msg := statesInOrder(c); msg != "" && len(bad) < 5 {
					bad = append(bad, fmt.Sprintf("%s %v-%v: %s\n%s", phases[i].name, c.Addr[Client], c.Addr[Server], msg, dump(c)))
				}
				for s := Client; s <= Server; s++ {
					pc.rsts += c.Sent[s].RSTs
					pc.retrans += c.Sent[s].Retransmits
					if slices.ContainsFunc(c.States[s], func(tr Transition) bool { return tr.To == tcp.TimeWait }) {
						pc.entered++
					}
					if c.Final[s] != tcp.TimeWait {
						continue
					}
					k := tw{c.Addr[s], c.Addr[s.other()]}
					if explained[k] && len(twice) < 5 {
						twice = append(twice, fmt.Sprintf("%s %v-%v\n%s", phases[i].name, c.Addr[Client], c.Addr[Server], dump(c)))
					}
					explained[k] = true
					pc.timeWait[s]++
				}
				k := tw{c.Addr[Client], c.Addr[Server]}
				if seen[k] > 0 {
					reused++
				}
				seen[k]++
				if c.Incarnation != seen[k] && len(bad) < 5 {
					bad = append(bad, fmt.Sprintf("%s %v-%v: incarnation %d, the 4-tuple's connection %d\n%s", phases[i].name, c.Addr[Client], c.Addr[Server], c.Incarnation, seen[k], dump(c)))
				}
				for _, f := range c.Findings {
					if f.Kind == "reuse" {
						reuses[fmt.Sprintf("%v-%v %v", c.Addr[Client], c.Addr[Server], f.T)] = true
					}
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range twice {
				t.Errorf("two connections on one 4-tuple both end in TIME_WAIT: %s", b)
			}
			if len(reuses) != reused {
				t.Errorf("%d reuses found for %d connections on a 4-tuple in TIME_WAIT", len(reuses), reused)
			}
			if len(stray) > 0 {
				t.Errorf("connections to no phase's port: %v", stray)
			}
			for _, b := range bad {
				t.Errorf("not closed as the workload closes it, or states out of order: %s", b)
			}

			// What ss and nstat counted.
			listed := map[tw]bool{}
			var ssTW [2][2]int // by phase, by side
			for _, r := range rows {
				if r.State != "TIME-WAIT" {
					continue
				}
				listed[tw{r.Local, r.Peer}] = true
				for i, ph := range phases {
					switch ph.port {
					case r.Local.Port():
						ssTW[i][Server]++
					case r.Peer.Port():
						ssTW[i][Client]++
					}
				}
			}
			var b strings.Builder
			fmt.Fprintf(&b, "%d requests each way in %v; %d TCP segments, %d connections explained (%d on a 4-tuple used before), %d duplicates\n", n, elapsed.Round(time.Millisecond), sum.Segments, sum.Conns, reused, sum.Duplicate)
			fmt.Fprintf(&b, "  %-10s  %5s  %5s  %-28s  %-17s  %-17s  %s\n", "PHASE", "CURL", "CONNS", "CLOSE KINDS", "FIRST FIN cli/srv", "TIME_WAIT cli/srv", "ss TIME_WAIT cli/srv")
			for i, ph := range phases {
				pc := counts[i]
				var kinds []string
				for k, v := range pc.kinds {
					kinds = append(kinds, fmt.Sprintf("%s %d", k, v))
				}
				slices.Sort(kinds)
				fmt.Fprintf(&b, "  %-10s  %5d  %5d  %-28s  %8d/%-8d  %8d/%-8d  %d/%d\n", ph.name, connects[i], pc.conns, strings.Join(kinds, ", "), pc.firstFIN[Client], pc.firstFIN[Server], pc.timeWait[Client], pc.timeWait[Server], ssTW[i][Client], ssTW[i][Server])
			}
			fmt.Fprintf(&b, "  nstat: TcpActiveOpens %d TcpPassiveOpens %d TcpOutSegs %d TcpRetransSegs %d TcpOutRsts %d TcpEstabResets %d TcpExtTW %d TcpExtTCPTimeWaitOverflow %d",
				mib["TcpActiveOpens"], mib["TcpPassiveOpens"], mib["TcpOutSegs"], mib["TcpRetransSegs"], mib["TcpOutRsts"], mib["TcpEstabResets"], mib["TcpExtTW"], mib["TcpExtTCPTimeWaitOverflow"])
			t.Log(b.String())

			conns, rsts, retrans, entered := 0, 0, 0, 0
			for i, ph := range phases {
				pc := counts[i]
				conns += pc.conns
				rsts += pc.rsts
				retrans += pc.retrans
				entered += pc.entered
				if pc.conns != ph.conns || pc.midStream != 0 {
					t.Errorf("%s: %d connections explained (%d mid-stream), curl made %d", ph.name, pc.conns, pc.midStream, ph.conns)
				}
				if ph.closer >= 0 && pc.firstFIN[ph.closer] != ph.conns {
					t.Errorf("%s: %d connections closed first by the %v, want all %d", ph.name, pc.firstFIN[ph.closer], ph.closer, ph.conns)
				}
				if pc.timeWait != ssTW[i] {
					t.Errorf("%s: explain has %d/%d TIME_WAIT holders (client/server), ss lists %d/%d", ph.name, pc.timeWait[Client], pc.timeWait[Server], ssTW[i][Client], ssTW[i][Server])
				}
			}
			if elapsed < 50*time.Second { // no TIME_WAIT has expired yet
				var only []string
				for k := range explained {
					if !listed[k] {
						only = append(only, "explain "+k.local.String()+"-"+k.peer.String())
					}
				}
				for k := range listed {
					if !explained[k] {
						only = append(only, "ss "+k.local.String()+"-"+k.peer.String())
					}
				}
				if len(only) > 0 {
					slices.Sort(only)
					t.Errorf("%d TIME_WAIT sockets only one of explain and ss has: %v", len(only), only[:min(len(only), 10)])
				}
			} else {
				t.Errorf("the workload took %v: TIME_WAIT (60 s) began to expire before ss looked", elapsed)
			}
			for _, c := range []struct {
				what      string
				got, want int
			}{
				{"connections (TcpActiveOpens)", conns, mib["TcpActiveOpens"]},
				{"connections (TcpPassiveOpens)", conns, mib["TcpPassiveOpens"]},
				{"segments (TcpOutSegs + TcpRetransSegs)", sum.Segments, mib["TcpOutSegs"] + mib["TcpRetransSegs"]},
				{"RSTs (TcpOutRsts)", rsts, mib["TcpOutRsts"]},
				// TcpExtTW counts the timewait sockets scheduled (Linux
				// __inet_twsk_schedule): each TIME_WAIT, and each orphaned
				// FIN_WAIT_2 (a timewait socket too), which here all go on
				// to TIME_WAIT.
				{"sides that entered TIME_WAIT (TcpExtTW)", entered, mib["TcpExtTW"]},
				{"segments captured twice", sum.Duplicate, 0},
				{"TIME_WAIT overflows (TcpExtTCPTimeWaitOverflow)", 0, mib["TcpExtTCPTimeWaitOverflow"]},
			} {
				if c.got != c.want {
					t.Errorf("%s: explain %d, kernel %d", c.what, c.got, c.want)
				}
			}
			if mib["TcpRetransSegs"] == 0 && retrans != 0 {
				t.Errorf("explain counts %d retransmissions, the kernel sent none", retrans)
			}
		})
	}
}

// parseNstat reads "nstat -asz" output: NAME VALUE RATE lines.
func parseNstat(out string) map[string]int {
	m := map[string]int{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 {
			if v, err := strconv.Atoi(f[1]); err == nil {
				m[f[0]] = v
			}
		}
	}
	return m
}

// dumpcapDropped finds the packets dumpcap says it dropped in its closing
// report ("Packets received/dropped on interface 'lo': 10/0 (...)").
var dumpcapDropped = regexp.MustCompile(`received/dropped on interface '[^']*': \d+/(\d+)`)

// startDumpcap captures TCP on the interface iface of ns (with the
// dumpcap options opts) into file, and returns once it captures. stop ends the capture
// and returns the packets dumpcap dropped; it may be called again.
func startDumpcap(t *testing.T, ns *netns.NS, file, iface string, opts ...string) (stop func() int) {
	t.Helper()
	args := append([]string{"netns", "exec", ns.Name(), "dumpcap", "-q", "-i", iface}, opts...)
	d, err := startDumpcapCmd(exec.Command("ip", append(args, "-s", "128", "-B", "64", "-f", "tcp", "-w", file)...), 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	return func() int {
		d.stop(20 * time.Second)
		dropped := 0
		for _, m := range dumpcapDropped.FindAllStringSubmatch(d.report(), -1) {
			n, _ := strconv.Atoi(m[1])
			dropped += n
		}
		return dropped
	}
}
