package explain

import (
	"container/list"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/tcpwave/tcpwave/tcp"
	"github.com/tcpwave/tcpwave/wire"
)

// pendKind is a kind of segment on its way to an endpoint whose arrival
// the capture has not proven yet.
type pendKind uint8

const (
	pSYN    pendKind = iota // the peer's SYN (this side would be listening)
	pSYNACK                 // the peer's SYN-ACK
	pHSACK                  // the peer's ACK of our SYN-ACK
	pFIN                    // the peer's FIN (acksFIN: it ACKs ours as well)
	pFINACK                 // the peer's ACK of our FIN
	pRST                    // the peer's RST
	pData                   // the peer's data after our FIN
)

// maxPending bounds the segments waiting for proof at one endpoint.
const maxPending = 16

// pend is a segment that may have reached an endpoint.
type pend struct {
	kind    pendKind
	t       time.Duration
	seq     uint32 // FIN: its sequence number; data: the end; RST: its seq
	ack     uint32
	hasACK  bool
	acksFIN bool
	first   time.Duration // FIN: when its first copy was seen, if t is a later copy's
	again   bool          // FIN: t is a later copy's
}

// endpoint is what the capture tells of one side.
type endpoint struct {
	state   tcp.State
	known   bool          // the side has a connection whose state is followed
	entered time.Duration // when it entered state
	twEnd   time.Duration // when TIME_WAIT ends (restarted by a re-ACK)

	isn     uint32
	haveISN bool
	sndMax  uint32 // one past the highest sequence number sent
	haveSnd bool

	finSeq    uint32
	finSent   bool
	finT      time.Duration
	finAcked  bool
	finCopies int
	finLast   time.Duration // when the last and the one before were sent
	finPrev   time.Duration
	finAckAt  []time.Duration // peer ACKs of our FIN that a later copy of the FIN shows lost (bounded)

	tsVal  uint32 // the last timestamp value sent
	haveTS bool

	last      [2]sig        // the last segments this side sent, to spot one captured twice (last[0] the latest)
	lastT     time.Duration // when this side last sent anything
	prevT     time.Duration // and the time before that
	kaUnanswd int           // keepalive probes since the peer last sent
	kaRun     int           // keepalive probes in a row, answered or not (a RST does not end the run)
	kaLast    time.Duration // when the last probe was sent
	kaGap     time.Duration // and how long after the one before

	lastAck  uint32
	lastWin  uint16
	haveAck  bool
	zeroWin  bool
	lastData time.Duration
	sentData bool

	pending []pend
	pendBuf [4]pend // pending's first backing array

	// abortAt, when abort is set, is the index in States of the move to
	// CLOSED that a RST from this side made, and abortFrom the state
	// before: undone if the side goes on sending (the RST was not its own).
	abort     bool
	abortAt   int
	abortFrom tcp.State
	abortT    time.Duration
}

// conn is a Conn being reconstructed.
type conn struct {
	Conn
	opt         *Options
	ep          [2]endpoint
	prev        *conn // the incarnation this one reused the 4-tuple of, while it still matters
	elem        *list.Element
	closingList bool   // elem is in the Analyzer's closing list
	heldList    bool   // elem is in the Analyzer's held list (recent.go)
	guess       string // while set, the Uncertain of every move
	lastSeen    time.Duration
	emitted     bool
	refused     bool
	notes       []Finding        // findings gathered on the way (bounded)
	lastSYN     time.Duration    // when the client last sent its SYN
	stBuf       [2][8]Transition // States' first backing arrays
	noteBuf     [4]Finding       // notes' first backing array
	kaFirst     [2]time.Duration
	zwFirst     [2]time.Duration
}

func seqLT(a, b uint32) bool { return int32(a-b) < 0 }
func seqGE(a, b uint32) bool { return int32(a-b) >= 0 }

func (c *conn) key() connKey { return keyOf(c.Addr[0], c.Addr[1]) }

// firstID is the ID of the oldest incarnation c still holds.
func (c *conn) firstID() int {
	if c.prev != nil {
		return c.prev.firstID()
	}
	return c.ID
}

// name is how findings call a side: its address.
func (c *conn) name(s Side) string { return c.Addr[s].String() }

// note records a finding.
func (c *conn) note(t time.Duration, kind, format string, args ...any) {
	if len(c.notes) >= 32 {
		return
	}
	if c.notes == nil {
		c.notes = c.noteBuf[:0]
	}
	c.notes = append(c.notes, Finding{T: t, Kind: kind, Text: fmt.Sprintf(format, args...)})
}

// move changes side s's state at t, recording the transition.
func (c *conn) move(s Side, t time.Duration, to tcp.State, why, uncertain string) {
	e := &c.ep[s]
	if len(c.States[s]) >= 24 {
		return
	}
	if c.States[s] == nil {
		c.States[s] = c.stBuf[s][:0]
	}
	if uncertain == "" {
		uncertain = c.guess
	}
	if n := len(c.States[s]); n > 0 && t < c.States[s][n-1].T {
		// The segment that causes it was seen before this side's last
		// change (a FIN that reached a side after it sent its own, as in
		// a simultaneous close): the side acted on it after that change.
		t = c.States[s][n-1].T
	}
	c.States[s] = append(c.States[s], Transition{T: t, From: e.state, To: to, Why: why, Uncertain: uncertain})
	e.state = to
	e.known = true
	e.entered = t
	if to == tcp.TimeWait {
		e.twEnd = t + c.opt.TimeWait
	}
}

