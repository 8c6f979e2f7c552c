//go:build linux

package netns

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// TB is the part of testing.TB that Require and NewT use (a *testing.T
// or *testing.B satisfies it). Its own interface, not testing.TB, keeps
// package testing out of the tcpwave binary, which imports this package
// for New.
type TB interface {
	Helper()
	Name() string
	Cleanup(func())
	Errorf(format string, args ...any)
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
}

// check is one prerequisite of Require: what it is, and a probe that
// returns an error saying why it is missing.
type check struct {
	what  string
	probe func() error
}

// checks are the prerequisites of a namespace with a TUN device in it.
var checks = []check{
	{"root", func() error {
		if uid := os.Geteuid(); uid != 0 {
			return fmt.Errorf("effective uid is %d", uid)
		}
		return nil
	}},
	{"CAP_SYS_ADMIN and CAP_NET_ADMIN", probeCaps},
	{"/dev/net/tun", func() error { _, err := os.Stat("/dev/net/tun"); return err }},
	{"ip (iproute2)", func() error { _, err := exec.LookPath("ip"); return err }},
	{"ss (iproute2)", func() error { _, err := exec.LookPath("ss"); return err }},
}

// Require skips the test, with a message that names what is missing,
// unless this machine can run tests in network namespaces with TUN
// devices: running as root with CAP_SYS_ADMIN and CAP_NET_ADMIN,
// /dev/net/tun present, and the ip and ss commands of iproute2 on the
// PATH. When the environment variable CI is true (as strconv.ParseBool
// reads it: "true", "1", ...) a missing prerequisite fails the test
// instead: in CI the machine is meant to have everything.
func Require(t TB) {
	t.Helper()
	require(t, checks, os.Getenv("CI"))
}

// NewT is Require followed by New, for tests: the namespace is labelled
// with the test's name and deleted when the test ends. Failures end the
// test.
func NewT(t TB) *NS {
	t.Helper()
	Require(t)
	ns, err := New(t.Name())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ns.Close(); err != nil {
			t.Errorf("deleting namespace: %v", err)
		}
	})
	return ns
}

// require is Require with its checks and the value of $CI as arguments.
func require(t TB, cs []check, ci string) {
	t.Helper()
	var missing []string
	for _, c := range cs {
		if err := c.probe(); err != nil {
			missing = append(missing, fmt.Sprintf("%s (%v)", c.what, err))
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := "this test needs a network namespace with a TUN device; missing: " +
		strings.Join(missing, ", ")
	if inCI(ci) {
		t.Fatalf("%s [CI=%s: a missing prerequisite is a failure]", msg, ci)
	}
	t.Skipf("%s [skipped; run as root on Linux with iproute2, as .ci/run sets up]", msg)
}

// inCI reports whether the value of $CI says the tests run in CI.
func inCI(v string) bool {
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	return err == nil && b
}

// probeCaps checks the effective capabilities of the calling thread
// (capget), the thread that goes on to make the namespace. Not
// /proc/self/status: that shows the main thread's, and a test that drops a
// capability on a locked thread of its own may have been given the main
// thread, which Go then keeps, unused, with the capability dropped.
func probeCaps() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	return missingCaps(uint64(data[1].Effective)<<32 | uint64(data[0].Effective))
}

// missingCaps says which of the needed capabilities eff lacks.
func missingCaps(eff uint64) error {
	var lack []string
	if eff&(1<<unix.CAP_SYS_ADMIN) == 0 {
		lack = append(lack, "CAP_SYS_ADMIN")
	}
	if eff&(1<<unix.CAP_NET_ADMIN) == 0 {
		lack = append(lack, "CAP_NET_ADMIN")
	}
	if len(lack) > 0 {
		return fmt.Errorf("effective capabilities lack %s", strings.Join(lack, " and "))
	}
	return nil
}
