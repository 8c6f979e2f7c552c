package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tcpwave/tcpwave/stack"
	"github.com/tcpwave/tcpwave/trace"
)

// The control socket: a running `tcpwave tun serve|dial` answers `tcpwave
// netstat` and `tcpwave nstat` on a unix socket. By default it is
// controlDir/tcpwave-net<INODE>-<PID>.sock, where INODE names the network
// namespace the process runs in (the inode of /proc/thread-self/ns/net, as
// `ip netns identify` and `lsns` know it) and PID the process: two servers
// never share a socket, and `ip netns exec X tcpwave netstat` finds the
// server of namespace X.
var controlDir = os.TempDir()

// controlTimeout bounds one exchange on the control socket, each side (a
// variable for the tests).
var controlTimeout = 5 * time.Second

// maxControlAnswer bounds what a client reads from a control socket.
const maxControlAnswer = 64 << 20

// controlPrefix is the start of the default control sockets' names in the
// calling thread's network namespace.
func controlPrefix() string {
	return fmt.Sprintf("tcpwave-net%d-", netnsID())
}

// defaultControl is this process's default control socket.
func defaultControl() string {
	return filepath.Join(controlDir, fmt.Sprintf("%s%d.sock", controlPrefix(), os.Getpid()))
}

// findControl returns the one control socket of a running tcpwave process
// in the caller's network namespace: of the sockets named as
// defaultControl names them, those that answer. None and several are
// errors that say what to do.
func findControl(ctx context.Context) (string, error) {
	pattern := filepath.Join(controlDir, controlPrefix()+"*.sock")
	paths, err := filepath.Glob(pattern)
	if err != nil {
		return "", fmt.Errorf("list control sockets: %w", err)
	}
	sort.Strings(paths)
	var live []string
	for _, p := range paths {
		if fi, err := os.Lstat(p); err != nil || fi.Mode().Type() != fs.ModeSocket {
			continue
		}
		if answers(ctx, p) == nil {
			live = append(live, p)
		}
	}
	switch len(live) {
	case 0:
		return "", fmt.Errorf("no `tcpwave tun serve` or `tun dial` is running in this network namespace (no live %s); give --control PATH if it uses another socket", pattern)
	case 1:
		return live[0], nil
	}
	return "", fmt.Errorf("%d tcpwave processes run in this network namespace; choose one with --control: %s", len(live), strings.Join(live, " "))
}

// answers dials the unix socket at path and hangs up: nil if a process
// listens there.
func answers(ctx context.Context, path string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return err
	}
	return c.Close()
}

// claimControl makes sure path is free for a new control socket: nothing
// there, or a stale socket (one nobody answers on), which it removes. A
// live socket (another tcpwave's), a regular file, a directory or anything
// else is left alone and refused.
func claimControl(path string) error {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("control socket %s: %w", path, err)
	case fi.Mode().Type() != fs.ModeSocket:
		return fmt.Errorf("control socket %s: already exists and is not a socket (%v); not replacing it", path, fi.Mode().Type())
	}
	err = answers(context.Background(), path)
	switch {
	case err == nil:
		return fmt.Errorf("control socket %s: another tcpwave process is serving on it; give another --control PATH", path)
	case !errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("control socket %s: exists and cannot be probed: %w", path, err)
	}
	// Stale: its process is gone. Remove it only if it is still the file
	// just probed.
	if now, err := os.Lstat(path); err == nil && os.SameFile(fi, now) {
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("control socket %s: remove the stale socket: %w", path, err)
		}
	}
	return nil
}

// serveControl answers each connection on the unix socket path, each on
// its own goroutine and within controlTimeout, until the returned stop is
// called: a "nstat" request with the counters counters() returns, anything
// else with the table rows() returns (see reqNstat). It refuses a path
// that holds anything but a stale socket (claimControl); stop removes the
// socket if it is still the one serveControl made.
func serveControl(ctx context.Context, path string, rows func() []stack.ConnInfo, counters func() stack.Counters) (func(), error) {
	if err := claimControl(path); err != nil {
		return nil, err
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	// Close must not unlink the path: it may be another process's socket
	// by then. stop removes ours itself.
	ln.SetUnlinkOnClose(false)
	ours, err := os.Lstat(path)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(controlTimeout))
				switch readRequest(c, 500*time.Millisecond) {
				case reqNstat:
					writeNstat(c, counters(), true)
				case reqNetstatInfo:
					trace.WriteTableInfo(c, rows())
				default:
					trace.WriteTable(c, rows())
				}
			}()
		}
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			ln.Close()
			wg.Wait()
			if now, err := os.Lstat(path); err == nil && os.SameFile(ours, now) {
				os.Remove(path)
			}
		})
	}
	return stop, nil
}

// askControl sends req to the control socket at path ("" finds the one of
// this network namespace) and copies the answer to w. The socket's
// deadline covers the exchange on the socket only, not the writes to w.
func askControl(ctx context.Context, path, req string, w io.Writer) error {
	if path == "" {
		var err error
		if path, err = findControl(ctx); err != nil {
			return err
		}
	}
	var d net.Dialer
	ctx, cancel := context.WithTimeout(ctx, controlTimeout)
	defer cancel()
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return fmt.Errorf("is a `tcpwave tun serve` running? %w", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(controlTimeout))
	if _, err := io.WriteString(c, req+"\n"); err != nil {
		return fmt.Errorf("control socket %s: %w", path, err)
	}
	var answer bytes.Buffer
	if _, err := io.Copy(&answer, io.LimitReader(c, maxControlAnswer)); err != nil {
		return fmt.Errorf("control socket %s: %w", path, err)
	}
	_, err = answer.WriteTo(w)
	return err
}

// readRequest reads the client's request line, waiting at most wait for
// it; "" if none came.
func readRequest(c net.Conn, wait time.Duration) string {
	c.SetReadDeadline(time.Now().Add(wait))
	line, _ := bufio.NewReader(io.LimitReader(c, 64)).ReadString('\n')
	return strings.TrimSpace(line)
}