// newIncarnation reports whether the SYN p starts a new connection on
// this 4-tuple rather than repeating one.
func (c *conn) newIncarnation(p *Packet) bool {
	from := Client
	if p.Src != c.Addr[Client] {
		from = Server
	}
	e := &c.ep[from]
	if from == Client && e.haveISN && e.state == tcp.SynSent && e.isn == p.TCP.Seq {
		return false // a retransmitted SYN
	}
	return true
}

// reusedAt tells the old incarnation c that a new SYN, p, reused its
// 4-tuple at t.
func (c *conn) reusedAt(t time.Duration, p *Packet) {
	c.resolveEnd(t)
	sender := Client
	if c.Addr[Server] == p.Src {
		sender = Server
	}
	for s := Client; s <= Server; s++ {
		e := &c.ep[s]
		if e.state != tcp.TimeWait {
			continue
		}
		if t < e.twEnd {
			how := "its ISN is higher"
			peer := &c.ep[sender]
			switch o := &p.TCP.Options; {
			case s == sender:
				how = "the TIME_WAIT holder itself connected again (Linux tcp_tw_reuse, which needs newer timestamps)"
			case !peer.haveSnd || seqGE(p.TCP.Seq, peer.sndMax):
			case o.HasTimestamp && peer.haveTS && int32(o.TSVal-peer.tsVal) > 0:
				how = "its ISN is not higher, its timestamp is newer"
			case o.HasTimestamp && peer.haveTS:
				how = "neither its ISN nor its timestamp is higher: Linux keeps TIME_WAIT and answers with an ACK"
			default:
				how = "its ISN is not higher (and no timestamps to compare)"
			}
			c.note(t, "reuse", "4-tuple reused within 2MSL: a new SYN came %v after %s entered TIME_WAIT; %s (RFC 6191)", round(t-e.entered), c.name(s), how)
		}
	}
}

// reopened: the new incarnation's server answered its SYN, sent at syn,
// with a SYN-ACK, so a side of the old incarnation c that still held
// TIME_WAIT let the 4-tuple go.
func (c *conn) reopened(syn time.Duration, server netip.AddrPort) {
	for s := Client; s <= Server; s++ {
		e := &c.ep[s]
		if !e.known || e.state != tcp.TimeWait || syn >= e.twEnd {
			continue
		}
		if c.Addr[s] == server {
			c.move(s, syn, tcp.Closed, "new SYN with a higher sequence number or newer timestamp: TIME_WAIT reused (RFC 6191)", "")
		} else {
			c.move(s, syn, tcp.Closed, "port reused by connect() while in TIME_WAIT (Linux tcp_tw_reuse)", "")
		}
	}
}

// routeToPrev reports whether a segment of the new incarnation c belongs
// to the old one: while the server has not answered the new SYN, a
// segment from it without SYN (the old connection's TIME_WAIT ACK, a
// challenge ACK) and a RST from the client answering it are the old
// connection's.
func (c *conn) routeToPrev(from Side, p *Packet) bool {
	if c.ep[Server].haveISN {
		return false
	}
	f := p.TCP.Flags
	if from == Server && !f.Has(wire.SYN) {
		oside := Server // the new server's side in the old incarnation
		if c.prev.Addr[Client] == c.Addr[Server] {
			oside = Client
		}
		if old := &c.prev.ep[oside]; !f.Has(wire.RST) && old.state == tcp.TimeWait {
			c.prev.note(c.lastSeen, "time-wait-ack", "%s in TIME_WAIT answered the new SYN with an ACK for the old connection (Linux tcp_timewait_state_process)", c.name(Server))
		}
		return true
	}
	return from == Client && f.Has(wire.RST) && !f.Has(wire.SYN)
}

// sig is what tells a segment captured twice from one sent twice.
type sig struct {
	ipid     uint16
	flags    wire.Flags
	win      uint16
	seq, ack uint32
	len      int
	opts     uint64
	point    uint64
	t        time.Duration
	peer     int // the segments the peer had sent (not copies) when this one came
}

// dupWindow is how close two copies of one packet are in a capture that
// sees it twice (tcpdump -i any on a bridge and its port).
const dupWindow = time.Millisecond

