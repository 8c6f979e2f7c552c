package soak

import (
	"fmt"
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/trace"
)

// Config sets the size and hostility of a run. Start from DefaultConfig.
type Config struct {
	Hosts    int // hosts on the network, 2 to 4; 0 lets the seed choose
	Clients  int // connections opened per run
	MaxBytes int // largest amount one side writes on a connection

	FaultPhase  time.Duration // faults last this long; then the network heals
	StartWindow time.Duration // clients connect at times drawn from [0, StartWindow)

	MaxLoss, MaxDup, MaxReorder, MaxCorrupt float64 // each link's fault rates are drawn up to these
	MaxPartitions                           int     // partitions in the fault phase: up to this many
	MaxPartition                            time.Duration
	MaxCrashes                              int // host crashes in the fault phase: up to this many

	// Patience is how long an application waits without progress before it
	// gives up on a peer that has gone away; a connection whose two ends
	// are alive that makes no progress for this long on the healed network
	// breaks the liveness invariant.
	Patience time.Duration
	Limit    time.Duration // virtual-time bound of the whole run
	MaxSteps int           // simulator-step bound of the whole run; 0 scales with Clients and MaxBytes

	// Trace, if set, records every segment, state change and application
	// call of the run.
	Trace *trace.Recorder
}

// DefaultConfig is 200 connections per seed on 2 to 4 hosts, 30 s of
// faults, and Linux's timers (60 s TIME_WAIT and FIN_WAIT_2, RTO up to
// 120 s).
func DefaultConfig() Config {
	return Config{
		Clients:       200,
		MaxBytes:      64 << 10,
		FaultPhase:    30 * time.Second,
		StartWindow:   40 * time.Second,
		MaxLoss:       0.10,
		MaxDup:        0.05,
		MaxReorder:    0.10,
		MaxCorrupt:    0.02,
		MaxPartitions: 3,
		MaxPartition:  15 * time.Second,
		MaxCrashes:    1,
		Patience:      5 * time.Minute,
		Limit:         3 * time.Hour,
	}
}

// Limits on the size of a run, so that a configuration asks for no more
// memory and time than a machine has before anything starts.
const (
	MaxClients  = 100_000  // Config.Clients
	MaxMaxBytes = 64 << 20 // Config.MaxBytes
	MaxFaults   = 10_000   // Config.MaxPartitions and Config.MaxCrashes
)

// Validate reports the first field out of range.
func (c *Config) Validate() error {
	for _, p := range []float64{c.MaxLoss, c.MaxDup, c.MaxReorder, c.MaxCorrupt} {
		if p < 0 || p > 1 || p != p {
			return fmt.Errorf("soak: fault rate %v out of [0, 1]", p)
		}
	}
	switch {
	case c.Hosts != 0 && (c.Hosts < 2 || c.Hosts > 4):
		return fmt.Errorf("soak: %d hosts; want 2 to 4 (or 0)", c.Hosts)
	case c.Clients < 0 || c.MaxBytes < 0 || c.MaxPartitions < 0 || c.MaxCrashes < 0 || c.MaxSteps < 0:
		return fmt.Errorf("soak: negative count")
	case c.Clients > MaxClients:
		return fmt.Errorf("soak: %d clients; want at most %d", c.Clients, MaxClients)
	case c.MaxBytes > MaxMaxBytes:
		return fmt.Errorf("soak: MaxBytes %d; want at most %d", c.MaxBytes, MaxMaxBytes)
	case c.MaxPartitions > MaxFaults || c.MaxCrashes > MaxFaults:
		return fmt.Errorf("soak: more than %d partitions or crashes", MaxFaults)
	case c.FaultPhase < 0 || c.StartWindow < 0 || c.MaxPartition < 0:
		return fmt.Errorf("soak: negative duration")
	case c.MaxPartitions > 0 && c.MaxPartition <= 0:
		return fmt.Errorf("soak: partitions need a positive MaxPartition")
	case c.Patience < time.Second:
		return fmt.Errorf("soak: Patience %v is below 1 s", c.Patience)
	case c.Limit <= c.StartWindow+c.FaultPhase:
		return fmt.Errorf("soak: Limit %v leaves no time to converge", c.Limit)
	}
	return nil
}

// maxSteps is the step bound: MaxSteps, or a generous multiple of what the
// run's traffic needs.
func (c *Config) maxSteps() int {
	if c.MaxSteps > 0 {
		return c.MaxSteps
	}
	return 100_000 + c.Clients*(4_000+c.MaxBytes/50)
}

// Result is the outcome of one run.
type Result struct {
	Seed uint64
	// Err is the first broken invariant (a *Violation), or the reason the
	// run could not start (a bad Config); nil when every invariant held.
	Err error

	Hosts       int
	Conns       int   // client connections started
	Established int   // connects that succeeded
	Failed      int   // connects that failed (refused or timed out)
	Complete    int   // connections on which both directions delivered everything
	Errors      int   // sides told of an error
	Quit        int   // sides that aborted or closed early by choice
	GaveUp      int   // sides that gave up on a peer that had gone away
	Ghosts      int   // connections made of a SYN cookie that no client opened
	Crashes     int   // host crashes
	Partitions  int   // partitions
	Bytes       int64 // bytes delivered to applications
	Steps       int   // simulator steps
	End         clock.Instant
}

// Violation is a broken invariant.
type Violation struct {
	Seed      uint64
	At        clock.Instant // virtual time it was found
	Invariant string        // "integrity", "eof", "completeness", "errors", "liveness", "closed", "bound", "stack"
	Detail    string
}

// Error formats the violation as "seed S: invariant at T: detail".
func (v *Violation) Error() string {
	return fmt.Sprintf("seed %d: %s at %v: %s", v.Seed, v.Invariant, v.At, v.Detail)
}
