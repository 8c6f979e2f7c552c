package stack

import (
	"strings"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/tcp"
	"github.com/tcpwave/tcpwave/wire"
)

// twSetup is a connection A closed first: A holds a TIME_WAIT record.
type twSetup struct {
	f              *fixture
	a, b           *node
	l              *Socket
	client, server *Socket
	finA, finB     pkt           // the two FINs
	entered        clock.Instant // when A entered TIME_WAIT
}

func (s *twSetup) rcvNxt() uint32 { return s.finB.p.TCP.Seq + 1 } // A's RCV.NXT
func (s *twSetup) sndNxt() uint32 { return s.finA.p.TCP.Seq + 1 } // A's SND.NXT

func newTimeWait(t testing.TB, opts ...opt) *twSetup {
	t.Helper()
	f, a, b := pair(t, opts...)
	s := &twSetup{f: f, a: a, b: b}
	s.l = f.listen(b, port, 8)
	s.client, s.server = f.connect(a, b, s.l)
	f.closeBoth(s.client, s.server)
	fins := f.sent("A", hasFlags(wire.FIN))
	finsB := f.sent("B", hasFlags(wire.FIN))
	if len(fins) != 1 || len(finsB) != 1 {
		t.Fatalf("FINs: A %d, B %d; want 1 each", len(fins), len(finsB))
	}
	s.finA, s.finB = fins[0], finsB[0]
	rows := rowsOf(a, f.now, tcp.TimeWait)
	if len(rows) != 1 {
		t.Fatalf("A's rows %+v, want one TIME_WAIT", a.st.Connections(f.now))
	}
	for _, e := range a.obs.of("state") {
		if e.to == tcp.TimeWait {
			s.entered = e.at
		}
	}
	if s.entered == 0 {
		t.Fatal("no state event to TIME_WAIT")
	}
	return s
}

// twRow returns A's TIME_WAIT row, or nil.
func (s *twSetup) twRow() *ConnInfo {
	rows := rowsOf(s.a, s.f.now, tcp.TimeWait)
	if len(rows) == 0 {
		return nil
	}
	return &rows[0]
}

// TestTimeWaitRetransmittedFin: a retransmitted FIN in TIME_WAIT is ACKed
// again and restarts the 2MSL timer (RFC 9293 §3.10.7.4; Linux
// tcp_timewait_state_process), so the record outlives its first expiry.
func TestTimeWaitRetransmittedFin(t *testing.T) {
	s := newTimeWait(t)
	f, a := s.f, s.a
	tw := a.st.opts.TCP.TimeWait
	row := s.twRow()
	if row.Timer != "timewait" || row.TimerLeft != tw-f.now.Sub(s.entered) {
		t.Errorf("row %+v, want timer timewait with %v left", row, tw-f.now.Sub(s.entered))
	}
	f.run(10 * time.Second)
	// B is gone (CLOSED after LAST_ACK): it would answer the re-ACK with a
	// RST that kills the record (RFC 1337's hazard), so A's packets are lost.
	f.drop = func(from string, _ *wire.Packet) bool { return from == "A" }
	mark := f.now
	f.deliver(a, s.finB.raw)
	out := f.since(mark)
	if len(out) != 1 {
		t.Fatalf("A sent %v for the retransmitted FIN, want one ACK", out)
	}
	ack := out[0].p.TCP
	if ack.Flags != wire.ACK || ack.Seq != s.sndNxt() || ack.Ack != s.rcvNxt() {
		t.Errorf("A sent %v seq %d ack %d, want . seq %d ack %d", ack.Flags, ack.Seq, ack.Ack, s.sndNxt(), s.rcvNxt())
	}
	if !ack.Options.HasTimestamp || ack.Options.TSEcr != s.finB.p.TCP.Options.TSVal {
		t.Errorf("ACK options %+v, want a timestamp echoing %d", ack.Options, s.finB.p.TCP.Options.TSVal)
	}
	if row := s.twRow(); row == nil || row.TimerLeft != tw {
		t.Errorf("row %+v after the re-ACK, want %v left", row, tw)
	}
	f.runUntil(s.entered.Add(tw + time.Millisecond))
	if s.twRow() == nil {
		t.Fatal("record gone at its first expiry although the timer was restarted")
	}
	f.runUntil(mark.Add(tw - 1))
	if s.twRow() == nil {
		t.Fatal("record gone before its restarted timer ran out")
	}
	f.runUntil(mark.Add(tw))
	if s.twRow() != nil {
		t.Fatalf("record still there at %v", f.now)
	}
	last := a.obs.of("state")[len(a.obs.of("state"))-1]
	if last.from != tcp.TimeWait || last.to != tcp.Closed || last.at != mark.Add(tw) {
		t.Errorf("last state event %v->%v at %v, want TIME_WAIT->CLOSED at %v", last.from, last.to, last.at, mark.Add(tw))
	}
	if c := a.st.Counters(); c.TW != 1 {
		t.Errorf("TW %d, want 1", c.TW)
	}
}

