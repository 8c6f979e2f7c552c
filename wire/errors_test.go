package wire

import (
	"errors"
	"testing"
)

func TestParseErrorMessageAndUnwrap(t *testing.T) {
	tests := []struct {
		err  *ParseError
		want string
	}{
		{&ParseError{Layer: "tcp", Reason: ErrTruncated, Offset: 3}, "wire: tcp: truncated at offset 3"},
		{&ParseError{Layer: "tcp option", Reason: ErrBadOption, Offset: 22}, "wire: tcp option: bad TCP option at offset 22"},
		{&ParseError{Layer: "ipv4", Reason: ErrFragment, Offset: 6}, "wire: ipv4: IP fragment at offset 6"},
		{&ParseError{Layer: "ipv6"}, "wire: ipv6: unknown error at offset 0"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
		if tt.err.Reason != nil && !errors.Is(tt.err, tt.err.Reason) {
			t.Errorf("errors.Is(%v, %v) = false", tt.err, tt.err.Reason)
		}
	}
	var err error = &ParseError{Layer: "tcp", Reason: ErrBadChecksum, Offset: 36}
	if errors.Is(err, ErrTruncated) {
		t.Error("bad-checksum error matches ErrTruncated")
	}
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Offset != 36 {
		t.Errorf("errors.As failed: %v", pe)
	}
}

func TestSentinelsDistinct(t *testing.T) {
	all := []error{ErrTruncated, ErrBadLength, ErrBadVersion, ErrBadChecksum, ErrBadOption, ErrBadIPOption,
		ErrNotTCP, ErrFragment, ErrBadAddress, ErrBufferTooSmall, ErrOptionsTooLong, ErrPacketTooLong}
	for i, a := range all {
		for j, b := range all {
			if (i == j) != errors.Is(a, b) {
				t.Errorf("errors.Is(%v, %v) = %v", a, b, errors.Is(a, b))
			}
		}
	}
}
