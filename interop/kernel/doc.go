// Package kernel runs tcpwave against the Linux kernel's TCP, a real
// peer on a real wire. It holds tests only.
//
// Each test makes a network namespace with a TUN device "tw0" in it; the
// kernel owns 10.9.0.1/24 and fd00:9::1/64 on the device, and a
// tcpwave.Stack owns 10.9.0.2 and fd00:9::2 and reads and writes the
// device (directly, or through a link/faulty that loses, delays,
// reorders or drops chosen packets). Kernel sockets, made inside the
// namespace with package net, talk to the stack both ways: tcpwave
// dialing a kernel listener, and the kernel dialing a tcpwave listener.
// The kernel's side is read with "ss -tan -o" inside the namespace, and
// tcpwave's with Stack.Connections and an observer of its state changes
// and control segments.
//
//   - TestBulk: 64 MiB each way at once, over IPv4 and IPv6, checked by
//     SHA-256, then a clean close.
//   - TestCloseOrderly, TestCloseSimultaneous(Direct), TestHalfClose,
//     TestCloseReset, TestCloseThenData: every way a connection ends,
//     with both sides' states checked against SCENARIOS.md.
//   - TestLossyTransfer: the transfer again with loss 5%, delay 5 ms and
//     reordering 10%, from netem when the kernel has it, from link/faulty
//     otherwise.
//   - TestSlowReader, TestWindowCreepPipe: a receiver whose window fills
//     and closes.
//
// The tests need root, /dev/net/tun and iproute2 (ip, ss, tc); without
// them they skip, and with CI=true they fail (netns.Require). The package
// lives in the interop module:
//
//	cd interop && go test -race ./kernel/...
package kernel
