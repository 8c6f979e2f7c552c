//go:build linux

package conform

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tcpwave/tcpwave/internal/netns"
	"github.com/tcpwave/tcpwave/link/tun"
	"github.com/tcpwave/tcpwave/wire"
)

// cmdTimeout bounds each command the kernel backend runs.
const cmdTimeout = 10 * time.Second

// Kernel is the kernel backend's Opener: a fresh network namespace with a
// TUN device whose far end the script plays; the kernel holds the script's
// local address and routes the remote one into the device. System calls go
// to real sockets made inside the namespace. Close deletes it all.
func Kernel(s *Script) (Backend, error) {
	ns, err := netns.New("conform")
	if err != nil {
		return nil, fmt.Errorf("kernel backend: %w", err)
	}
	k := &kernelBackend{ns: ns, script: s, events: make(chan *Happening, 4096), fds: map[int]bool{}}
	if err := k.setup(); err != nil {
		return nil, errors.Join(fmt.Errorf("kernel backend: %w", err), k.Close())
	}
	return k, nil
}

// kernelBackend is the Linux kernel as the host under test.
type kernelBackend struct {
	ns     *netns.NS
	dev    *tun.Device
	script *Script
	start  time.Time
	events chan *Happening
	wg     sync.WaitGroup

	mu  sync.Mutex
	fds map[int]bool // descriptors this run opened and has not closed
}

func (k *kernelBackend) setup() error {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	// A new namespace copies tcp_rmem from the host, which may differ
	// from Linux's default (and so change the window scale the kernel
	// offers): start from the kernel's own defaults.
	if _, err := k.ns.Exec(ctx, append(familySysctls(&k.script.Options),
		fmt.Sprintf("net.ipv4.tcp_rmem=4096 %d 6291456", defaultRcvBuf),
		fmt.Sprintf("net.ipv4.tcp_wmem=4096 %d 4194304", defaultSndBuf))...); err != nil {
		return err
	}
	o := &k.script.Options
	// A script that sends super-packets needs the virtio-net header to
	// inject them as GSO packets; the others keep a plain device (the
	// memory an arriving segment is charged, which shapes the window,
	// differs with the header).
	gso := k.script.superPackets()
	dev, err := tun.Setup(k.ns, tun.Config{Name: "tun0", MTU: o.linkMTU(), Offload: gso, WriteOnlyGSO: gso,
		Kernel: []netip.Prefix{localPrefix(o)}})
	if err != nil {
		return err
	}
	k.dev = dev
	if _, err := k.ns.Exec(ctx, "ip", "route", "add", netip.PrefixFrom(o.RemoteIP, o.RemoteIP.BitLen()).String(), "dev", dev.Name()); err != nil {
		return err
	}
	k.start = time.Now()
	k.wg.Add(1)
	go k.read()
	return nil
}

// read copies what the kernel sends into the device to the event queue.
func (k *kernelBackend) read() {
	defer k.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, err := k.dev.ReadPacket(buf)
		if err != nil {
			return // the device was closed
		}
		select {
		case k.events <- &Happening{At: time.Since(k.start), Packet: append([]byte(nil), buf[:n]...)}:
		default: // the runner stopped listening: drop
		}
	}
}

// Name is "kernel".
func (k *kernelBackend) Name() string { return "kernel" }

// Now is the wall time since the script started.
func (k *kernelBackend) Now() time.Duration { return time.Since(k.start) }

// Inject writes the packet into the TUN device: the kernel receives it. A
// packet larger than the MTU goes as a GSO super-packet of segments of
// --mss bytes (or what the MTU leaves after the headers).
func (k *kernelBackend) Inject(pkt []byte) error {
	if len(pkt) <= k.dev.MTU() {
		return k.dev.WritePacket(pkt)
	}
	_, hdr, err := wire.TCPHeaders(pkt) // IPv4's or IPv6's header, then TCP's
	if err != nil {
		return fmt.Errorf("super-packet: %w", err)
	}
	return k.dev.WriteGSO(pkt, k.script.Options.gsoSize(hdr))
}

// Wait returns the next packet the kernel sent or call that returned, or
// nil when the wall clock reaches until.
func (k *kernelBackend) Wait(until time.Duration) (*Happening, error) {
	select {
	case h := <-k.events:
		return h, nil
	default:
	}
	d := until - k.Now()
	if d <= 0 {
		return nil, nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case h := <-k.events:
		return h, nil
	case <-t.C:
		return nil, nil
	}
}

// Shell runs the command with sh inside the namespace.
func (k *kernelBackend) Shell(cmd string) error {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	// Fork from a thread inside the namespace: the child inherits it,
	// and this is much quicker than "ip netns exec".
	var out []byte
	err := k.ns.Run(func() error {
		c := exec.CommandContext(ctx, "sh", "-c", cmd)
		var err error
		out, err = c.CombinedOutput()
		return err
	})
	if err != nil {
		return fmt.Errorf("shell command failed in the namespace: %w\n%s", err, out)
	}
	return nil
}

// Start runs the call on its own goroutine: a blocking call blocks only it.
func (k *kernelBackend) Start(c *Call) error {
	k.wg.Add(1)
	go func() {
		defer k.wg.Done()
		began := time.Since(k.start)
		ret := k.call(c)
		k.events <- &Happening{At: time.Since(k.start), Began: began, CallID: c.ID, Return: ret}
	}()
	return nil
}

func kret(n int, err error) *Return {
	if err != nil {
		return fail(errnoOf(err))
	}
	return ok(int64(n))
}

func (k *kernelBackend) track(fd int, open bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if open {
		k.fds[fd] = true
	} else {
		delete(k.fds, fd)
	}
}

func (k *kernelBackend) owned(fd int) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.fds[fd]
}

