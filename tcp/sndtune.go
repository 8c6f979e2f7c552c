package tcp

import (
	"math/bits"

	"github.com/tcpwave/tcpwave/seq"
)

// Send-buffer auto-tuning, as Linux's tcp_sndbuf_expand, tcp_new_space
// and tcp_should_expand_sndbuf (net/ipv4/tcp_input.c) do it.

// sndBufSegs is the fewest segments the send buffer is sized for (Linux's
// TCP_INIT_CWND in tcp_sndbuf_expand).
const sndBufSegs = 10

// The memory Linux reckons per segment in tcp_sndbuf_expand, on x86-64:
// the skb head, a power of two that holds the MSS, the headers
// (MAX_TCP_HEADER) and the skb_shared_info, plus the sk_buff itself.
const (
	skbHeaders = 320 // MAX_TCP_HEADER
	skbShinfo  = 320 // SKB_DATA_ALIGN(sizeof(struct skb_shared_info))
	skbStruct  = 256 // SKB_DATA_ALIGN(sizeof(struct sk_buff))
)

// sndBufPerSeg is Linux's per_mss: for the 1460-byte MSS of a 1500-byte
// MTU, 4352 bytes, so that ten segments make the 87040-byte buffer a new
// Linux connection shows (ss -m: tb87040). The MSS it starts from is the
// negotiated one before the timestamp option's 12 bytes (mss_clamp).
func (c *Conn) sndBufPerSeg() int {
	clamp := c.mss
	if c.flags.has(tsOK) {
		clamp += 12
	}
	return 1<<bits.Len(uint(clamp+skbHeaders+skbShinfo-1)) + skbStruct
}

// expandSndBuf is tcp_sndbuf_expand: the buffer grows to room for twice
// the congestion window, at least sndBufSegs segments, each reckoned at
// sndBufPerSeg, so that a sender keeping the window full has as much
// again queued behind it (Linux's reasoning: CUBIC needs 1.7 times the
// window in fast recovery, rounded up to leave the application time to
// refill). It never shrinks and never passes Config.SndBufMax; with
// SndBufMax not above SndBuf it stays at SndBuf, as a Linux socket with
// SO_SNDBUF set. Linux counts the buffer in memory; here it holds payload
// bytes, about what Linux's holds, since Linux writes large buffers in
// few, large skbs. It runs when the connection is established
// (tcp_init_buffer_space) and from newSpace.
func (c *Conn) expandSndBuf() {
	limit := c.cfg.SndBufMax
	if limit <= c.sndBuf.max || c.mss <= 0 {
		return
	}
	segs := max(int(c.cc.cwnd)/c.mss, sndBufSegs)
	c.sndBuf.max = max(c.sndBuf.max, min(2*segs*c.sndBufPerSeg(), limit))
}

// newSpace is tcp_new_space, for an ACK that freed buffered data: the
// buffer grows if the application ran out of room in it (Linux's
// SOCK_NOSPACE, sndLimited here) and the connection is not limited by
// its congestion window, that is (tcp_should_expand_sndbuf) the flight
// would stay below cwnd once what is queued and fits the peer's window
// is sent. Not in a recovery: NewReno inflates cwnd there by a segment a
// duplicate ACK (Linux's PRR keeps it near ssthresh). The flag is
// cleared once the buffer is writable in Linux's sense
// (sk_stream_is_writeable: free room at least half what is queued), as
// sk_stream_write_space clears SOCK_NOSPACE; the next Write that finds
// the buffer full sets it again.
func (c *Conn) newSpace() {
	if !c.flags.has(sndLimited) {
		return
	}
	if !c.flags.has(inRecovery) && !c.flags.has(rtoHold) {
		room := max(int(c.sndUna.Add(seq.Size(c.sndWnd)).Sub(c.sndMax)), 0)
		if c.inFlight()+min(c.unsentBytes(), room) < int(c.cc.cwnd) {
			c.expandSndBuf()
		}
	}
	if c.sndBuf.free() >= c.sndBuf.len()/2 {
		c.flags.clear(sndLimited)
	}
}
