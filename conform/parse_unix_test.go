//go:build unix

package conform

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ParseFile reads regular files only, and a bounded amount of them: a
// device that never ends or a FIFO nobody writes to is refused at once.
func TestParseFileRefuses(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.pkt")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.pkt")
	if err := os.WriteFile(big, []byte(strings.Repeat("// x\n", maxScriptLen/5+1)), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, msg string
	}{
		{"endless device", "/dev/zero", "not a regular file"},
		{"FIFO without a writer", fifo, "not a regular file"},
		{"directory", dir, "not a regular file"},
		{"too long", big, "more than the"},
		{"missing", filepath.Join(dir, "nope.pkt"), "no such file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() {
				_, err := ParseFile(tc.path)
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), tc.msg) {
					t.Errorf("ParseFile(%s) = %v, want an error saying %q", tc.path, err, tc.msg)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("ParseFile(%s) still reading after 5 s", tc.path)
			}
		})
	}
}
