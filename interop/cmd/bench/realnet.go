//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tcpwave/tcpwave/internal/netns"
	"github.com/tcpwave/tcpwave/interop"
	"github.com/tcpwave/tcpwave/link"
	"github.com/tcpwave/tcpwave/link/faulty"
	"github.com/tcpwave/tcpwave/link/tun"
	gtun "gvisor.dev/gvisor/pkg/tcpip/link/tun"
)

// The networks of the real-link mode. Each run builds one and tears it
// down: a namespace whose kernel is the client side (10.9.0.1, the
// "kernel end"), and on the other side of a link the "peer end"
// (10.9.0.2), which is a stack in this process on a TUN device in the
// namespace, or the kernel of a second namespace:
//
//	tcpwave  kernel(ns) -- tw0 (TUN) -- [faulty] -- tcpwave host
//	gvisor   kernel(ns) -- tw0 (TUN) -- [faulty] -- gVisor host (interop.NewGVisorOn)
//	gvisor-fd kernel(ns) -- tw0 (plain TUN) -- gVisor's fdbased endpoint (no loss rows)
//	kernel   kernel(ns1) -- veth -- kernel(ns2)                  (no loss)
//	         kernel(ns1) -- tw0 -- faulty -- tw0 -- kernel(ns2)  (with loss)
//
// Without loss the TUN devices have offload (IFF_VNET_HDR, TSO and
// checksum offload: link/tun's OpenOffload) and the veth pair has the
// kernel's own TSO and GRO. With loss every link is a plain TUN at
// MTU 1500, with no offload, and the same link/faulty (one packet lost
// in each direction with the given probability, from the given seed)
// loses packets whole: for the stacks between the device and the stack,
// for the two kernels in a userspace forwarder between their devices.

// nsSet is the namespaces of the real-link mode that are not deleted
// yet, so that an interrupted command deletes them before it exits
// (deleteAll): the devices, sockets and threads in them go with the
// process, but a namespace's name would stay until a later tcpwave
// process swept it.
type nsSet struct {
	mu      sync.Mutex
	m       map[*netns.NS]bool
	deleted bool // deleteAll has run: no more namespaces
}

// liveNS is the command's nsSet.
var liveNS = &nsSet{m: map[*netns.NS]bool{}}

// errInterrupted is what add returns once deleteAll has run.
var errInterrupted = errors.New("interrupted")

// add makes a namespace (netns.New with label) and keeps it in the set.
func (s *nsSet) add(label string) (*netns.NS, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.deleted {
		return nil, errInterrupted
	}
	ns, err := netns.New(label)
	if err != nil {
		return nil, err
	}
	s.m[ns] = true
	return ns, nil
}

// remove deletes ns and forgets it.
func (s *nsSet) remove(ns *netns.NS) error {
	s.mu.Lock()
	delete(s.m, ns)
	s.mu.Unlock()
	return ns.Close()
}

// deleteAll deletes every namespace of the set, and any add from now on
// fails.
func (s *nsSet) deleteAll() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deleted = true
	var errs []error
	for ns := range s.m {
		errs = append(errs, ns.Close())
		delete(s.m, ns)
	}
	return errors.Join(errs...)
}

// realKind is the peer end of a real-link run.
type realKind string

// The peers of the real-link mode, in the order of the table's columns.
const (
	realTCPWave realKind = "tcpwave"
	realGVisor  realKind = "gvisor"
	// realGVisorFD is gVisor's own fdbased endpoint on a TUN device
	// without offload (interop.GVisorFDHost says why); it has no loss
	// rows, as nothing sits between its device and its stack.
	realGVisorFD realKind = "gvisor-fd"
	realKernel   realKind = "kernel"
)

var realKinds = []realKind{realTCPWave, realGVisor, realGVisorFD, realKernel}

// Addresses of the real-link networks.
var (
	realKernelPrefix = netns.KernelPrefix4 // 10.9.0.1/24, the kernel end
	realPeerAddr     = netns.StackAddr4    // 10.9.0.2, the peer end
	realPeerPrefix   = netip.PrefixFrom(netns.StackAddr4, 24)
)

// realMTU is the MTU of every real link.
const realMTU = 1500