// TestTimeWaitSegments: what each kind of segment does to a TIME_WAIT
// record (Linux tcp_timewait_state_process with tcp_rfc1337=0).
func TestTimeWaitSegments(t *testing.T) {
	tests := []struct {
		name   string
		flags  wire.Flags
		seq    func(s *twSetup) uint32
		data   string
		reply  bool // an ACK of RCV.NXT
		killed bool
	}{
		{"RST at RCV.NXT", wire.RST, (*twSetup).rcvNxt, "", false, true},
		{"RST ACK at RCV.NXT", wire.RST | wire.ACK, (*twSetup).rcvNxt, "", false, true},
		{"RST beyond RCV.NXT", wire.RST, func(s *twSetup) uint32 { return s.rcvNxt() + 1 }, "", false, false},
		{"RST below RCV.NXT", wire.RST, func(s *twSetup) uint32 { return s.rcvNxt() - 1 }, "", false, false},
		{"bare ACK at RCV.NXT", wire.ACK, (*twSetup).rcvNxt, "", false, false},
		{"old data", wire.ACK | wire.PSH, func(s *twSetup) uint32 { return s.rcvNxt() - 5 }, "old", true, false},
		{"new data", wire.ACK | wire.PSH, (*twSetup).rcvNxt, "new", true, false},
		{"retransmitted FIN", wire.ACK | wire.FIN, func(s *twSetup) uint32 { return s.rcvNxt() - 1 }, "", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTimeWait(t)
			f, a := s.f, s.a
			mark := f.now
			p := segment(ap(addrB, port), s.client.Local(), tt.flags, tt.seq(s), s.sndNxt(), tt.data)
			f.deliver(a, build(t, p))
			out := f.since(mark)
			switch {
			case tt.reply && (len(out) != 1 || out[0].p.TCP.Flags != wire.ACK || out[0].p.TCP.Ack != s.rcvNxt() || out[0].p.TCP.Seq != s.sndNxt()):
				t.Errorf("A sent %v, want one ACK of %d", out, s.rcvNxt())
			case !tt.reply && len(out) != 0:
				t.Errorf("A sent %v, want nothing", out)
			}
			if got := s.twRow() == nil; got != tt.killed {
				t.Errorf("record removed: %v, want %v", got, tt.killed)
			}
			c := a.st.Counters()
			if want := map[bool]uint64{true: 1}[tt.killed]; c.TWKilled != want {
				t.Errorf("TWKilled %d, want %d", c.TWKilled, want)
			}
			if tt.killed {
				ev := a.obs.of("state")
				if e := ev[len(ev)-1]; e.from != tcp.TimeWait || e.to != tcp.Closed || !strings.Contains(e.why, "RST") {
					t.Errorf("last state event %v->%v %q", e.from, e.to, e.why)
				}
				if !a.st.Idle() {
					t.Errorf("A not idle after the record was killed")
				}
			}
		})
	}
}

// TestTimeWaitExpiry: the record goes exactly Options.TCP.TimeWait after
// the connection entered TIME_WAIT, and the host is idle afterwards.
func TestTimeWaitExpiry(t *testing.T) {
	const tw = 5 * time.Second
	s := newTimeWait(t, func(o *Options) { o.TCP.TimeWait = tw })
	f, a, b := s.f, s.a, s.b
	if d := a.st.Deadline(); d != s.entered.Add(tw) {
		t.Errorf("Deadline %v, want %v", d, s.entered.Add(tw))
	}
	if a.st.Idle() {
		t.Error("A idle while holding TIME_WAIT")
	}
	f.runUntil(s.entered.Add(tw - 1))
	if s.twRow() == nil {
		t.Fatal("record gone early")
	}
	f.runUntil(s.entered.Add(tw))
	if s.twRow() != nil {
		t.Fatal("record not gone on time")
	}
	ev := a.obs.of("state")
	if e := ev[len(ev)-1]; e.at != s.entered.Add(tw) || e.from != tcp.TimeWait || !strings.Contains(e.why, "expired") {
		t.Errorf("last state event %+v", e)
	}
	if !a.st.Idle() || a.st.Deadline() != clock.Never {
		t.Errorf("A: Idle %v, Deadline %v after the record expired", a.st.Idle(), a.st.Deadline())
	}
	if b.st.Idle() {
		t.Error("B idle with a listener")
	}
	s.l.Close(f.now)
	if !b.st.Idle() {
		t.Errorf("B not idle: %+v", b.st.Connections(f.now))
	}
}

