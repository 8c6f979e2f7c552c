//go:build linux

package explain

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tcpwave/tcpwave/internal/netns"
	"github.com/tcpwave/tcpwave/tcp"
	"github.com/tcpwave/tcpwave/wire"
)

// The rig of TestLinuxMatrix: three network namespaces in a row,
//
//	A (client) va ==veth== ma  M  mb ==veth== vb B (server)
//
// A and B share one IPv4 subnet; M joins them with a forwarder in user
// space (two AF_PACKET sockets), which can drop a chosen segment (this
// machine has neither netem nor a firewall tool). Captures run in A on va,
// in B on vb and in M on ma, its A-facing port: a segment A sends that M
// drops is seen there, a segment B sends that M drops is not.
var (
	rigAddrA = netip.MustParseAddr("10.77.0.1")
	rigAddrB = netip.MustParseAddr("10.77.0.2")
)

// The rig's capture points.
const (
	pointA = "A"
	pointM = "M"
	pointB = "B"
)

// rigPoints are the capture points in the order the table shows them.
var rigPoints = []string{pointA, pointM, pointB}

// rig is the three namespaces, M's forwarder and the captures.
type rig struct {
	a, m, b *netns.NS
	fwd     *forwarder
}

// rigFinTimeout is A's tcp_fin_timeout.
const rigFinTimeout = 3 * time.Second

// rigCmdTimeout bounds every command the rig runs.
const rigCmdTimeout = 10 * time.Second

// requireRig skips the test, or fails it with CI=true, when this machine
// cannot build the rig: root, iproute2 and dumpcap are needed.
func requireRig(t *testing.T) string {
	t.Helper()
	netns.Require(t)
	dumpcap, err := exec.LookPath("dumpcap")
	if err != nil {
		msg := "this test captures with dumpcap (Wireshark's capture tool, in the tshark package): " + err.Error()
		if ci, _ := strconv.ParseBool(strings.TrimSpace(os.Getenv("CI"))); ci {
			t.Fatal(msg + " [CI=true: a missing prerequisite is a failure]")
		}
		t.Skip(msg)
	}
	return dumpcap
}

// newRig makes the namespaces, their links and M's forwarder; all are
// gone when the test ends.
func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{}
	var err error
	for _, p := range []struct {
		ns    **netns.NS
		label string
	}{{&r.a, "xA"}, {&r.m, "xM"}, {&r.b, "xB"}} {
		if *p.ns, err = netns.New(p.label); err != nil {
			t.Fatal(err)
		}
		ns := *p.ns
		t.Cleanup(func() {
			if err := ns.Close(); err != nil {
				t.Errorf("deleting namespace: %v", err)
			}
		})
	}
	a, m, b := r.a.Name(), r.m.Name(), r.b.Name()
	steps := [][]string{
		{"ip", "-n", a, "link", "add", "name", "va", "address", "02:77:00:00:00:01", "type", "veth", "peer", "name", "ma", "netns", m},
		{"ip", "-n", b, "link", "add", "name", "vb", "address", "02:77:00:00:00:02", "type", "veth", "peer", "name", "mb", "netns", m},
		{"ip", "-n", a, "addr", "add", rigAddrA.String() + "/24", "dev", "va"},
		{"ip", "-n", b, "addr", "add", rigAddrB.String() + "/24", "dev", "vb"},
		// No ARP on the way: each end knows the other's address.
		{"ip", "-n", a, "neigh", "add", rigAddrB.String(), "lladdr", "02:77:00:00:00:02", "dev", "va", "nud", "permanent"},
		{"ip", "-n", b, "neigh", "add", rigAddrA.String(), "lladdr", "02:77:00:00:00:01", "dev", "vb", "nud", "permanent"},
		{"ip", "-n", m, "link", "set", "dev", "ma", "promisc", "on", "up"},
		{"ip", "-n", m, "link", "set", "dev", "mb", "promisc", "on", "up"},
		{"ip", "-n", a, "link", "set", "dev", "va", "up"},
		{"ip", "-n", b, "link", "set", "dev", "vb", "up"},
		// lost-fin-1: A gives up on a FIN nobody ACKs after one
		// retransmission's worth of backoff, not 8 (about 100 s).
		{"ip", "netns", "exec", a, "sysctl", "-qw", "net.ipv4.tcp_orphan_retries=1"},
		// fin-wait-2-timeout: A forgets an orphaned FIN_WAIT_2 in
		// seconds, not a minute.
		{"ip", "netns", "exec", a, "sysctl", "-qw", fmt.Sprintf("net.ipv4.tcp_fin_timeout=%d", int(rigFinTimeout/time.Second))},
	}
	for _, ns := range []string{a, m, b} {
		steps = append(steps, []string{"ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"})
	}
	for _, s := range steps {
		if err := rigRun(s...); err != nil {
			t.Fatal(err)
		}
	}
	if r.fwd, err = newForwarder(r.m, "ma", "mb"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.fwd.close(); err != nil {
			t.Errorf("forwarder: %v", err)
		}
	})
	return r
}

