//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tcpwave/tcpwave"
	"github.com/tcpwave/tcpwave/link/tun"
	"github.com/tcpwave/tcpwave/trace"
)

// tunFlags are shared by `tun serve` and `tun dial`.
type tunFlags struct {
	dev     string
	mtu     int
	addr    string // tcpwave's address (serve: with port)
	kernel  string // the kernel's address on the device, with prefix
	control string
	events  bool
	html    string
	offload bool
	live    *liveEvents

	offloaded bool // the device has offload (open)
	// setup makes the device; nil means tun.Setup in the current
	// namespace (tests put a kernel that refuses offload here).
	setup func(tun.Config) (*tun.Device, error)
}

func (f *tunFlags) register(fs *flag.FlagSet, addrHelp string) {
	fs.StringVar(&f.dev, "dev", "tcpwave0", "name of the TUN device to create")
	fs.IntVar(&f.mtu, "mtu", tun.DefaultMTU, "MTU of the device")
	fs.StringVar(&f.addr, "addr", "", addrHelp)
	fs.StringVar(&f.kernel, "kernel-addr", "10.9.0.1/24", "address (with prefix) the kernel gets on the device; \"\" to configure it yourself")
	fs.StringVar(&f.control, "control", defaultControl(), "unix socket where tcpwave netstat and tcpwave nstat read this process's connections and counters (the default names this network namespace and process)")
	fs.BoolVar(&f.events, "events", false, "print every segment and state change as JSON Lines on stderr")
	fs.StringVar(&f.html, "html", "", "on exit, write the conversation as an HTML page (ladder and state diagram) to this file")
	fs.BoolVar(&f.offload, "offload", true, "TCP segmentation and checksum offload on the device (IFF_VNET_HDR): 64 KiB super-packets both ways; --offload=false for one packet per read and write (it is off anyway, with a notice, where the kernel refuses it)")
}

// finish writes the --html page, if asked for.
func (f *tunFlags) finish(stderr io.Writer, title string) int {
	if f.html == "" || f.live == nil {
		return 0
	}
	if err := f.live.writeHTML(f.html, title); err != nil {
		fmt.Fprintln(stderr, "tcpwave tun: --html:", err)
		return 1
	}
	return 0
}

// open creates the TUN device in the current network namespace and a
// tcpwave stack on it that owns local.
func (f *tunFlags) open(local netip.Addr, stderr io.Writer) (*tcpwave.Stack, error) {
	var kernel []netip.Prefix
	if f.kernel != "" {
		p, err := netip.ParsePrefix(f.kernel)
		if err != nil {
			return nil, fmt.Errorf("--kernel-addr: %w", err)
		}
		kernel = append(kernel, p)
	}
	setup := f.setup
	if setup == nil {
		setup = func(c tun.Config) (*tun.Device, error) { return tun.Setup(nil, c) }
	}
	cfg := tun.Config{Name: f.dev, MTU: f.mtu, Kernel: kernel, Offload: f.offload}
	dev, err := setup(cfg)
	if errors.Is(err, tun.ErrNoOffload) {
		fmt.Fprintf(stderr, "tcpwave tun: the kernel refused offload on %s (%v); going on without it\n", f.dev, errnoOf(err))
		cfg.Offload = false
		dev, err = setup(cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("TUN device %s: %w%s", f.dev, err, openHint(err, f.dev))
	}
	f.offloaded = dev.Offload()
	var opts []tcpwave.Option
	if f.events || f.html != "" {
		f.live = &liveEvents{host: "T", peer: "K"} // T: tcpwave, K: the kernel
		if f.events {
			f.live.w = stderr
		}
		if f.html != "" {
			f.live.rec = &trace.Recorder{}
		}
		opts = append(opts, tcpwave.WithObserver(f.live))
	}
	st, err := tcpwave.New(dev, []netip.Addr{local}, opts...)
	if err != nil {
		dev.Close()
		return nil, err
	}
	return st, nil
}

// errnoOf returns the errno inside err, or err if it has none.
func errnoOf(err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return err
}

// offloadNote is what the banner says about offload on the device.
func (f *tunFlags) offloadNote() string {
	if f.offloaded {
		return ", offload on"
	}
	return ", offload off"
}

// openHint says what to do about an error opening the device that
// link/tun has explained: pick another device when it is busy (EBUSY:
// another process holds it), become root when permission is denied.
func openHint(err error, dev string) string {
	switch {
	case errors.Is(err, syscall.EBUSY):
		return fmt.Sprintf("; is another tcpwave tun running on %s? give another --dev", dev)
	case errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EACCES):
		return "; run tcpwave tun as root"
	}
	return ""
}

