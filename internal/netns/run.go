//go:build linux

package netns

import (
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"

	"golang.org/x/sys/unix"
)

// errGoexit reports an fn that ended its goroutine with runtime.Goexit.
var errGoexit = errors.New("netns: Run: fn called runtime.Goexit " +
	"(t.FailNow, t.Fatal and t.Skip must not be called inside Run; return an error instead)")

// runResult is how fn ended.
type runResult struct {
	err      error
	panicked bool
	value    any
	stack    []byte
	goexit   bool
}

// Run calls fn on a new goroutine locked to an OS thread that has entered
// the namespace, waits for it and returns fn's error.
//
// Sockets, TUN devices and child processes that fn creates on that
// thread belong to the namespace, and keep it after Run returns: their
// file descriptors may then be used from any goroutine. Goroutines that
// fn starts do not run in the namespace. Go's net package works inside
// fn (net.Listen and net.Dial make their socket on the calling thread).
//
// When fn returns, the thread goes back to the namespace it came from and
// is unlocked; if it cannot go back, it stays locked, so that the
// runtime ends it with the goroutine instead of reusing it elsewhere. A
// panic in fn is raised again on the caller's goroutine, with fn's stack.
// fn must not call t.FailNow (or t.Fatal, t.Skip): Run reports that
// as an error.
func (ns *NS) Run(fn func() error) error {
	done := make(chan runResult, 1)
	go runLocked(ns.Path(), fn, done)
	res := <-done
	switch {
	case res.panicked:
		panic(fmt.Sprintf("netns: Run in %s: fn panicked: %v\n\nfn's goroutine:\n%s",
			ns.name, res.value, res.stack))
	case res.goexit:
		return errors.Join(errGoexit, res.err)
	}
	return res.err
}

// runLocked is Run's goroutine: it locks itself to its thread, enters
// the namespace at path, calls fn, goes back, and sends how fn ended.
func runLocked(path string, fn func() error, done chan<- runResult) {
	runtime.LockOSThread()
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		done <- runResult{err: fmt.Errorf("netns: open this thread's namespace: %w", err)}
		return
	}
	defer unix.Close(orig)
	if err := enter(path); err != nil {
		// setns failed, so the thread is still where it was.
		runtime.UnlockOSThread()
		done <- runResult{err: err}
		return
	}
	var res runResult
	returned := false
	defer func() {
		if !returned {
			res.value = recover()
			res.panicked = res.value != nil
			res.goexit = !res.panicked
			if res.panicked {
				res.stack = debug.Stack()
			}
		}
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			// Leave the thread locked: it dies with this goroutine.
			res.err = errors.Join(res.err,
				fmt.Errorf("netns: return to the original namespace: %w (thread retired)", err))
		} else {
			runtime.UnlockOSThread()
		}
		done <- res
	}()
	res.err = fn()
	returned = true
}

// enter moves the calling thread into the namespace pinned at path.
func enter(path string) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("netns: open %s: %w", path, err)
	}
	defer unix.Close(fd)
	if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("netns: setns %s: %w", path, err)
	}
	return nil
}