// rigRun runs a command of the rig's set-up.
func rigRun(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), rigCmdTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// The directions of the forwarder, and of a drop rule.
const (
	aToB = 0
	bToA = 1
)

// dropRule drops segments of one case's connections (those to or from
// the server's port) going one way: the nth that match (every one when nth
// is 0). With hold set it drops nothing but holds the first matching
// segment of either direction until the other direction sends one too,
// then lets both go: two FINs sent a little apart cross on the wire.
type dropRule struct {
	dir     int
	match   func(flags byte, payload int) bool
	nth     int
	hold    bool
	seen    int
	dropped int
	held    [2][]byte
	done    bool // hold: both went
}

// The TCP flag bits as the header carries them.
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpPSH = 0x08
	tcpACK = 0x10
)

// matchFIN matches a segment carrying a FIN.
func matchFIN(f byte, _ int) bool { return f&tcpFIN != 0 }

// matchAny matches every segment without SYN: all but the handshake's
// first two.
func matchAny(f byte, _ int) bool { return f&tcpSYN == 0 }

// matchPureACK matches an ACK with no payload and no other flag (PSH
// aside).
func matchPureACK(f byte, n int) bool { return f&^tcpPSH == tcpACK && n == 0 }

// forwarder joins two interfaces of M in user space, frame by frame,
// dropping what its rules say.
type forwarder struct {
	fds   [2]int // the packet sockets on the A side and the B side
	stop  atomic.Bool
	wg    sync.WaitGroup
	mu    sync.Mutex
	rules map[uint16]*dropRule // by the server's port
	err   error                // the first error of a loop
	last  atomic.Int64         // when a frame last came in (Unix ns)
}

// rigRecvTimeout is how often a forwarder loop looks at its stop flag.
const rigRecvTimeout = 20 * time.Millisecond

// newForwarder opens packet sockets on M's interfaces devA and devB and
// starts forwarding between them.
func newForwarder(m *netns.NS, devA, devB string) (*forwarder, error) {
	f := &forwarder{fds: [2]int{-1, -1}, rules: map[uint16]*dropRule{}}
	err := m.Run(func() error {
		for i, dev := range []string{devA, devB} {
			ifi, err := net.InterfaceByName(dev)
			if err != nil {
				return fmt.Errorf("forwarder: %w", err)
			}
			proto := int(htons(unix.ETH_P_ALL))
			fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
			if err != nil {
				return fmt.Errorf("forwarder: packet socket: %w", err)
			}
			f.fds[i] = fd
			if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
				return fmt.Errorf("forwarder: bind to %s: %w", dev, err)
			}
			if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
				return fmt.Errorf("forwarder: PACKET_IGNORE_OUTGOING: %w", err)
			}
			tv := unix.NsecToTimeval(rigRecvTimeout.Nanoseconds())
			if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
				return fmt.Errorf("forwarder: SO_RCVTIMEO: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, errors.Join(err, f.closeFDs())
	}
	for dir := range 2 {
		f.wg.Add(1)
		go f.loop(dir)
	}
	return f, nil
}

// htons converts a 16-bit value to network byte order.
func htons(v uint16) uint16 { return v<<8 | v>>8 }

// setRule makes r the drop rule of the connections on the server's port.
func (f *forwarder) setRule(port uint16, r *dropRule) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules[port] = r
}

// seen returns how many segments the rule on port matched.
func (f *forwarder) seen(port uint16) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r := f.rules[port]; r != nil {
		return r.seen
	}
	return 0
}

// dropped returns how many segments the rule on port dropped, and
// whether it held and let go a segment of each direction.
func (f *forwarder) dropped(port uint16) (int, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r := f.rules[port]; r != nil {
		return r.dropped, r.done
	}
	return 0, false
}

