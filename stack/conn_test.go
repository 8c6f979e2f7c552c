package stack

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/tcp"
	"github.com/tcpwave/tcpwave/wire"
)

// readAll reads what so has now.
func readAll(t *testing.T, so *Socket, now clock.Instant) ([]byte, error) {
	t.Helper()
	var got []byte
	buf := make([]byte, 4096)
	for {
		n, err := so.Read(now, buf)
		got = append(got, buf[:n]...)
		if err != nil {
			if errors.Is(err, syscall.EAGAIN) {
				err = nil
			}
			return got, err
		}
	}
}

// TestPollPacketMTUBuffer: PollPacket's contract is a buffer of MTU bytes;
// full-sized segments (MSS 1460 on a 1500-byte MTU) must come out of one.
func TestPollPacketMTUBuffer(t *testing.T) {
	for _, ts := range []bool{true, false} {
		f, a, b := pair(t, func(o *Options) { o.TCP.Timestamps = ts })
		f.bufLen = a.st.opts.MTU
		l := f.listen(b, port, 8)
		c, s := f.connect(a, b, l)
		data := bytes.Repeat([]byte("0123456789abcdef"), 1000)
		if n, err := c.Write(f.now, data); n != len(data) || err != nil {
			t.Fatalf("write: %d, %v", n, err)
		}
		f.run(100 * time.Millisecond)
		got, err := readAll(t, s, f.now)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("timestamps %v: read %d bytes (%v), want %d", ts, len(got), err, len(data))
		}
		for _, p := range f.log {
			if len(p.raw) > a.st.opts.MTU {
				t.Errorf("packet of %d bytes on a %d-byte MTU", len(p.raw), a.st.opts.MTU)
			}
		}
		full := f.sent("A", func(p *wire.Packet) bool { return len(p.Payload) == c.Conn().MSS() })
		if len(full) == 0 {
			t.Errorf("timestamps %v: no full-sized segment (MSS %d)", ts, c.Conn().MSS())
		}
	}
}

