package explain

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/tcpwave/tcpwave/tcp"
)

// finish completes c when it is handed over at capture time now; last is
// the capture's last packet time, after which timers' changes are
// expected rather than seen; atEnd says the capture ended.
func (c *conn) finish(now, last time.Duration, atEnd bool) {
	c.resolveEnd(now)
	for s := Client; s <= Server; s++ {
		e := &c.ep[s]
		for _, q := range e.pending {
			if q.kind == pFIN {
				c.note(q.t, "unacked-fin", "%s's FIN at %s was never ACKed in the capture: lost beyond the capture point, or the capture ended first", c.name(s.other()), fmtT(q.t))
			}
		}
		e.pending = nil
	}
	// Timers.
	for s := Client; s <= Server; s++ {
		e := &c.ep[s]
		if !e.known || e.state != tcp.TimeWait {
			continue
		}
		entered := e.entered
		c.Final[s] = tcp.TimeWait
		c.move(s, e.twEnd, tcp.Closed, "TIME_WAIT expired (2MSL, Linux TCP_TIMEWAIT_LEN)", "")
		tr := &c.States[s][len(c.States[s])-1]
		tr.AfterCapture = e.twEnd > last || !atEnd && e.twEnd > now
		if !tr.AfterCapture {
			c.Final[s] = tcp.Closed
		}
		who := "closed first and holds"
		if c.Closer && c.FirstFIN != s {
			who = "holds"
		}
		c.note(entered, "time-wait", "%s %s TIME_WAIT for %v (Linux TCP_TIMEWAIT_LEN), until %s", c.name(s), who, c.opt.TimeWait, fmtT(e.twEnd))
	}
	for s := Client; s <= Server; s++ {
		e := &c.ep[s]
		c.Known[s] = e.known
		if !e.known {
			continue
		}
		if n := len(c.States[s]); n == 0 || !c.States[s][n-1].AfterCapture {
			c.Final[s] = e.state
		}
		switch e.state {
		case tcp.CloseWait:
			c.note(now, "close-wait", "the capture ends with %s in CLOSE_WAIT for %v: the peer closed, its application has not called close()", c.name(s), round(now-e.entered))
		case tcp.FinWait2:
			c.note(now, "fin-wait-2", "the capture ends with %s in FIN_WAIT_2 for %v, waiting for the peer's FIN (Linux drops an orphaned one after tcp_fin_timeout, %v)", c.name(s), round(now-e.entered), c.opt.FinTimeout)
		case tcp.FinWait1:
			c.note(now, "fin-wait-1", "the capture ends with %s in FIN_WAIT_1 for %v: its FIN is not ACKed", c.name(s), round(now-e.entered))
		}
	}
	c.diagnose(now)
	slices.SortStableFunc(c.notes, func(a, b Finding) int { return cmp.Compare(a.T, b.T) })
	c.Findings = c.notes
}

