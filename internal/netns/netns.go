//go:build linux

package netns

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Prefix starts the name of every namespace this package makes.
const Prefix = "tcpwave"

// Dir is where "ip netns" keeps its named namespaces.
const Dir = "/var/run/netns"

// cmdTimeout bounds each ip command New and Close run.
const cmdTimeout = 10 * time.Second

// maxLabel is the longest label New keeps in a name.
const maxLabel = 40

// counter numbers the namespaces of this process.
var counter atomic.Uint64

// NS is a named network namespace that this process created. Its methods
// are safe for concurrent use.
type NS struct {
	name string

	closeOnce sync.Once
	closeErr  error
}

// New creates a network namespace named "tcpwave-<pid>-<n>" followed by
// "-label" when label is not empty (characters other than letters,
// digits, '.', '_' and '-' are replaced by '_'; the label is cut to 40
// bytes), and brings its loopback interface up. The first call in a
// process also deletes namespaces that earlier tcpwave processes left
// behind (those named after a process that no longer exists). The caller
// must Close the namespace.
func New(label string) (*NS, error) {
	sweepOnce.Do(sweep)
	name := fmt.Sprintf("%s-%d-%d", Prefix, os.Getpid(), counter.Add(1))
	if l := sanitize(label); l != "" {
		name += "-" + l
	}
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	if _, err := run(ctx, "ip", "netns", "add", name); err != nil {
		return nil, err
	}
	ns := &NS{name: name}
	if _, err := run(ctx, "ip", "-n", name, "link", "set", "lo", "up"); err != nil {
		return nil, errors.Join(err, ns.Close())
	}
	return ns, nil
}

// Name returns the namespace's name, as "ip netns list" shows it.
func (ns *NS) Name() string { return ns.name }

// Path returns the file that pins the namespace (under Dir), which
// setns(2) opens to enter it.
func (ns *NS) Path() string { return filepath.Join(Dir, ns.name) }

// String returns the name.
func (ns *NS) String() string { return ns.name }

// Exec runs the command args[0] with the rest of args inside the
// namespace (as "ip netns exec NAME args...") and returns its standard
// output. If the command fails, the error includes its standard error.
// ctx bounds the command's run time.
func (ns *NS) Exec(ctx context.Context, args ...string) ([]byte, error) {
	if len(args) == 0 {
		return nil, errors.New("netns: Exec needs a command")
	}
	return run(ctx, "ip", append([]string{"netns", "exec", ns.name}, args...)...)
}

// Close deletes the namespace ("ip netns del"). Sockets and devices that
// still hold it keep it alive, unnamed, until they are closed. Close may
// be called more than once: later calls return the first call's result.
func (ns *NS) Close() error {
	ns.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
		defer cancel()
		_, ns.closeErr = run(ctx, "ip", "netns", "del", ns.name)
	})
	return ns.closeErr
}

// run runs a command and returns its standard output, or an error that
// carries its standard error.
func run(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = time.Second
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("netns: %s %s: %w: %s", name, strings.Join(args, " "),
			err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// sanitize makes label safe for a namespace name (a file name).
func sanitize(label string) string {
	b := []byte(label)
	if len(b) > maxLabel {
		b = b[:maxLabel]
	}
	for i, c := range b {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '_' || c == '-'
		if !ok {
			b[i] = '_'
		}
	}
	return string(b)
}
