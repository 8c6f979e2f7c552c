package conform

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"syscall"
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/stack"
	"github.com/tcpwave/tcpwave/tcp"
)

// TCPWave is the tcpwave backend's Opener: a stack.Stack in-process with
// the script's local address, driven on virtual time, and a descriptor
// table over stack.Socket.
func TCPWave(s *Script) (Backend, error) {
	opts := stack.DefaultOptions(s.Options.LocalIP)
	opts.ISNKey = [16]byte{'c', 'o', 'n', 'f', 'o', 'r', 'm'}
	opts.MTU = s.Options.linkMTU()
	return &twBackend{opts: opts, script: s, fds: map[int]*twFD{}, base: clock.Instant(time.Second)}, nil
}

// twBackend is the tcpwave backend.
type twBackend struct {
	script  *Script
	opts    stack.Options // sysctls change these until the stack starts
	st      *stack.Stack  // made at the first packet or call
	base    clock.Instant // script time 0
	now     clock.Instant
	q       []*Happening
	fds     map[int]*twFD
	pending []*twOp
	pump    stack.Pump // the backend's side of the stack's driver loop
	// mem holds tcp_rmem[1] and tcp_wmem[1] once a sysctl set them: what
	// getsockopt(SO_RCVBUF, SO_SNDBUF) of a new socket returns.
	mem [2]int
}

// memDefault is tcp_rmem[1] (i 0) or tcp_wmem[1] (i 1): Linux's, or the
// value a sysctl set.
func (b *twBackend) memDefault(i int) int {
	if b.mem[i] > 0 {
		return b.mem[i]
	}
	return [2]int{defaultRcvBuf, defaultSndBuf}[i]
}

// twFD is an open descriptor.
type twFD struct {
	so       *stack.Socket
	nonblock bool
	sockopts map[[2]int64]int64 // options kept only to be read back
	mem      [2]int             // tcp_rmem[1] and tcp_wmem[1] when it was made: its SO_RCVBUF and SO_SNDBUF until set
}

// twOp is a call in progress.
type twOp struct {
	c        *Call
	wrote    int64         // a blocking write's progress
	deadline clock.Instant // linger or poll timeout (clock.Never if none)
	fd       *twFD         // close with linger: the socket being closed
}

// Name is "tcpwave".
func (b *twBackend) Name() string { return "tcpwave" }

// Now is the virtual time since the script started.
func (b *twBackend) Now() time.Duration { return b.now.Sub(b.base) }

// Close ends the run; the stack is garbage.
func (b *twBackend) Close() error { return nil }

// stack returns the stack, making it on first use.
func (b *twBackend) stack() (*stack.Stack, error) {
	if b.st != nil {
		return b.st, nil
	}
	st, err := stack.New(b.opts, nil)
	if err != nil {
		return nil, fmt.Errorf("tcpwave stack: %w", err)
	}
	b.st = st
	b.now = max(b.now, b.base)
	b.pump = stack.Pump{Buf: make([]byte, 65536), Send: b.sent, Ready: b.retry}
	return st, nil
}

// Inject hands the packet to the stack at the current virtual time.
func (b *twBackend) Inject(pkt []byte) error {
	st, err := b.stack()
	if err != nil {
		return err
	}
	st.HandlePacket(b.now, pkt)
	b.settle()
	return nil
}

// settle collects the packets the stack has to send and retries the calls
// that wait, until nothing changes (stack.Settle).
func (b *twBackend) settle() {
	b.st.Settle(b.now, &b.pump)
}

// sent queues a packet the stack sent.
func (b *twBackend) sent(pkt []byte, _ int) {
	b.q = append(b.q, &Happening{At: b.Now(), Packet: append([]byte(nil), pkt...)})
}

// retry tries the calls that wait again, whatever socket moved, and
// reports whether one finished.
func (b *twBackend) retry([]*stack.Socket) bool {
	progress := false
	keep := b.pending[:0]
	for _, op := range b.pending {
		if ret, done := b.try(op); done {
			b.q = append(b.q, &Happening{At: b.Now(), CallID: op.c.ID, Return: ret})
			progress = true
		} else {
			keep = append(keep, op)
		}
	}
	clear(b.pending[len(keep):])
	b.pending = keep
	return progress
}

// Wait advances virtual time, timer by timer, until the stack sends a
// packet or a waiting call returns, or until comes.
func (b *twBackend) Wait(until time.Duration) (*Happening, error) {
	end := b.base.Add(until)
	for range 1_000_000 {
		if len(b.q) > 0 {
			h := b.q[0]
			b.q = b.q[1:]
			return h, nil
		}
		if b.now >= end {
			return nil, nil
		}
		next := end
		if b.st != nil {
			next = clock.Min(next, b.st.Deadline())
		}
		for _, op := range b.pending {
			next = clock.Min(next, op.deadline)
		}
		b.now = max(b.now, next)
		if b.st != nil {
			b.st.Step(b.now, &b.pump) // the timers due, then settle's rounds
		}
	}
	return nil, errors.New("tcpwave: virtual time does not advance")
}

