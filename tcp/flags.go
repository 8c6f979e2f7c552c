package tcp

// connFlags is a connection's yes/no state, one bit per fact: a word
// instead of thirty bools keeps the control block small (TestConnSize).
// The bits are grouped below by the concern that owns them.
type connFlags uint32

// has reports whether any bit of b is set.
func (f connFlags) has(b connFlags) bool { return f&b != 0 }

// set sets the bits of b.
func (f *connFlags) set(b connFlags) { *f |= b }

// clear clears the bits of b.
func (f *connFlags) clear(b connFlags) { *f &^= b }

// put sets the bits of b if on, else clears them.
func (f *connFlags) put(b connFlags, on bool) {
	if on {
		*f |= b
	} else {
		*f &^= b
	}
}

const (
	// Opening: what the handshake settled.

	passive connFlags = 1 << iota // opened by a listener
	wsOK                          // window scaling agreed (RFC 7323 §2)
	tsOK                          // timestamps agreed (RFC 7323 §3)
	sackOK                        // SACK permitted by both sides (RFC 2018)
	rackOK                        // RACK runs (rack.go): SACK agreed with Config.RACK set at the handshake

	// The user's side: shutdown, close and options.

	finQ       // our FIN is queued (shutdown of the write side); finSeq is set
	rdShut     // no more reads (close or SHUT_RD)
	wrShut     // no more writes by the user
	orphan     // the user has closed the connection
	noDelay    // TCP_NODELAY set on this connection
	sndLimited // a Write found the send buffer full (Linux's SOCK_NOSPACE; newSpace)

	// The peer's FIN.

	finRcvd // peer's FIN consumed (rcvNxt is past it)
	oooFin  // a FIN arrived beyond a hole, at oooFinSeq

	// ACKs we send (delayed ACK, owed ACKs, D-SACK, rate limits).

	ackNow   // an ACK is due at the next Poll
	ackDueOn // ack.due holds the RCV.NXT of the pending immediate ACK (ackDueNow)
	pingpong // interactive mode: ACKs wait to ride on our data (Linux pingpong)
	dsackOn  // dsack holds a block to send (RFC 2883)
	chalSent // a challenge ACK went at limit.chalMs (RFC 5961 §7)
	oowSent  // an out-of-window ACK went at limit.oowMs

	// A RST waiting to be sent.

	rstPending // the next Poll sends the RST in rst
	rstActive  // the pending RST is tcp_send_active_reset's: it carries rst.wnd and the options

	// RTT sampling (RFC 6298) without timestamps.

	rttTiming // a segment is being timed: rto.rttSeq, rto.rttStart

	// Loss recovery (RFC 5681, 6582, 6675) and the retransmission timer.

	inRecovery // fast recovery is under way
	sackRec    // the recovery is SACK-based (RFC 6675), not NewReno
	rtoHold    // an RTO recovery runs until SND.UNA reaches cc.recover
	fastRexmit // retransmit the segment at sndUna now

	// Tail loss probe (RFC 8985 §7).

	tlpNow    // send a loss probe now
	tlpOn     // a loss probe is out: tlp.high is set
	tlpRexmit // the probe retransmitted old data (rather than sending new)

	// Persist timer (RFC 9293 §3.8.6.1).

	probeNow    // send a zero-window probe now
	swsOverride // the persist timer lets a window-limited piece go (RFC 9293 §3.8.6.2.1)
)