// call makes one system call on a real socket.
func (k *kernelBackend) call(c *Call) *Return {
	o := &k.script.Options
	if c.Name == "socket" {
		var fd int
		err := k.ns.Run(func() error {
			var err error
			fd, err = unix.Socket(socketDomain(o), unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
			if err != nil {
				return err
			}
			// A new namespace takes the host's congestion control (bbr on
			// some machines, and a namespace may not choose another
			// default), where tcpwave models Linux's default, cubic: its
			// pacing rate also sizes the units a burst leaves in, and so
			// where PSH goes. Each socket asks for cubic itself (root may),
			// and an accepted one inherits it from its listener.
			if err := unix.SetsockoptString(fd, unix.IPPROTO_TCP, unix.TCP_CONGESTION, "cubic"); err != nil {
				unix.Close(fd)
				return fmt.Errorf("kernel backend: congestion control cubic: %w", err)
			}
			return nil
		})
		if err == nil {
			k.track(fd, true)
		}
		return kret(fd, err)
	}
	if c.Name == "poll" {
		pfds := make([]unix.PollFd, len(c.Poll))
		for i, p := range c.Poll {
			pfds[i] = unix.PollFd{Fd: int32(p.FD), Events: p.Events}
			if !k.owned(p.FD) {
				pfds[i].Fd = -1 // never touch a descriptor this run does not own
			}
		}
		n, err := unix.Poll(pfds, int(c.Int))
		if err != nil {
			return fail(errnoOf(err))
		}
		ret := ok(int64(n))
		for _, p := range pfds {
			ret.Revents = append(ret.Revents, p.Revents)
		}
		return ret
	}
	fd := c.FD
	if !k.owned(fd) {
		return fail(syscall.EBADF)
	}
	local := sockaddr(o.sockAddr(netip.AddrPortFrom(o.LocalIP, o.LocalPort)))
	remote := sockaddr(o.sockAddr(netip.AddrPortFrom(o.RemoteIP, o.RemotePort)))
	switch c.Name {
	case "bind":
		return kret(0, unix.Bind(fd, local))
	case "listen":
		return kret(0, unix.Listen(fd, int(c.Int)))
	case "accept":
		nfd, _, err := unix.Accept4(fd, unix.SOCK_CLOEXEC)
		if err == nil {
			k.track(nfd, true)
		}
		return kret(nfd, err)
	case "connect":
		return kret(0, unix.Connect(fd, remote))
	case "read", "recv":
		buf := make([]byte, c.Int)
		n, _, err := unix.Recvfrom(fd, buf, int(c.Arg))
		return kret(n, err)
	case "write", "send":
		n, err := unix.SendmsgN(fd, make([]byte, c.Int), nil, nil, int(c.Arg)|unix.MSG_NOSIGNAL)
		return kret(n, err)
	case "shutdown":
		return kret(0, unix.Shutdown(fd, int(c.Int)))
	case "dup":
		nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
		if err == nil {
			k.track(nfd, true)
		}
		return kret(nfd, err)
	case "close":
		k.track(fd, false)
		return kret(0, unix.Close(fd))
	case "fcntl":
		n, err := unix.FcntlInt(uintptr(fd), int(c.Int), int(c.Arg))
		return kret(n, err)
	case "setsockopt":
		v, on, sec, isLinger := optValue(c.Value)
		if c.Level == unix.SOL_SOCKET && c.Opt == unix.SO_LINGER {
			if !isLinger {
				return fail(syscall.EINVAL)
			}
			l := &unix.Linger{Linger: int32(sec)}
			if on {
				l.Onoff = 1
			}
			return kret(0, unix.SetsockoptLinger(fd, int(c.Level), int(c.Opt), l))
		}
		return kret(0, unix.SetsockoptInt(fd, int(c.Level), int(c.Opt), int(v)))
	case "getsockopt":
		if c.Level == unix.SOL_SOCKET && c.Opt == unix.SO_LINGER {
			l, err := unix.GetsockoptLinger(fd, int(c.Level), int(c.Opt))
			if err != nil {
				return fail(errnoOf(err))
			}
			return &Return{Value: Expr{Kind: ExprStruct, Fields: []Field{
				{"l_onoff", Expr{Kind: ExprInt, Int: int64(l.Onoff)}}, {"l_linger", Expr{Kind: ExprInt, Int: int64(l.Linger)}}}}}
		}
		v, err := unix.GetsockoptInt(fd, int(c.Level), int(c.Opt))
		if err != nil {
			return fail(errnoOf(err))
		}
		return &Return{Value: Expr{Kind: ExprList, Elems: []Expr{{Kind: ExprInt, Int: int64(v)}}}}
	}
	return fail(syscall.ENOSYS)
}

// Close wakes any call still blocked, closes every descriptor, the device
// and the namespace, and waits for the goroutines.
func (k *kernelBackend) Close() error {
	var errs []error
	k.mu.Lock()
	for fd := range k.fds {
		unix.Shutdown(fd, unix.SHUT_RDWR) // wakes accept, read, connect
		if err := unix.Close(fd); err != nil {
			errs = append(errs, fmt.Errorf("close fd %d: %w", fd, err))
		}
	}
	clear(k.fds)
	k.mu.Unlock()
	if k.dev != nil {
		if err := k.dev.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	done := make(chan struct{})
	go func() {
		// Drain so that no goroutine blocks on a full queue.
		for {
			select {
			case <-k.events:
			case <-done:
				return
			}
		}
	}()
	wait := make(chan struct{})
	go func() { k.wg.Wait(); close(wait) }()
	select {
	case <-wait:
	case <-time.After(cmdTimeout):
		errs = append(errs, errors.New("a system call is still blocked after its socket was closed"))
	}
	close(done)
	if err := k.ns.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