// loop forwards the frames of one direction until stopped.
func (f *forwarder) loop(dir int) {
	defer f.wg.Done()
	in, out := f.fds[dir], f.fds[1-dir]
	buf := make([]byte, 65536)
	for !f.stop.Load() {
		n, from, err := unix.Recvfrom(in, buf, 0)
		switch {
		case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			f.fail(fmt.Errorf("forwarder: receive: %w", err))
			return
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		f.last.Store(time.Now().UnixNano())
		frame := buf[:n]
		pass, release := f.verdict(dir, frame)
		if !pass {
			continue
		}
		if release != nil {
			// The other direction's, held until now, goes first: its
			// receiver must not answer this frame before it has it,
			// or the answer would overtake it.
			fixTCPChecksum(release)
			if _, err := unix.Write(in, release); err != nil && !errors.Is(err, unix.ENOBUFS) {
				f.fail(fmt.Errorf("forwarder: send: %w", err))
				return
			}
		}
		fixTCPChecksum(frame)
		if _, err := unix.Write(out, frame); err != nil && !errors.Is(err, unix.ENOBUFS) {
			f.fail(fmt.Errorf("forwarder: send: %w", err))
			return
		}
	}
}

// fail records the first error of a loop.
func (f *forwarder) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		f.err = err
	}
}

