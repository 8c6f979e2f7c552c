package stack

import (
	"errors"
	"net/netip"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/tcp"
	"github.com/tcpwave/tcpwave/wire"
)

// synFrom is a bare SYN from a client that does not exist (no stack
// answers its SYN-ACK), to fill a listener's SYN queue.
func synFrom(t *testing.T, cport uint16, isn uint32) []byte {
	t.Helper()
	p := segment(ap(addrX, cport), ap(addrB, port), wire.SYN, isn, 0, "")
	p.TCP.Options.MSS = 1460
	return build(t, p)
}

// TestSynQueueLimit: half-open connections per listener are limited by
// the backlog (one more than it); beyond it SYNs are dropped and counted
// in ListenDrops, not ListenOverflows (Linux tcp_conn_request with
// tcp_syncookies=0; syncookie_test.go has the default, 1).
func TestSynQueueLimit(t *testing.T) {
	st, _ := newStack(t, func(o *Options) { o.SynCookies = 0 })
	l := st.NewSocket()
	wantErr(t, "bind", l.Bind(ap(addrB, port)), nil)
	wantErr(t, "listen", l.Listen(0, 1), nil)
	var synacks int
	for i := range 4 {
		st.HandlePacket(0, synFrom(t, uint16(1000+i), 100))
		out := drain(t, st, 0)
		want := 0
		if i < 2 {
			want = 1
		}
		if len(out) != want {
			t.Fatalf("SYN %d: %d replies, want %d", i, len(out), want)
		}
		for _, p := range out {
			if p.TCP.Flags != wire.SYN|wire.ACK || p.TCP.Ack != 101 || p.TCP.DstPort != uint16(1000+i) {
				t.Errorf("SYN %d: reply %v ack %d to :%d, want S. ack 101", i, p.TCP.Flags, p.TCP.Ack, p.TCP.DstPort)
			}
			synacks++
		}
	}
	c := st.Counters()
	if c.ListenDrops != 2 || c.ListenOverflows != 0 {
		t.Errorf("ListenDrops %d, ListenOverflows %d; want 2, 0", c.ListenDrops, c.ListenOverflows)
	}
	if rows := st.Connections(0); len(rows) != 3 || rows[1].State != tcp.SynRcvd || rows[2].State != tcp.SynRcvd {
		t.Errorf("rows %+v, want the listener and two SYN_RCVD", rows)
	}
	// A retransmitted SYN of a queued connection is answered again, not
	// counted as a new one.
	st.HandlePacket(0, synFrom(t, 1000, 100))
	if out := drain(t, st, 0); len(out) != 1 || out[0].TCP.Flags != wire.SYN|wire.ACK {
		t.Errorf("duplicate SYN: replies %v, want one SYN-ACK", out)
	}
	if c := st.Counters(); c.ListenDrops != 2 {
		t.Errorf("ListenDrops %d after a duplicate SYN, want 2", c.ListenDrops)
	}
	// When a half-open connection gives up, its place is free again.
	now := clock.Instant(0)
	for i := 0; i < 20; i++ {
		drain(t, st, now)
		if st.Deadline() == clock.Never {
			break
		}
		now = st.Deadline()
		st.HandleTimeout(now)
	}
	if rows := st.Connections(now); len(rows) != 1 {
		t.Fatalf("rows %+v after SYN-ACK retries ran out, want the listener alone", rows)
	}
	// Linux's request sockets time out without a count (reqsk_timer_handler
	// is not tcp_done): AttemptFails stays 0. Every SYN-ACK sent again
	// counts in RetransSegs: five on each timer and the answer to the
	// duplicate SYN (tcp_rtx_synack).
	if c := st.Counters(); c.AttemptFails != 0 || c.RetransSegs != 2*5+1 {
		t.Errorf("AttemptFails %d, RetransSegs %d; want 0, 11", c.AttemptFails, c.RetransSegs)
	}
	st.HandlePacket(now, synFrom(t, 2000, 100))
	if out := drain(t, st, now); len(out) != 1 {
		t.Errorf("SYN after the queue drained: %d replies, want 1", len(out))
	}
}