// duplicate reports whether p, from side from at t, is a segment that
// side sent last or the one before, captured again within dupWindow: the
// same IPv4 identification, TCP header and options (timestamps, SACK
// blocks). A copy seen at another capture point (another interface, or
// the other packet type of a Linux cooked capture: in on one bridge port
// and out of the other) is one, IPv4 or IPv6. At the same point (or in a
// capture that does not say where), an IPv4 copy is told by its
// identification, which a segment sent again does not share; without one
// (IPv6, or the 0 Linux gives a SYN-ACK, a RST and an ACK from TIME_WAIT)
// a segment with SYN, FIN, RST or data is when it repeats the side's
// latest segment and the peer sent nothing between in capture order,
// whatever the timestamps say (a fast retransmission follows the peer's
// duplicate ACKs, dated the same microsecond or not; a timer's comes
// later than a millisecond), a bare ACK is not (duplicate ACKs are
// alike).
func (c *conn) duplicate(from Side, t time.Duration, p *Packet) bool {
	e := &c.ep[from]
	h := &p.TCP
	s := sig{ipid: p.IPID, flags: h.Flags, win: h.Window, seq: h.Seq, ack: h.Ack, len: p.PayloadLen, opts: p.Options, point: p.Point, t: t, peer: c.Sent[from.other()].Packets}
	if c.Packets() == 0 {
		e.last = [2]sig{s}
		return false
	}
	for i := range e.last {
		q := e.last[i]
		if t-q.t > dupWindow || t < q.t || q.ipid != s.ipid || q.flags != s.flags || q.win != s.win ||
			q.seq != s.seq || q.ack != s.ack || q.len != s.len || q.opts != s.opts {
			continue
		}
		if q.point != s.point || s.ipid != 0 {
			return true // the copy is not remembered: a third copy matches the first
		}
		if i == 0 && s.peer == q.peer && (s.len > 0 || s.flags&(wire.SYN|wire.FIN|wire.RST) != 0) {
			return true
		}
	}
	e.last[1], e.last[0] = e.last[0], s
	return false
}

// segment processes one segment sent by side from at time t.
func (c *conn) segment(t time.Duration, from Side, p *Packet) {
	x, y := &c.ep[from], &c.ep[from.other()]
	f := p.TCP.Flags
	if c.Packets() == 0 {
		c.Start = t
	}
	c.End = t
	c.count(t, from, p)
	c.record(t, from, p)
	if c.MidStream && !x.known && !f.Has(wire.RST) && !f.Has(wire.SYN) {
		// Assumed ESTABLISHED before what reached it is settled: its
		// first segment may ACK the peer's FIN.
		x.known, x.state = true, tcp.Established
	}
	c.resolve(t, from, p)
	switch {
	case f.Has(wire.SYN) && !f.Has(wire.ACK) && !f.Has(wire.RST):
		c.lastSYN = t
		if !x.known {
			c.move(from, t, tcp.SynSent, "connect() called: SYN queued (RFC 9293 §3.10.1)", "")
		}
	case f.Has(wire.SYN|wire.ACK) && !f.Has(wire.RST):
		if !x.known && c.MidStream {
			x.known, x.state = true, tcp.SynRcvd
		}
	case f.Has(wire.RST):
		c.sendRST(t, from, p)
	}
	if x.abort && x.state == tcp.Closed && f&(wire.RST|wire.SYN) == 0 && len(c.States[from]) > x.abortAt {
		c.States[from] = c.States[from][:x.abortAt]
		x.state, x.abort = x.abortFrom, false
		c.notes = slices.DeleteFunc(c.notes, func(n Finding) bool { return n.Kind == "rst" && n.T == x.abortT })
		c.note(x.abortT, "rst", "the RST at %s that claimed to come from %s was not its own: it went on sending (injected by a middlebox or an attacker; RFC 5961 answers such a RST with a challenge ACK)", fmtT(x.abortT), c.name(from))
	}
	if f.Has(wire.FIN) && !f.Has(wire.RST) {
		c.sendFIN(t, from, p)
	}
	c.queue(t, from, y, p)
}

// Packets returns the number of segments seen so far.
func (c *conn) Packets() int { return c.Sent[0].Packets + c.Sent[1].Packets }

// count updates the counters of side from for segment p.
func (c *conn) count(t time.Duration, from Side, p *Packet) {
	x, y := &c.ep[from], &c.ep[from.other()]
	n := &c.Sent[from]
	h := &p.TCP
	f := h.Flags
	n.Packets++
	x.prevT, x.lastT = x.lastT, t
	y.kaUnanswd = 0
	seq := h.Seq
	if f.Has(wire.SYN) {
		n.SYNs++
		if !x.haveISN {
			x.isn, x.haveISN = seq, true
			x.sndMax, x.haveSnd = seq+1, true
		}
		seq++
	}
	if !x.haveISN { // mid-connection: number from here
		x.isn, x.haveISN = seq-1, true
		x.sndMax, x.haveSnd = seq, true
	}
	if f.Has(wire.RST) {
		n.RSTs++
	}
	if h.Options.HasTimestamp {
		x.tsVal, x.haveTS = h.Options.TSVal, true
	}
	l := uint32(p.PayloadLen)
	end := seq + l
	run := x.kaRun
	if !f.Has(wire.RST) {
		x.kaRun = 0
	}
	switch {
	case l > 0 && seqLT(x.sndMax, end):
		fresh := end - x.sndMax
		if seqLT(x.sndMax, seq) {
			fresh = l
		}
		if seqLT(seq, x.sndMax) {
			n.Retransmits++
		}
		n.Bytes += uint64(fresh)
		if c.Closer && from != c.FirstFIN {
			c.HalfBytes += uint64(fresh)
		}
		x.sndMax = end
		x.lastData, x.sentData = t, true
	case l > 0 && l <= 1 && end == x.sndMax && f&(wire.SYN|wire.FIN|wire.RST) == 0 && f.Has(wire.ACK):
		c.keepalive(t, from)
		x.kaRun = run + 1
	case l > 0:
		n.Retransmits++
	case l == 0 && f&(wire.SYN|wire.FIN|wire.RST) == 0 && f.Has(wire.ACK) && seq+1 == x.sndMax:
		c.keepalive(t, from)
		x.kaRun = run + 1
	}
	if f.Has(wire.FIN) && !f.Has(wire.RST) {
		n.FINs++
		if seqGE(end+1, x.sndMax) {
			x.sndMax = end + 1
		}
	}
	if f.Has(wire.ACK) && !f.Has(wire.RST) {
		if l == 0 && f&(wire.SYN|wire.FIN) == 0 && x.haveAck && h.Ack == x.lastAck && h.Window == x.lastWin && y.haveSnd && seqLT(h.Ack, y.sndMax) {
			n.DupACKs++
		}
		x.lastAck, x.lastWin, x.haveAck = h.Ack, h.Window, true
	}
	if !f.Has(wire.RST) {
		if h.Window == 0 && !f.Has(wire.SYN) {
			if !x.zeroWin {
				if n.ZeroWindows == 0 {
					c.zwFirst[from] = t
				}
				n.ZeroWindows++
			}
			x.zeroWin = true
		} else {
			x.zeroWin = false
		}
	}
}

