// Package tcpwave is a userspace TCP/IP stack with the interface of
// package net.
//
// A Stack is one host: it has addresses, runs on a link.Endpoint (an
// in-memory pipe from package link/pipe, a TUN device, ...) and offers
// Dial and Listen. Its connections are *Conn values that implement
// net.Conn (plus CloseRead, CloseWrite, SetLinger, SetNoDelay and Dup,
// as net.TCPConn has them), and its listeners implement net.Listener:
// code written for package net runs on it unchanged.
//
//	a, b := pipe.New(1500, 0)
//	server, _ := tcpwave.New(a, []netip.Addr{netip.MustParseAddr("10.0.0.1")})
//	client, _ := tcpwave.New(b, []netip.Addr{netip.MustParseAddr("10.0.0.2")})
//	ln, _ := server.Listen("tcp", "10.0.0.1:80")
//	c, _ := client.Dial("tcp", "10.0.0.1:80")
//
// On the wire the stack behaves like Linux: its defaults, timers, close
// sequence, TIME_WAIT and RSTs are Linux's (package stack and package tcp
// hold the protocol; this package only drives them). Options (WithTCP,
// WithStackOptions) change the knobs, each named after its sysctl.
//
// # Goroutines
//
// A Stack runs one goroutine, however many connections it has: a reader
// that waits on the link. The protocol state sits behind the host's lock,
// and each call, packet and timer runs on the goroutine that has it (the
// caller's, the reader's, a timer's), with no handoff to another. A
// blocked Read, Write, Accept or Dial sleeps in its own goroutine until
// whoever changed its socket's readiness wakes it; no goroutine exists per
// connection.
//
// # Errors
//
// Errors are those of package net: io.EOF after the peer's FIN;
// *net.OpError around everything else, whose Err is net.ErrClosed after
// a Close on our side, os.ErrDeadlineExceeded when a deadline passes, or
// an *os.SyscallError holding the errno Linux gives (test them with
// errors.Is: syscall.ECONNRESET, ECONNREFUSED, ETIMEDOUT, EPIPE, ...).
// Nothing panics on a bad call.
package tcpwave
