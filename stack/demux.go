package stack

import (
	"net/netip"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/seq"
	"github.com/tcpwave/tcpwave/tcp"
	"github.com/tcpwave/tcpwave/wire"
)

// HandlePacket takes one IP packet from the link. Malformed packets,
// packets for other hosts and packets Linux's input rules refuse are
// counted and dropped (input); the rest go to their connection, TIME_WAIT
// record or listener, or draw a RST.
func (s *Stack) HandlePacket(now clock.Instant, pkt []byte) {
	s.handle(now, pkt, false)
}

// HandleCheckedPacket is HandlePacket for a packet whose TCP checksum the
// link vouches for (link.ChecksumOffloader): the link, or the device or
// kernel behind it, verified it, or the packet comes from a local sender
// that left it partial for the link to complete (virtio-net's DATA_VALID
// and NEEDS_CSUM, Linux's CHECKSUM_UNNECESSARY and CHECKSUM_PARTIAL). Its
// checksum is not verified again, as Linux does not verify it; every other
// check is HandlePacket's.
func (s *Stack) HandleCheckedPacket(now clock.Instant, pkt []byte) {
	s.handle(now, pkt, true)
}

// handle is HandlePacket, with the TCP checksum vouched for if checked.
func (s *Stack) handle(now clock.Instant, pkt []byte, checked bool) {
	in := inbound{checked: checked}
	if err := s.input(pkt, &in); err != nil {
		s.dropped(now, pkt, err)
		return
	}
	p := &in.p
	seg := tcp.Segment{
		Seq: seq.Value(p.TCP.Seq), Ack: seq.Value(p.TCP.Ack), Flags: p.TCP.Flags,
		Wnd: p.TCP.Window, Opts: p.TCP.Options, Payload: p.Payload,
	}
	t := Tuple{Local: netip.AddrPortFrom(p.Dst, p.TCP.DstPort), Remote: netip.AddrPortFrom(p.Src, p.TCP.SrcPort)}
	if in.mute {
		s.muteArrive(now, pkt, t, &seg)
		return
	}
	so := s.conns[t]
	var tw uint32
	var l *Socket
	if so == nil {
		if tw = s.findTimeWait(t); tw == 0 {
			l = s.findListener(t)
		}
	}
	if so != nil || l != nil {
		if err := s.authDrop(&in); err != nil {
			s.dropped(now, pkt, err)
			return
		}
	}
	if s.obs != nil {
		s.obs.PacketReceived(now, pkt)
	}
	if so != nil {
		s.connArrive(now, so, &seg)
		return
	}
	if tw != 0 {
		s.timeWaitArrive(now, tw, &seg)
		return
	}
	if l != nil {
		s.listenArrive(now, l, t, &seg, 0, false)
		return
	}
	s.strayArrive(t, &seg)
}

// connArrive hands a segment to its connection.
func (s *Stack) connArrive(now clock.Instant, so *Socket, seg *tcp.Segment) {
	if so.parent != nil && so.conn.State() == tcp.SynRcvd && seg.Flags&(wire.ACK|wire.RST|wire.SYN) == wire.ACK &&
		acceptQFull(so.parent) {
		// Linux drops the handshake's last ACK while the accept queue is
		// full; the SYN-ACK is retransmitted later. A RST or SYN is not
		// that ACK: tcp_check_req handles them before the queue test.
		s.counters.ListenOverflows++
		s.counters.ListenDrops++
		return
	}
	so.conn.HandleSegment(now, seg)
	s.after(so)
}

// dropped tells the observer that pkt was dropped, and why.
func (s *Stack) dropped(now clock.Instant, pkt []byte, err error) {
	if s.obs != nil {
		s.obs.PacketDropped(now, pkt, err)
	}
}

// muteArrive takes a segment no reply can go to (inbound.mute): it is
// never answered and makes no state. A SYN a listener would take counts as
// that listener's drop, as Linux counts a SYN to a broadcast or multicast
// address (tcp_v4_conn_request, tcp_v6_conn_request) and one whose SYN-ACK
// has no route.
func (s *Stack) muteArrive(now clock.Instant, pkt []byte, t Tuple, seg *tcp.Segment) {
	if seg.Flags&(wire.SYN|wire.ACK|wire.RST|wire.FIN) == wire.SYN && s.findListener(t) != nil {
		s.counters.ListenDrops++
	}
	s.dropped(now, pkt, errMute)
}

type stackError string

func (e stackError) Error() string { return string(e) }

// findListener finds the listener for a local address: an exact match
// first, then the wildcard; within a SO_REUSEPORT group the 4-tuple's hash
// picks one.
func (s *Stack) findListener(t Tuple) *Socket {
	ls := s.listeners[t.Local]
	if len(ls) == 0 {
		wild := netip.IPv4Unspecified()
		if t.Local.Addr().Is6() {
			wild = netip.IPv6Unspecified()
		}
		ls = s.listeners[netip.AddrPortFrom(wild, t.Local.Port())]
	}
	switch len(ls) {
	case 0:
		return nil
	case 1:
		return ls[0]
	}
	return ls[s.hash32(t, 1)%uint32(len(ls))]
}