// keepalive counts a keepalive probe from side s.
func (c *conn) keepalive(t time.Duration, s Side) {
	if c.Sent[s].Keepalives == 0 {
		c.kaFirst[s] = t
	}
	c.Sent[s].Keepalives++
	e := &c.ep[s]
	e.kaUnanswd++
	e.kaGap, e.kaLast = t-e.kaLast, t
}

// record keeps segment p for the ladder while there is room: the first
// segments of any kind, then control segments only.
func (c *conn) record(t time.Duration, from Side, p *Packet) {
	h := &p.TCP
	ctl := h.Flags&(wire.SYN|wire.FIN|wire.RST) != 0
	room := c.opt.MaxSegments
	if room < 0 {
		c.Omitted++
		return
	}
	if !ctl {
		room = c.opt.MaxSegments * 3 / 4
	}
	if len(c.Segments) >= room {
		c.Omitted++
		return
	}
	x, y := &c.ep[from], &c.ep[from.other()]
	s := Segment{T: t, From: from, Flags: h.Flags, Seq: h.Seq - x.isn, Len: p.PayloadLen, Win: h.Window}
	if h.Flags.Has(wire.SYN) && !x.haveISN {
		s.Seq = 0
	}
	if h.Flags.Has(wire.ACK) {
		s.Ack = h.Ack
		if y.haveISN {
			s.Ack = h.Ack - y.isn
		}
	}
	c.Segments = append(c.Segments, s)
}

// has reports whether e waits for a segment of kind k.
func (e *endpoint) has(k pendKind) bool {
	for _, q := range e.pending {
		if q.kind == k {
			return true
		}
	}
	return false
}

// push queues q for e, keeping the queue bounded.
func (e *endpoint) push(q pend) {
	if e.pending == nil {
		e.pending = e.pendBuf[:0]
	}
	if len(e.pending) >= maxPending {
		copy(e.pending, e.pending[1:])
		e.pending = e.pending[:len(e.pending)-1]
	}
	e.pending = append(e.pending, q)
}

// queue records what segment p, from side from, may do to its receiver y
// once it arrives.
func (c *conn) queue(t time.Duration, from Side, y *endpoint, p *Packet) {
	h := &p.TCP
	f := h.Flags
	switch {
	case f.Has(wire.RST):
		y.push(pend{kind: pRST, t: t, seq: h.Seq, ack: h.Ack, hasACK: f.Has(wire.ACK)})
		return
	case f.Has(wire.SYN) && !f.Has(wire.ACK):
		if !y.has(pSYN) {
			y.push(pend{kind: pSYN, t: t, seq: h.Seq})
		}
		return
	case f.Has(wire.SYN | wire.ACK):
		if !y.has(pSYNACK) {
			y.push(pend{kind: pSYNACK, t: t, seq: h.Seq, ack: h.Ack, hasACK: true})
		}
		return
	}
	if !f.Has(wire.ACK) {
		return
	}
	if y.known && y.state == tcp.SynRcvd && y.haveISN && h.Ack == y.isn+1 && !y.has(pHSACK) {
		y.push(pend{kind: pHSACK, t: t, ack: h.Ack, hasACK: true})
	}
	acks := y.finSent && seqGE(h.Ack, y.finSeq+1)
	if f.Has(wire.FIN) {
		fin := h.Seq + uint32(p.PayloadLen)
		for i := range y.pending {
			if q := &y.pending[i]; q.kind == pFIN && q.seq == fin {
				if !q.again {
					q.first, q.again = q.t, true
				}
				q.t = t // a later copy: the one that got through, if any did
				return
			}
		}
		y.push(pend{kind: pFIN, t: t, seq: fin, ack: h.Ack, hasACK: true, acksFIN: acks && !y.finAcked})
		return
	}
	if acks && !y.finAcked && !y.has(pFINACK) {
		y.push(pend{kind: pFINACK, t: t, ack: h.Ack, hasACK: true})
	}
	if p.PayloadLen > 0 && y.finSent && !y.has(pData) {
		y.push(pend{kind: pData, t: t, seq: h.Seq + uint32(p.PayloadLen)})
	}
}

