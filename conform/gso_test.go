package conform

import (
	"strings"
	"testing"
)

// TestMSSFitsMTU checks that a --mss whose segments would not fit the
// link after a super-packet's headers is refused at parse time, in every
// family the script runs in, and that any size that fits is taken.
func TestMSSFitsMTU(t *testing.T) {
	const open = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
	super := open + "+0 < . 1:3001(3000) ack 1 win 1000\n"
	superTS := open + "+0 < . 1:3001(3000) ack 1 win 1000 <nop,nop,TS val 1 ecr 0>\n"
	small := open + "+0 < . 1:1001(1000) ack 1 win 1000\n"
	tests := []struct {
		name, text string
		err        string // a part of the error, "" when accepted
	}{
		{"mss 8", "--mss=8\n" + super, ""},
		{"mss fills the MTU", "--mss=1460\n" + super, ""},
		{"mss larger than the payload", "--mss=3000\n" + super, "do not fit"},
		{"mss one past the MTU", "--mss=1461\n" + super, "do not fit"},
		{"mss max", "--mss=65535\n" + super, "do not fit"},
		{"TS option counts", "--mss=1460\n" + superTS, "after 52 of headers"},
		{"TS option fits", "--mss=1448\n" + superTS, ""},
		{"IPv6 headers on a 1500 MTU", "--mtu=1500\n--mss=1460\n" + super, "ipv6 link"},
		{"IPv6 default MTU", "--ip_version=ipv6\n--mss=1460\n" + super, ""},
		{"no super-packet", "--mss=65535\n" + small, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.pkt", tc.text)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.err != "" && err == nil:
				t.Fatalf("accepted, want an error with %q", tc.err)
			case tc.err != "" && !strings.Contains(err.Error(), tc.err):
				t.Fatalf("error %q, want one with %q", err, tc.err)
			}
		})
	}
}
