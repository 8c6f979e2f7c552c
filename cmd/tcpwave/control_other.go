//go:build !linux

package main

// netnsID is 0: network namespaces are Linux's.
func netnsID() uint64 { return 0 }