// TestTimeWaitZero: with TimeWait 0 the connection leaves no record.
func TestTimeWaitZero(t *testing.T) {
	f, a, b := pair(t, func(o *Options) { o.TCP.TimeWait = 0 })
	l := f.listen(b, port, 8)
	c, srv := f.connect(a, b, l)
	f.closeBoth(c, srv)
	if rows := a.st.Connections(f.now); len(rows) != 0 {
		t.Errorf("A rows %+v, want none", rows)
	}
}

// TestTimeWaitReuse: a new SYN with a newer timestamp on a 4-tuple in
// TIME_WAIT opens a new connection at once (RFC 6191; Linux TCP_TW_SYN),
// with ISN tw_snd_nxt + 65535 + 2, and counts in TWRecycled.
func TestTimeWaitReuse(t *testing.T) {
	f, a, b := pair(t)
	l := f.listen(b, port, 8, func(so *Socket) { so.SetReuseAddr(true) })
	c := f.dial(a, b, port, 5000)
	f.run(10 * time.Millisecond)
	srv, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	f.closeBoth(srv, c) // the server closes first: B holds TIME_WAIT
	if len(rowsOf(b, f.now, tcp.TimeWait)) != 1 {
		t.Fatalf("B rows %+v", b.st.Connections(f.now))
	}
	finB := f.sent("B", hasFlags(wire.FIN))[0]
	f.run(time.Second)
	mark := f.now
	c2 := f.dial(a, b, port, 5000)
	f.run(10 * time.Millisecond)
	if c2.State() != tcp.Established {
		t.Fatalf("second connection %v", c2.State())
	}
	synack := f.sent("B", hasFlags(wire.SYN|wire.ACK))
	last := synack[len(synack)-1]
	if last.at < mark {
		t.Fatal("no new SYN-ACK")
	}
	if want := finB.p.TCP.Seq + 1 + 65535 + 2; last.p.TCP.Seq != want {
		t.Errorf("new ISN %d, want tw_snd_nxt+65537 = %d", last.p.TCP.Seq, want)
	}
	if k := b.st.Counters(); k.TWRecycled != 1 || k.TWKilled != 0 {
		t.Errorf("TWRecycled %d TWKilled %d, want 1 0", k.TWRecycled, k.TWKilled)
	}
	if len(rowsOf(b, f.now, tcp.TimeWait)) != 0 {
		t.Errorf("TIME_WAIT row left: %+v", b.st.Connections(f.now))
	}
	if _, err := l.Accept(); err != nil {
		t.Errorf("accept the new connection: %v", err)
	}
}

// TestTimeWaitOldSyn: without timestamps, a SYN whose sequence number is
// not above RCV.NXT does not reopen the 4-tuple: TIME_WAIT answers with
// its ACK, the client's RST for that ACK (RFC 9293 §3.10.7.3) kills the
// record (tcp_rfc1337=0), and the client's retransmitted SYN gets through.
func TestTimeWaitOldSyn(t *testing.T) {
	isn := uint32(1000)
	f, a, b := pair(t, func(o *Options) {
		o.TCP.Timestamps = false
		o.ISN = func(clock.Instant, Tuple) uint32 { return isn }
	})
	l := f.listen(b, port, 8)
	c := f.dial(a, b, port, 5000)
	f.run(10 * time.Millisecond)
	srv, _ := l.Accept()
	f.closeBoth(srv, c)
	isn = 500 // below the old connection's RCV.NXT at B (1002)
	mark := f.now
	c2 := f.dial(a, b, port, 5000)
	f.run(10 * time.Millisecond)
	out := f.since(mark)
	if len(out) != 3 || out[0].p.TCP.Flags != wire.SYN || out[1].p.TCP.Flags != wire.ACK || out[2].p.TCP.Flags != wire.RST {
		t.Fatalf("wire %v, want S, TIME_WAIT's ., then R", out)
	}
	if out[1].p.TCP.Ack != 1002 || out[2].p.TCP.Seq != 1002 {
		t.Errorf("TIME_WAIT ACK %d, RST seq %d; want 1002, 1002", out[1].p.TCP.Ack, out[2].p.TCP.Seq)
	}
	if k := b.st.Counters(); k.TWKilled != 1 || k.TWRecycled != 0 {
		t.Errorf("TWKilled %d TWRecycled %d, want 1 0", k.TWKilled, k.TWRecycled)
	}
	f.run(time.Second)
	if c2.State() != tcp.Established {
		t.Errorf("second connection %v after the SYN retransmission", c2.State())
	}
}

