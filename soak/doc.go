// Package soak runs many TCP connections through their whole lifecycle on
// the deterministic simulated network, under random faults, and checks
// invariants that must hold whatever the network did.
//
// One run is one seed. The seed draws the hosts (2 to 4, IPv4 or IPv6,
// each with its own buffers, MTU, options, listen backlog, accept delay
// and sometimes an ephemeral port range so narrow that 4-tuples are
// reused), the links' faults (loss, duplication, reordering, corruption,
// jitter, bandwidth), partitions (a period in which a link drops
// everything), peer crashes (a host's stack is replaced by a fresh one at
// the same address: its peers see RSTs or time out) and the applications:
// each client connects to the server of another host and both sides move
// random amounts of data with random write and read sizes and pauses,
// then end the connection one of several ways — both half-close, one side
// closes first, both close at the same instant, one side aborts
// (SO_LINGER 0, perhaps while still connecting) or closes early with
// unread data. The run has two phases: faults for Config.FaultPhase, then
// a healed network on which everything must converge.
//
// The invariants, checked as the run goes and at its end (Run reports the
// first one broken):
//
//   - integrity: every byte an application reads is the next byte its peer
//     wrote (no corruption, reordering or duplication, nothing unwritten);
//   - eof: EOF comes only after the peer shut its write side, and only
//     once every byte it wrote has been read;
//   - completeness: a reader either gets all its peer wrote or is told of
//     an error (ECONNRESET, ETIMEDOUT, EPIPE, ...), unless it chose to stop
//     itself or its peer went away (crashed, aborted, timed out);
//   - errors: only those errors, and a reset or refusal needs a cause (an
//     abort, a crash, a timeout, a closed listener): a connection nobody
//     disturbed ends cleanly;
//   - liveness: once the network has healed, a connection whose two ends
//     are alive never stalls for Config.Patience;
//   - closed: after the last timer every connection is CLOSED (TIME_WAIT
//     expired), every stack is Idle with no deadline, and the counters
//     conserve (ActiveOpens matches the connects the applications made,
//     PassiveOpens the connections they accepted, the abort counters the
//     aborts they made; every segment sent reached the wire);
//   - bound: the run converges within Config.Limit of virtual time and
//     Config.MaxSteps simulator steps, without a panic.
//
// SYN cookies (tcp_syncookies 1, on some hosts; their small backlogs
// overflow) have hazards that Linux shares, because the cookie check
// (cookie_v4_check) cannot see which ACK it is given: a late or
// duplicated ACK of a connection that is over can make a new connection
// no client opened (a ghost), a segment at stream offset 1 to 3 can make
// one with the wrong initial sequence number, and a segment that overtakes
// the handshake's ACK fails the check and draws a RST. The server closes
// ghosts; a ghost's FIN may reach the client of the real connection as
// an EOF. Connections made while their server sent cookies are exempt
// from the "errors" invariant, and the streams of a 4-tuple with a ghost
// from the EOF checks; Result.Ghosts counts them.
//
// The same seed and Config give the same run, event for event: with
// Config.Trace set, the same trace byte for byte.
package soak
