// Package netns runs test code inside network namespaces of its own, so
// that a test can put a TUN device and kernel sockets in a network that
// nothing else on the machine sees.
//
// A namespace is made with "ip netns add" and named
// "tcpwave-<pid>-<n>[-label]"; New brings its loopback up. Run calls a
// function on an OS thread that has entered the namespace, so that the
// sockets and TUN devices it creates belong there (they stay there after
// Run returns, and may then be used from any goroutine). Exec runs a
// command inside with "ip netns exec", and SS lists the namespace's TCP
// sockets as "ss -tan -o" does. Close deletes the namespace.
//
// Require skips a test when the machine cannot do this (not root, no
// /dev/net/tun, no ip command), and fails it instead when CI=true.
//
// The package is Linux-only and needs root (CAP_SYS_ADMIN and
// CAP_NET_ADMIN). Tests use only the addresses in this package (or others
// inside namespaces they created), never the host's network.
package netns