// tunUsage is the usage of `tcpwave tun`.
const tunUsage = `usage: tcpwave tun serve [--addr IP:PORT] [--echo|--discard] [flags]
       tcpwave tun dial --to IP:PORT [--send TEXT] [flags]
Run "tcpwave tun serve -h" or "tcpwave tun dial -h" for the flags.
`

func tunCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	switch {
	case len(args) == 0:
		fmt.Fprint(stderr, "tcpwave tun: no command given\n"+tunUsage)
		return 2
	case isHelp(args[0]):
		fmt.Fprint(stdout, tunUsage)
		return 0
	case args[0] == "serve":
		return tunServe(ctx, args[1:], stdout, stderr)
	case args[0] == "dial":
		return tunDial(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "tcpwave tun: unknown command %q\n%s", args[0], tunUsage)
	return 2
}

// validate checks the flags both commands share, with local, tcpwave's
// own address.
func (f *tunFlags) validate(local netip.Addr) error {
	switch {
	case f.mtu < minMTU || f.mtu > maxMTU:
		return fmt.Errorf("--mtu %d: want %d to %d", f.mtu, minMTU, maxMTU)
	case f.dev == "":
		return fmt.Errorf("--dev: the device needs a name")
	case len(f.dev) >= unix.IFNAMSIZ:
		return fmt.Errorf("--dev %q: a device name has at most %d bytes", f.dev, unix.IFNAMSIZ-1)
	case f.dev == "." || f.dev == ".." || strings.ContainsAny(f.dev, "/: \t\n"):
		return fmt.Errorf("--dev %q: not a valid device name", f.dev)
	case !usableAddr(local):
		return fmt.Errorf("--addr %v: tcpwave needs a unicast address of its own", local)
	}
	if f.kernel != "" {
		p, err := netip.ParsePrefix(f.kernel)
		switch {
		case err != nil:
			return fmt.Errorf("--kernel-addr: %w", err)
		case !usableAddr(p.Addr()):
			return fmt.Errorf("--kernel-addr %v: the kernel needs a unicast address", p)
		case p.Addr() == local:
			return fmt.Errorf("--addr %v is the kernel's own address (--kernel-addr %v): give tcpwave another", local, p)
		case p.Addr().Is4() != local.Is4():
			return fmt.Errorf("--addr %v and --kernel-addr %v are of different IP versions", local, p)
		}
	}
	return nil
}

// The MTUs a TUN device takes (Linux's ETH_MIN_MTU and IP_MAX_MTU).
const (
	minMTU = 68
	maxMTU = 65535
)

// usableAddr reports whether a is an address a host can own: not the
// unspecified address, multicast or the broadcast address.
func usableAddr(a netip.Addr) bool {
	return a.IsValid() && !a.IsUnspecified() && !a.IsMulticast() && a != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

// tunServe serves echo or discard on tcpwave's address until ctx ends.
func tunServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	const synopsis = "tcpwave tun serve [--addr IP:PORT] [--echo|--discard] [flags]"
	fs := flag.NewFlagSet("tcpwave tun serve", flag.ContinueOnError)
	var f tunFlags
	f.register(fs, "tcpwave's address and port to listen on (default 10.9.0.2:7)")
	echo := fs.Bool("echo", false, "echo what each client sends (the default)")
	discard := fs.Bool("discard", false, "read and drop what each client sends")
	if code, ok := parseArgs(fs, synopsis, args, stdout, stderr); !ok {
		return code
	}
	switch {
	case fs.NArg() != 0:
		return usageError(fs, synopsis, stderr, "unexpected argument %q", fs.Arg(0))
	case *echo && *discard:
		return usageError(fs, synopsis, stderr, "give --echo or --discard, not both")
	}
	if f.addr == "" {
		f.addr = "10.9.0.2:7"
	}
	ap, err := netip.ParseAddrPort(f.addr)
	if err != nil {
		return usageError(fs, synopsis, stderr, "--addr: %v", err)
	}
	if ap.Port() == 0 {
		return usageError(fs, synopsis, stderr, "--addr %v: the server needs a port", ap)
	}
	if err := f.validate(ap.Addr()); err != nil {
		return usageError(fs, synopsis, stderr, "%v", err)
	}
	st, err := f.open(ap.Addr(), stderr)
	if err != nil {
		fmt.Fprintln(stderr, "tcpwave tun serve:", err)
		return 1
	}
	defer st.Close()
	ln, err := st.Listen("tcp", ap.String())
	if err != nil {
		fmt.Fprintln(stderr, "tcpwave tun serve:", err)
		return 1
	}
	stopControl, err := serveControl(ctx, f.control, st.Connections, st.Counters)
	if err != nil {
		fmt.Fprintln(stderr, "tcpwave tun serve:", err)
		return 1
	}
	defer stopControl()
	mode := "echo"
	if *discard {
		mode = "discard"
	}
	fmt.Fprintf(stdout, "tcpwave %s server on %v (device %s%s); `tcpwave netstat` (--control %s) shows its connections, `tcpwave nstat` its counters\n", mode, ap, f.dev, f.offloadNote(), f.control)
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	for {
		c, err := ln.AcceptConn()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				closeAfterSignal(st)
				return f.finish(stderr, "tcpwave tun serve "+ap.String())
			}
			fmt.Fprintln(stderr, "tcpwave tun serve: accept:", err)
			return 1
		}
		go func() {
			defer c.Close()
			if mode == "echo" {
				io.Copy(c, c)
			} else {
				io.Copy(io.Discard, c)
			}
		}()
	}
}