// pop removes x's first pending segment.
func (e *endpoint) pop() {
	copy(e.pending, e.pending[1:])
	e.pending = e.pending[:len(e.pending)-1]
}

// resolve uses the segment p that side from sent at t as evidence of
// what reached it before: an ACK that covers the peer's FIN proves the FIN
// arrived; a FIN sent again proves the peer's ACK of it did not.
func (c *conn) resolve(t time.Duration, from Side, p *Packet) {
	x := &c.ep[from]
	h := &p.TCP
	f := h.Flags
	synRetry := f&(wire.SYN|wire.ACK) == wire.SYN
	synackRetry := f.Has(wire.SYN|wire.ACK) && x.haveISN && h.Seq == x.isn
	finRetry := f.Has(wire.FIN) && x.finSent && h.Seq+uint32(p.PayloadLen) == x.finSeq
	covers := func(seq uint32) bool { return f.Has(wire.ACK) && seqGE(h.Ack, seq) }
	for len(x.pending) > 0 {
		q := x.pending[0]
		switch q.kind {
		case pSYN:
			switch {
			case f.Has(wire.SYN|wire.ACK) && h.Ack == q.seq+1:
				if !x.known { // else a SYN sent again, answered again
					x.state = tcp.Listen
					c.move(from, q.t, tcp.SynRcvd, "SYN received on a listener (RFC 9293 §3.10.7.2)", "")
				}
			case f.Has(wire.RST) && !x.known:
				c.refused = true
				c.note(t, "refused", "%s answered the SYN with RST: nothing listens on that port (connection refused, RFC 9293 §3.10.7.1)", c.name(from))
			default:
				return
			}
		case pSYNACK:
			switch {
			case synRetry:
				// the SYN-ACK did not arrive: the SYN went again
			case f.Has(wire.RST):
				return // sendRST decides
			case covers(q.seq+1) && x.known && x.state == tcp.SynSent:
				c.move(from, q.t, tcp.Established, "SYN-ACK received: our SYN is ACKed (RFC 9293 §3.10.7.3)", "")
			case f.Has(wire.ACK):
			default:
				return
			}
		case pHSACK:
			if !synackRetry && x.state == tcp.SynRcvd {
				c.move(from, q.t, tcp.Established, "ACK of our SYN-ACK received (RFC 9293 §3.10.7.4)", "")
			}
		case pFINACK:
			if finRetry {
				if len(x.finAckAt) < 8 {
					x.finAckAt = append(x.finAckAt, q.t)
				}
			} else {
				c.gotFINACK(from, q.t)
			}
		case pFIN:
			if !covers(q.seq + 1) {
				return
			}
			c.gotFIN(from, q)
		case pRST:
			if synRetry || f.Has(wire.RST) {
				c.gotRST(from, q)
			} else if x.known && x.state != tcp.Closed && x.haveAck && x.lastAck == q.seq && !f.Has(wire.SYN) {
				// A RST at exactly RCV.NXT is accepted (RFC 5961 §3.2):
				// one its receiver goes on past never reached it.
				c.note(q.t, "rst", "the RST at %s did not reach %s: lost beyond the capture point (its seq was the one %s expected, which resets; %s went on sending as if connected)", fmtT(q.t), c.name(from), c.name(from), c.name(from))
			} else if x.known && x.state != tcp.Closed {
				c.note(q.t, "challenge-ack", "%s ignored the RST at %s: it went on sending (an out-of-window RST, or a challenge ACK exchange, RFC 5961 §3.2)", c.name(from), fmtT(q.t))
			}
		case pData:
			if f.Has(wire.RST) {
				return // sendRST decides
			}
			if !covers(q.seq) {
				return
			}
		}
		x.pop()
	}
}

// gotFINACK: the peer's ACK of side s's FIN arrived at t.
func (c *conn) gotFINACK(s Side, t time.Duration) {
	e := &c.ep[s]
	if e.finAcked {
		return
	}
	e.finAcked = true
	switch e.state {
	case tcp.FinWait1:
		c.move(s, t, tcp.FinWait2, "our FIN is ACKed (RFC 9293 §3.10.7.4)", "")
	case tcp.Closing:
		c.move(s, t, tcp.TimeWait, "our FIN is ACKed in CLOSING (RFC 9293 §3.10.7.4)", "")
	case tcp.LastAck:
		c.move(s, t, tcp.Closed, "our FIN is ACKed in LAST_ACK (RFC 9293 §3.10.7.4)", "")
	}
}