// TestAcceptQueueOverflow: with the accept queue full, the handshake's
// last ACK is dropped (ListenOverflows, ListenDrops); the client believes
// it is connected, the server retransmits its SYN-ACK, and once Accept
// makes room the client's answer completes the connection. Linux's queue
// is full only when it holds more than the backlog (sk_acceptq_is_full).
func TestAcceptQueueOverflow(t *testing.T) {
	f, a, b := pair(t)
	const backlog = 1
	l := f.listen(b, port, backlog)
	// The first handshake completes alone; the next two race: both SYNs
	// fit in the SYN queue, but only one ACK fits in the accept queue.
	clients := []*Socket{f.dial(a, b, port, 0)}
	f.run(10 * time.Millisecond)
	clients = append(clients, f.dial(a, b, port, 0), f.dial(a, b, port, 0))
	f.run(10 * time.Millisecond)
	for i, c := range clients {
		if c.State() != tcp.Established {
			t.Errorf("client %d: %v, want ESTABLISHED", i, c.State())
		}
	}
	lrow := b.st.Connections(f.now)[0]
	if lrow.State != tcp.Listen || lrow.RecvQ != backlog+1 || lrow.SendQ != backlog {
		t.Errorf("listener row %+v, want LISTEN Recv-Q %d Send-Q %d", lrow, backlog+1, backlog)
	}
	if n := len(rowsOf(b, f.now, tcp.SynRcvd)); n != 1 {
		t.Errorf("B has %d SYN_RCVD rows, want 1 (the overflowed handshake)", n)
	}
	c := b.st.Counters()
	if c.ListenOverflows != 1 || c.ListenDrops != 1 {
		t.Errorf("ListenOverflows %d, ListenDrops %d; want 1, 1", c.ListenOverflows, c.ListenDrops)
	}
	// A new SYN while the accept queue is full is dropped as well.
	extra := f.dial(a, b, port, 0)
	f.run(10 * time.Millisecond)
	if extra.State() != tcp.SynSent {
		t.Errorf("extra client %v, want SYN_SENT (its SYN dropped)", extra.State())
	}
	if c := b.st.Counters(); c.ListenOverflows != 2 || c.ListenDrops != 2 {
		t.Errorf("after a SYN to a full queue: ListenOverflows %d, ListenDrops %d; want 2, 2", c.ListenOverflows, c.ListenDrops)
	}
	if _, err := l.Accept(); err != nil {
		t.Fatalf("accept: %v", err)
	}
	synacksBefore := len(f.sent("B", hasFlags(wire.SYN|wire.ACK)))
	f.run(time.Second) // the SYN-ACK's RTO (1 s) fires; the client ACKs it
	if n := len(f.sent("B", hasFlags(wire.SYN|wire.ACK))) - synacksBefore; n < 1 {
		t.Fatalf("no SYN-ACK retransmitted")
	}
	if n := len(rowsOf(b, f.now, tcp.SynRcvd)); n != 0 {
		t.Errorf("B still has %d SYN_RCVD rows after Accept made room", n)
	}
	var got int
	for {
		if _, err := l.Accept(); err != nil {
			break
		}
		got++
	}
	if got != backlog+1 {
		t.Errorf("accepted %d more connections, want %d", got, backlog+1)
	}
	for _, c := range clients {
		if err := c.Err(); err != nil {
			t.Errorf("client error %v", err)
		}
	}
}

