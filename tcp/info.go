package tcp

// Info is a snapshot of a connection's transmission state, the fields of
// Linux's tcp_info that matter here (ss -ti).
type Info struct {
	State       State
	Cwnd        int // congestion window, bytes
	Ssthresh    int // slow-start threshold, bytes (1 GiB until the first loss)
	InFlight    int // bytes the network is taken to hold (RFC 6675 pipe)
	Outstanding int // bytes sent and not yet cumulatively ACKed: SND.MAX - SND.UNA
	SRTT        int64
	RTTVar      int64
	RTO         int64 // retransmission timeout, ns
	MSS         int
	SndWnd      int  // the peer's window, bytes
	Sacked      int  // bytes the peer SACKed above SND.UNA
	InRecovery  bool // fast recovery (NewReno or SACK) in progress
	Retransmits int  // every retransmitted segment so far
}

// Info returns a snapshot of the connection's transmission state. SRTT,
// RTTVar and RTO are in nanoseconds.
func (c *Conn) Info() Info {
	return Info{
		State:       c.state,
		Cwnd:        int(c.cc.cwnd),
		Ssthresh:    int(c.cc.ssthresh),
		InFlight:    c.inFlight(),
		Outstanding: int(c.sndMax.Sub(c.sndUna)),
		SRTT:        int64(c.rto.srtt),
		RTTVar:      int64(c.rto.rttvar),
		RTO:         int64(c.rto.timeout),
		MSS:         c.mss,
		SndWnd:      int(c.sndWnd),
		Sacked:      c.sackedIn(c.sndUna, c.sndMax),
		InRecovery:  c.flags.has(inRecovery),
		Retransmits: int(c.rto.total),
	}
}
