package main

import (
	"bytes"
	"context"
	"runtime"
	"strings"
	"testing"
)

// Every command follows one rule: -h or --help prints the usage to stdout
// and exits 0.
func TestHelp(t *testing.T) {
	cmds := [][]string{{"netstat"}, {"nstat"}, {"soak"}, {"conform"}}
	if runtime.GOOS == "linux" {
		cmds = append(cmds, []string{"tun"}, []string{"tun", "serve"}, []string{"tun", "dial"})
	}
	for _, cmd := range cmds {
		for _, h := range []string{"-h", "--help"} {
			args := append(append([]string(nil), cmd...), h)
			var out, errb bytes.Buffer
			code := runContext(context.Background(), args, &out, &errb)
			if code != 0 || !strings.HasPrefix(out.String(), "usage: tcpwave "+cmd[0]) || errb.Len() != 0 {
				t.Errorf("%q: exit %d, stdout %q, stderr %q; want 0 and the usage on stdout only", args, code, out.String(), errb.String())
			}
		}
	}
}

// Bad usage of every command is a one-line error and the usage on stderr,
// and exit status 2.
func TestBadUsageRule(t *testing.T) {
	for _, args := range [][]string{
		{"netstat", "--bogus"}, {"netstat", "extra"},
		{"nstat", "--bogus"}, {"nstat", "extra"},
		{"soak", "--bogus"}, {"soak", "--seeds", "0"},
		{"conform", "--bogus"}, {"conform"}, {"conform", "--backend", "bsd", "x.pkt"},
	} {
		var out, errb bytes.Buffer
		code := runContext(context.Background(), args, &out, &errb)
		first, rest, _ := strings.Cut(errb.String(), "\n")
		if code != 2 || out.Len() != 0 || !strings.HasPrefix(first, "tcpwave "+args[0]+": ") || !strings.HasPrefix(rest, "usage: tcpwave "+args[0]) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2, a one-line error and the usage on stderr", args, code, out.String(), errb.String())
		}
	}
}