// tcpCounts are the counters of the sending side of a lossy transfer.
type tcpCounts struct {
	retrans  uint64 // segments sent again (TcpRetransSegs)
	timeouts uint64 // retransmission timeouts (TcpExtTCPTimeouts)
}

// end is one side of a real network: it listens, dials, and counts.
type end interface {
	listen(port int) (net.Listener, error)
	dial(ctx context.Context, to netip.AddrPort) (net.Conn, error)
	addr() netip.Addr
	counts() (tcpCounts, error)
}

// realNet is one network of a run.
type realNet struct {
	kernel end // the kernel end, in namespace ns
	peer   end // the stack, or the second kernel
	ns     *netns.NS
	peerNS *netns.NS // the second kernel's namespace; nil for a stack
	dev    string    // the device in ns whose queue drops are counted
	close  func() error
}

// drops returns the packets the network's devices dropped so far: the
// kernel end's device's tx_dropped and rx_dropped (a TUN device counts
// there the packets its reader did not take in time), and for the
// kernel peer, its device's too.
func (n *realNet) drops(ctx context.Context) (uint64, error) {
	v, err := devDrops(ctx, n.ns, n.dev)
	if err != nil || n.peerNS == nil {
		return v, err
	}
	w, err := devDrops(ctx, n.peerNS, n.peerDev())
	return v + w, err
}

func (n *realNet) peerDev() string {
	if n.dev == "v1" {
		return "v2"
	}
	return n.dev
}

// devDrops reads tx_dropped and rx_dropped of dev in ns.
func devDrops(ctx context.Context, ns *netns.NS, dev string) (uint64, error) {
	out, err := ns.Exec(ctx, "cat",
		"/sys/class/net/"+dev+"/statistics/tx_dropped",
		"/sys/class/net/"+dev+"/statistics/rx_dropped")
	if err != nil {
		return 0, err
	}
	var sum uint64
	for _, f := range strings.Fields(string(out)) {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s statistics: %q: %w", dev, out, err)
		}
		sum += v
	}
	return sum, nil
}

// realPreflight says why this process cannot build real networks, or
// nil if it can.
func realPreflight() error {
	if os.Geteuid() != 0 {
		return errors.New("-real needs root (namespaces, TUN devices)")
	}
	f, err := os.OpenFile("/dev/net/tun", os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("-real needs /dev/net/tun: %w", err)
	}
	f.Close()
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("-real needs the ip command: %w", err)
	}
	return nil
}

