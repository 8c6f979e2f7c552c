//go:build linux

package tun

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rawIO is what a device reads and writes with besides os.File: readv
// and writev on the descriptor through Go's poller, with a device with
// offload the virtio-net header in an iovec of its own, so that a packet
// is never copied in user space. Each direction has its lock; rx and tx
// are the state of the call in progress, kept here so that a packet
// allocates nothing.
type rawIO struct {
	raw syscall.RawConn

	rmu    sync.Mutex // guards rx
	rx     ioState
	readFn func(fd uintptr) bool

	wmu     sync.Mutex // guards tx and hdrs
	tx      ioState
	hdrs    [maxHeaders]byte // a super-packet's headers, with the partial checksum
	writeFn func(fd uintptr) bool
}

// ioState is one readv or writev: the virtio-net header, the iovecs, and
// the result.
type ioState struct {
	hdr   [vnetHdrLen]byte
	iov   [3]unix.Iovec
	niov  int
	wait  bool // wait for the descriptor to be ready; else EAGAIN is a result
	n     int
	errno syscall.Errno
}

// initRawIO sets up d.rio for d.file.
func (d *Device) initRawIO() error {
	raw, err := d.file.SyscallConn()
	if err != nil {
		return fmt.Errorf("link/tun: %s: %w", d.name, err)
	}
	v := &rawIO{raw: raw}
	v.readFn = func(fd uintptr) bool { return v.rx.call(unix.SYS_READV, fd) }
	v.writeFn = func(fd uintptr) bool { return v.tx.call(unix.SYS_WRITEV, fd) }
	v.tx.wait = true
	d.rio = v
	return nil
}

// call runs readv or writev (trap) on fd with the state's iovecs and
// keeps the result; it reports false when the descriptor is not ready
// (EAGAIN) and the state says to wait, for the poller to wait and call
// again.
func (s *ioState) call(trap, fd uintptr) bool {
	for {
		n, _, e := unix.Syscall(trap, fd, uintptr(unsafe.Pointer(&s.iov[0])), uintptr(s.niov))
		switch {
		case e == unix.EINTR:
			continue
		case e == unix.EAGAIN && s.wait:
			return false
		}
		s.n, s.errno = int(n), e
		return true
	}
}

// set makes the state's iovecs b..., empty ones left out.
func (s *ioState) set(bs ...[]byte) {
	s.niov = 0
	for _, b := range bs {
		if len(b) > 0 {
			s.iov[s.niov].Base = &b[0]
			s.iov[s.niov].SetLen(len(b))
			s.niov++
		}
	}
}

// clear forgets the buffers the iovecs point to.
func (s *ioState) clear() {
	s.iov = [3]unix.Iovec{}
}

// PollPacket is ReadPacket without the wait (link.Poller): with no packet
// waiting in the device it returns 0 and a nil error. A host that has
// read a packet handles those queued behind it as one batch, and answers
// them once.
func (d *Device) PollPacket(buf []byte) (int, error) {
	if d.closed.Load() {
		return 0, errClosed
	}
	if len(buf) == 0 {
		return 0, errEmptyBuffer
	}
	n, _, err := d.readRaw(buf, false, false)
	return n, err
}

// ReadPacketChecked is ReadPacket (wait) or PollPacket (!wait) that
// leaves to the receiver the checksums the kernel vouches for
// (link.ChecksumOffloader): on a device with offload, a packet whose
// virtio-net header says NEEDS_CSUM (a partial checksum from the kernel's
// own TCP, which Linux trusts on local delivery) or DATA_VALID is
// returned as it is, with checked true, and its TCP checksum field may
// hold only the pseudo-header's sum; a super-packet without either flag
// has its checksum computed again, as ReadPacket does, and is checked
// too. Anything else, and every packet on a device without offload, comes
// with checked false.
func (d *Device) ReadPacketChecked(buf []byte, wait bool) (int, bool, error) {
	if d.closed.Load() {
		return 0, false, errClosed
	}
	if len(buf) == 0 {
		return 0, false, errEmptyBuffer
	}
	return d.readRaw(buf, wait, true)
}

// readRaw reads a packet into buf with readv, waiting for one if wait,
// else returning 0 when none is there. On a device with offload it
// reads the virtio-net header with the packet and completes the packet's
// checksum as the header says, or with trust, for a packet whose checksum
// the kernel vouches for, reports checked instead (ReadPacketChecked).
func (d *Device) readRaw(buf []byte, wait, trust bool) (n int, checked bool, err error) {
	v := d.rio
	v.rmu.Lock()
	defer v.rmu.Unlock()
	s := &v.rx
	hl := 0
	if d.offload {
		hl = vnetHdrLen
		s.set(s.hdr[:], buf)
	} else {
		s.set(buf)
	}
	s.wait = wait
	err = v.raw.Read(v.readFn)
	s.clear()
	switch {
	case err != nil && (d.closed.Load() || errors.Is(err, os.ErrClosed)):
		return 0, false, errClosed
	case err != nil:
		return 0, false, fmt.Errorf("link/tun: read %s: %w", d.name, err)
	case s.errno == unix.EAGAIN && !wait:
		return 0, false, nil
	case s.errno != 0:
		return 0, false, fmt.Errorf("link/tun: read %s: %w", d.name, s.errno)
	case s.n < hl:
		return 0, false, fmt.Errorf("link/tun: read %s: %d bytes, shorter than the virtio-net header", d.name, s.n)
	}
	n = s.n - hl
	if n > len(buf) || (n == len(buf) && truncated(buf)) {
		return min(n, len(buf)), false, errShortBuffer
	}
	if !d.offload {
		return n, false, nil
	}
	var h vnetHdr
	h.decode(s.hdr[:])
	if trust && h.flags&(vnetNeedsCsum|vnetDataValid) != 0 {
		return n, true, nil
	}
	if err := finishChecksum(buf[:n], &h); err != nil {
		return n, false, fmt.Errorf("link/tun: read %s: %w", d.name, err)
	}
	// A super-packet's checksum was just computed: nothing to verify.
	return n, trust && h.gsoType&^vnetGSOECN != vnetGSONone, nil
}
