package tcp

import "github.com/tcpwave/tcpwave/seq"

// rcvFree is the receive space we may offer: the buffer less what is held.
func (c *Conn) rcvFree() int { return max(int(c.rcvCap)-c.rcvBuf.len(), 0) }

// synWindow is the window a SYN or SYN-ACK offers: a SYN-ACK to a SYN
// with timestamps counts in segments of MSS less the option (Linux
// tcp_openreq_init_rwin: 65160 bytes, not 64240, for MSS 1460); a SYN
// does not know yet (tcp_connect_init), and its side keeps that window.
func (c *Conn) synWindow() int {
	free := c.rcvFree()
	if c.cfg.rcvLocked {
		free = c.cfg.RcvBuf // tcp_full_space at the default ratio
	}
	return synWindowOf(c.cfg, free, c.flags.has(passive) && c.flags.has(tsOK))
}

// synSpace is the window the handshake opens (Linux's rcv_wnd from
// tcp_select_initial_window): the SYN's, or for a buffer set with
// SO_RCVBUF the whole of it in segments, which the SYN's 16-bit field
// offers only up to 65535 (SO_RCVBUF 100000 before connect(): the SYN
// says 65535, the first ACK 99280 bytes).
func (c *Conn) synSpace() int {
	if !c.flags.has(wsOK) {
		return c.synWindow()
	}
	seg := int(c.cfg.MSS)
	if c.flags.has(passive) && c.flags.has(tsOK) {
		seg -= 12
	}
	free := c.cfg.RcvBuf
	if !c.cfg.rcvLocked {
		free = min(c.rcvFree(), c.cfg.defaultWindow())
	}
	if free > seg {
		return free - free%seg
	}
	return c.synWindow()
}

// synWindowOf is the window a SYN or SYN-ACK offers with free bytes of
// receive space (no more than the default buffer's window unless the
// buffer was set with SO_RCVBUF): rounded down to whole segments, then
// at most 65535, an unscaled field (Linux tcp_select_initial_window);
// segments less the timestamp option when ts. With tcp_rmem[1] of
// 540000 bytes the SYN-ACK offers 65535.
func synWindowOf(cfg *Config, free int, ts bool) int {
	seg := int(cfg.MSS)
	if ts {
		seg -= 12
	}
	return segWindow(cfg, free, seg)
}

// segWindow is tcp_select_initial_window's window for segments of seg
// bytes (none when 0): free, no more than the default buffer's window
// unless the buffer was set with SO_RCVBUF, rounded down to whole
// segments, then at most 65535.
func segWindow(cfg *Config, free, seg int) int {
	if !cfg.rcvLocked {
		free = min(free, cfg.defaultWindow())
	}
	if seg > 0 && free > seg {
		free -= free % seg
	}
	return min(free, 65535)
}

// capWindow limits free receive space to what we offer: no more than
// rcv_ssthresh, aligned up to the scale unit so that scaling does not round
// it away (Linux __tcp_select_window); the ring has room for that unit.
func (c *Conn) capWindow(free int) int {
	unit := 1 << c.rcvWScale
	if limit := int(c.rcvSsthresh); free > limit && limit > 0 {
		free = (limit + unit - 1) / unit * unit
	}
	return free
}

// advertise computes the window field and records the right edge it
// offers. The edge never moves left (RFC 9293 §3.8.6.2.2). With window
// scaling it moves right to the free space aligned up to a unit, as
// Linux's __tcp_select_window; without, only by at least min(MSS, half
// the buffer): receiver-side SWS avoidance.
func (c *Conn) advertise() uint16 {
	free := c.rcvSpace()
	if c.flags.has(rdShut) && c.flags.has(orphan) {
		free = 0
	}
	return c.offerWindow(free)
}

// offerWindow is advertise for free bytes of receive space.
func (c *Conn) offerWindow(free int) uint16 {
	unit := 1 << c.rcvWScale
	free = c.capWindow(free)
	edge := c.rcvNxt.Add(seq.Size(free))
	cur := c.rcvAdv
	if cur.LessThan(c.rcvNxt) {
		cur = c.rcvNxt
	}
	if c.rcvWScale > 0 {
		// Linux __tcp_select_window with a scale: the free space aligned
		// up to a unit, whenever that moves the edge right at all.
		edge = c.rcvNxt.Add(seq.Size((free + unit - 1) / unit * unit))
		if edge.LessThan(cur) {
			edge = cur
		}
	} else {
		// Without a scale, Linux keeps the window it offers while it is
		// within a segment of the free space, and else offers the free
		// space rounded down to segments; never moving the edge left.
		mss := c.rcvMSS()
		w := int(cur.Sub(c.rcvNxt))
		if w <= free-mss || w > free {
			w = free - free%mss
		}
		edge = c.rcvNxt.Add(seq.Size(w))
		if edge.LessThan(cur) {
			edge = cur
		}
	}
	wnd := int(edge.Sub(c.rcvNxt))
	if edge == cur {
		// Keeping the old edge: round up, never down, so that scaling
		// does not move it left (Linux tcp_select_window aligns up). The
		// ring holds one scale unit beyond RcvBuf for this.
		wnd = (wnd + unit - 1) / unit
	} else {
		wnd /= unit
	}
	// The ring holds RcvBuf plus one scale unit: rounding up must not
	// offer more than it can take, or the edge would creep right by up to
	// a unit per ACK. Capped, the edge may move left by less than one
	// unit, which RFC 7323 §2.4 allows.
	if storage := c.rcvBuf.max - c.rcvBuf.len(); wnd*unit > storage {
		wnd = storage / unit
	}
	wnd = min(wnd, 65535)
	c.rcvAdv = c.rcvNxt.Add(seq.Size(wnd * unit))
	return uint16(wnd)
}

// windowUpdate sends an ACK when reading has at least doubled the window
// (Linux tcp_cleanup_rbuf). The new window is the free space, or none
// when it is under half the buffer and under a segment
// (__tcp_select_window): so a read that empties the buffer reopens it
// even when one segment fills the window, as with a 64 KiB MSS.
func (c *Conn) windowUpdate(before seq.Size) {
	if c.state != Established && c.state != FinWait1 && c.state != FinWait2 {
		return
	}
	full := min(int(c.rcvCap), c.windowClamp())
	if 2*int(before) > full {
		return
	}
	free := c.capWindow(c.rcvSpace()) >> c.rcvWScale << c.rcvWScale
	if free < full/2 && free < c.rcvMSS() {
		free = 0
	}
	if free > 0 && free >= 2*int(before) {
		c.flags.set(ackNow)
	}
}

// growRcvWindow opens the window we offer by two segments for each data
// segment of at least 128 bytes received in order, up to the receive
// buffer (Linux tcp_grow_window, called from tcp_event_data_recv), and
// only while there is room: below the window clamp and the free space,
// unread data counted (rcvRoom).
func (c *Conn) growRcvWindow(n int) {
	if n < 128 || c.rcvSsthresh >= c.rcvCap {
		return
	}
	room := c.rcvRoom() - int(c.rcvSsthresh)
	if room <= 0 {
		return
	}
	c.rcvSsthresh = min(c.rcvSsthresh+uint32(min(2*c.rcvMSS(), room)), c.rcvCap)
}
