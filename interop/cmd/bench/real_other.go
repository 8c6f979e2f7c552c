//go:build !linux

package main

import (
	"fmt"
	"io"
)

// runReal is the command with -real, which needs Linux.
func runReal(_ options, _ string, _, stderr io.Writer) int {
	fmt.Fprintln(stderr, "bench: -real needs Linux (network namespaces, TUN devices)")
	return 1
}

func realWorkloadNames() []string { return nil }