// TestRSTToOverflowedChild: a RST for a half-open connection waiting for
// accept-queue room is not the handshake's last ACK: it resets the
// connection at once (Linux tcp_check_req handles RST before the
// accept-queue test).
func TestRSTToOverflowedChild(t *testing.T) {
	f, a, b := pair(t)
	f.listen(b, port, 1)
	f.dial(a, b, port, 0)
	f.run(10 * time.Millisecond)
	f.dial(a, b, port, 0)
	late := f.dial(a, b, port, 0)
	f.run(10 * time.Millisecond)
	if n := len(rowsOf(b, f.now, tcp.SynRcvd)); n != 1 {
		t.Fatalf("B has %d SYN_RCVD rows, want 1", n)
	}
	late.SetLinger(true, 0)
	late.Close(f.now) // RST
	f.run(time.Millisecond + time.Microsecond)
	if n := len(f.sent("A", hasFlags(wire.RST))); n != 1 {
		t.Fatalf("A sent %d RSTs, want 1", n)
	}
	if rows := rowsOf(b, f.now, tcp.SynRcvd); len(rows) != 0 {
		t.Errorf("B still holds %+v after the client's RST", rows)
	}
}

// TestListenBacklog: the backlog is clamped to SomaxConn; Listen on a
// listener changes it; the listener row shows it as Send-Q.
func TestListenBacklog(t *testing.T) {
	st, _ := newStack(t, func(o *Options) { o.SomaxConn = 100 })
	tests := []struct {
		backlog, want int
	}{{5, 5}, {100, 100}, {1000, 100}, {0, 0}, {-1, 100}}
	for _, tt := range tests {
		so := st.NewSocket()
		wantErr(t, "listen", so.Listen(0, tt.backlog), nil)
		var row *ConnInfo
		for _, r := range st.Connections(0) {
			if r.Local == so.Local() {
				row = &r
			}
		}
		if row == nil || row.SendQ != tt.want || row.State != tcp.Listen {
			t.Errorf("listen(%d): row %+v, want LISTEN with Send-Q %d", tt.backlog, row, tt.want)
		}
		wantErr(t, "listen again", so.Listen(0, 3), nil)
		for _, r := range st.Connections(0) {
			if r.Local == so.Local() && r.SendQ != 3 {
				t.Errorf("listen(3) on a listener: Send-Q %d, want 3", r.SendQ)
			}
		}
		so.Close(0)
	}
	// An unbound socket listens on an ephemeral port of the wildcard.
	so := st.NewSocket()
	wantErr(t, "listen unbound", so.Listen(0, 1), nil)
	if lp := so.Local(); !lp.Addr().IsUnspecified() || lp.Port() < st.opts.EphemeralLow || lp.Port() > st.opts.EphemeralHigh {
		t.Errorf("unbound listen got %v", lp)
	}
	if _, err := st.NewSocket().Accept(); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("accept on a non-listener: %v, want EINVAL", err)
	}
	if _, err := so.Accept(); !errors.Is(err, syscall.EAGAIN) {
		t.Errorf("accept on an empty queue: %v, want EAGAIN", err)
	}
}

// TestListenZero: listen(fd, 0) still lets one connection complete and
// wait in the accept queue (Linux); a second one's SYN is dropped.
func TestListenZero(t *testing.T) {
	f, a, b := pair(t)
	l := f.listen(b, port, 0)
	first := f.dial(a, b, port, 0)
	f.run(10 * time.Millisecond)
	second := f.dial(a, b, port, 0)
	f.run(10 * time.Millisecond)
	if first.State() != tcp.Established || second.State() != tcp.SynSent {
		t.Errorf("first %v, second %v; want ESTABLISHED, SYN_SENT", first.State(), second.State())
	}
	if lrow := b.st.Connections(f.now)[0]; lrow.RecvQ != 1 || lrow.SendQ != 0 {
		t.Errorf("listener row %+v, want Recv-Q 1 Send-Q 0", lrow)
	}
	if _, err := l.Accept(); err != nil {
		t.Fatal(err)
	}
	f.run(time.Second) // the second SYN is retransmitted and now fits
	if second.State() != tcp.Established {
		t.Errorf("second %v after Accept made room, want ESTABLISHED", second.State())
	}
}

