//go:build linux

package netns

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// maxSweep bounds how many stale namespaces one sweep deletes.
const maxSweep = 256

// sweepOnce makes New sweep once per process.
var sweepOnce sync.Once

// sweep deletes the namespaces that earlier processes of this package
// left behind (a test binary killed by a timeout runs no cleanup): those
// named "tcpwave-<pid>-..." whose process no longer exists. Errors are
// ignored: a sweep is a courtesy, not a precondition.
func sweep() {
	entries, err := os.ReadDir(Dir)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	deleted := 0
	for _, e := range entries {
		if deleted >= maxSweep || ctx.Err() != nil {
			return
		}
		pid, ok := ownerPID(e.Name())
		if !ok || pid == os.Getpid() || alive(pid) {
			continue
		}
		if _, err := run(ctx, "ip", "netns", "del", e.Name()); err == nil {
			deleted++
		}
	}
}

// ownerPID returns the process ID in a name made by New.
func ownerPID(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, Prefix+"-")
	if !ok {
		return 0, false
	}
	p, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(p)
	return pid, err == nil && pid > 0
}

// alive reports whether a process pid exists (in this PID namespace).
func alive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}