// TestTimeWaitSynWithoutListener: a SYN that could reopen a TIME_WAIT
// 4-tuple but finds no listener is ACKed like any other segment (Linux
// tcp_v4_rcv: TCP_TW_SYN falls through to TCP_TW_ACK).
func TestTimeWaitSynWithoutListener(t *testing.T) {
	s := newTimeWait(t, func(o *Options) { o.TCP.Timestamps = false })
	f, a := s.f, s.a
	mark := f.now
	syn := segment(ap(addrB, port), s.client.Local(), wire.SYN, s.rcvNxt()+100000, 0, "")
	f.deliver(a, build(t, syn))
	out := f.since(mark)
	if len(out) != 1 || out[0].p.TCP.Flags != wire.ACK || out[0].p.TCP.Ack != s.rcvNxt() || out[0].p.TCP.Seq != s.sndNxt() {
		t.Fatalf("A sent %v, want one ACK seq %d ack %d", out, s.sndNxt(), s.rcvNxt())
	}
	if s.twRow() == nil {
		t.Error("record gone")
	}
}

// TestTimeWaitManyExpireInOrder: 10,000 TIME_WAIT records entered one per
// millisecond each expire exactly TimeWait after they entered, in the
// order they entered, and leave the expiry queue empty.
func TestTimeWaitManyExpireInOrder(t *testing.T) {
	const n = 10000
	f, a, b := pair(t, func(o *Options) { o.SomaxConn, o.MaxSynBacklog = n, n })
	f.nolog = true
	l := f.listen(b, port, n)
	clients := make([]*Socket, n)
	for i := range clients {
		clients[i] = f.dial(a, b, port, 0)
	}
	f.run(10 * time.Millisecond)
	servers := map[Tuple]*Socket{}
	for {
		s, err := l.Accept()
		if err != nil {
			break
		}
		servers[Tuple{Local: s.Remote(), Remote: s.Local()}] = s
	}
	if len(servers) != n {
		t.Fatalf("accepted %d of %d", len(servers), n)
	}
	// Client i closes at i ms; its server closes when the FIN is there;
	// the server's FIN puts the client in TIME_WAIT one latency later.
	a.obs.events = nil
	for _, c := range clients {
		c.Close(f.now)
		f.run(time.Millisecond)
		servers[Tuple{Local: c.Local(), Remote: c.Remote()}].Close(f.now)
	}
	f.run(a.st.opts.TCP.TimeWait + time.Second)

	tw := a.st.opts.TCP.TimeWait
	entered := map[Tuple]clock.Instant{}
	var order []Tuple
	for _, e := range a.obs.of("state") {
		switch {
		case e.to == tcp.TimeWait:
			entered[e.t] = e.at
		case e.from == tcp.TimeWait && e.to == tcp.Closed:
			in, ok := entered[e.t]
			if !ok {
				t.Fatalf("%v expired without entering", e.t)
			}
			if e.at != in.Add(tw) {
				t.Errorf("%v entered at %v, expired at %v, want %v", e.t, in, e.at, in.Add(tw))
			}
			order = append(order, e.t)
		}
	}
	if len(entered) != n || len(order) != n {
		t.Fatalf("%d entered, %d expired; want %d", len(entered), len(order), n)
	}
	for i, c := range clients {
		if order[i] != (Tuple{Local: c.Local(), Remote: c.Remote()}) {
			t.Fatalf("expiry %d is %v, want %v (the entry order)", i, order[i], c.Local())
		}
	}
	if k := a.st.Counters(); k.TW != n || !a.st.Idle() || a.st.tw.first() != 0 || len(a.st.bound) != 0 || a.st.tw.ports.len() != 0 {
		t.Errorf("TW %d, idle %v, queue head %d, ports held %d+%d", k.TW, a.st.Idle(), a.st.tw.first(), len(a.st.bound), a.st.tw.ports.len())
	}
}