// newRealNet builds the network of kind k; loss > 0 makes it lossy, as
// described above, with seed.
func newRealNet(k realKind, loss float64, seed uint64) (n *realNet, err error) {
	ns, err := liveNS.add("bench-" + string(k))
	if err != nil {
		return nil, err
	}
	var closers []func() error
	cleanup := func() error {
		var errs []error
		for i := len(closers) - 1; i >= 0; i-- {
			errs = append(errs, closers[i]())
		}
		return errors.Join(errs...)
	}
	closers = append(closers, func() error { return liveNS.remove(ns) })
	defer func() {
		if err != nil {
			err = errors.Join(err, cleanup())
		}
	}()
	th, err := startNSThreads(ns.Path(), nsDialers)
	if err != nil {
		return nil, err
	}
	closers = append(closers, func() error { th.stop(); return nil })
	if err := nsSetup(th); err != nil {
		return nil, err
	}
	n = &realNet{ns: ns, dev: "tw0", kernel: &kernelEnd{th: th, a: realKernelPrefix.Addr()}}
	fc := faulty.Config{Loss: loss, Seed: seed}

	if k == realKernel {
		peerNS, err := liveNS.add("bench-kernel-peer")
		if err != nil {
			return nil, err
		}
		closers = append(closers, func() error { return liveNS.remove(peerNS) })
		pth, err := startNSThreads(peerNS.Path(), nsDialers)
		if err != nil {
			return nil, err
		}
		closers = append(closers, func() error { pth.stop(); return nil })
		if err := nsSetup(pth); err != nil {
			return nil, err
		}
		n.peerNS = peerNS
		n.peer = &kernelEnd{th: pth, a: realPeerAddr}
		if loss == 0 {
			n.dev = "v1"
			if err := vethPair(ns, peerNS); err != nil {
				return nil, err
			}
		} else {
			a, err := tun.Setup(ns, tun.Config{Name: "tw0", MTU: realMTU, Kernel: []netip.Prefix{realKernelPrefix}})
			if err != nil {
				return nil, err
			}
			b, err := tun.Setup(peerNS, tun.Config{Name: "tw0", MTU: realMTU, Kernel: []netip.Prefix{realPeerPrefix}})
			if err != nil {
				a.Close()
				return nil, err
			}
			fl, err := faulty.New(a, fc)
			if err != nil {
				a.Close()
				b.Close()
				return nil, err
			}
			stop := forward(fl, b)
			closers = append(closers, stop)
		}
		n.close = cleanup
		return n, nil
	}

	if k == realGVisorFD {
		if loss > 0 {
			return nil, errors.New("no lossy network for gVisor's fdbased endpoint")
		}
		h, err := gvisorFD(ns, th)
		if err != nil {
			return nil, err
		}
		closers = append(closers, h.Close)
		n.peer = &stackEnd{h: h}
		n.close = cleanup
		return n, nil
	}

	dev, err := tun.Setup(ns, tun.Config{Name: "tw0", MTU: realMTU, Kernel: []netip.Prefix{realKernelPrefix}, Offload: loss == 0})
	if err != nil {
		return nil, err
	}
	var ep link.Endpoint = dev
	if loss > 0 {
		fl, err := faulty.New(dev, fc)
		if err != nil {
			dev.Close()
			return nil, err
		}
		ep = fl
	}
	kind := interop.TCPWave
	if k == realGVisor {
		kind = interop.GVisor
	}
	h, err := interop.NewHostOn(kind, ep, []netip.Addr{realPeerAddr}, interop.Config{})
	if err != nil {
		ep.Close()
		return nil, err
	}
	closers = append(closers, h.Close)
	n.peer = &stackEnd{h: h}
	n.close = cleanup
	return n, nil
}

// realCC is the congestion control of every kernel socket in the
// real-link networks: Linux's default, whatever the machine's own default
// is. It is set on each socket (TCP_CONGESTION, which root may set to
// any algorithm the kernel has), because a namespace other than the
// first may only make an algorithm of tcp_allowed_congestion_control its
// default.
const realCC = "cubic"

// gvisorFD opens a TUN device tw0 in ns (on its thread th) as gVisor
// opens one (IFF_TUN, IFF_NO_PI, non-blocking), gives the kernel its
// address there, and starts a gVisor stack on it with its fdbased
// endpoint.
func gvisorFD(ns *netns.NS, th *nsThreads) (*interop.GVisorFDHost, error) {
	var fd int
	var err error
	if derr := th.do(func() { fd, err = gtun.Open("tw0") }); derr != nil {
		return nil, derr
	}
	if err != nil {
		return nil, fmt.Errorf("open a TUN device: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, c := range [][]string{
		// The queue link/tun's Setup gives its devices.
		{"ip", "link", "set", "tw0", "mtu", strconv.Itoa(realMTU), "txqueuelen", strconv.Itoa(tun.DefaultQueueLen), "up"},
		{"ip", "addr", "add", realKernelPrefix.String(), "dev", "tw0"},
	} {
		if _, err := ns.Exec(ctx, c...); err != nil {
			unix.Close(fd)
			return nil, err
		}
	}
	h, err := interop.NewGVisorFD(fd, realMTU, []netip.Addr{realPeerAddr}, interop.Config{})
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	return h, nil
}

// nsSetup sets ns's kernel up before any device is made there: IPv6 off,
// so that the links carry only the bench's packets (no router
// solicitations or MLD reports to draw on the loss's random stream).
// It writes the sysctls on one of the namespace's threads th, where
// /proc/sys/net is the namespace's (no sysctl command to run).
func nsSetup(th *nsThreads) error {
	var err error
	if derr := th.do(func() {
		for _, k := range []string{"all", "default"} {
			f := "/proc/sys/net/ipv6/conf/" + k + "/disable_ipv6"
			if werr := os.WriteFile(f, []byte("1\n"), 0); werr != nil {
				err = errors.Join(err, werr)
			}
		}
	}); derr != nil {
		return derr
	}
	return err
}

// vethPair joins ns (v1, 10.9.0.1/24) and peer (v2, 10.9.0.2/24) with a
// veth pair.
func vethPair(ns, peer *netns.NS) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmds := [][]string{
		{"ip", "-n", ns.Name(), "link", "add", "v1", "type", "veth", "peer", "name", "v2", "netns", peer.Name()},
		{"ip", "-n", ns.Name(), "addr", "add", realKernelPrefix.String(), "dev", "v1"},
		{"ip", "-n", peer.Name(), "addr", "add", realPeerPrefix.String(), "dev", "v2"},
		{"ip", "-n", ns.Name(), "link", "set", "v1", "up"},
		{"ip", "-n", peer.Name(), "link", "set", "v2", "up"},
	}
	for _, c := range cmds {
		cmd := exec.CommandContext(ctx, c[0], c[1:]...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w: %s", strings.Join(c, " "), err, bytes.TrimSpace(out))
		}
	}
	return nil
}