// diagnose names the close kind and adds the findings that look at the
// whole connection.
func (c *conn) diagnose(now time.Duration) {
	went := func(s Side, from, to tcp.State) bool {
		for _, tr := range c.States[s] {
			if tr.From == from && tr.To == to {
				return true
			}
		}
		return false
	}
	passed := func(st tcp.State) bool {
		for s := Client; s <= Server; s++ {
			for _, tr := range c.States[s] {
				if tr.To == st {
					return true
				}
			}
		}
		return false
	}
	rst := false // a RST closed a side
	for s := Client; s <= Server; s++ {
		for _, tr := range c.States[s] {
			rst = rst || strings.Contains(tr.Why, "RST") && !strings.Contains(tr.Why, "without RST")
		}
	}
	switch {
	case c.refused:
		c.Close = CloseRefused
	case c.Sent[Server].Packets == 0 && c.Sent[Client].SYNs > 0 && c.Sent[Client].Packets == c.Sent[Client].SYNs:
		c.Close = CloseSYNTimeout
	case passed(tcp.Closing):
		c.Close = CloseSimultaneous
	case went(Client, tcp.FinWait1, tcp.TimeWait) || went(Server, tcp.FinWait1, tcp.TimeWait):
		c.Close = CloseThreeWay
	case went(Client, tcp.LastAck, tcp.Closed) && c.ep[Client].finAcked || went(Server, tcp.LastAck, tcp.Closed) && c.ep[Server].finAcked:
		if c.HalfBytes > 0 {
			c.Close = CloseHalf
		} else {
			c.Close = CloseFourWay
		}
	case rst:
		c.Close = CloseRST
	case c.ep[Client].finSent || c.ep[Server].finSent:
		c.Close = CloseHalfOpen
	default:
		c.Close = CloseOpen
	}
	if c.Closer && c.Close != CloseRefused {
		first := c.FirstFIN
		if c.ep[first.other()].finSent {
			c.HalfClose = c.ep[first.other()].finT - c.ep[first].finT
		} else if c.Close == CloseHalfOpen {
			c.HalfClose = now - c.ep[first].finT
		}
		if c.HalfBytes > 0 {
			if o := &c.ep[first.other()]; o.finSent {
				c.note(c.ep[first].finT, "half-close", "half-close: %s sent its FIN first; %s went on sending %d bytes for %v before its own FIN", c.name(first), c.name(first.other()), c.HalfBytes, round(c.HalfClose))
			} else {
				c.note(c.ep[first].finT, "half-close", "half-close: %s sent its FIN first; %s went on sending %d bytes after it (the last %v after the FIN)", c.name(first), c.name(first.other()), c.HalfBytes, round(o.lastData-c.ep[first].finT))
			}
		}
	}
	if c.MidStream {
		c.note(c.Start, "mid-stream", "the capture begins after the handshake: the first states are assumed ESTABLISHED")
	}
	for s := Client; s <= Server; s++ {
		n := &c.Sent[s]
		e := &c.ep[s]
		if s == Client && n.SYNs > 1 {
			c.note(c.Start, "syn-retry", "%s sent its SYN %d times (SYN retries: the SYN or the SYN-ACK was lost, or nothing answered)", c.name(s), n.SYNs)
		}
		if s == Server && n.SYNs > 1 {
			c.note(c.Start, "syn-retry", "%s sent its SYN-ACK %d times", c.name(s), n.SYNs)
		}
		if e.finCopies > 1 {
			if len(e.finAckAt) > 0 {
				c.note(e.finT, "fin-retransmitted", "%s sent its FIN %d times: the peer's ACK at %s was lost beyond the capture point", c.name(s), e.finCopies, fmtT(e.finAckAt[0]))
			} else {
				c.note(e.finT, "fin-retransmitted", "%s sent its FIN %d times: the FIN was lost (or the peer's ACK, before the capture point)", c.name(s), e.finCopies)
			}
		}
		if n.Retransmits > 0 {
			c.note(c.Start, "retransmission", "%s retransmitted %d data segments", c.name(s), n.Retransmits)
		}
		if n.DupACKs > 0 {
			c.note(c.Start, "dup-ack", "%s sent %d duplicate ACKs", c.name(s), n.DupACKs)
		}
		if n.Keepalives > 0 {
			c.note(c.kaFirst[s], "keepalive", "%s sent %d keepalive probes (SO_KEEPALIVE: SND.UNA-1, no data)", c.name(s), n.Keepalives)
		}
		if n.ZeroWindows > 0 {
			c.note(c.zwFirst[s], "zero-window", "%s advertised a zero window %d times: its application was not reading", c.name(s), n.ZeroWindows)
		}
	}
}

// Kinds lists the finding kinds, for documentation and --only.
var Kinds = []string{
	"time-wait", "close-wait", "fin-wait-2", "fin-wait-1", "half-close", "rst", "refused",
	"fin-retransmitted", "time-wait-reack", "dup-fin", "unacked-fin", "no-time-wait",
	"fin-wait-2-timeout", "orphan-retries", "time-wait-assassination", "time-wait-ack",
	"challenge-ack", "half-open", "reuse", "syn-retry", "retransmission", "dup-ack", "keepalive",
	"zero-window", "mid-stream",
}

// CloseKinds lists the close kinds of Conn.Close.
var CloseKinds = []string{
	CloseFourWay, CloseThreeWay, CloseSimultaneous, CloseHalf, CloseRST, CloseRefused,
	CloseSYNTimeout, CloseOpen, CloseHalfOpen,
}