// TestConnectionsRows: the table `ss -tan -o` would print: listeners with
// their accept queue and backlog, connections with unread and unacked
// bytes and their retransmission timer, sorted by address.
func TestConnectionsRows(t *testing.T) {
	f, a, b := pair(t)
	l := f.listen(b, port, 7)
	c, s := f.connect(a, b, l)
	f.dial(a, b, port, 0) // a second connection, left in B's accept queue
	f.run(10 * time.Millisecond)

	if n, err := c.Write(f.now, make([]byte, 100)); n != 100 || err != nil {
		t.Fatal(n, err)
	}
	f.run(10 * time.Millisecond)
	rows := b.st.Connections(f.now)
	if len(rows) != 3 {
		t.Fatalf("B rows %+v, want 3", rows)
	}
	if r := rows[0]; r.State != tcp.Listen || r.RecvQ != 1 || r.SendQ != 7 || r.Local != ap(addrB, port) || r.Peer.IsValid() {
		t.Errorf("listener row %+v, want LISTEN 1 7 %v", r, ap(addrB, port))
	}
	for _, r := range rows[1:] {
		want := 0
		if r.Peer == c.Local() {
			want = 100
		}
		if r.State != tcp.Established || r.RecvQ != want || r.SendQ != 0 || r.Timer != "" {
			t.Errorf("row %+v, want ESTABLISHED Recv-Q %d Send-Q 0, no timer", r, want)
		}
	}
	if rows[1].Peer.Compare(rows[2].Peer) >= 0 {
		t.Errorf("rows not sorted: %v then %v", rows[1].Peer, rows[2].Peer)
	}

	// Unacknowledged data: B's ACKs are lost.
	f.drop = func(from string, _ *wire.Packet) bool { return from == "B" }
	if _, err := c.Write(f.now, make([]byte, 300)); err != nil {
		t.Fatal(err)
	}
	f.run(time.Millisecond)
	var row ConnInfo
	for _, r := range a.st.Connections(f.now) {
		if r.Local == c.Local() {
			row = r
		}
	}
	if row.SendQ != 300 || row.Timer != "on" || row.TimerLeft <= 0 || row.TimerLeft > time.Second || row.Retransmit != 0 {
		t.Fatalf("A row %+v, want Send-Q 300 with the retransmission timer on", row)
	}
	left := row.TimerLeft
	f.run(50 * time.Millisecond)
	for _, r := range a.st.Connections(f.now) {
		if r.Local == c.Local() && r.TimerLeft != left-50*time.Millisecond {
			t.Errorf("timer left %v 50 ms later, want %v", r.TimerLeft, left-50*time.Millisecond)
		}
	}
	// The first expiry is a tail loss probe (Linux's default), which ss
	// does not count; the RTO that follows is the first retransmission.
	f.run(left)
	for _, r := range a.st.Connections(f.now) {
		if r.Local == c.Local() && (r.Retransmit != 0 || r.Timer != "on" || r.TCP.Retransmits != 1) {
			t.Errorf("row %+v after the loss probe, want the timer on, no RTO retransmission, one segment sent again", r)
		}
	}
	f.run(left)
	for _, r := range a.st.Connections(f.now) {
		if r.Local == c.Local() && (r.Retransmit != 1 || r.Timer != "on") {
			t.Errorf("row %+v after the RTO, want one retransmission", r)
		}
	}
	f.drop = nil
	f.run(time.Second)
	got, _ := readAll(t, s, f.now)
	if len(got) != 400 {
		t.Errorf("B read %d bytes, want 400", len(got))
	}

	// An orphaned FIN_WAIT_2 shows its tcp_fin_timeout as Linux does, in
	// the timewait timer; after TIME_WAIT the connection itself is freed
	// and only the record's row is left.
	c.Close(f.now)
	f.run(50 * time.Millisecond) // B ACKs the FIN after its 40 ms delayed-ACK timeout (data came first)
	var fw2 *ConnInfo
	for _, r := range a.st.Connections(f.now) {
		if r.Local == c.Local() {
			fw2 = &r
		}
	}
	if fw2 == nil || fw2.State != tcp.FinWait2 || fw2.Timer != "timewait" || fw2.TimerLeft != a.st.opts.TCP.FinTimeout-8*time.Millisecond {
		t.Errorf("row %+v, want FIN_WAIT_2 with the timewait timer at %v", fw2, a.st.opts.TCP.FinTimeout-8*time.Millisecond)
	}
	s.Close(f.now)
	f.run(10 * time.Millisecond)
	if c.State() != tcp.Closed || a.st.conns[Tuple{c.Local(), c.Remote()}] != nil {
		t.Errorf("the connection is not freed in TIME_WAIT: state %v", c.State())
	}
	tws := rowsOf(a, f.now, tcp.TimeWait)
	if len(tws) != 1 || tws[0].Local != c.Local() || tws[0].Peer != c.Remote() || tws[0].Timer != "timewait" ||
		tws[0].TimerLeft != a.st.opts.TCP.TimeWait-9*time.Millisecond || tws[0].RecvQ != 0 || tws[0].SendQ != 0 {
		t.Errorf("TIME_WAIT rows %+v", tws)
	}
}

// TestRefClose: handles share a socket (dup); only the last Close sends
// the FIN; extra Closes are harmless; Shutdown acts at once whatever the
// number of handles and the other handle's writes then fail with EPIPE.
func TestRefClose(t *testing.T) {
	f, a, b := pair(t)
	l := f.listen(b, port, 8)
	c, s := f.connect(a, b, l)
	c.Ref()
	if c.Refs() != 2 {
		t.Fatalf("Refs %d, want 2", c.Refs())
	}
	c.Close(f.now)
	f.run(10 * time.Millisecond)
	if n := len(f.sent("A", hasFlags(wire.FIN))); n != 0 || c.State() != tcp.Established {
		t.Fatalf("after closing one of two handles: %d FINs, state %v", n, c.State())
	}
	c.Close(f.now)
	f.run(10 * time.Millisecond)
	if n := len(f.sent("A", hasFlags(wire.FIN))); n != 1 || c.State() != tcp.FinWait2 {
		t.Fatalf("after the last close: %d FINs, state %v", n, c.State())
	}
	c.Close(f.now) // one too many
	if c.Refs() != 0 {
		t.Errorf("Refs %d after an extra close", c.Refs())
	}

	// Shutdown through one of two handles.
	s.Ref()
	wantErr(t, "shutdown", s.Shutdown(f.now, ShutRDWR), nil)
	f.run(10 * time.Millisecond)
	if n := len(f.sent("B", hasFlags(wire.FIN))); n != 1 {
		t.Errorf("B sent %d FINs after shutdown with two handles open, want 1", n)
	}
	if _, err := s.Write(f.now, []byte("x")); !errors.Is(err, syscall.EPIPE) {
		t.Errorf("write after shutdown: %v, want EPIPE", err)
	}
	if _, err := s.Read(f.now, make([]byte, 1)); err != io.EOF {
		t.Errorf("read after shutdown: %v, want EOF", err)
	}

	// An unconnected, bound socket with two handles keeps its port until
	// the last Close.
	u := a.st.NewSocket()
	wantErr(t, "bind", u.Bind(ap(addrA, 7000)), nil)
	u.Ref()
	u.Close(f.now)
	wantErr(t, "bind while a handle is open", a.st.NewSocket().Bind(ap(addrA, 7000)), syscall.EADDRINUSE)
	u.Close(f.now)
	wantErr(t, "bind after the last close", a.st.NewSocket().Bind(ap(addrA, 7000)), nil)
}