// TestListenerClose: closing a listener resets its established but
// unaccepted connections (RST.) and drops its half-open ones without a
// word (Linux inet_csk_listen_stop; request sockets die with their
// listener); a late ACK for a dropped one then draws a RST as a stray.
func TestListenerClose(t *testing.T) {
	f, a, b := pair(t)
	l := f.listen(b, port, 8)
	est1 := f.dial(a, b, port, 0)
	est2 := f.dial(a, b, port, 0)
	f.run(10 * time.Millisecond)
	// The third handshake's last ACK is lost: B holds it half-open.
	f.drop = func(from string, p *wire.Packet) bool { return from == "A" && p.TCP.Flags == wire.ACK }
	half := f.dial(a, b, port, 0)
	f.run(10 * time.Millisecond)
	f.drop = nil
	if n := len(rowsOf(b, f.now, tcp.SynRcvd)); n != 1 {
		t.Fatalf("B has %d SYN_RCVD rows, want 1", n)
	}
	if n := len(rowsOf(b, f.now, tcp.Established)); n != 2 {
		t.Fatalf("B has %d ESTABLISHED rows, want 2", n)
	}
	mark := f.now
	l.Close(f.now)
	f.flush()
	out := f.since(mark)
	if len(out) != 2 {
		t.Fatalf("B sent %v on closing the listener, want two RSTs", out)
	}
	for _, p := range out {
		if p.from != "B" || p.p.TCP.Flags != wire.RST|wire.ACK {
			t.Errorf("sent %v, want R. from B", p)
		}
		if p.p.TCP.DstPort == half.Local().Port() {
			t.Errorf("RST sent to the half-open connection: %v", p)
		}
	}
	if rows := b.st.Connections(f.now); len(rows) != 0 {
		t.Errorf("B still holds %+v", rows)
	}
	if !b.st.Idle() {
		t.Errorf("B is not idle")
	}
	f.run(10 * time.Millisecond)
	for _, c := range []*Socket{est1, est2} {
		if c.State() != tcp.Closed || !errors.Is(c.Err(), syscall.ECONNRESET) {
			t.Errorf("client %v: state %v err %v, want CLOSED, ECONNRESET", c.Local(), c.State(), c.Err())
		}
	}
	// The half-open connection's client writes: B knows nothing of it.
	mark = f.now
	if _, err := half.Write(f.now, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	f.run(10 * time.Millisecond)
	var rst []pkt
	for _, p := range f.since(mark) {
		if p.from == "B" {
			rst = append(rst, p)
		}
	}
	if len(rst) != 1 || rst[0].p.TCP.Flags != wire.RST {
		t.Fatalf("B answered the late data with %v, want one R", rst)
	}
	if half.State() != tcp.Closed || !errors.Is(half.Err(), syscall.ECONNRESET) {
		t.Errorf("half-open client: %v, %v; want CLOSED, ECONNRESET", half.State(), half.Err())
	}
	// The listener's port is free.
	so := b.st.NewSocket()
	wantErr(t, "bind after the listener closed", so.Bind(netip.AddrPortFrom(addrB, port)), nil)
}

// TestListenerCloseOrder: the half-open connections of a closed listener
// go in address order, so that a trace replays byte for byte (the
// connection table is a map).
func TestListenerCloseOrder(t *testing.T) {
	for range 5 {
		st, obs := newStack(t)
		l := st.NewSocket()
		wantErr(t, "bind", l.Bind(ap(addrB, port)), nil)
		wantErr(t, "listen", l.Listen(0, 64), nil)
		for _, p := range []uint16{7, 3, 9, 1, 5, 8, 2, 6, 4} {
			st.HandlePacket(0, synFrom(t, p, 1))
		}
		drain(t, st, 0)
		obs.events = nil
		l.Close(0)
		var ports []uint16
		for _, e := range obs.of("state") {
			if e.from == tcp.SynRcvd {
				ports = append(ports, e.t.Remote.Port())
			}
		}
		if want := []uint16{1, 2, 3, 4, 5, 6, 7, 8, 9}; !slices.Equal(ports, want) {
			t.Fatalf("half-open connections dropped in order %v, want %v", ports, want)
		}
		if out := drain(t, st, 0); len(out) != 0 {
			t.Fatalf("closing the listener sent %d packets", len(out))
		}
	}
}
