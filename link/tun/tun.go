//go:build linux

package tun

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/tcpwave/tcpwave/link"
)

// DefaultMTU is the MTU the kernel gives a new TUN device, which Open
// keeps when asked for none.
const DefaultMTU = 1500

var (
	errClosed      = fmt.Errorf("link/tun: device closed: %w", net.ErrClosed)
	errShortBuffer = errors.New("link/tun: buffer shorter than the packet; packet truncated")
	errEmptyBuffer = errors.New("link/tun: ReadPacket with an empty buffer")
	errEmptyPacket = errors.New("link/tun: WritePacket of an empty packet")
)

// Device is an open TUN device. It implements link.Endpoint, link.Poller,
// link.Offloader and link.ChecksumOffloader (with offload only when opened
// by OpenOffload); its methods are safe for concurrent use.
type Device struct {
	name  string
	index int
	mtu   int
	file  *os.File // the TUN queue, non-blocking, in Go's poller

	ctlMu sync.Mutex // guards ctl and seq
	ctl   int        // routing-netlink socket in the device's namespace; -1 once closed
	seq   uint32     // last netlink sequence number used

	// offload: the device was opened with offload (OpenOffload), and its
	// packets carry a virtio-net header.
	offload bool
	rio     *rawIO // readv and writev through Go's poller

	closed atomic.Bool
}

var (
	_ link.Offloader         = (*Device)(nil)
	_ link.Poller            = (*Device)(nil)
	_ link.ChecksumOffloader = (*Device)(nil)
)

// MaxGSOSize is the largest TCP super-packet, IP header included, that a
// device opened with offload takes and returns (GSOMaxSize): the most an
// IPv4 header's length field holds.
const MaxGSOSize = 65535

// ErrNoOffload is wrapped by the error of OpenOffload (and of Setup with
// Config.Offload) when the kernel refuses a virtio-net header or TCP
// segmentation offload on the device; Open without offload may still work.
var ErrNoOffload = errors.New("link/tun: the kernel refused segmentation offload (IFF_VNET_HDR, TUNSETOFFLOAD)")

// Open creates the TUN device name (or, if name is empty, lets the
// kernel pick one such as "tun0"; an existing persistent TUN device of
// that name is attached instead) in the network namespace of the calling
// OS thread, sets its MTU to mtu (DefaultMTU if mtu <= 0; IPv6 needs at
// least 1280) and brings it up. It gives the device no address: see
// AddAddress and Setup.
//
// To make the device in another namespace, call Open on a thread inside
// it, for example in netns.NS.Run. Once open, the device may be used from
// any goroutine. Closing it deletes the device (unless it is persistent).
func Open(name string, mtu int) (*Device, error) { return open(name, mtu, false, false) }

// OpenOffload is Open for a device with offload, which makes it a
// link.Offloader: every packet carries a virtio-net header (IFF_VNET_HDR),
// and the device takes partial checksums and TCP super-packets over IPv4
// and IPv6 (TUNSETOFFLOAD with TUN_F_CSUM, TUN_F_TSO4 and TUN_F_TSO6), as a
// NIC with checksum offload and TSO does. WriteGSO hands the kernel a
// super-packet of up to MaxGSOSize bytes, which the kernel's TCP takes
// whole (or cuts into segments where it forwards it); ReadPacket returns
// what the kernel's TCP sends, which may be super-packets of up to
// MaxGSOSize bytes, with its checksums completed, so buffers should hold
// GSOMaxSize bytes. On a kernel that refuses, the error wraps ErrNoOffload
// and the errno, and nothing is left open.
func OpenOffload(name string, mtu int) (*Device, error) { return open(name, mtu, true, false) }

