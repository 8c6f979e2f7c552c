package tcp

// SO_RCVBUF and SO_SNDBUF. Linux doubles the value a program sets (the
// kernel's sk_rcvbuf and sk_sndbuf count memory, skb overhead included),
// floors it at SOCK_MIN_RCVBUF or SOCK_MIN_SNDBUF, and locks the buffer
// (SOCK_RCVBUF_LOCK, SOCK_SNDBUF_LOCK): auto-tuning leaves that direction
// alone (tcp_rcv_space_adjust, tcp_sndbuf_expand). Until a segment is
// measured, half of sk_rcvbuf is window (tcp_full_space at the default
// scaling_ratio): Config.RcvBuf of the socket's copy is that half. Set
// before the SYN, it decides the window the SYN offers and the window
// scale (tcp_select_initial_window: the least shift that advertises it,
// the window clamp being the buffer). Afterwards the ring may hold all of
// sk_rcvbuf, and the window is what Linux's accounting allows of it
// (rcvwin.go): with full-sized segments on the TUN device, 160/256 of it
// less what unread data is charged.
//
// What is approximated: the send buffer holds sk_sndbuf bytes of
// payload; Linux counts skb memory, and lets one write fill a large skb
// past sk_sndbuf, so it may take more (46336 bytes for SO_SNDBUF 10000 in
// one test on Linux 6.18).

// Linux's floors for a buffer set by setsockopt (include/net/sock.h):
// SOCK_MIN_RCVBUF is TCP_SKB_MIN_TRUESIZE (2048 bytes and a struct
// sk_buff), SOCK_MIN_SNDBUF twice that.
const (
	SockMinRcvBuf = 2304
	SockMinSndBuf = 2 * SockMinRcvBuf
)

// SockBuf is what setsockopt(SO_RCVBUF or SO_SNDBUF, v) stores as Linux's
// sk_rcvbuf or sk_sndbuf: v bounded by the sysctl's maximum (rmem_max or
// wmem_max), doubled, and at least least (SockMinRcvBuf, SockMinSndBuf).
// getsockopt returns it. Linux compares v as an unsigned 32-bit value
// (sock_setsockopt: min_t(u32, val, rmem_max)), so a negative v asks for
// the most: on Linux 6.18 SO_RCVBUF -1 gives twice rmem_max.
func SockBuf(v, sysctlMax, least int) int {
	if v < 0 {
		v = sysctlMax
	}
	v = min(v, sysctlMax)
	return max(2*v, least)
}

// WithBuffers returns a copy of cfg for a socket whose application set
// its buffers: rcvbuf and sndbuf are sk_rcvbuf and sk_sndbuf (SockBuf),
// 0 for a direction left alone. A locked receive buffer offers rcvbuf/2
// bytes (tcp_full_space) in the SYN, holds up to rcvbuf, never grows, and
// chooses the window scale: the least that advertises rcvbuf/2
// (Config.WScale's floor does not apply). A locked send buffer holds
// sndbuf bytes and never grows.
func WithBuffers(cfg *Config, rcvbuf, sndbuf int) *Config {
	c := *cfg
	if rcvbuf > 0 {
		c.RcvBuf, c.RcvBufMax, c.rcvLocked = max(rcvbuf/2, 1), 0, true
		if c.WScale > 0 {
			c.WScale = 0
		}
	}
	if sndbuf > 0 {
		c.SndBuf, c.SndBufMax, c.sndLocked = sndbuf, 0, true
	}
	return &c
}

// SetBuffers applies SO_RCVBUF and SO_SNDBUF to the connection (rcvbuf
// and sndbuf as in WithBuffers, 0 to leave one alone). Before the SYN
// goes, it decides the window the SYN offers and its scale; later, the
// receive buffer takes the new size, the window offered shrinking as
// data arrives (its right edge never moves left), and the send buffer
// takes the new size, Write waiting while more than that is queued.
func (c *Conn) SetBuffers(rcvbuf, sndbuf int) {
	if rcvbuf <= 0 && sndbuf <= 0 {
		return
	}
	c.cfg = WithBuffers(c.cfg, rcvbuf, sndbuf)
	if sndbuf > 0 {
		c.sndBuf.max = c.cfg.SndBuf
	}
	if rcvbuf <= 0 {
		return
	}
	n := c.cfg.rcvStorage()
	if c.state > SynSent { // the scale is known: it bounds the window
		n = min(n, 65535<<c.rcvWScale)
	}
	c.rcvCap = uint32(n)
	c.rcvBuf.max = max(n+1<<c.rcvWScale, c.rcvBuf.len()+max(int(c.rcvAdv.Sub(c.rcvNxt)), 0))
	if c.state > SynSent {
		c.rcvSsthresh = min(c.rcvSsthresh, c.rcvCap)
	}
}

// SndBuf returns the send buffer's current size in bytes: SndBuf, or
// more once auto-tuning has raised it.
func (c *Conn) SndBuf() int { return c.sndBuf.max }

// RcvBufLocked reports whether the application set the receive buffer
// (SO_RCVBUF): receive-buffer auto-tuning is off.
func (c *Conn) RcvBufLocked() bool { return c.cfg.rcvLocked }

// SndBufLocked reports whether the application set the send buffer
// (SO_SNDBUF): send-buffer auto-tuning is off.
func (c *Conn) SndBufLocked() bool { return c.cfg.sndLocked }

// rcvStorage is how many bytes the receive ring may hold: RcvBuf, or for
// a buffer set with SO_RCVBUF all of sk_rcvbuf, the window being bounded
// by Linux's clamp and free space (rcvwin.go), which a measured ratio
// above one half raises beyond RcvBuf.
func (c *Config) rcvStorage() int {
	if c.rcvLocked {
		return 2 * c.RcvBuf
	}
	return c.RcvBuf
}