// gotFIN: the peer's FIN q arrived at side s.
func (c *conn) gotFIN(s Side, q pend) {
	e := &c.ep[s]
	if q.again {
		// An ACK after the last copy covers them all: an earlier copy
		// may have arrived, its ACK lost before the capture point.
		old := c.guess
		defer func() { c.guess = old }()
		c.guess = fmt.Sprintf("which copy of the FIN arrived cannot be told: the first, at %s, may have, its ACK lost before the capture point", fmtT(q.first))
		if old != "" {
			c.guess = old + "; " + c.guess
		}
	}
	if q.acksFIN && e.state != tcp.FinWait1 {
		c.gotFINACK(s, q.t)
	}
	switch e.state {
	case tcp.Established, tcp.SynRcvd:
		c.move(s, q.t, tcp.CloseWait, "FIN received (RFC 9293 §3.10.7.4)", "")
	case tcp.FinWait1:
		if q.acksFIN {
			e.finAcked = true
			c.move(s, q.t, tcp.TimeWait, "FIN received and our FIN ACKed (RFC 9293 §3.10.7.4)", "")
		} else {
			c.move(s, q.t, tcp.Closing, "FIN received in FIN_WAIT_1: simultaneous close (RFC 9293 §3.10.7.4)", "")
		}
	case tcp.FinWait2:
		c.move(s, q.t, tcp.TimeWait, "FIN received in FIN_WAIT_2 (RFC 9293 §3.10.7.4)", "")
	case tcp.TimeWait:
		e.twEnd = q.t + c.opt.TimeWait
		c.note(q.t, "time-wait-reack", "%s in TIME_WAIT ACKed the retransmitted FIN again and restarted its %v (RFC 9293 §3.10.7.4)", c.name(s), c.opt.TimeWait)
	case tcp.CloseWait, tcp.LastAck, tcp.Closing:
		c.note(q.t, "dup-fin", "%s in %v ACKed the retransmitted FIN: its first ACK was lost", c.name(s), e.state)
	}
}

// gotRST: the peer's RST q reached side s.
func (c *conn) gotRST(s Side, q pend) {
	e := &c.ep[s]
	if !e.known {
		return
	}
	switch e.state {
	case tcp.SynSent:
		if q.hasACK && q.ack == e.isn+1 {
			c.move(s, q.t, tcp.Closed, "RST received in SYN_SENT: connection refused (RFC 9293 §3.10.7.3)", "")
		}
	case tcp.SynRcvd:
		c.move(s, q.t, tcp.Closed, "RST received in SYN_RCVD: connection refused (RFC 9293 §3.10.7.4)", "")
	case tcp.Established, tcp.FinWait1, tcp.FinWait2:
		c.move(s, q.t, tcp.Closed, "RST received: connection reset (RFC 9293 §3.10.7.4)", "")
	case tcp.CloseWait:
		c.move(s, q.t, tcp.Closed, "RST received in CLOSE_WAIT: writes fail with EPIPE (RFC 9293 §3.10.7.4, Linux tcp_reset)", "")
	case tcp.LastAck, tcp.Closing:
		c.move(s, q.t, tcp.Closed, "RST received: connection closed (RFC 9293 §3.10.7.4)", "")
	case tcp.TimeWait:
		c.move(s, q.t, tcp.Closed, "RST received in TIME_WAIT: record removed (Linux tcp_rfc1337=0)", "")
		c.note(q.t, "time-wait-assassination", "a RST ended %s's TIME_WAIT early: TIME_WAIT assassination (RFC 1337)", c.name(s))
	}
}

// sendFIN: side s sent a FIN in segment p at t.
func (c *conn) sendFIN(t time.Duration, s Side, p *Packet) {
	e := &c.ep[s]
	fin := p.TCP.Seq + uint32(p.PayloadLen)
	if p.TCP.Flags.Has(wire.SYN) {
		fin++
	}
	if e.finSent {
		if fin == e.finSeq {
			e.finCopies++
			e.finPrev, e.finLast = e.finLast, t
		}
		return
	}
	e.finSent, e.finSeq, e.finT, e.finCopies = true, fin, t, 1
	e.finLast, e.finPrev = t, t
	if !c.Closer {
		c.Closer, c.FirstFIN = true, s
	}
	switch e.state {
	case tcp.Established, tcp.SynRcvd:
		c.move(s, t, tcp.FinWait1, "shutdown(SHUT_WR) or close(): FIN queued (RFC 9293 §3.10.4)", "")
	case tcp.CloseWait:
		c.move(s, t, tcp.LastAck, "close() in CLOSE_WAIT: FIN queued (RFC 9293 §3.10.4)", "")
	}
}

