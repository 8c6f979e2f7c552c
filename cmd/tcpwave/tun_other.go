//go:build !linux

package main

import (
	"context"
	"fmt"
	"io"
)

func tunCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && isHelp(args[len(args)-1]) {
		fmt.Fprintln(stdout, "usage: tcpwave tun serve|dial [flags] (TUN devices need Linux)")
		return 0
	}
	fmt.Fprintln(stderr, "tcpwave tun: TUN devices need Linux")
	return 1
}
