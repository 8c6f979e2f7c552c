package conform

import "testing"

// TestTCPWaveSockoptValues: the tcpwave backend answers the values a script
// may give the TCP socket options at their edges: 0 and negative keepalive
// settings and a negative user timeout are refused with EINVAL, and
// TCP_LINGER2's 0, -1 and a huge value are taken (a huge one as the 120 s
// maximum), as Linux does (conformance/sockopt-edges.pkt); values no C int
// holds, which packetdrill would truncate, are refused with EINVAL.
func TestTCPWaveSockoptValues(t *testing.T) {
	const open = `--tolerance_usecs=20000
0    socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0   bind(3, ..., ...) = 0
+0   listen(3, 1) = 0
+0   < S 0:0(0) win 65535 <mss 1460,sackOK,nop,nop,nop,wscale 7>
+0   > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK,nop,wscale 7>
+.01 < . 1:1(0) ack 1 win 502
+0   accept(3, ..., ...) = 4
`
	tests := []struct{ name, calls string }{
		{"keepalive settings at 0, negative and past a C int", `+0 setsockopt(4, SOL_TCP, TCP_KEEPIDLE, [0], 4) = -1 EINVAL (Invalid argument)
+0 setsockopt(4, SOL_TCP, TCP_KEEPINTVL, [-1], 4) = -1 EINVAL (Invalid argument)
+0 setsockopt(4, SOL_TCP, TCP_KEEPCNT, [128], 4) = -1 EINVAL (Invalid argument)
+0 setsockopt(4, SOL_TCP, TCP_KEEPIDLE, [9999999999], 4) = -1 EINVAL (Invalid argument)
+0 setsockopt(4, SOL_TCP, TCP_KEEPIDLE, [1], 4) = 0
+0 getsockopt(4, SOL_TCP, TCP_KEEPIDLE, [1], [4]) = 0
`},
		{"user timeout negative, past a C int, 0", `+0 setsockopt(4, SOL_TCP, TCP_USER_TIMEOUT, [-1], 4) = -1 EINVAL (Invalid argument)
+0 setsockopt(4, SOL_TCP, TCP_USER_TIMEOUT, [9999999999], 4) = -1 EINVAL (Invalid argument)
+0 setsockopt(4, SOL_TCP, TCP_USER_TIMEOUT, [0], 4) = 0
+0 getsockopt(4, SOL_TCP, TCP_USER_TIMEOUT, [0], [4]) = 0
`},
		{"linger2 huge, -1, 0", `+0 setsockopt(4, SOL_TCP, TCP_LINGER2, [1000000], 4) = 0
+0 getsockopt(4, SOL_TCP, TCP_LINGER2, [120], [4]) = 0
+0 setsockopt(4, SOL_TCP, TCP_LINGER2, [-1], 4) = 0
+0 getsockopt(4, SOL_TCP, TCP_LINGER2, [-1], [4]) = 0
+0 setsockopt(4, SOL_TCP, TCP_LINGER2, [0], 4) = 0
+0 getsockopt(4, SOL_TCP, TCP_LINGER2, [60], [4]) = 0
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse("sockopt.pkt", open+tt.calls)
			if err != nil {
				t.Fatal(err)
			}
			if res := Run(s, "tcpwave", TCPWave, nil); !res.Pass {
				t.Errorf("%s", res.Error)
			}
		})
	}
}

// TestTCPWaveFcntl: the tcpwave backend's fcntl plays Linux's: F_GETFL
// says O_RDWR, with O_NONBLOCK once F_SETFL set it and without once
// F_SETFL cleared it, and a command Linux does not know is refused with
// EINVAL.
func TestTCPWaveFcntl(t *testing.T) {
	const open = `0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 fcntl(3, F_GETFL) = O_RDWR
`
	tests := []struct{ name, calls string }{
		{"set and clear O_NONBLOCK", `+0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0
+0 fcntl(3, F_GETFL) = O_RDWR|O_NONBLOCK
+0 fcntl(3, F_SETFL, O_RDWR) = 0
+0 fcntl(3, F_GETFL) = O_RDWR
`},
		{"set as a number, cleared with 0", `+0 fcntl(3, F_SETFL, 2048) = 0
+0 fcntl(3, F_GETFL) = O_RDWR|O_NONBLOCK
+0 fcntl(3, F_SETFL, 0) = 0
+0 fcntl(3, F_GETFL) = O_RDWR
`},
		{"unknown command", `+0 fcntl(3, 9999) = -1 EINVAL (Invalid argument)
+0 fcntl(3, -1, 0) = -1 EINVAL (Invalid argument)
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse("fcntl.pkt", open+tt.calls)
			if err != nil {
				t.Fatal(err)
			}
			if res := Run(s, "tcpwave", TCPWave, nil); !res.Pass {
				t.Errorf("%s", res.Error)
			}
		})
	}
}
