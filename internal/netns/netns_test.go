//go:build linux

package netns

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// timeout bounds every command and wait of these tests.
const timeout = 10 * time.Second

// threadNS returns the inode of the calling thread's network namespace.
func threadNS() (uint64, error) {
	var st unix.Stat_t
	err := unix.Stat("/proc/thread-self/ns/net", &st)
	return st.Ino, err
}

// nsList returns the names "ip netns list" shows.
func nsList(t *testing.T) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := run(ctx, "ip", "netns", "list")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	return names
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestNewAndClose(t *testing.T) {
	Require(t)
	ns, err := New("a label/with spaces")
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	prefix := "tcpwave-" + strconv.Itoa(os.Getpid()) + "-"
	if !strings.HasPrefix(ns.Name(), prefix) || !strings.HasSuffix(ns.Name(), "-a_label_with_spaces") {
		t.Errorf("Name() = %q, want %q...-a_label_with_spaces", ns.Name(), prefix)
	}
	if ns.Path() != "/var/run/netns/"+ns.Name() {
		t.Errorf("Path() = %q", ns.Path())
	}
	if !contains(nsList(t), ns.Name()) {
		t.Fatalf("%s is not in ip netns list", ns.Name())
	}
	ns2, err := New("a label/with spaces")
	if err != nil {
		t.Fatal(err)
	}
	if ns2.Name() == ns.Name() {
		t.Errorf("two namespaces named %q", ns.Name())
	}
	for _, n := range []*NS{ns, ns2} {
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
		if err := n.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if contains(nsList(t), n.Name()) {
			t.Errorf("%s is still in ip netns list after Close", n.Name())
		}
		if _, err := os.Stat(n.Path()); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s after Close: %v", n.Path(), err)
		}
	}
}

func TestRun(t *testing.T) {
	ns := NewT(t)
	var target unix.Stat_t
	if err := unix.Stat(ns.Path(), &target); err != nil {
		t.Fatal(err)
	}
	// Run many times, from a goroutine that may land on any thread:
	// each call is inside, and no thread stays inside afterwards.
	for i := range 20 {
		var inside uint64
		err := ns.Run(func() error {
			var err error
			inside, err = threadNS()
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if inside != target.Ino {
			t.Fatalf("run %d: fn ran in namespace %d, want %d", i, inside, target.Ino)
		}
	}
	// No thread of the process is left inside.
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	inNS := "net:[" + strconv.FormatUint(target.Ino, 10) + "]"
	for _, task := range tasks {
		link, err := os.Readlink("/proc/self/task/" + task.Name() + "/ns/net")
		if err == nil && link == inNS {
			t.Errorf("thread %s is still in the namespace after Run", task.Name())
		}
	}

	want := errors.New("from fn")
	if err := ns.Run(func() error { return want }); err != want {
		t.Errorf("Run returned %v, want fn's error", err)
	}
	if err := ns.Run(func() error { runtime.Goexit(); return nil }); !errors.Is(err, errGoexit) {
		t.Errorf("Run of an fn that calls runtime.Goexit: %v", err)
	}
	func() {
		defer func() {
			if r := recover(); r == nil || !strings.Contains(r.(string), "boom") {
				t.Errorf("recovered %v, want fn's panic", r)
			}
		}()
		ns.Run(func() error { panic("boom") })
		t.Error("Run returned after fn panicked")
	}()
}

func TestExec(t *testing.T) {
	ns := NewT(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := ns.Exec(ctx, "ip", "-o", "link", "show")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "lo:") || !strings.Contains(lines[0], ",UP") {
		t.Errorf("ip link inside a new namespace:\n%s\nwant only lo, up", out)
	}
	if _, err := ns.Exec(ctx, "ip", "link", "show", "dev", "nosuchdev"); err == nil ||
		!strings.Contains(err.Error(), "nosuchdev") {
		t.Errorf("failing command: %v, want an error with its stderr", err)
	}
	if _, err := ns.Exec(ctx); err == nil {
		t.Error("Exec with no command succeeded")
	}
}

func TestOwnerPIDAndSanitize(t *testing.T) {
	for name, want := range map[string]int{
		"tcpwave-123-4":       123,
		"tcpwave-123-4-label": 123,
		"tcpwave-x-4":         0,
		"tcpwave-123":         0,
		"other-123-4":         0,
	} {
		pid, ok := ownerPID(name)
		if pid != want && ok || ok != (want != 0) {
			t.Errorf("ownerPID(%q) = %d, %v; want %d", name, pid, ok, want)
		}
	}
	if got := sanitize("TestX/sub_test-1.2 ü"); got != "TestX_sub_test-1.2___" {
		t.Errorf("sanitize = %q", got)
	}
	if got := sanitize(strings.Repeat("a", 100)); len(got) != maxLabel {
		t.Errorf("sanitize kept %d bytes, want %d", len(got), maxLabel)
	}
}

// TestSweep checks that New's sweep deletes a namespace named after a
// process that has ended, and spares this process's.
func TestSweep(t *testing.T) {
	mine := NewT(t)
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := cmd.Process.Pid // ended and reaped
	if alive(dead) {
		t.Skipf("pid %d was reused at once", dead)
	}
	stale := Prefix + "-" + strconv.Itoa(dead) + "-1-stale"
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if _, err := run(ctx, "ip", "netns", "add", stale); err != nil {
		t.Fatal(err)
	}
	defer run(ctx, "ip", "netns", "del", stale)
	sweep()
	names := nsList(t)
	if contains(names, stale) {
		t.Errorf("sweep left %s", stale)
	}
	if !contains(names, mine.Name()) {
		t.Errorf("sweep deleted %s, this process's", mine.Name())
	}
}

// TestRunAfterClose checks that Run in a deleted namespace is an error,
// not a run in the wrong namespace.
func TestRunAfterClose(t *testing.T) {
	ns := NewT(t)
	if err := ns.Close(); err != nil {
		t.Fatal(err)
	}
	called := false
	if err := ns.Run(func() error { called = true; return nil }); err == nil || called {
		t.Errorf("Run after Close = %v, called %v; want an error and no call", err, called)
	}
}
