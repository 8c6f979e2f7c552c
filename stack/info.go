package stack

import (
	"net/netip"
	"time"

	"github.com/tcpwave/tcpwave/tcp"
)

// ConnInfo is one row of the connection table, the data `ss -tan -o` shows.
type ConnInfo struct {
	State      tcp.State
	RecvQ      int // listeners: accept-queue length; connections: unread bytes
	SendQ      int // listeners: backlog; connections: unacknowledged plus unsent bytes
	Local      netip.AddrPort
	Peer       netip.AddrPort // zero for listeners
	Timer      string         // "", "on", "keepalive", "timewait", "persist", "delack"
	TimerLeft  time.Duration  // time until the timer fires
	Retransmit int            // retransmissions of the current segment (ss's third timer field)
	// TCP is the connection's transmission state (ss -ti: rtt, rto,
	// cwnd, ssthresh, ...); zero for listeners and TIME_WAIT records.
	TCP tcp.Info
}