// tcpOf returns the IPv4 header and the TCP segment of an Ethernet frame,
// or nils when it is not IPv4 TCP.
func tcpOf(frame []byte) (ip, seg []byte) {
	if len(frame) < 14+20 || binary.BigEndian.Uint16(frame[12:]) != 0x0800 {
		return nil, nil
	}
	ip = frame[14:]
	ihl := int(ip[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(ip[2:]))
	if ip[9] != 6 || ihl < 20 || total < ihl+20 || total > len(ip) {
		return nil, nil
	}
	return ip[:total], ip[ihl:total]
}

// verdict says whether the frame, going dir, passes (it is dropped or
// held otherwise), counting it against its rule, and returns a held frame
// of the other direction to send after it.
func (f *forwarder) verdict(dir int, frame []byte) (pass bool, release []byte) {
	_, seg := tcpOf(frame)
	if seg == nil {
		return true, nil
	}
	port := binary.BigEndian.Uint16(seg[2:]) // the destination's
	if dir == bToA {
		port = binary.BigEndian.Uint16(seg[0:])
	}
	flags := seg[13]
	payload := len(seg) - int(seg[12]>>4)*4
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.rules[port]
	if r == nil || !r.hold && r.dir != dir || !r.match(flags, payload) {
		return true, nil
	}
	r.seen++
	if r.hold {
		switch {
		case r.done:
			return true, nil
		case r.held[dir] != nil: // sent again while held: the held copy goes
			r.dropped++
			return false, nil
		case r.held[1-dir] != nil:
			r.done = true
			return true, r.held[1-dir]
		}
		r.held[dir] = append([]byte(nil), frame...)
		return false, nil
	}
	if r.nth == 0 || r.seen == r.nth {
		r.dropped++
		return false, nil
	}
	return true, nil
}

// fixTCPChecksum fills in the TCP checksum of an IPv4 frame: a frame a
// veth hands over may carry only the pseudo-header's sum (checksum
// offload), which the far end, reached through a packet socket, would
// take as corrupt.
func fixTCPChecksum(frame []byte) {
	ip, seg := tcpOf(frame)
	if seg == nil {
		return
	}
	src, _ := netip.AddrFromSlice(ip[12:16])
	dst, _ := netip.AddrFromSlice(ip[16:20])
	seg[16], seg[17] = 0, 0
	binary.BigEndian.PutUint16(seg[16:], wire.TCPChecksum(src, dst, seg))
}

// waitQuiet waits until no frame has come in for quiet, or max has
// passed: the last segments of the cases have then reached both ends.
func (f *forwarder) waitQuiet(quiet, max time.Duration) {
	time.Sleep(quiet) // what was just sent may not have come in yet
	for end := time.Now().Add(max); time.Now().Before(end); time.Sleep(quiet / 10) {
		if time.Since(time.Unix(0, f.last.Load())) > quiet {
			return
		}
	}
}

// close stops the forwarder and returns the first error its loops met.
func (f *forwarder) close() error {
	f.stop.Store(true)
	f.wg.Wait()
	err := f.closeFDs()
	f.mu.Lock()
	defer f.mu.Unlock()
	return errors.Join(f.err, err)
}

// closeFDs closes the packet sockets.
func (f *forwarder) closeFDs() error {
	var errs []error
	for i, fd := range f.fds {
		if fd >= 0 {
			errs = append(errs, unix.Close(fd))
			f.fds[i] = -1
		}
	}
	return errors.Join(errs...)
}

// sampler runs `ss -tan` in a namespace again and again, keeping every
// listing, until stopped.
type sampler struct {
	stop    atomic.Bool
	done    chan struct{}
	samples []ssSample
	err     error
}

// ssSample is one listing of ss, taken between before and after.
type ssSample struct {
	before, after time.Time
	rows          []ssRow
}

// ssRow is a socket in a listing, with its cookie (ss -e's "sk:"), which
// tells one socket from another on the same 4-tuple: a socket keeps it to
// the end of TIME_WAIT; the socket accept() returns has its own, not its
// request's (SYN-RECV).
type ssRow struct {
	netns.SSRow
	cookie string
}

// parseSSE parses the output of "ss -Htane".
func parseSSE(out string) ([]ssRow, error) {
	var rows []ssRow
	for _, line := range strings.Split(out, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		r, err := netns.ParseSS(line)
		if err != nil {
			return rows, err
		}
		row := ssRow{SSRow: r[0]}
		for _, f := range strings.Fields(line) {
			if c, ok := strings.CutPrefix(f, "sk:"); ok {
				row.cookie = c
			}
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// maxSamples bounds a sampler's listings.
const maxSamples = 50000

// startSampler starts sampling the TCP sockets of ns.
func startSampler(ns *netns.NS) *sampler {
	s := &sampler{done: make(chan struct{})}
	go func() {
		defer close(s.done)
		// On the namespace's thread, so that ss, forked from it, lists
		// the namespace's sockets.
		s.err = ns.Run(func() error {
			for i := 0; i < maxSamples && !s.stop.Load(); i++ {
				ctx, cancel := context.WithTimeout(context.Background(), rigCmdTimeout)
				before := time.Now()
				out, err := exec.CommandContext(ctx, "ss", "-Htane").Output()
				after := time.Now()
				cancel()
				if err != nil {
					return fmt.Errorf("ss -Htane: %w", err)
				}
				rows, err := parseSSE(string(out))
				if err != nil {
					return err
				}
				s.samples = append(s.samples, ssSample{before, after, rows})
				time.Sleep(time.Millisecond)
			}
			return nil
		})
	}()
	return s
}

// finish stops the sampler and returns its error.
func (s *sampler) finish() error {
	s.stop.Store(true)
	<-s.done
	return s.err
}

// ssStates maps ss's state names to tcp's states.
var ssStates = func() map[string]tcp.State {
	m := map[string]tcp.State{}
	for st := tcp.Closed; st.SSName() != "INVALID"; st++ {
		m[st.SSName()] = st
	}
	return m
}()

// opening reports whether a socket in state st is at the start of a
// connection.
func opening(st tcp.State) bool {
	return st == tcp.SynSent || st == tcp.SynRcvd || st == tcp.Established
}

// ssStep is a state ss showed a socket in: first in a listing that ended
// at seen, after a listing, begun at since, that showed another state (or
// none).
type ssStep struct {
	st          tcp.State
	since, seen time.Time
}

// boundSlack is how far from a bound between two connections on one
// 4-tuple a listing may show either: the capture point sees the new SYN
// before or after the end it reaches.
const boundSlack = 150 * time.Millisecond

// incarnations returns the states the socket local–peer showed, in the
// listings in order, one sequence for each connection on that 4-tuple:
// bounds are the times the second, third... began (their first SYN, as a
// capture shows it). A socket with a new cookie (not the one accept()
// made of a request) is the next connection, and so is one listed more
// than boundSlack after a bound, however sparse the listings. A socket
// that is gone after it was seen is CLOSED, and so is each connection but
// the last (its 4-tuple was taken over).
func incarnations(samples []ssSample, local, peer netip.AddrPort, bounds []time.Time) [][]ssStep {
	out := make([][]ssStep, len(bounds)+1)
	var prev time.Time
	n := 0
	cookie := ""
	var last tcp.State
	for _, x := range samples {
		var row *ssRow
		for i := range x.rows {
			if r := &x.rows[i]; r.Local == local && r.Peer == peer {
				row = r
				break
			}
		}
		for n < len(bounds) && x.before.After(bounds[n].Add(boundSlack)) {
			n++
		}
		state := tcp.Closed
		if row != nil {
			state = ssStates[row.State]
			if cookie != "" && row.cookie != cookie && last != tcp.SynRcvd && n < len(bounds) && len(out[n]) > 0 {
				n++
			}
			cookie, last = row.cookie, state
		}
		if len(out[n]) == 0 && row == nil {
			prev = x.before
			continue
		}
		if l := len(out[n]); l == 0 || out[n][l-1].st != state {
			out[n] = append(out[n], ssStep{state, prev, x.after})
		}
		prev = x.before
	}
	for n := range len(out) - 1 {
		if l := len(out[n]); l > 0 && out[n][l-1].st != tcp.Closed {
			out[n] = append(out[n], ssStep{tcp.Closed, out[n][l-1].since, bounds[n]})
		}
	}
	return out
}

// dumpcapCapturing tells whether line, from dumpcap's stderr, says it
// captures: "File: <path>" comes once the interface is open, its filter
// set and the file created. "Capturing on ..." comes before any of that
// (it only names the interfaces), so packets sent when it is read may be
// missed, all of them on a busy machine.
func dumpcapCapturing(line string) bool {
	return strings.HasPrefix(line, "File: ")
}

// dumpcapRun is a dumpcap process started by startDumpcapCmd, what it
// said on stderr kept for its report.
type dumpcapRun struct {
	cmd      *exec.Cmd
	done     chan struct{} // closed once stderr is read to its end
	mu       sync.Mutex
	said     strings.Builder
	stopOnce sync.Once
	stopErr  error
}

// startDumpcapCmd starts cmd, dumpcap (perhaps under ip netns exec), and
// waits up to timeout until it captures; past that it kills dumpcap and
// says what it printed.
func startDumpcapCmd(cmd *exec.Cmd, timeout time.Duration) (*dumpcapRun, error) {
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("dumpcap: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("dumpcap: %w", err)
	}
	d := &dumpcapRun{cmd: cmd, done: make(chan struct{})}
	ready := make(chan struct{})
	go func() {
		defer close(d.done)
		sc := bufio.NewScanner(stderr)
		once := false
		for sc.Scan() {
			d.mu.Lock()
			d.said.WriteString(sc.Text() + "\n")
			d.mu.Unlock()
			if !once && dumpcapCapturing(sc.Text()) {
				close(ready)
				once = true
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	select {
	case <-ready:
		return d, nil
	case <-time.After(timeout):
		cmd.Process.Kill()
		<-d.done
		cmd.Wait()
		return nil, fmt.Errorf("dumpcap did not start: %s", d.report())
	}
}

// report is what dumpcap said on stderr so far (all of it once stopped).
func (d *dumpcapRun) report() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.said.String()
}

// stop ends the capture with SIGINT, so that dumpcap finishes its file,
// and kills it if it has not ended within timeout. It may be called
// again, and returns the first call's error.
func (d *dumpcapRun) stop(timeout time.Duration) error {
	d.stopOnce.Do(func() {
		if err := d.cmd.Process.Signal(syscall.SIGINT); err != nil {
			d.stopErr = fmt.Errorf("dumpcap: %w", err)
		}
		select {
		case <-d.done:
		case <-time.After(timeout):
			d.cmd.Process.Kill()
			<-d.done
			if d.stopErr == nil {
				d.stopErr = errors.New("dumpcap did not stop on SIGINT")
			}
		}
		d.cmd.Wait()
	})
	return d.stopErr
}

// rigCapture is dumpcap running in a namespace.
type rigCapture struct {
	*dumpcapRun
	file string
}

// startCapture starts dumpcap on dev in ns, writing TCP to a pcapng file
// in dir, and waits until it captures.
func startCapture(dumpcap string, ns *netns.NS, dev, dir string) (*rigCapture, error) {
	file := filepath.Join(dir, dev+".pcapng")
	cmd := exec.Command("ip", "netns", "exec", ns.Name(), dumpcap, "-i", dev, "-f", "tcp", "-w", file)
	d, err := startDumpcapCmd(cmd, rigCmdTimeout)
	if err != nil {
		return nil, fmt.Errorf("on %s: %w", dev, err)
	}
	return &rigCapture{dumpcapRun: d, file: file}, nil
}

// stop ends the capture (SIGINT, so that dumpcap finishes its file).
func (c *rigCapture) stop() error { return c.dumpcapRun.stop(rigCmdTimeout) }
