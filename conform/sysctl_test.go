package conform

import (
	"strings"
	"testing"
)

// TestTCPWaveSysctlValues sends the tcpwave backend's sysctl emulation
// the values a script controls: three-value sysctls with too few, too
// many, garbage, zero and out-of-order values, the port range, and
// numbers that are not numbers. An accepted line must set what it says;
// a refused one must leave the options as they were.
func TestTCPWaveSysctlValues(t *testing.T) {
	tests := []struct {
		cmd  string
		err  string // a part of the error, "" when accepted
		rmem int    // tcp_rmem[1] afterwards when accepted, 0 to skip
		wmem int    // tcp_wmem[1] afterwards when accepted, 0 to skip
	}{
		{`sysctl -q net.ipv4.tcp_rmem="4096 65536 6291456"`, "", 65536, 0},
		{`sysctl -w net.ipv4.tcp_wmem="4096 16384 4194304"`, "", 0, 16384},
		{`sysctl -w net.ipv4.tcp_wmem="1 1 1"`, "out of range", 0, 0},
		{`sysctl net.ipv4.tcp_rmem="4096 65536"`, "MIN DEFAULT MAX", 0, 0},
		{`sysctl net.ipv4.tcp_rmem="4096 65536 6291456 7"`, "MIN DEFAULT MAX", 0, 0},
		{`sysctl net.ipv4.tcp_rmem=""`, "MIN DEFAULT MAX", 0, 0},
		{`sysctl net.ipv4.tcp_rmem=4096`, "MIN DEFAULT MAX", 0, 0},
		{`sysctl net.ipv4.tcp_wmem="4096 lots 6291456"`, "not a size", 0, 0},
		{`sysctl net.ipv4.tcp_wmem="0 16384 6291456"`, "not a size", 0, 0},
		{`sysctl net.ipv4.tcp_wmem="-1 16384 6291456"`, "not a size", 0, 0},
		{`sysctl net.ipv4.tcp_wmem="4096 16384 2147483648"`, "not a size", 0, 0},
		{`sysctl net.ipv4.tcp_rmem="4096 65536 1024"`, "MIN <= DEFAULT <= MAX", 0, 0},
		{`sysctl net.ipv4.ip_local_port_range="40000 50000"`, "", 0, 0},
		{`sysctl net.ipv4.ip_local_port_range="40000"`, "LOW HIGH", 0, 0},
		{`sysctl net.ipv4.ip_local_port_range="40000 70000"`, "not two port numbers", 0, 0},
		{`sysctl net.ipv4.tcp_fin_timeout=x`, "not a number", 0, 0},
		{`sysctl net.ipv4.tcp_fin_timeout=`, "not a number", 0, 0},
		{`sysctl net.ipv4.tcp_no_such=1`, "no option for it", 0, 0},
		{`sysctl net.ipv4.tcp_sack`, "NAME=VALUE", 0, 0},
		{`sysctl net.ipv4.tcp_rmem="4096 65536 6291456`, "unterminated quote", 0, 0},
		{`sysctl net.ipv4.tcp_rmem="`, "unterminated quote", 0, 0},
		{`sysctl -q`, "without NAME=VALUE", 0, 0},
		{`sysctl net.ipv4.tcp_sack=0 && sysctl net.ipv4.tcp_rmem="1 2"`, "MIN DEFAULT MAX", 0, 0},
	}
	s, err := Parse("t.pkt", "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.cmd, func(t *testing.T) {
			be, err := TCPWave(s)
			if err != nil {
				t.Fatal(err)
			}
			b := be.(*twBackend)
			before := b.opts.TCP
			err = b.Shell(tc.cmd)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.err != "" && err == nil:
				t.Fatalf("accepted, want an error with %q", tc.err)
			case tc.err != "" && !strings.Contains(err.Error(), tc.err):
				t.Fatalf("error %q, want one with %q", err, tc.err)
			}
			if tc.err != "" && !strings.Contains(tc.cmd, "&&") && b.opts.TCP != before {
				t.Errorf("a refused sysctl changed the options: %+v, was %+v", b.opts.TCP, before)
			}
			if tc.rmem != 0 && b.memDefault(0) != tc.rmem {
				t.Errorf("tcp_rmem[1] = %d, want %d", b.memDefault(0), tc.rmem)
			}
			if tc.wmem != 0 && (b.memDefault(1) != tc.wmem || b.opts.TCP.SndBuf != tc.wmem) {
				t.Errorf("tcp_wmem[1] = %d (SndBuf %d), want %d", b.memDefault(1), b.opts.TCP.SndBuf, tc.wmem)
			}
		})
	}
}

// TestTCPWaveSSArgs sends the emulated ss the arguments a script
// controls: missing, unknown and garbage flags, states and filters, and
// a negated or piped command (on an empty table, before the stack runs).
func TestTCPWaveSSArgs(t *testing.T) {
	tests := []struct {
		cmd string
		err string // a part of the error, "" when accepted
	}{
		{"ss -tan", ""},
		{"ss -t -a -n -H -o", ""},
		{"ss -tan state established sport = :8080 dport == :48000", ""},
		{"ss -tan dport = :0", ""},
		{"! ss -tan | grep -q ESTAB", ""},
		{"ss -tan | grep -q ESTAB", "shell command failed"},
		{"! ss -tan", "shell command failed"},
		{"ss", "only ss -t"},
		{"ss -an", "only ss -t"},
		{"ss -tx", "flag -x"},
		{"ss -t-", "flag --"},
		{"ss -tan --tcp", "argument \"--tcp\""},
		{"ss -tan state", "argument \"state\""},
		{"ss -tan state bogus", "state \"bogus\""},
		{"ss -tan sport", "ss filter"},
		{"ss -tan sport = 8080", "ss filter"},
		{"ss -tan dport = :65536", "ss filter"},
		{"ss -tan dport = :-1", "ss filter"},
		{"ss -tan src 1.2.3.4", "argument \"src\""},
		{"!", "unsupported shell command"},
		{"ss -tan &&", "empty command"},
	}
	s, err := Parse("t.pkt", "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.cmd, func(t *testing.T) {
			be, err := TCPWave(s)
			if err != nil {
				t.Fatal(err)
			}
			err = be.Shell(tc.cmd)
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