// Start runs the call at the current virtual time; a call that blocks
// waits in the pending list and is retried whenever the stack moves.
func (b *twBackend) Start(c *Call) error {
	if _, err := b.stack(); err != nil {
		return err
	}
	op := &twOp{c: c, deadline: clock.Never}
	if ret, done := b.begin(op); done {
		b.q = append(b.q, &Happening{At: b.Now(), CallID: c.ID, Return: ret})
	} else {
		b.pending = append(b.pending, op)
	}
	b.settle()
	return nil
}

func fail(e syscall.Errno) *Return { return &Return{Ret: -1, Errno: e} }

func ok(n int64) *Return { return &Return{Ret: n} }

// newFD gives the lowest free descriptor from 3, as the kernel does.
func (b *twBackend) newFD(so *stack.Socket) int64 {
	for fd := 3; ; fd++ {
		if b.fds[fd] == nil {
			b.fds[fd] = &twFD{so: so, sockopts: map[[2]int64]int64{}, mem: [2]int{b.memDefault(0), b.memDefault(1)}}
			return int64(fd)
		}
	}
}

// begin runs a call now; done is false when it blocks (then try finishes
// it later).
func (b *twBackend) begin(op *twOp) (*Return, bool) {
	c := op.c
	if c.Name == "socket" {
		return ok(b.newFD(b.st.NewSocket())), true
	}
	if c.Name == "poll" {
		if c.Int > 0 {
			op.deadline = b.now.Add(time.Duration(c.Int) * time.Millisecond)
		}
		return b.try(op)
	}
	f := b.fds[c.FD]
	if f == nil {
		return fail(syscall.EBADF), true
	}
	so := f.so
	switch c.Name {
	case "bind":
		return errRet(so.Bind(b.script.Options.sockAddr(netip.AddrPortFrom(b.script.Options.LocalIP, b.script.Options.LocalPort))))
	case "listen":
		return errRet(so.Listen(b.now, int(c.Int)))
	case "connect":
		err := so.Connect(b.now, b.script.Options.sockAddr(netip.AddrPortFrom(b.script.Options.RemoteIP, b.script.Options.RemotePort)))
		if err != nil {
			return errRet(err)
		}
		if f.nonblock {
			b.settle()
			return fail(syscall.EINPROGRESS), true
		}
		return b.try(op)
	case "shutdown":
		return errRet(so.Shutdown(b.now, int(c.Int)))
	case "dup":
		so.Ref()
		nfd := b.newFD(so)
		b.fds[int(nfd)].nonblock = f.nonblock
		return ok(nfd), true
	case "close":
		delete(b.fds, c.FD)
		on, d := so.Linger()
		so.Close(b.now)
		if on && d > 0 && so.Refs() == 0 && so.Closing() {
			op.fd, op.deadline = f, b.now.Add(d)
			return nil, false
		}
		return ok(0), true
	case "setsockopt":
		return b.setsockopt(f, c)
	case "getsockopt":
		return b.getsockopt(f, c)
	case "fcntl":
		switch c.Int {
		case linuxFGetFL:
			fl := int64(linuxORdWr)
			if f.nonblock {
				fl |= linuxONonblock
			}
			return ok(fl), true
		case linuxFSetFL:
			f.nonblock = c.Arg&linuxONonblock != 0
			return ok(0), true
		}
		return fail(syscall.EINVAL), true
	}
	return b.try(op)
}

func errRet(err error) (*Return, bool) {
	if err != nil {
		return fail(errnoOf(err)), true
	}
	return ok(0), true
}

