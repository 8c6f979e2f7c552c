package main

import (
	"errors"
	"io"
	"strings"
	"syscall"
	"testing"
)

// TestWriteFileWithFull: writing to a full device (/dev/full) gives one
// error on one line, whether the write itself or only the final flush
// fails.
func TestWriteFileWithFull(t *testing.T) {
	for _, n := range []int{1, 100_000} { // 1 byte: only the flush fails; 100,000: the write too
		err := writeFileWith("/dev/full", func(w io.Writer) error {
			_, err := w.Write(make([]byte, n))
			return err
		})
		if !errors.Is(err, syscall.ENOSPC) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%d bytes to /dev/full: %q, want one line of ENOSPC", n, err)
		}
	}
}
