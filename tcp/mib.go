package tcp

// Counts are the events of one connection that Linux counts in its TCP MIB
// (the counters nstat shows), each incremented where Linux increments it.
// The driver collects them with TakeCounts and adds them to its host's
// counters; they are plain integers in the Conn, so counting allocates
// nothing.
type Counts struct {
	// RetransSegs counts segments sent again: data, FIN, SYN and SYN-ACK
	// (TCP_MIB_RETRANSSEGS, tcp_retransmit_skb and tcp_rtx_synack).
	RetransSegs uint32
	// AttemptFails counts opens that failed on the network's account: a
	// RST in SYN_SENT or SYN_RCVD, a SYN in a passive SYN_RCVD, SYN retries
	// exhausted (TCP_MIB_ATTEMPTFAILS, tcp_done and tcp_check_req). A
	// close() in SYN_SENT and a half-open connection whose SYN-ACK retries
	// run out are not counted: Linux closes the first with tcp_set_state
	// and drops the second with its request socket.
	AttemptFails uint32
	// InErrs counts SYNs that reach an ESTABLISHED connection (Linux
	// tcp_validate_incoming with syn_inerr, called by tcp_rcv_established).
	InErrs uint32
	// ChallengeACK counts challenge ACKs sent, after the per-connection
	// rate limit (LINUX_MIB_TCPCHALLENGEACK, tcp_send_challenge_ack).
	ChallengeACK uint32
	// AbortOnData counts connections reset because data arrived after the
	// user closed the read side (LINUX_MIB_TCPABORTONDATA,
	// tcp_rcv_state_process in FIN_WAIT_1 and FIN_WAIT_2).
	AbortOnData uint32
	// AbortOnTimeout counts connections dropped when their retransmission
	// or zero-window probe limit ran out (LINUX_MIB_TCPABORTONTIMEOUT,
	// tcp_write_err); not half-open passive connections, which Linux keeps
	// as request sockets.
	AbortOnTimeout uint32
	// PAWSEstab counts segments dropped by PAWS as old duplicates in a
	// synchronized state (LINUX_MIB_PAWSESTABREJECTED).
	PAWSEstab uint32
	// SACKRecovery and RenoRecovery count fast recoveries entered with
	// and without SACK (LINUX_MIB_TCPSACKRECOVERY, TCPRENORECOVERY).
	SACKRecovery, RenoRecovery uint32
	// DSACKRecv counts D-SACK blocks received (LINUX_MIB_TCPDSACKRECV).
	DSACKRecv uint32
	// DSACKOldSent and DSACKOfoSent count D-SACK blocks queued for
	// duplicates below RCV.NXT and of out-of-order data
	// (LINUX_MIB_TCPDSACKOLDSENT, TCPDSACKOFOSENT).
	DSACKOldSent, DSACKOfoSent uint32
	// Timeouts counts retransmission-timer expirations, the last one that
	// gives up included (LINUX_MIB_TCPTIMEOUTS).
	Timeouts uint32
	// LossProbes counts tail loss probes sent; LossProbeRecovery those
	// that repaired a loss (LINUX_MIB_TCPLOSSPROBES,
	// TCPLOSSPROBERECOVERY).
	LossProbes, LossProbeRecovery uint32
	// LostRetransmit counts segments deemed lost, sent again and deemed
	// lost again, by RACK or at an RTO (LINUX_MIB_TCPLOSTRETRANSMIT,
	// tcp_mark_skb_lost from tcp_rack_detect_loss and
	// tcp_timeout_mark_lost).
	LostRetransmit uint32
	// SACKRecoveryFail counts SACK recoveries that ended in an RTO: the
	// first expiry while in fast recovery (LINUX_MIB_TCPSACKRECOVERYFAIL,
	// tcp_retransmit_timer).
	SACKRecoveryFail uint32
	// KeepAlive counts keepalive probes sent (LINUX_MIB_TCPKEEPALIVE,
	// tcp_write_wakeup from tcp_keepalive_timer).
	KeepAlive uint32
	// AbortOnLinger counts close() in FIN_WAIT_2 with TCP_LINGER2 < 0,
	// which resets the connection (LINUX_MIB_TCPABORTONLINGER, tcp_close).
	AbortOnLinger uint32
}

// TakeCounts returns the events counted since the last call and zeroes
// them.
func (c *Conn) TakeCounts() Counts {
	k := c.counts
	c.counts = Counts{}
	return k
}