// TestShutdownErrors: shutdown(2)'s errors. A bad how is EINVAL before
// anything else, as Linux's inet_shutdown checks it first.
func TestShutdownErrors(t *testing.T) {
	f, a, b := pair(t)
	l := f.listen(b, port, 8)
	c, _ := f.connect(a, b, l)
	unconn := a.st.NewSocket()
	tests := []struct {
		name string
		so   *Socket
		how  int
		want error
	}{
		{"listener SHUT_WR: nothing to do (Linux inet_shutdown)", l, ShutWR, nil},
		{"unconnected", unconn, ShutWR, syscall.ENOTCONN},
		{"connected, how -1", c, -1, syscall.EINVAL},
		{"connected, how 3", c, 3, syscall.EINVAL},
		{"unconnected, how 3", unconn, 3, syscall.EINVAL},
		{"listener, how 7", l, 7, syscall.EINVAL},
		{"connected SHUT_RD", c, ShutRD, nil},
		{"connected SHUT_WR", c, ShutWR, nil},
		{"connected SHUT_WR again", c, ShutWR, nil},
	}
	for _, tt := range tests {
		wantErr(t, tt.name, tt.so.Shutdown(f.now, tt.how), tt.want)
	}
	if l.State() != tcp.Listen {
		t.Errorf("listener state %v after SHUT_WR, want LISTEN", l.State())
	}
	// SHUT_RD stops a listener but keeps its port (Linux tcp_disconnect;
	// conformance/shutdown-listener.pkt); the socket is then CLOSED.
	wantErr(t, "listener SHUT_RD", l.Shutdown(f.now, ShutRD), nil)
	if l.State() == tcp.Listen {
		t.Errorf("listener still listening after SHUT_RD")
	}
	if !l.bound {
		t.Errorf("the stopped listener lost its port")
	}
	wantErr(t, "the stopped listener, SHUT_RDWR: CLOSED, not connected", l.Shutdown(f.now, ShutRDWR), syscall.ENOTCONN)
}

// TestCloseAll: CloseAll is a process exit: every connection sends its
// FIN, listeners stop (resetting unaccepted connections), and the stack
// keeps answering until every connection is gone; then it is idle.
func TestCloseAll(t *testing.T) {
	f, a, b := pair(t)
	l := f.listen(b, port, 8)
	var clients, servers []*Socket
	for range 3 {
		c, s := f.connect(a, b, l)
		clients, servers = append(clients, c), append(servers, s)
	}
	unaccepted := f.dial(a, b, port, 0)
	f.run(10 * time.Millisecond)
	if b.st.Settled() {
		t.Error("B settled with a listener and open connections")
	}
	mark := f.now
	b.st.CloseAll(f.now)
	f.flush()
	out := f.since(mark)
	var fins, rsts int
	for _, p := range out {
		switch {
		case p.from != "B":
		case p.p.TCP.Flags&wire.FIN != 0:
			fins++
		case p.p.TCP.Flags&wire.RST != 0:
			rsts++
			if p.p.TCP.DstPort != unaccepted.Local().Port() {
				t.Errorf("RST to %d, want only to the unaccepted connection", p.p.TCP.DstPort)
			}
		}
	}
	if fins != 3 || rsts != 1 {
		t.Errorf("CloseAll sent %d FINs and %d RSTs, want 3 and 1: %v", fins, rsts, out)
	}
	for _, s := range servers {
		if s.State() != tcp.FinWait1 {
			t.Errorf("server %v, want FIN_WAIT_1", s.State())
		}
	}
	f.run(10 * time.Millisecond)
	for _, c := range clients {
		if _, err := readAll(t, c, f.now); err != io.EOF {
			t.Errorf("client read: %v, want EOF", err)
		}
		c.Close(f.now)
	}
	if b.st.Settled() {
		t.Error("B settled before its connections finished closing")
	}
	f.run(10 * time.Millisecond)
	if got := len(rowsOf(b, f.now, tcp.TimeWait)); got != 3 {
		t.Errorf("B holds %d TIME_WAIT records, want 3", got)
	}
	if !b.st.Settled() {
		t.Errorf("B not settled with only TIME_WAIT left: %+v", b.st.Connections(f.now))
	}
	f.run(b.st.opts.TCP.TimeWait)
	for _, n := range []*node{a, b} {
		if !n.st.Idle() || n.st.Deadline() != clock.Never {
			t.Errorf("%s: idle %v, deadline %v, rows %+v", n.name, n.st.Idle(), n.st.Deadline(), n.st.Connections(f.now))
		}
	}
}

