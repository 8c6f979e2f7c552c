//go:build unix

package main

import (
	"context"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// conform stops promptly on a cancelled context, and refuses inputs that
// could be read forever (a FIFO, /dev/zero) or that test nothing.
func TestConformCmdBoundedInput(t *testing.T) {
	dir := writeScripts(t, map[string]string{
		"empty.pkt":    "",
		"comments.pkt": "// nothing but a comment\n--tolerance_usecs=5000\n",
		"a-pass.pkt":   passScript,
	})
	fifo := filepath.Join(dir, "fifo.pkt")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name   string
		ctx    context.Context
		args   []string
		status int
		want   string // in stdout or stderr
	}{
		{"a FIFO", context.Background(), []string{"--backend", "tcpwave", fifo}, 2, "not a regular file"},
		{"a FIFO, cancelled", cancelled, []string{"--backend", "tcpwave", fifo}, 2, "not a regular file"},
		{"/dev/zero", context.Background(), []string{"--backend", "tcpwave", "/dev/zero"}, 2, "not a regular file"},
		{"an empty script", context.Background(), []string{"--backend", "tcpwave", filepath.Join(dir, "empty.pkt")}, 1, "tests nothing"},
		{"a script of comments", context.Background(), []string{"--backend", "tcpwave", filepath.Join(dir, "comments.pkt")}, 1, "tests nothing"},
		{"cancelled", cancelled, []string{"--backend", "tcpwave", filepath.Join(dir, "a-pass.pkt")}, 1, "context canceled"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb syncBuffer
			done := make(chan int, 1)
			go func() { done <- runContext(tc.ctx, append([]string{"conform"}, tc.args...), &out, &errb) }()
			select {
			case status := <-done:
				all := out.String() + errb.String()
				if status != tc.status || !strings.Contains(all, tc.want) {
					t.Errorf("status %d, want %d and %q in:\n%s", status, tc.status, tc.want, all)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("conform still running after 5 s")
			}
		})
	}
}
