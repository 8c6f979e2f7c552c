// Package interop joins tcpwave to gVisor's netstack in one process, so
// that each stack can be tested against an independent TCP
// implementation and benchmarked beside it.
//
// A [Wire] is an in-memory cable (package link/pipe underneath) whose two
// [Port] values are link.Endpoints: a tcpwave Stack uses its port
// directly; a gVisor stack reaches its port through a channel link
// endpoint and a small adapter ([NewGVisor]). Every packet is copied into
// a buffer of its own on the way, as a real link would, and both stacks
// compute and verify every checksum themselves (no offload is
// configured). A Port can hold its outgoing packets, to stop a
// connection in a transient state long enough to look at it, and can
// corrupt one, to prove that checksums are checked.
//
// [Host] and [Conn] give both stacks one face (net.Conn plus CloseWrite,
// CloseRead, SetLinger and the TCP state as each stack itself reports
// it), so that tests and benchmarks run the same code against either.
//
// This is a separate Go module so that importing tcpwave never pulls in
// gVisor. gVisor is a test peer and a benchmark rival here, never a
// source of code for tcpwave.
package interop
