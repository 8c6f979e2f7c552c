package tcp

// sndBufSegs is the fewest segments the send buffer is sized for (Linux's
// TCP_INIT_CWND in tcp_sndbuf_expand).
const sndBufSegs = 10

// expandSndBuf is send-buffer auto-tuning, Linux's tcp_sndbuf_expand: the
// buffer grows to room for twice the congestion window, at least
// sndBufSegs segments, so that a sender keeping the window full has as
// much again queued behind it (Linux's reasoning: CUBIC needs 1.7 times
// the window in fast recovery, rounded up to leave the application time
// to refill). It never shrinks and never passes Config.SndBufMax; with
// SndBufMax not above SndBuf it stays at SndBuf, as a Linux socket with
// SO_SNDBUF set. Linux counts the buffer in memory, each segment with its
// overhead; here it counts payload bytes. It runs when the connection is
// established (tcp_init_buffer_space) and when an ACK frees buffered data
// while the congestion window has room (tcp_new_space, under
// tcp_should_expand_sndbuf).
func (c *Conn) expandSndBuf() {
	limit := c.cfg.SndBufMax
	if limit <= c.sndBuf.max || c.mss <= 0 {
		return
	}
	segs := max(int(c.cwnd)/c.mss, sndBufSegs)
	c.sndBuf.max = max(c.sndBuf.max, min(2*segs*c.mss, limit))
}