// forward copies packets both ways between a and b until stop is
// called; stop closes both and waits for the copies to end.
func forward(a, b link.Endpoint) (stop func() error) {
	done := make(chan struct{}, 2)
	cp := func(from, to link.Endpoint) {
		defer func() { done <- struct{}{} }()
		buf := make([]byte, from.MTU())
		for {
			k, err := from.ReadPacket(buf)
			if err != nil {
				return
			}
			// A full queue drops the packet, as a wire would; a closed
			// device ends the copy.
			if err := to.WritePacket(buf[:k]); errors.Is(err, net.ErrClosed) {
				return
			}
		}
	}
	go cp(a, b)
	go cp(b, a)
	return func() error {
		err := errors.Join(a.Close(), b.Close())
		<-done
		<-done
		return err
	}
}

// nsThreads are goroutines each locked to an OS thread that has entered
// a network namespace: the functions they run make their sockets there.
// They stay in the namespace for good (each thread ends with its
// goroutine), so that a dial costs a channel hop, not a new thread; there
// are several, so that dials (which wait for the handshake on the
// thread) overlap.
type nsThreads struct {
	fns  chan func()
	quit chan struct{}
	wg   sync.WaitGroup
}

// nsDialers is how many threads a kernel end dials from at once.
const nsDialers = 16

// errStopped says a kernel end's threads have been stopped (a dial that
// net/http started late, after the run).
var errStopped = errors.New("the namespace's threads have stopped")

// startNSThreads starts n threads in the namespace pinned at path.
func startNSThreads(path string, n int) (*nsThreads, error) {
	t := &nsThreads{fns: make(chan func()), quit: make(chan struct{})}
	errc := make(chan error, n)
	for range n {
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			runtime.LockOSThread() // never unlocked: the thread is retired with the goroutine
			fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				errc <- fmt.Errorf("open %s: %w", path, err)
				return
			}
			err = unix.Setns(fd, unix.CLONE_NEWNET)
			unix.Close(fd)
			if err != nil {
				errc <- fmt.Errorf("setns %s: %w", path, err)
				return
			}
			errc <- nil
			for {
				select {
				case f := <-t.fns:
					f()
				case <-t.quit:
					return
				}
			}
		}()
	}
	var errs []error
	for range n {
		errs = append(errs, <-errc)
	}
	if err := errors.Join(errs...); err != nil {
		t.stop()
		return nil, err
	}
	return t, nil
}

// do runs f on one of the threads and waits for it; after stop it
// returns errStopped without running f.
func (t *nsThreads) do(f func()) error {
	ran := make(chan struct{})
	select {
	case t.fns <- func() { f(); close(ran) }:
	case <-t.quit:
		return errStopped
	}
	<-ran
	return nil
}

// stop ends the threads once the functions they run have returned.
func (t *nsThreads) stop() {
	close(t.quit)
	t.wg.Wait()
}

// kernelEnd is the kernel of a namespace.
type kernelEnd struct {
	th *nsThreads
	a  netip.Addr
}

func (k *kernelEnd) addr() netip.Addr { return k.a }

func (k *kernelEnd) listen(port int) (ln net.Listener, err error) {
	if derr := k.th.do(func() {
		lc := net.ListenConfig{Control: setCC} // accepted sockets inherit it
		ln, err = lc.Listen(context.Background(), "tcp4", netip.AddrPortFrom(k.a, uint16(port)).String())
	}); derr != nil {
		return nil, derr
	}
	return ln, err
}

