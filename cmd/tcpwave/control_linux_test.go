//go:build linux

package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tcpwave/tcpwave/internal/netns"
)

// The default control socket is named for the network namespace: a server
// in a namespace is what `tcpwave netstat` finds in that namespace (as
// under `ip netns exec`), and it is not found outside.
func TestControlPerNamespace(t *testing.T) {
	ns := netns.NewT(t)
	defer func(d string) { controlDir = d }(controlDir)
	controlDir = t.TempDir()
	var inside string
	err := ns.Run(func() error {
		inside = defaultControl()
		_, err := serveTable(t, inside, 1)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if outside := defaultControl(); outside == inside {
		t.Fatalf("the default control socket is %s inside the namespace and out", inside)
	}
	if code, _, errs := netstatAt(); code != 1 || !strings.Contains(errs, "no `tcpwave tun serve`") {
		t.Errorf("outside the namespace: exit %d, %q; want no server found", code, errs)
	}
	err = ns.Run(func() error {
		if code, out, errs := netstatAt(); code != 0 || !strings.Contains(out, "ESTAB") {
			return fmt.Errorf("inside the namespace: exit %d, %q %q; want the table", code, out, errs)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}