// sendRST: side s sent the RST p at t. What it says about s depends on
// the state s was in and on what it answers.
func (c *conn) sendRST(t time.Duration, s Side, p *Packet) {
	e := &c.ep[s]
	peer := &c.ep[s.other()]
	f := p.TCP.Flags
	answersFIN, answersData := false, false
	for _, q := range e.pending {
		answersFIN = answersFIN || q.kind == pFIN
		answersData = answersData || q.kind == pData
	}
	if e.state == tcp.Established || e.state == tcp.CloseWait {
		answersData = peer.sentData && peer.lastData > e.prevT
	}
	e.pending = e.pending[:0]
	if !e.known {
		if !c.refused {
			c.note(t, "rst", "%s sent RST for a segment of a connection it does not have (a closed port, or state lost: a reboot, a half-open connection)", c.name(s))
		}
		return
	}
	e.abort, e.abortAt, e.abortFrom, e.abortT = true, len(c.States[s]), e.state, t
	switch e.state {
	case tcp.Established, tcp.CloseWait, tcp.SynRcvd:
		if !f.Has(wire.ACK) {
			if peer.haveAck && p.TCP.Seq == peer.lastAck && answersData {
				// The form of a RST for no connection: no ACK, the
				// segment's ACK for its seq.
				c.move(s, t, tcp.Closed, "connection state lost: RST for a segment to no connection (RFC 9293 §3.10.7.1)", "when the state was lost (a reboot, a crash) cannot be told")
				c.note(t, "half-open", "half-open connection: %s no longer knew it (rebooted or crashed) and answered the peer's data with RST; %s found out only when it sent", c.name(s), c.name(s.other()))
				return
			}
			if peer.haveAck && p.TCP.Seq == peer.lastAck && answersFIN {
				// The same form, to the peer's FIN: a live socket's RST
				// carries ACK (Linux tcp_send_active_reset), this one
				// came from no socket (tcp_v4_send_reset), as a side
				// whose FIN was lost before the capture point sends it
				// once its orphan retries are spent.
				c.move(s, t, tcp.Closed, "connection state lost: RST for a segment to no connection (RFC 9293 §3.10.7.1)", "when and how it ended cannot be told from this capture point")
				c.note(t, "rst", "%s no longer had the connection when the peer's FIN came: its RST has no ACK and takes its seq from the FIN's ACK, the answer to a segment for no connection (an abort's RST carries ACK); it had ended the connection out of this capture's sight (its own FIN lost before the capture point, then tcp_orphan_retries spent; FIN_WAIT_2 timed out) or lost its state (a reboot)", c.name(s))
				return
			}
			c.move(s, t, tcp.Closed, "connection aborted: RST sent (RFC 9293 §3.10.5)", "")
			c.note(t, "rst", "%s aborted the connection with RST", c.name(s))
			return
		}
		if e.kaUnanswd > 0 {
			c.move(s, t, tcp.Closed, fmt.Sprintf("keepalive: %d probes unanswered (Linux tcp_keepalive_timer): RST sent", e.kaUnanswd), "")
			c.note(t, "rst", "%s gave up on a silent peer after %d unanswered keepalive probes and reset the connection (its reads fail with ETIMEDOUT): the peer crashed or the path is gone", c.name(s), e.kaUnanswd)
			return
		}
		if gap := t - e.kaLast; e.kaRun > 1 && gap <= 2*e.kaGap && e.kaGap <= 2*gap {
			// Probes in a row though each was answered here, and the RST
			// about one interval after the last (timers and a busy path
			// stretch it), as the keepalive timer sends it: the answers
			// were lost beyond the capture point (an application's abort
			// comes at a time of its own).
			c.move(s, t, tcp.Closed, fmt.Sprintf("keepalive: %d probes unanswered (Linux tcp_keepalive_timer): RST sent", e.kaRun), "the answers this capture shows were lost beyond it")
			c.note(t, "rst", "%s gave up after %d unanswered keepalive probes and reset the connection (its reads fail with ETIMEDOUT): %s answered them, but the answers were lost beyond the capture point", c.name(s), e.kaRun, c.name(s.other()))
			return
		}
		unread := peer.sentData && (!e.sentData || peer.lastData > e.lastData)
		if unread {
			c.move(s, t, tcp.Closed, "close() with unread data: RST instead of FIN (RFC 2525 §2.17, Linux TCPAbortOnClose)", "likely: data from the peer arrived after this side last wrote")
			c.note(t, "rst", "%s reset the connection instead of closing it: close() with unread data in its receive buffer (RFC 2525 §2.17, Linux TCPAbortOnClose)", c.name(s))
		} else {
			c.move(s, t, tcp.Closed, "abort (SO_LINGER 0 close): RST sent (RFC 9293 §3.10.5)", "likely: nothing was left unread")
			c.note(t, "rst", "%s reset the connection with nothing unread: SO_LINGER {on, 0} before close(), or an abort", c.name(s))
		}
	case tcp.FinWait1, tcp.FinWait2:
		if answersData {
			c.move(s, t, tcp.Closed, "data arrived after close(): RST (RFC 1122 §4.2.2.13, Linux TCPAbortOnData)", "")
			c.note(t, "rst", "%s had called close() (not shutdown): the peer's data after its FIN drew RST (RFC 1122 §4.2.2.13, Linux TCPAbortOnData)", c.name(s))
			return
		}
		if e.state == tcp.FinWait2 {
			end := e.entered + c.opt.FinTimeout
			if end <= t {
				c.move(s, end, tcp.Closed, "orphaned FIN_WAIT_2 timed out (Linux tcp_fin_timeout)", "")
				c.note(t, "fin-wait-2-timeout", "%s left FIN_WAIT_2 after %v (tcp_fin_timeout): the peer's late %s drew RST", c.name(s), c.opt.FinTimeout, late(answersFIN))
			} else {
				c.move(s, t, tcp.Closed, "orphaned FIN_WAIT_2 timed out (Linux tcp_fin_timeout)", fmt.Sprintf("gone before %v in FIN_WAIT_2: a TCP_LINGER2 shorter than %v", round(t-e.entered), c.opt.FinTimeout))
				c.note(t, "fin-wait-2-timeout", "%s had forgotten the connection in FIN_WAIT_2: the peer's late %s drew RST", c.name(s), late(answersFIN))
			}
			return
		}
		if e.finCopies > 1 {
			gap := t - e.finT
			c.move(s, c.orphanEnd(s, t), tcp.Closed, "orphan retries exhausted (Linux tcp_orphan_retries): dropped without RST", "time estimated from the FIN's backoff")
			c.note(t, "orphan-retries", "%s sent its FIN %d times with no ACK, gave up (tcp_orphan_retries) and forgot the connection; the peer's later segment drew RST %v after the first FIN", c.name(s), e.finCopies, round(gap))
			return
		}
		c.move(s, t, tcp.Closed, "connection aborted: RST sent (RFC 9293 §3.10.5)", "")
		c.note(t, "rst", "%s aborted the connection with RST after its FIN", c.name(s))
	case tcp.TimeWait:
		end := e.twEnd
		if end <= t {
			c.move(s, end, tcp.Closed, "TIME_WAIT expired (2MSL, Linux TCP_TIMEWAIT_LEN)", "")
		} else {
			c.move(s, e.entered, tcp.Closed, "TIME_WAIT expired (2MSL, Linux TCP_TIMEWAIT_LEN)", fmt.Sprintf("TIME_WAIT lasted less than %v: it was gone before %s", c.opt.TimeWait, fmtT(t)))
		}
		c.note(t, "no-time-wait", "%s no longer held TIME_WAIT: the peer's retransmitted FIN drew RST, and the peer's close fails; TIME_WAIT exists to ACK it", c.name(s))
	case tcp.Closing, tcp.LastAck:
		c.move(s, t, tcp.Closed, "connection aborted: RST sent (RFC 9293 §3.10.5)", "")
		c.note(t, "rst", "%s aborted the connection with RST while closing", c.name(s))
	case tcp.Closed:
		c.note(t, "rst", "%s, with no connection left, answered a late segment with RST", c.name(s))
	}
}