// listenArrive is RFC 9293 §3.10.7.2, LISTEN, with Linux's SYN queue
// and SYN cookies (tcp_conn_request).
func (s *Stack) listenArrive(now clock.Instant, l *Socket, t Tuple, seg *tcp.Segment, isn seq.Value, haveISN bool) {
	switch {
	case seg.Flags&wire.RST != 0:
		return // first: ignore a RST
	case seg.Flags&wire.ACK != 0:
		if s.cookieArrive(now, l, t, seg) {
			return
		}
		s.reply(t, seg.Ack, 0, wire.RST) // second: <SEQ=SEG.ACK><CTL=RST>
		return
	case seg.Flags&wire.SYN == 0:
		return // fourth: anything else is dropped
	case seg.Flags&wire.FIN != 0:
		return // Linux tcp_rcv_state_process (LISTEN): a SYN with FIN is discarded
	}
	// third: a SYN. A SYN that reopens a TIME_WAIT 4-tuple (haveISN)
	// skips the SYN queue test: "the peer is evidently real" (Linux).
	wantCookie := false
	if (s.opts.SynCookies == 2 || synQFull(l)) && !haveISN {
		if s.opts.SynCookies == 0 {
			s.counters.ListenDrops++ // Linux TCPReqQFullDrop
			return
		}
		wantCookie = true // Linux TCPReqQFullDoCookies
	}
	if acceptQFull(l) {
		s.counters.ListenOverflows++
		s.counters.ListenDrops++
		return
	}
	if wantCookie {
		s.sendCookie(now, l, t, seg)
		return
	}
	if !haveISN {
		if s.synBacklogReserved(l) {
			s.counters.ListenDrops++
			return
		}
		isn = s.isn(now, t)
	}
	c := s.newChild(l, t)
	c.conn = tcp.NewPassive(s.sockConfig(l, t.Local.Addr()), c, now, isn, s.tsOffset(t), seg)
	s.adopt(now, c)
}

// newChild makes the socket of a connection listener l takes for tuple t;
// the caller gives it its connection and then calls adopt.
func (s *Stack) newChild(l *Socket, t Tuple) *Socket {
	return &Socket{st: s, tuple: t, parent: l, reuseAddr: l.reuseAddr, reusePort: l.reusePort,
		rcvBuf: l.rcvBuf, sndBuf: l.sndBuf, cfg: l.cfg, cfgBase: l.cfgBase}
}

// adopt enters a new child connection in the stack: the options its
// listener kept for its connections, demux, the port it holds, and its
// first output and timer.
func (s *Stack) adopt(now clock.Instant, c *Socket) {
	c.parent.early.apply(now, c.conn)
	c.phase = phaseOpen
	s.addConn(c)
	s.hold(c.tuple.Local.Port(), c)
	s.after(c)
}

// synQFull is Linux's inet_csk_reqsk_queue_is_full: more half-open
// connections than the listener's backlog.
func synQFull(l *Socket) bool { return l.synRcvd > l.backlog }

// synBacklogReserved is tcp_conn_request's tcp_max_syn_backlog test,
// which applies only without SYN cookies: the last quarter of
// MaxSynBacklog half-open connections is kept for peers proven alive
// (by Linux's TCP metrics cache, which tcpwave does not keep, so no peer
// is), and a SYN beyond it is dropped.
func (s *Stack) synBacklogReserved(l *Socket) bool {
	m := s.opts.MaxSynBacklog
	return s.opts.SynCookies == 0 && m-l.synRcvd < m>>2
}

// acceptQFull is Linux's sk_acceptq_is_full: the queue is full only when
// it holds more than the backlog, so listen(fd, N) queues N+1 connections.
func acceptQFull(l *Socket) bool { return len(l.acceptQ) > l.backlog }

// strayArrive is RFC 9293 §3.10.7.1: a segment for no connection draws a
// RST unless it is one.
func (s *Stack) strayArrive(t Tuple, seg *tcp.Segment) {
	switch {
	case seg.Flags&wire.RST != 0:
	case seg.Flags&wire.ACK != 0:
		s.reply(t, seg.Ack, 0, wire.RST)
	default:
		s.reply(t, 0, seg.Seq.Add(seg.Len()), wire.RST|wire.ACK)
	}
}

// reply queues a control segment made by the stack.
func (s *Stack) reply(t Tuple, sq, ack seq.Value, flags wire.Flags) {
	s.ctl = append(s.ctl, ctlSeg{t: t, seg: tcp.Segment{Seq: sq, Ack: ack, Flags: flags}})
}

// LossCache implements tcp.LossCacher for the socket's connection: its
// loss state comes from the stack's cache and goes back to it when the
// stack forgets the connection (detach). It is called by the connection,
// not by users.
func (so *Socket) LossCache() *tcp.LossCache { return &so.st.losses }

// StateChanged implements tcp.Observer for the socket's connection; it is
// called by the connection, not by users.
func (so *Socket) StateChanged(now clock.Instant, c *tcp.Conn, from, to tcp.State, why string) {
	s := so.st
	if l := so.parent; l != nil && from == tcp.Listen && to == tcp.SynRcvd {
		l.synRcvd++ // a SYN, or an ACK that returned a SYN cookie
	}
	if l := so.parent; l != nil && from == tcp.SynRcvd {
		l.synRcvd--
		if to == tcp.Established {
			l.acceptQ = append(l.acceptQ, so)
			s.touch(l)
		}
	}
	s.stateChanged(now, so, from, to, why)
}
