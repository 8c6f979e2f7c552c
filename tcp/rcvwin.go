package tcp

import (
	"math/bits"

	"github.com/tcpwave/tcpwave/seq"
)

// How Linux lets unread data shape the window it offers (net/ipv4/
// tcp_input.c, tcp_output.c). Linux charges each queued skb its memory
// (truesize) against sk_rcvbuf, and turns memory into window with
// scaling_ratio, the share of an skb that is payload (tcp_win_from_space:
// space * ratio / 256; 128, one half, until measured). tcp_measure_rcv_mss
// measures it again from each in-order segment at least as long as the
// last (icsk_ack.rcv_mss) and of a new length, and moves the window clamp
// (window_clamp, sk_rcvbuf's worth of window) with it: a lower clamp
// lowers rcv_ssthresh to it, a higher one raises rcv_ssthresh to the
// window last offered (tcp_set_window_clamp). tcp_grow_window opens
// rcv_ssthresh only while the clamp and the free space, unread data
// counted, leave room for it. A segment whose skb is mostly overhead (on
// the TUN device the conformance runner uses, 1000 bytes in a 2304-byte
// skb: ratio 111) thus stops the window from growing, and the right edge
// stays where it was while the data sits unread; the next full-sized
// segment (1448 bytes in 2304: ratio 160) raises the clamp again and the
// window grows from the one last offered.
//
// What is approximated: the skb a segment arrives in is modelled as the
// TUN device builds it (rxTruesize), or, on a link that passes the
// sender's buffers (Config.RxOverhead), as loopback delivers the sender's
// skb; a NIC's differ. Unread data is charged at the truesize of a
// segment of the current receive MSS per byte, not skb by skb. Linux's
// sk_rcvbuf is twice the receive buffer, which counts window bytes
// (skRcvbuf); DefaultConfig's RcvBuf, 256 KiB, is more than the 64 KiB of
// window Linux starts with (tcp_rmem[1] of 128 KiB), so an untuned buffer
// counts as at most that.

// defaultScalingRatio is Linux's TCP_DEFAULT_SCALING_RATIO: half of an
// skb's memory is taken to be payload until a segment is measured.
const defaultScalingRatio = 128

// tunHeadroom is NET_SKB_PAD, the room tun_get_user leaves before the
// packet in the skb head it allocates.
const tunHeadroom = 64

// scalingRatio is Linux's scaling_ratio.
func (c *Conn) scalingRatio() int {
	if c.ratio == 0 {
		return defaultScalingRatio
	}
	return int(c.ratio)
}

// LoopbackRxOverhead is what Linux's loopback charges a TCP segment
// beyond its payload (Config.RxOverhead): the receiver gets the skb
// tcp_sendmsg built, whose payload is in page fragments and whose head
// comes from the small-head cache, SKB_SMALL_HEAD_SIZE (MAX_TCP_HEADER
// and skb_shared_info, 320 bytes each), with the sk_buff (256 bytes)
// on top. A 32741-byte segment then weighs 33637 bytes (scaling_ratio
// 249), and the ACK for it offers 94848 bytes (741 units at scale 7), as
// Linux on lo does, where a TUN's 65792-byte skb (ratio 127) offers 32768.
const LoopbackRxOverhead = skbHeaders + skbShinfo + skbStruct

// rxTruesize is the memory Linux charges for a segment of n payload bytes:
// on a link that hands over the sender's buffer, the payload plus
// Config.RxOverhead; else as it came through a TUN device, one kmalloc'ed
// head (a power of two) holding NET_SKB_PAD, the IP and TCP headers, the
// payload and the skb_shared_info, plus the sk_buff (2304 bytes for a
// full-sized segment).
func (c *Conn) rxTruesize(n int) int {
	if c.cfg.RxOverhead > 0 {
		return n + c.cfg.RxOverhead
	}
	hdr := 40
	if c.flags.has(tsOK) {
		hdr += 12
	}
	head := (tunHeadroom+hdr+n+63)&^63 + skbShinfo
	return 1<<bits.Len(uint(head-1)) + skbStruct
}

// rmemDefaultWindow is the window Linux's default receive buffer holds
// (tcp_full_space of tcp_rmem[1], 131072 bytes at ratio 1/2).
const rmemDefaultWindow = 65536

// defaultWindow is the window the receive buffer a socket starts with
// holds: half of RmemDefault (tcp_rmem[1]).
func (c *Config) defaultWindow() int {
	if c.RmemDefault > 0 {
		return c.RmemDefault / 2
	}
	return rmemDefaultWindow
}

// skRcvbuf is Linux's sk_rcvbuf for this connection (see above): twice
// the receive buffer, no more than tcp_rmem[1] until auto-tuning raised
// it, unless the application set it.
func (c *Conn) skRcvbuf() int {
	switch {
	case c.cfg.rcvLocked:
		return 2 * c.cfg.RcvBuf
	case int(c.rcvCap) <= c.cfg.RcvBuf:
		return 2 * min(int(c.rcvCap), c.cfg.defaultWindow())
	}
	return 2 * int(c.rcvCap)
}

// windowClamp is Linux's window_clamp: sk_rcvbuf turned into window at
// the measured ratio; before a segment was measured, that at one half
// less a segment's reservation (tcp_init_buffer_space with tcp_app_win:
// 64088 bytes for the default buffer and timestamps).
func (c *Conn) windowClamp() int {
	full := c.skRcvbuf() * c.scalingRatio() >> 8
	if c.ratio == 0 {
		adv := int(c.cfg.MSS)
		if c.flags.has(tsOK) {
			adv -= 12
		}
		if full > 2*adv {
			full = max(2*adv, full-adv)
		}
	}
	return full
}

// rcvRoom is what tcp_grow_window lets rcv_ssthresh reach: the window
// clamp, and the free space, sk_rcvbuf less what unread data is charged,
// turned into window.
func (c *Conn) rcvRoom() int {
	m := c.rcvMSS()
	charged := c.rcvBuf.len() * c.rxTruesize(m) / m
	space := max(c.skRcvbuf()-charged, 0) * c.scalingRatio() >> 8
	return min(c.windowClamp(), space)
}

// measureRatio is tcp_measure_rcv_mss's measure of scaling_ratio, for an
// in-order segment of n bytes that found the receive MSS at prevMSS and
// RCV.NXT at prevNxt, with tcp_set_window_clamp's effect on rcv_ssthresh.
func (c *Conn) measureRatio(n, prevMSS int, prevNxt seq.Value) {
	if n < prevMSS || n == prevMSS {
		return
	}
	old := c.scalingRatio()
	r := min(max(n*256/c.rxTruesize(n), 1), 255)
	if r == old {
		return
	}
	oldClamp := c.windowClamp()
	c.ratio = uint8(r)
	clamp := c.windowClamp()
	if clamp < oldClamp {
		c.rcvSsthresh = min(c.rcvSsthresh, uint32(clamp))
		return
	}
	if wnd := int(c.rcvAdv.Sub(prevNxt)); wnd > 0 && c.rcvAdv.GreaterThan(prevNxt) {
		c.rcvSsthresh = max(c.rcvSsthresh, uint32(min(wnd, clamp, int(c.rcvCap))))
	}
}

// rcvSpace is the window we may offer (Linux __tcp_select_window's free
// space): the ring's free room, no more than tcp_space and the clamp.
func (c *Conn) rcvSpace() int { return min(c.rcvFree(), c.rcvRoom()) }
