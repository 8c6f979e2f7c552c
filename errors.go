package tcpwave

import (
	"errors"
	"net"
	"os"
	"syscall"
)

// errWouldBlock is the core's "try again when ready" (tcp.ErrWouldBlock).
const errWouldBlock = syscall.EAGAIN

// opError wraps err as package net does: *net.OpError{Op, Net, Source,
// Addr, Err}. Nil addresses stay nil interfaces, so that the error's text
// never shows "<nil>".
func opError(op, network string, src, dst *net.TCPAddr, err error) error {
	e := &net.OpError{Op: op, Net: network, Err: err}
	if src != nil {
		e.Source = src
	}
	if dst != nil {
		e.Addr = dst
	}
	return e
}

// errInvalid is the error of a call on a nil or zero-value Conn,
// Listener or Stack, which package net answers with EINVAL.
func errInvalid(op string) error {
	return &net.OpError{Op: op, Net: "tcp", Err: syscall.EINVAL}
}

// sysErr names the system call an errno came from, as package net does
// ("read: connection reset by peer"); errors.Is still finds the errno.
func sysErr(call string, err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) && err == error(errno) {
		return os.NewSyscallError(call, errno)
	}
	return err
}

// isClosedChan reports whether ch is closed (ch is only ever closed, never
// sent on).
func isClosedChan(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
