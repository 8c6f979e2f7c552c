package main

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/tcpwave/tcpwave/interop"
)

// readerConn is an interop.Conn whose Read is r's; xferRead calls nothing
// else.
type readerConn struct {
	interop.Conn
	r io.Reader
}

func (c readerConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// xferRead checks every byte against xferPattern at its offset in the
// stream, across the pattern's wrap and reads of any size, and reports
// the first difference, or the connection's error, with how far it got.
func TestXferRead(t *testing.T) {
	stream := func(n int) []byte {
		b := make([]byte, 0, n)
		for len(b) < n {
			b = append(b, xferPattern[:min(len(xferPattern), n-len(b))]...)
		}
		return b
	}
	errBroken := errors.New("broken")
	n := 2*len(xferPattern) + 5
	flipped := func(at int) []byte {
		b := stream(n)
		b[at] ^= 1
		return b
	}
	tests := []struct {
		name    string
		r       io.Reader
		want    int64 // bytes counted; with an error, at most this many
		wantErr error
	}{
		{"empty", bytes.NewReader(nil), 0, nil},
		{"across the pattern's wrap", bytes.NewReader(stream(n)), int64(n), nil},
		{"one-byte reads", io.LimitReader(oneByte{bytes.NewReader(stream(3000))}, 3000), 3000, nil},
		{"first byte wrong", bytes.NewReader(flipped(0)), 0, errCorrupt},
		{"wrong after the wrap", bytes.NewReader(flipped(len(xferPattern) + 3)), int64(len(xferPattern) + 3), errCorrupt},
		{"last byte wrong", bytes.NewReader(flipped(n - 1)), int64(n - 1), errCorrupt},
		{"connection error", io.MultiReader(bytes.NewReader(stream(100)), errReader{errBroken}), 100, errBroken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := xferRead(readerConn{r: tc.r})
			switch {
			case !errors.Is(err, tc.wantErr) || (err != nil) != (tc.wantErr != nil):
				t.Fatalf("xferRead: %d bytes, %v; want error %v", got, err, tc.wantErr)
			case tc.wantErr == nil && got != tc.want:
				t.Errorf("xferRead: %d bytes, want %d", got, tc.want)
			case tc.wantErr != nil && got > tc.want:
				t.Errorf("xferRead: %d bytes before %v, want at most %d", got, err, tc.want)
			}
		})
	}
}

// oneByte reads one byte at a time.
type oneByte struct{ r io.Reader }

func (o oneByte) Read(b []byte) (int, error) { return o.r.Read(b[:min(1, len(b))]) }

// errReader fails every read with err.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