// late names the peer's segment that drew a RST.
func late(fin bool) string {
	if fin {
		return "FIN"
	}
	return "segment"
}

// orphanEnd estimates when side s, retransmitting its FIN with doubling
// timeouts, gave up: one more backoff after its last copy.
func (c *conn) orphanEnd(s Side, before time.Duration) time.Duration {
	e := &c.ep[s]
	end := e.finLast + 2*(e.finLast-e.finPrev)
	if end > before {
		end = before
	}
	return end
}

// resolveEnd applies what is still waiting as the capture (or the
// connection's quiet time) ends: ACKs and RSTs are taken as arrived (no
// retransmission says otherwise), FINs and data that no ACK covers are
// not.
func (c *conn) resolveEnd(now time.Duration) {
	c.guess = "no later segment shows it arrived, nor that it was lost"
	defer func() { c.guess = "" }()
	for {
		best, bs := time.Duration(-1), Side(-1)
		for s := Client; s <= Server; s++ {
			for _, q := range c.ep[s].pending {
				if q.kind == pFINACK || q.kind == pHSACK || q.kind == pRST {
					if bs < 0 || q.t < best {
						best, bs = q.t, s
					}
					break
				}
			}
		}
		if bs < 0 {
			return
		}
		e := &c.ep[bs]
		for i, q := range e.pending {
			if q.kind != pFINACK && q.kind != pHSACK && q.kind != pRST {
				continue
			}
			e.pending = append(e.pending[:i], e.pending[i+1:]...)
			switch q.kind {
			case pFINACK:
				c.gotFINACK(bs, q.t)
			case pHSACK:
				if e.state == tcp.SynRcvd {
					c.move(bs, q.t, tcp.Established, "ACK of our SYN-ACK received (RFC 9293 §3.10.7.4)", "")
				}
			case pRST:
				c.gotRST(bs, q)
			}
			break
		}
	}
}

// quiesce settles what a quiet connection's pending segments did.
func (c *conn) quiesce() { c.resolveEnd(c.lastSeen) }

// over reports whether nothing more can happen to c: each side with a
// connection has closed it (TIME_WAIT included, whose end the caller
// checks by time).
func (c *conn) over() bool {
	for s := Client; s <= Server; s++ {
		e := &c.ep[s]
		if e.known && e.state != tcp.Closed && e.state != tcp.TimeWait {
			return false
		}
	}
	return true
}

// overSoon reports whether c will be over once the segments on their way
// arrive: each side with a connection has closed it, holds TIME_WAIT, or
// waits only for the ACK of its FIN or for a RST.
func (c *conn) overSoon() bool {
	for s := Client; s <= Server; s++ {
		e := &c.ep[s]
		if !e.known || e.state == tcp.Closed || e.state == tcp.TimeWait || e.has(pRST) {
			continue
		}
		if (e.state == tcp.LastAck || e.state == tcp.Closing) && e.has(pFINACK) {
			continue
		}
		return false
	}
	return true
}

// dormant reports whether no side of c holds an open connection: each
// is unknown, never got past the handshake, or has closed.
func (c *conn) dormant() bool {
	for s := Client; s <= Server; s++ {
		e := &c.ep[s]
		if e.known && e.state >= tcp.Established && e.state != tcp.TimeWait {
			return false
		}
	}
	return true
}

// round shortens a duration for a finding.
func round(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(time.Second)
	case d >= time.Second:
		return d.Round(time.Millisecond)
	default:
		return d.Round(time.Microsecond)
	}
}

// fmtT writes a capture time as seconds since the first packet.
func fmtT(t time.Duration) string { return fmt.Sprintf("%.6fs", t.Seconds()) }
