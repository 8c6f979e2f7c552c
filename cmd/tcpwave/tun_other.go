//go:build !linux

package main

import (
	"context"
	"fmt"
	"io"
)

func tunCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "tcpwave tun: TUN devices need Linux")
	return 1
}