// try makes a call that may block progress; done is false while it still
// blocks.
func (b *twBackend) try(op *twOp) (*Return, bool) {
	c := op.c
	if c.Name == "poll" {
		return b.poll(op)
	}
	if c.Name == "close" {
		if op.fd.so.Closing() && b.now < op.deadline {
			return nil, false
		}
		return ok(0), true
	}
	f := b.fds[c.FD]
	if f == nil {
		return fail(syscall.EBADF), true
	}
	so := f.so
	nonblock := f.nonblock || c.Arg&0x40 != 0 && (c.Name == "send" || c.Name == "recv") // MSG_DONTWAIT
	switch c.Name {
	case "accept":
		n, err := so.Accept()
		if errors.Is(err, syscall.EAGAIN) && !nonblock {
			return nil, false
		}
		if err != nil {
			return errRet(err)
		}
		return ok(b.newFD(n)), true
	case "connect":
		if !so.Connected() {
			return nil, false
		}
		return errRet(so.ConnectError())
	case "read", "recv":
		buf := make([]byte, c.Int)
		n, err := so.Read(b.now, buf)
		switch {
		case errors.Is(err, syscall.EAGAIN) && !nonblock:
			return nil, false
		case err == io.EOF:
			return ok(0), true
		case err != nil && n == 0:
			return errRet(err)
		}
		return ok(int64(n)), true
	case "write", "send":
		for op.wrote < c.Int {
			n, err := so.Write(b.now, make([]byte, c.Int-op.wrote))
			op.wrote += int64(n)
			if errors.Is(err, syscall.EAGAIN) {
				if nonblock && op.wrote == 0 {
					return fail(syscall.EAGAIN), true
				}
				if nonblock {
					break
				}
				return nil, false
			}
			if err != nil {
				if op.wrote > 0 {
					break
				}
				return errRet(err)
			}
		}
		return ok(op.wrote), true
	}
	return fail(syscall.ENOSYS), true
}

// Linux's SO_RCVBUF/SO_SNDBUF defaults (tcp_rmem[1], tcp_wmem[1]); a value
// set is the socket's (stack.Socket.RcvBuf, SndBuf). The kernel backend
// sets its namespace's tcp_rmem and tcp_wmem from them, so that both
// backends start from one default.
const (
	defaultRcvBuf = 131072
	defaultSndBuf = 16384
)

func (b *twBackend) setsockopt(f *twFD, c *Call) (*Return, bool) {
	v, lingerOn, lingerSec, isLinger := optValue(c.Value)
	switch {
	case c.Level == 1 && c.Opt == 2: // SO_REUSEADDR
		f.so.SetReuseAddr(v != 0)
	case c.Level == 1 && c.Opt == 15: // SO_REUSEPORT
		f.so.SetReusePort(v != 0)
	case c.Level == 1 && c.Opt == 13: // SO_LINGER
		if !isLinger {
			return fail(syscall.EINVAL), true
		}
		f.so.SetLinger(lingerOn, time.Duration(lingerSec)*time.Second)
		return ok(0), true
	case c.Level == 6 && c.Opt == 1: // TCP_NODELAY
		f.so.SetNoDelay(v != 0)
	case c.Level == 1 && c.Opt == 7: // SO_SNDBUF
		f.so.SetSndBuf(b.now, int(min(max(v, 0), 1<<30)))
		v = int64(f.so.SndBuf())
	case c.Level == 1 && c.Opt == 8: // SO_RCVBUF
		f.so.SetRcvBuf(b.now, int(min(max(v, 0), 1<<30)))
		v = int64(f.so.RcvBuf())
	case c.Level == 1 && c.Opt == 9: // SO_KEEPALIVE, on a connected socket
		f.so.SetKeepAlive(b.now, v != 0)
	case c.Level == 6 && (v < math.MinInt32 || v > math.MaxInt32):
		return fail(syscall.EINVAL), true // the TCP options below take a C int
	case c.Level == 6 && c.Opt == 18: // TCP_USER_TIMEOUT, in ms
		if err := f.so.SetUserTimeout(b.now, time.Duration(v)*time.Millisecond); err != nil {
			return fail(errnoOf(err)), true
		}
	case c.Level == 6 && c.Opt == 8: // TCP_LINGER2, in s
		if err := f.so.SetLinger2(b.now, time.Duration(v)*time.Second); err != nil {
			return fail(errnoOf(err)), true
		}
	case c.Level == 6 && c.Opt >= 4 && c.Opt <= 6: // TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT
		var p tcp.KeepAliveParams
		switch c.Opt {
		case 4:
			p.Idle = time.Duration(v) * time.Second
		case 5:
			p.Interval = time.Duration(v) * time.Second
		default:
			p.Count = int(v)
		}
		if v <= 0 {
			return fail(syscall.EINVAL), true
		}
		if err := f.so.SetKeepAliveParams(b.now, p); err != nil {
			return fail(errnoOf(err)), true
		}
	default:
		return fail(syscall.ENOPROTOOPT), true
	}
	f.sockopts[[2]int64{c.Level, c.Opt}] = v
	return ok(0), true
}