func open(name string, mtu int, offload, noTSORead bool) (*Device, error) {
	if mtu <= 0 {
		mtu = DefaultMTU
	}
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("link/tun: open /dev/net/tun: %s%w", why(err), err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("link/tun: device name %q: %w", name, err)
	}
	flags := uint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if offload {
		flags |= unix.IFF_VNET_HDR
	}
	ifr.SetUint16(flags)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		if offload && errors.Is(err, unix.EINVAL) {
			err = fmt.Errorf("%w: %w", ErrNoOffload, err)
		}
		return nil, fmt.Errorf("link/tun: TUNSETIFF %q: %s%w", name, why(err), err)
	}
	if offload {
		if err := setOffload(fd, noTSORead); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("link/tun: %q: %w", ifr.Name(), err)
		}
	}
	d := &Device{name: ifr.Name(), ctl: -1}
	// The descriptor is non-blocking, so os.NewFile registers it with
	// Go's poller: Read parks the goroutine, and Close wakes it.
	d.file = os.NewFile(uintptr(fd), "/dev/net/tun:"+d.name)
	d.offload = offload
	if err := d.initRawIO(); err != nil {
		d.file.Close()
		return nil, err
	}
	if err := d.configure(mtu); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// why explains the errors of opening a device that have a usual cause:
// EBUSY, another process has the device open; EPERM and EACCES, the caller
// lacks CAP_NET_ADMIN (or access to /dev/net/tun). The errno itself stays
// in the error chain for errors.Is.
func why(err error) string {
	switch {
	case errors.Is(err, unix.EBUSY):
		return "device busy (another process has it open): "
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return "permission denied (needs root or CAP_NET_ADMIN): "
	}
	return ""
}

// configure opens the control socket, finds the device's index, sets its
// MTU and brings it up.
func (d *Device) configure(mtu int) error {
	ctl, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("link/tun: netlink socket: %w", err)
	}
	d.ctl = ctl
	tv := unix.NsecToTimeval(netlinkTimeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(ctl, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fmt.Errorf("link/tun: netlink socket: %w", err)
	}
	// A netlink socket takes the interface ioctls like any other socket
	// (the kernel hands them to dev_ioctl in the socket's namespace).
	ifr, err := d.ifreq(unix.SIOCGIFINDEX)
	if err != nil {
		return err
	}
	d.index = int(ifr.Uint32())
	if ifr, err = unix.NewIfreq(d.name); err != nil {
		return err
	}
	ifr.SetUint32(uint32(mtu))
	if err := unix.IoctlIfreq(ctl, unix.SIOCSIFMTU, ifr); err != nil {
		return fmt.Errorf("link/tun: set MTU of %s to %d: %w", d.name, mtu, err)
	}
	if ifr, err = d.ifreq(unix.SIOCGIFMTU); err != nil {
		return err
	}
	d.mtu = int(ifr.Uint32())
	if ifr, err = d.ifreq(unix.SIOCGIFFLAGS); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(ctl, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("link/tun: bring %s up: %w", d.name, err)
	}
	return nil
}

// DefaultQueueLen is the transmit queue length Setup gives a device: the
// packets the kernel holds for the reader while it is busy. The kernel's
// own 500 overflows when a thousand connections each send a packet at
// once (a load generator's first requests, a burst of ACKs): the reader
// handles them in a few milliseconds, but the queue drops the rest, and
// each drop costs its connection a retransmission timeout.
const DefaultQueueLen = 8192

// SetQueueLen sets the device's transmit queue length (txqueuelen, as
// "ip link set DEV txqueuelen n" does): how many packets the kernel
// keeps for the reader before it drops them (the device's tx_dropped
// counts those). n must be from 1 to math.MaxInt32 (the kernel's int).
func (d *Device) SetQueueLen(n int) error {
	if n <= 0 || n > math.MaxInt32 {
		return fmt.Errorf("link/tun: queue length %d of %s: want 1 to %d", n, d.name, math.MaxInt32)
	}
	ifr, err := unix.NewIfreq(d.name)
	if err != nil {
		return fmt.Errorf("link/tun: queue length of %s: %w", d.name, err)
	}
	ifr.SetUint32(uint32(n))
	d.ctlMu.Lock()
	defer d.ctlMu.Unlock()
	if d.ctl < 0 {
		return errClosed
	}
	if err := unix.IoctlIfreq(d.ctl, unix.SIOCSIFTXQLEN, ifr); err != nil {
		return fmt.Errorf("link/tun: set the queue length of %s to %d: %w", d.name, n, err)
	}
	return nil
}

// QueueLen returns the device's transmit queue length.
func (d *Device) QueueLen() (int, error) {
	d.ctlMu.Lock()
	defer d.ctlMu.Unlock()
	if d.ctl < 0 {
		return 0, errClosed
	}
	ifr, err := d.ifreq(unix.SIOCGIFTXQLEN)
	if err != nil {
		return 0, err
	}
	return int(ifr.Uint32()), nil
}

