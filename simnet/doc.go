// Package simnet is a virtual network of tcpwave hosts for Go tests: code
// that takes a net.Conn, a net.Listener or a dial function (net/http,
// gRPC, a proxy of your own) runs over real TCP, tcpwave's, between
// hosts joined by links with delay, jitter, rate, loss, duplication,
// reordering and corruption, and with targeted faults: drop the next FIN
// from the server, partition two hosts for a while, crash a host.
//
//	func TestClientSurvivesLostFIN(t *testing.T) {
//		synctest.Test(t, func(t *testing.T) {
//			n := simnet.New(simnet.Options{Seed: 1, Link: simnet.Link{Delay: 10 * time.Millisecond}})
//			defer n.Close()
//			client, server := n.Host("10.0.0.1"), n.Host("10.0.0.2")
//			ln, _ := server.Listen("tcp", ":80")
//			go http.Serve(ln, handler)
//			n.Drop(simnet.Rule{From: server, Match: simnet.FIN, Count: 1})
//			hc := &http.Client{Transport: &http.Transport{DialContext: client.DialContext}}
//			...
//		})
//	}
//
// # Time
//
// Each host is a tcpwave.Stack, the same driver the package tcpwave API
// uses, with the clock of package time. Inside a testing/synctest bubble
// that clock is virtual: a 60 s TIME_WAIT or a two-hour keepalive costs
// no wall time, and time moves only when every goroutine of the bubble
// waits. Outside a bubble the network runs on wall time (so delays are
// real), which works but is neither fast nor repeatable.
//
// # Determinism
//
// A run is repeatable packet for packet in a bubble with the same Seed.
// ISNs and timestamp offsets come from the seed. Each packet's random
// draws (loss, jitter, ...) are a function of the seed, its link, its
// bytes and the instant it was sent, not of the order in which goroutines
// that send at one virtual instant happened to run; and packets due at
// one instant arrive one a nanosecond apart in an order of their own (by
// destination, source and bytes), so each is handled, and what it wakes
// has run, before the next arrives. TestBugsRepeat runs each worked
// example 100 times and finds the same packets at the same instants. What
// can still vary: a rate-limited link's queue when a host sends on it
// from two goroutines at one instant, and what the test's own goroutines
// compute from the order they run in.
//
// # What does not run in a bubble
//
// Real I/O: a test in a bubble must not use real sockets, files it waits
// on, or the network; a host's link is simnet's own and never blocks on
// I/O. Goroutines a test starts must end before the bubble does: call
// Network.Close (it closes every host) and stop servers you start.
package simnet