// tunDial connects from tcpwave to a kernel server, sends --send (or
// stdin), closes its sending side and prints what comes back.
func tunDial(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	const synopsis = "tcpwave tun dial --to IP:PORT [--send TEXT] [flags]"
	fs := flag.NewFlagSet("tcpwave tun dial", flag.ContinueOnError)
	var f tunFlags
	f.register(fs, "tcpwave's own address (default 10.9.0.2)")
	to := fs.String("to", "", "the kernel-side server to dial, IP:PORT (required)")
	send := fs.String("send", "", "text to send (default: standard input)")
	if code, ok := parseArgs(fs, synopsis, args, stdout, stderr); !ok {
		return code
	}
	switch {
	case fs.NArg() != 0:
		return usageError(fs, synopsis, stderr, "unexpected argument %q", fs.Arg(0))
	case *to == "":
		return usageError(fs, synopsis, stderr, "--to IP:PORT is required")
	}
	if f.addr == "" {
		f.addr = "10.9.0.2"
	}
	local, err := netip.ParseAddr(f.addr)
	if err != nil {
		return usageError(fs, synopsis, stderr, "--addr: %v", err)
	}
	if err := f.validate(local); err != nil {
		return usageError(fs, synopsis, stderr, "%v", err)
	}
	peer, err := netip.ParseAddrPort(*to)
	switch {
	case err != nil:
		return usageError(fs, synopsis, stderr, "--to: %v", err)
	case !usableAddr(peer.Addr()) || peer.Port() == 0:
		return usageError(fs, synopsis, stderr, "--to %v: want a unicast address and a port", peer)
	case peer.Addr() == local:
		return usageError(fs, synopsis, stderr, "--to %v is tcpwave's own address", peer)
	}
	st, err := f.open(local, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "tcpwave tun dial:", err)
		return 1
	}
	defer st.Close()
	stopControl, err := serveControl(ctx, f.control, st.Connections, st.Counters)
	if err != nil {
		fmt.Fprintln(stderr, "tcpwave tun dial:", err)
		return 1
	}
	defer stopControl()
	c, err := st.DialContext(ctx, "tcp", *to)
	if err != nil {
		fmt.Fprintln(stderr, "tcpwave tun dial:", err)
		return 1
	}
	defer c.Close()
	var src io.Reader = os.Stdin
	if *send != "" {
		src = strings.NewReader(*send)
	}
	// The exchange runs on its own goroutine so that a signal ends the
	// command at once, even while it waits on standard input or on a
	// server that never closes.
	exchanged := make(chan error, 1)
	go func() { exchanged <- dialExchange(c, src, stdout) }()
	select {
	case err := <-exchanged:
		if err != nil {
			fmt.Fprintln(stderr, "tcpwave tun dial:", err)
			return 1
		}
	case <-ctx.Done():
		c.Close() // ends the exchange's reads and writes on c
		closeAfterSignal(st)
		fmt.Fprintln(stderr, "tcpwave tun dial: interrupted:", ctx.Err())
		return 1
	}
	c.Close()
	st.Close() // wait for the close to finish, so the page shows it
	return f.finish(stderr, "tcpwave tun dial "+*to)
}

// signalCloseTimeout bounds the close of a stack after a signal: its
// connections get that long to finish their close, not the stack's
// usual close timeout.
const signalCloseTimeout = time.Second

// closeAfterSignal closes st within signalCloseTimeout.
func closeAfterSignal(st *tcpwave.Stack) {
	ctx, cancel := context.WithTimeout(context.Background(), signalCloseTimeout)
	defer cancel()
	st.CloseContext(ctx)
}

// dialExchange sends what src holds on c, closes c's sending side and
// copies what comes back to stdout.
func dialExchange(c *tcpwave.Conn, src io.Reader, stdout io.Writer) error {
	if _, err := io.Copy(c, src); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	if err := c.CloseWrite(); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	if _, err := io.Copy(stdout, c); err != nil {
		return fmt.Errorf("receive: %w", err)
	}
	return nil
}