// optValue reads a setsockopt value: [N], N or {l_onoff=A, l_linger=B}.
func optValue(e Expr) (v int64, on bool, sec int64, isLinger bool) {
	switch e.Kind {
	case ExprList:
		if len(e.Elems) == 1 {
			return optValue(e.Elems[0])
		}
	case ExprInt:
		return e.Int, false, 0, false
	case ExprStruct:
		a, ok1 := e.Field("onoff", "l_onoff")
		l, ok2 := e.Field("linger", "l_linger")
		return 0, a.Int != 0, l.Int, ok1 && ok2
	}
	return 0, false, 0, false
}

func (b *twBackend) getsockopt(f *twFD, c *Call) (*Return, bool) {
	val := func(v int64) (*Return, bool) {
		return &Return{Value: Expr{Kind: ExprList, Elems: []Expr{{Kind: ExprInt, Int: v}}}}, true
	}
	switch {
	case c.Level == 1 && c.Opt == 4: // SO_ERROR
		err := f.so.ConnectError()
		if err == nil {
			err = f.so.Err()
		}
		if err == nil {
			return val(0)
		}
		return val(int64(errnoOf(err)))
	case c.Level == 1 && c.Opt == 13: // SO_LINGER
		on, d := f.so.Linger()
		onv := int64(0)
		if on {
			onv = 1
		}
		return &Return{Value: Expr{Kind: ExprStruct, Fields: []Field{
			{"l_onoff", Expr{Kind: ExprInt, Int: onv}}, {"l_linger", Expr{Kind: ExprInt, Int: int64(d / time.Second)}}}}}, true
	case c.Level == 1 && c.Opt == 3: // SO_TYPE
		return val(1)
	case c.Level == 6 && c.Opt == 1, c.Level == 1 && (c.Opt == 2 || c.Opt == 15 || c.Opt == 9):
		return val(f.sockopts[[2]int64{c.Level, c.Opt}])
	case c.Level == 6 && c.Opt == 18: // TCP_USER_TIMEOUT
		return val(int64(f.so.UserTimeout() / time.Millisecond))
	case c.Level == 6 && c.Opt == 8: // TCP_LINGER2
		if f.so.Linger2() < 0 {
			return val(-1)
		}
		return val(int64(f.so.FinTimeout() / time.Second)) // Linux reports tcp_fin_timeout for 0
	case c.Level == 6 && c.Opt >= 4 && c.Opt <= 6: // TCP_KEEP*
		_, p := f.so.KeepAlive()
		return val([]int64{int64(p.Idle / time.Second), int64(p.Interval / time.Second), int64(p.Count)}[c.Opt-4])
	case c.Level == 1 && c.Opt == 8: // SO_RCVBUF, the listener's for its children
		if v := f.so.RcvBuf(); v > 0 {
			return val(int64(v))
		}
		return val(int64(f.mem[0]))
	case c.Level == 1 && c.Opt == 7: // SO_SNDBUF
		if v := f.so.SndBuf(); v > 0 {
			return val(int64(v))
		}
		return val(int64(f.mem[1]))
	}
	return fail(syscall.ENOPROTOOPT), true
}

// Linux's poll bits.
const (
	pollIn    = 0x1
	pollOut   = 0x4
	pollErr   = 0x8
	pollHup   = 0x10
	pollNval  = 0x20
	pollRdNrm = 0x40
	pollWrNrm = 0x100
	pollRdHup = 0x2000
)

// poll reports readiness as Linux's tcp_poll does, for the simple cases:
// a listener with a connection to accept, data or EOF to read, room to
// write, a pending error, a closed connection.
func (b *twBackend) poll(op *twOp) (*Return, bool) {
	ret := &Return{Revents: make([]int16, len(op.c.Poll))}
	for i, p := range op.c.Poll {
		f := b.fds[p.FD]
		if f == nil {
			ret.Revents[i] = pollNval
			ret.Ret++
			continue
		}
		var m int16
		so := f.so
		switch st := so.State(); {
		case st == tcp.Listen:
			if so.Acceptable() {
				m |= pollIn | pollRdNrm
			}
		case st == tcp.SynSent || st == tcp.SynRcvd:
		default:
			if so.Err() != nil {
				m |= pollErr
			}
			if st == tcp.Closed {
				m |= pollHup | pollIn | pollRdNrm | pollRdHup | pollOut | pollWrNrm
				break
			}
			if so.Readable() {
				m |= pollIn | pollRdNrm
				if c := so.Conn(); c != nil && c.RecvQ() == 0 {
					m |= pollRdHup
				}
			}
			if so.Writable() {
				m |= pollOut | pollWrNrm
			}
		}
		m &= p.Events | pollErr | pollHup | pollNval
		ret.Revents[i] = m
		if m != 0 {
			ret.Ret++
		}
	}
	if ret.Ret > 0 || op.c.Int == 0 || b.now >= op.deadline {
		return ret, true
	}
	return nil, false
}
