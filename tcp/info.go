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

	// The fields below are ss -ti's others.
	CongestionControl string // "cubic" or "reno"
	SndWScale         int    // the peer's window scale, -1 without window scaling
	RcvWScale         int    // ours, -1 without
	RcvMSS            int    // the largest segment received, as Linux estimates it (rcvmss)
	RcvWnd            int    // the window we last offered, bytes
	BytesAcked        int64  // payload bytes the peer has acknowledged (bytes_acked)
	BytesReceived     int64  // payload bytes received in order (bytes_received)
}

// Info returns a snapshot of the connection's transmission state. SRTT,
// RTTVar and RTO are in nanoseconds.
func (c *Conn) Info() Info {
	i := Info{
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

		CongestionControl: c.cfg.CongestionControl,
		SndWScale:         -1,
		RcvWScale:         -1,
		RcvMSS:            c.rcvMSS(),
		RcvWnd:            int(max(int32(c.rcvAdv.Sub(c.rcvNxt)), 0)),
		BytesAcked:        max(int64(c.sndUna.Sub(c.iss))-1, 0),
		BytesReceived:     max(int64(c.rcvNxt.Sub(c.irs))-1, 0),
	}
	if c.flags.has(wsOK) {
		i.SndWScale, i.RcvWScale = int(c.sndWScale), int(c.rcvWScale)
	}
	return i
}