// TestObserver: the observer hears every packet sent and received, in
// order, and every state change, each with a reason, the states of each
// connection forming a chain.
func TestObserver(t *testing.T) {
	f, a, b := pair(t)
	l := f.listen(b, port, 8)
	c, s := f.connect(a, b, l)
	c.Write(f.now, []byte("hello"))
	f.run(10 * time.Millisecond)
	readAll(t, s, f.now)
	f.closeBoth(c, s)
	l.Close(f.now)
	f.run(a.st.opts.TCP.TimeWait)

	for _, n := range []*node{a, b} {
		var sent [][]byte
		for _, p := range f.log {
			if p.from == n.name {
				sent = append(sent, p.raw)
			}
		}
		var obsSent [][]byte
		for _, e := range n.obs.of("sent") {
			obsSent = append(obsSent, e.pkt)
		}
		if !slices.EqualFunc(sent, obsSent, bytes.Equal) {
			t.Errorf("%s: observer saw %d sent packets, the wire %d (or different bytes)", n.name, len(obsSent), len(sent))
		}
		k := n.st.Counters()
		if k.OutSegs != uint64(len(sent)) || k.InSegs != uint64(len(n.obs.of("recv"))) {
			t.Errorf("%s: OutSegs %d InSegs %d, observer %d %d", n.name, k.OutSegs, k.InSegs, len(sent), len(n.obs.of("recv")))
		}
	}
	// No loss: what A sent is what B received, in order, and vice versa.
	for _, pr := range [][2]*node{{a, b}, {b, a}} {
		var got [][]byte
		for _, e := range pr[1].obs.of("recv") {
			got = append(got, e.pkt)
		}
		var want [][]byte
		for _, e := range pr[0].obs.of("sent") {
			want = append(want, e.pkt)
		}
		if !slices.EqualFunc(got, want, bytes.Equal) {
			t.Errorf("%s received %d packets, %s sent %d", pr[1].name, len(got), pr[0].name, len(want))
		}
	}
	paths := func(n *node) map[Tuple][]string {
		m := map[Tuple][]string{}
		for _, e := range n.obs.of("state") {
			p := m[e.t]
			if e.why == "" {
				t.Errorf("%s: %v->%v without a reason", n.name, e.from, e.to)
			}
			if len(p) == 0 {
				p = append(p, e.from.String())
			} else if p[len(p)-1] != e.from.String() {
				t.Errorf("%s %v: %v->%v after %v", n.name, e.t, e.from, e.to, p[len(p)-1])
			}
			m[e.t] = append(p, e.to.String())
		}
		return m
	}
	pa, pb := paths(a), paths(b)
	want := map[string][]string{
		"A conn":     {"CLOSED", "SYN_SENT", "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "TIME_WAIT", "CLOSED"},
		"B listener": {"CLOSED", "LISTEN", "CLOSED"},
		"B conn":     {"LISTEN", "SYN_RCVD", "ESTABLISHED", "CLOSE_WAIT", "LAST_ACK", "CLOSED"},
	}
	check := func(name string, got []string) {
		if !slices.Equal(got, want[name]) {
			t.Errorf("%s states %v, want %v", name, got, want[name])
		}
	}
	check("A conn", pa[Tuple{c.Local(), c.Remote()}])
	check("B listener", pb[Tuple{Local: l.Local()}])
	check("B conn", pb[Tuple{s.Local(), s.Remote()}])
	if len(pa) != 1 || len(pb) != 2 {
		t.Errorf("state events for %d and %d tuples, want 1 and 2", len(pa), len(pb))
	}
	for _, n := range []*node{a, b} {
		if !n.st.Idle() {
			t.Errorf("%s not idle at the end", n.name)
		}
	}
}
