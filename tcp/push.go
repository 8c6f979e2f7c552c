package tcp

import "time"

// Linux sends new data in transmission units: tcp_write_xmit cuts the
// write queue into pieces of at most tcp_tso_segs segments (about a
// millisecond at the pacing rate, tcp_tso_autosize) and at most half the
// congestion window (tcp_cwnd_test), and __tcp_transmit_skb puts PSH on
// every piece of more than one segment, so that the receiver's GRO flushes
// it at once. After segmentation the PSH is on the piece's last segment.
// tcpwave builds segments one at a time, so it keeps the count of the
// segments left in the current unit (Conn.unit) and marks the last. Only
// new data is sent in units here: Linux's rule also marks a retransmission
// of several segments at once, which tcpwave sends one by one.
//
// The PSH reaches the peer's application as Linux's would: a Linux
// receiver may ACK a full-sized PSH segment as soon as its reader has
// taken the data, so where PSH goes changes how a Linux peer ACKs.

// gsoMaxSize is Linux's default sk_gso_max_size (GSO_LEGACY_MAX_SIZE),
// the largest unit tcp_tso_autosize allows.
const gsoMaxSize = 65536

// minTSOSegs is Linux's tcp_min_tso_segs default: a unit holds at least
// two segments when two may go.
const minTSOSegs = 2

// tsoSegs is the most segments one unit may hold: tcp_tso_autosize with
// tcp_min_tso_segs 2, from the pacing rate Linux would have
// (tcp_update_pacing_rate: 200% of cwnd*mss/srtt in slow start below half
// ssthresh, 120% after) and the term for short round trips that
// tcp_tso_rtt_log 9 adds (64 KiB >> (min_rtt_us >> 9)). The rate counts
// whole MSS (Linux mss_cache); the unit is cut in segments of room, the
// payload a segment carries now (tcp_current_mss, less SACK blocks).
// SRTT here comes from millisecond timestamps where Linux measures
// microseconds; below a few milliseconds half the window sets the unit
// anyway (push-units-1ms.pkt).
func (c *Conn) tsoSegs(room int) int {
	mss := max(c.mss, 1)
	bytes := gsoMaxSize
	if srtt := c.rto.srtt; srtt > 0 {
		pkts := max(int(c.cc.cwnd)/mss, int(c.sndMax.Sub(c.sndUna))/mss)
		ratio := 1.2
		if c.cc.cwnd < c.cc.ssthresh/2 {
			ratio = 2
		}
		rate := float64(mss*pkts) * ratio / srtt.Seconds() // bytes per second
		b := rate / 1024                                   // sk_pacing_shift 10: about a millisecond's worth
		minRTT := srtt
		if r := c.rack(); r != nil && r.minRTT > 0 {
			minRTT = r.minRTT
		}
		if sh := minRTT / time.Microsecond >> 9; sh < 32 {
			b += float64(int(gsoMaxSize) >> sh)
		}
		bytes = int(min(b, gsoMaxSize))
	}
	return max(bytes/max(room, 1), minTSOSegs)
}

// startUnit begins a transmission unit before the first of its segments
// goes: wnd is what the peer's window lets go now, avail the unsent data
// and room one segment's payload. The unit is as long as tcp_write_xmit
// would make it: tsoSegs, half the congestion window and what the window
// and the data allow (tcp_mss_split_point). A unit of one segment gets no
// PSH of its own, so it is not counted. The count is a byte: a unit
// longer than 255 segments (a tiny MSS at a short round trip) ends there.
func (c *Conn) startUnit(wnd, avail, room int) {
	mss := max(c.mss, 1)
	cwnd := int(c.cc.cwnd) / mss
	quota := min(max(cwnd/2, 1), cwnd-c.inFlight()/mss) // tcp_cwnd_test, in packets
	n := min(c.tsoSegs(room), quota, wnd/room, (avail+room-1)/room)
	c.unit = 0
	if n > 1 {
		c.unit = uint8(min(n, 255))
	}
}

// unitEnds counts one segment of the current unit and reports whether it
// was the last of a unit of more than one.
func (c *Conn) unitEnds() bool {
	if c.unit == 0 {
		return false
	}
	c.unit--
	return c.unit == 0
}