// ifreq runs the "get" ioctl req for the device and returns its result.
func (d *Device) ifreq(req uint) (*unix.Ifreq, error) {
	ifr, err := unix.NewIfreq(d.name)
	if err != nil {
		return nil, err
	}
	if err := unix.IoctlIfreq(d.ctl, req, ifr); err != nil {
		return nil, fmt.Errorf("link/tun: ioctl %#x on %s: %w", req, d.name, err)
	}
	return ifr, nil
}

// Name returns the device's name, such as "tun0".
func (d *Device) Name() string { return d.name }

// Index returns the device's interface index in its namespace.
func (d *Device) Index() int { return d.index }

// MTU returns the device's MTU: the largest packet, IP header included,
// that ReadPacket returns and WritePacket accepts.
func (d *Device) MTU() int { return d.mtu }

// ReadPacket waits for the next packet the kernel sends into the device,
// copies it into buf and returns its length. buf should hold MTU bytes
// (GSOMaxSize bytes on a device with offload, whose packets may be TCP
// super-packets): a longer packet is cut to len(buf) and reported with an
// error. With offload, a partial checksum the kernel left is completed
// before the packet is returned. After Close, and in a ReadPacket that
// Close interrupts, it returns an error that wraps net.ErrClosed.
func (d *Device) ReadPacket(buf []byte) (int, error) {
	if d.closed.Load() {
		return 0, errClosed
	}
	if len(buf) == 0 {
		return 0, errEmptyBuffer
	}
	if d.offload {
		n, _, err := d.readRaw(buf, true, false)
		return n, err
	}
	n, err := d.file.Read(buf)
	switch {
	case err != nil && (d.closed.Load() || errors.Is(err, os.ErrClosed)):
		return 0, errClosed
	case err != nil:
		return 0, fmt.Errorf("link/tun: read %s: %w", d.name, err)
	case n == len(buf) && truncated(buf):
		return n, errShortBuffer
	}
	return n, nil
}

// truncated reports whether the packet whose first len(b) bytes a read
// returned is longer than that: the kernel cuts a packet to the buffer
// and says nothing, but the IP header's length field tells.
func truncated(b []byte) bool {
	switch b[0] >> 4 {
	case 4:
		return len(b) < 4 || int(binary.BigEndian.Uint16(b[2:4])) > len(b)
	case 6:
		return len(b) < 6 || 40+int(binary.BigEndian.Uint16(b[4:6])) > len(b)
	}
	return false
}

// WritePacket hands one IPv4 or IPv6 packet to the kernel, as if the
// device had received it. The write copies pkt. A packet longer than MTU,
// an empty one, or one whose first nibble is neither 4 nor 6 (the kernel
// says EINVAL) is an error; after Close, the error wraps net.ErrClosed.
// Like a network, the kernel may drop a packet it accepted.
func (d *Device) WritePacket(pkt []byte) error {
	if d.closed.Load() {
		return errClosed
	}
	if len(pkt) == 0 {
		return errEmptyPacket
	}
	if len(pkt) > d.mtu {
		return fmt.Errorf("link/tun: packet of %d bytes is larger than the MTU of %s (%d)",
			len(pkt), d.name, d.mtu)
	}
	if d.offload {
		return d.writeVnet(pkt, nil, 0)
	}
	if _, err := d.file.Write(pkt); err != nil {
		if d.closed.Load() || errors.Is(err, os.ErrClosed) {
			return errClosed
		}
		return fmt.Errorf("link/tun: write %s: %w", d.name, err)
	}
	return nil
}

// Close closes the device, which deletes it unless it is persistent, and
// unblocks a ReadPacket in progress. Calling Close more than once returns
// an error that wraps net.ErrClosed.
func (d *Device) Close() error {
	if d.closed.Swap(true) {
		return errClosed
	}
	err := d.file.Close()
	d.ctlMu.Lock()
	if d.ctl >= 0 {
		err = errors.Join(err, unix.Close(d.ctl))
		d.ctl = -1
	}
	d.ctlMu.Unlock()
	if err != nil {
		return fmt.Errorf("link/tun: close %s: %w", d.name, err)
	}
	return nil
}