// setCC sets realCC on a socket (net.Dialer.Control).
func setCC(_, _ string, rc syscall.RawConn) error {
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptString(int(fd), unix.IPPROTO_TCP, unix.TCP_CONGESTION, realCC)
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("setsockopt TCP_CONGESTION %s: %w", realCC, serr)
	}
	return nil
}

// congestionControl returns the congestion control of a kernel
// connection.
func congestionControl(c net.Conn) (string, error) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return "", fmt.Errorf("%T is not a kernel connection", c)
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return "", err
	}
	var name string
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		name, gerr = unix.GetsockoptString(int(fd), unix.IPPROTO_TCP, unix.TCP_CONGESTION)
	}); err != nil {
		return "", err
	}
	return strings.TrimRight(name, "\x00"), gerr
}

func (k *kernelEnd) dial(ctx context.Context, to netip.AddrPort) (c net.Conn, err error) {
	if derr := k.th.do(func() {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: k.a.AsSlice()}, Control: setCC}
		c, err = d.DialContext(ctx, "tcp4", to.String())
	}); derr != nil {
		return nil, derr
	}
	return c, err
}

// counts reads the namespace's TcpRetransSegs and TcpExtTCPTimeouts, as
// nstat would, from /proc/thread-self/net on the namespace's thread.
func (k *kernelEnd) counts() (tcpCounts, error) {
	var snmp, netstat map[string]uint64
	var err error
	if derr := k.th.do(func() {
		if snmp, err = procCounters("/proc/thread-self/net/snmp", "Tcp:"); err != nil {
			return
		}
		netstat, err = procCounters("/proc/thread-self/net/netstat", "TcpExt:")
	}); derr != nil {
		return tcpCounts{}, derr
	}
	if err != nil {
		return tcpCounts{}, err
	}
	return tcpCounts{retrans: snmp["RetransSegs"], timeouts: netstat["TCPTimeouts"]}, nil
}

// procCounters parses the group of a /proc/net/snmp-style file whose
// lines start with prefix: a line of names, then one of values.
func procCounters(file, prefix string) (map[string]uint64, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	m := map[string]uint64{}
	var names []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || f[0] != prefix {
			continue
		}
		if names == nil {
			names = f[1:]
			continue
		}
		for i, v := range f[1:] {
			if i < len(names) {
				m[names[i]], _ = strconv.ParseUint(v, 10, 64)
			}
		}
		return m, nil
	}
	return nil, fmt.Errorf("%s: no %s counters", file, prefix)
}

// stackEnd is a stack in this process.
type stackEnd struct{ h interop.Host }

func (s *stackEnd) addr() netip.Addr { return realPeerAddr }

func (s *stackEnd) listen(port int) (net.Listener, error) {
	ln, err := s.h.Listen("tcp4", netip.AddrPortFrom(realPeerAddr, uint16(port)).String())
	if err != nil {
		return nil, err
	}
	return netListener{ln}, nil
}

func (s *stackEnd) dial(ctx context.Context, to netip.AddrPort) (net.Conn, error) {
	return s.h.Dial(ctx, "tcp4", to.String())
}

func (s *stackEnd) counts() (tcpCounts, error) {
	switch h := s.h.(type) {
	case *interop.TCPWaveHost:
		c := h.Counters()
		return tcpCounts{retrans: c.RetransSegs, timeouts: c.TCPTimeouts}, nil
	case *interop.GVisorLinkHost:
		st := h.Stack.Stats().TCP
		return tcpCounts{retrans: st.Retransmits.Value(), timeouts: st.Timeouts.Value()}, nil
	case *interop.GVisorFDHost:
		st := h.Stack.Stats().TCP
		return tcpCounts{retrans: st.Retransmits.Value(), timeouts: st.Timeouts.Value()}, nil
	}
	return tcpCounts{}, fmt.Errorf("no counters for %T", s.h)
}

// netListener is an interop.Listener as a net.Listener.
type netListener struct{ interop.Listener }

func (l netListener) Accept() (net.Conn, error) { return l.AcceptConn() }
