package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestBinaryDeps: the CLI links no test machinery. Package testing (and
// what only tests need) would come in through a helper package shared
// with tests, such as internal/netns.
func TestBinaryDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, "github.com/tcpwave/tcpwave/internal/netns") {
		t.Fatalf("go list -deps lists %d packages, not internal/netns: the check would prove nothing", len(deps))
	}
	for _, banned := range []string{"testing", "testing/synctest", "testing/fstest", "net/http/httptest"} {
		if slices.Contains(deps, banned) {
			t.Errorf("the tcpwave binary links package %s", banned)
		}
	}
}
