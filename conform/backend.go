package conform

import (
	"syscall"
	"time"
)

// Backend is a host under test: the Linux kernel or tcpwave. The runner
// plays the remote peer against it through packets, and plays the local
// application through system calls.
type Backend interface {
	// Name is "kernel" or "tcpwave".
	Name() string
	// Now is the time since the script started (wall time on the kernel,
	// virtual time on tcpwave).
	Now() time.Duration
	// Inject hands the host one IPv4 packet from the peer, now.
	Inject(pkt []byte) error
	// Start begins a system call now; its Return comes out of Wait (at
	// once, or later if the call blocks).
	Start(c *Call) error
	// Wait lets time pass until the host does something (sends a packet
	// or returns from a call) and returns that, or returns nil once the
	// time until has come with nothing done.
	Wait(until time.Duration) (*Happening, error)
	// Shell runs a back-quoted command of the script.
	Shell(cmd string) error
	// Close ends the run and frees everything the backend made.
	Close() error
}

// Opener makes a fresh backend for one script.
type Opener func(s *Script) (Backend, error)

// Call is a system call with its arguments decoded; descriptors are the
// backend's own.
type Call struct {
	ID    int
	Name  string   // "socket", "read", ...
	FD    int      // the descriptor argument, -1 if the script's is unknown
	Int   int64    // listen's backlog, read/write length, shutdown's how, fcntl's command, poll's timeout (ms)
	Arg   int64    // fcntl's argument
	Level int64    // setsockopt/getsockopt level
	Opt   int64    // setsockopt/getsockopt option name
	Value Expr     // setsockopt's value
	Poll  []PollFD // poll's descriptors
}

// PollFD is one entry of poll's array.
type PollFD struct {
	FD     int
	Events int16
}

// Return is what a call returned.
type Return struct {
	Ret   int64
	Errno syscall.Errno // when Ret is -1
	// Value is getsockopt's option value: an ExprList of one integer,
	// or an ExprStruct {l_onoff, l_linger} for SO_LINGER.
	Value Expr
	// Revents are poll's results, one per entry.
	Revents []int16
}

// Happening is something the host did: sent a packet or returned from a
// call.
type Happening struct {
	At     time.Duration
	Packet []byte  // a packet the host sent
	CallID int     // with Return: the call that returned
	Return *Return // nil for a packet
	// Began is when a call began to run on the host, if the backend
	// knows and it is later than the runner started it (the kernel's
	// call runs on a goroutine, which a loaded machine may start late).
	Began time.Duration
}
