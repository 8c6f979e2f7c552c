package stack

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/tcp"
	"github.com/tcpwave/tcpwave/wire"
)

// The stack tests join stacks by hand: a fixture polls every stack for
// packets (PollPacket), puts them on a wire with a fixed one-way latency,
// and hands them to the destination's HandlePacket when their time comes,
// firing every stack's timers at their deadlines on a virtual clock. It
// logs every packet and lets a test drop packets on the way.

var (
	addrA = netip.MustParseAddr("10.0.0.1")
	addrB = netip.MustParseAddr("10.0.0.2")
	addrC = netip.MustParseAddr("10.0.0.3") // a second address of B in some tests
	addrX = netip.MustParseAddr("192.0.2.99")
)

const port = 80

// event is one Observer callback.
type event struct {
	at       clock.Instant
	kind     string // "sent", "recv", "drop", "state"
	pkt      []byte
	err      error
	t        Tuple
	from, to tcp.State
	why      string
}

// recorder is an Observer that keeps every callback.
type recorder struct{ events []event }

func (r *recorder) PacketSent(now clock.Instant, pkt []byte) {
	r.events = append(r.events, event{at: now, kind: "sent", pkt: slices.Clone(pkt)})
}

func (r *recorder) PacketReceived(now clock.Instant, pkt []byte) {
	r.events = append(r.events, event{at: now, kind: "recv", pkt: slices.Clone(pkt)})
}

func (r *recorder) PacketDropped(now clock.Instant, pkt []byte, err error) {
	r.events = append(r.events, event{at: now, kind: "drop", pkt: slices.Clone(pkt), err: err})
}

func (r *recorder) StateChanged(now clock.Instant, t Tuple, from, to tcp.State, why string) {
	r.events = append(r.events, event{at: now, kind: "state", t: t, from: from, to: to, why: why})
}

func (r *recorder) of(kind string) []event {
	var out []event
	for _, e := range r.events {
		if e.kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// node is one host of a fixture.
type node struct {
	name string
	st   *Stack
	obs  *recorder
}

// pkt is a packet seen on the fixture's wire.
type pkt struct {
	at   clock.Instant
	from string
	raw  []byte
	p    wire.Packet
}

func (p pkt) String() string {
	return fmt.Sprintf("%v %s %v:%d>%v:%d %v seq %d ack %d win %d len %d", p.at, p.from,
		p.p.Src, p.p.TCP.SrcPort, p.p.Dst, p.p.TCP.DstPort, p.p.TCP.Flags, p.p.TCP.Seq, p.p.TCP.Ack, p.p.TCP.Window, len(p.p.Payload))
}

type flight struct {
	at  clock.Instant
	to  *node
	raw []byte
}

type fixture struct {
	t       testing.TB
	now     clock.Instant
	nodes   []*node
	latency time.Duration
	// drop, if set, is asked about every packet before it goes on the
	// wire; true loses it.
	drop   func(from string, p *wire.Packet) bool
	wire   []flight
	log    []pkt
	nolog  bool // keep no log (for big tests)
	buf    []byte
	bufLen int // the size of the buffer given to PollPacket
	steps  int
	// gso makes flush take super-packets (PollPacketGSO) and split them
	// with wire.SplitTCP before they go on the wire; supers counts them.
	gso       bool
	supers    int
	superSegs int    // the packets split out of super-packets
	split     []byte // the buffer SplitTCP builds pieces in
}

// opt adjusts a node's options.
type opt func(*Options)

func newFixture(t testing.TB) *fixture {
	return &fixture{t: t, latency: time.Millisecond, bufLen: 65536}
}

// add makes a node with addresses addrs and Linux's defaults, adjusted by opts.
func (f *fixture) add(name string, addrs []netip.Addr, opts ...opt) *node {
	f.t.Helper()
	o := DefaultOptions(addrs...)
	copy(o.ISNKey[:], name)
	for _, fn := range opts {
		fn(&o)
	}
	n := &node{name: name, obs: &recorder{}}
	st, err := New(o, n.obs)
	if err != nil {
		f.t.Fatalf("New(%s): %v", name, err)
	}
	n.st = st
	f.nodes = append(f.nodes, n)
	return n
}

// pair is the usual fixture: client A (10.0.0.1) and server B (10.0.0.2).
func pair(t testing.TB, opts ...opt) (*fixture, *node, *node) {
	f := newFixture(t)
	return f, f.add("A", []netip.Addr{addrA}, opts...), f.add("B", []netip.Addr{addrB}, opts...)
}

func (f *fixture) nodeFor(a netip.Addr) *node {
	for _, n := range f.nodes {
		if n.st.hasAddr(a) {
			return n
		}
	}
	return nil
}

// flush collects every packet the nodes have to send and puts it on the
// wire.
func (f *fixture) flush() {
	f.t.Helper()
	if len(f.buf) != f.bufLen {
		f.buf = make([]byte, f.bufLen)
	}
	for _, n := range f.nodes {
		for {
			if f.gso {
				k, size := n.st.PollPacketGSO(f.now, f.buf)
				if k == 0 {
					break
				}
				super := size > 0
				if super {
					f.supers++
				} else {
					size = k // not a super-packet: one piece
				}
				if f.split == nil {
					f.split = make([]byte, 2048)
				}
				err := wire.SplitTCP(f.buf[:k], size, f.split, func(p []byte) error {
					if super {
						f.superSegs++
					}
					f.send(n.name, p)
					return nil
				})
				if err != nil {
					f.t.Fatalf("%s: super-packet: %v", n.name, err)
				}
				continue
			}
			k := n.st.PollPacket(f.now, f.buf)
			if k == 0 {
				break
			}
			f.send(n.name, f.buf[:k])
		}
		n.st.Touched()
		if f.nolog {
			continue // a big test: the checks would make it quadratic
		}
		if err := n.st.CheckInvariants(); err != nil {
			f.t.Fatalf("%s at %v: %v", n.name, f.now, err)
		}
	}
}

// send puts one packet from the named node on the wire.
func (f *fixture) send(from string, b []byte) {
	f.t.Helper()
	raw := slices.Clone(b)
	var p wire.Packet
	if err := wire.ParsePacket(raw, &p); err != nil {
		f.t.Fatalf("%s sent a malformed packet: %v", from, err)
	}
	if !f.nolog {
		f.log = append(f.log, pkt{at: f.now, from: from, raw: raw, p: p})
	}
	if f.drop != nil && f.drop(from, &p) {
		return
	}
	if to := f.nodeFor(p.Dst); to != nil {
		f.wire = append(f.wire, flight{at: f.now.Add(f.latency), to: to, raw: raw})
	}
}

// deliver hands raw to a node at once, as if it had just arrived.
func (f *fixture) deliver(to *node, raw []byte) {
	to.st.HandlePacket(f.now, slices.Clone(raw))
	f.flush()
}

// next returns the instant of the next arrival or timer.
func (f *fixture) next() clock.Instant {
	t := clock.Never
	for _, fl := range f.wire {
		t = clock.Min(t, fl.at)
	}
	for _, n := range f.nodes {
		t = clock.Min(t, n.st.Deadline())
	}
	return t
}

// runUntil moves the virtual clock to end, delivering packets and firing
// timers at their instants on the way.
func (f *fixture) runUntil(end clock.Instant) {
	f.t.Helper()
	for {
		f.flush()
		nx := f.next()
		if nx > end {
			f.now = max(f.now, end)
			return
		}
		f.now = max(f.now, nx)
		if f.steps++; f.steps > 10_000_000 {
			f.t.Fatalf("fixture: too many steps at %v", f.now)
		}
		var later []flight
		due := f.wire
		f.wire = nil
		for _, fl := range due {
			if fl.at <= f.now {
				fl.to.st.HandlePacket(f.now, fl.raw)
			} else {
				later = append(later, fl)
			}
		}
		f.wire = append(later, f.wire...)
		for _, n := range f.nodes {
			if n.st.Deadline() <= f.now {
				n.st.HandleTimeout(f.now)
			}
		}
	}
}

// run advances the clock by d.
func (f *fixture) run(d time.Duration) { f.t.Helper(); f.runUntil(f.now.Add(d)) }

// sent returns the logged packets from the named node that match m.
func (f *fixture) sent(from string, m func(p *wire.Packet) bool) []pkt {
	var out []pkt
	for _, p := range f.log {
		if p.from == from && (m == nil || m(&p.p)) {
			out = append(out, p)
		}
	}
	return out
}

// since returns the logged packets sent at or after t.
func (f *fixture) since(t clock.Instant) []pkt {
	var out []pkt
	for _, p := range f.log {
		if p.at >= t {
			out = append(out, p)
		}
	}
	return out
}

func hasFlags(fl wire.Flags) func(p *wire.Packet) bool {
	return func(p *wire.Packet) bool { return p.TCP.Flags&fl == fl }
}

func exactFlags(fl wire.Flags) func(p *wire.Packet) bool {
	return func(p *wire.Packet) bool { return p.TCP.Flags == fl }
}

// listen opens a listener on n's first address and port p.
func (f *fixture) listen(n *node, p uint16, backlog int, opts ...func(*Socket)) *Socket {
	f.t.Helper()
	so := n.st.NewSocket()
	for _, o := range opts {
		o(so)
	}
	if err := so.Bind(netip.AddrPortFrom(n.st.opts.Addrs[0], p)); err != nil {
		f.t.Fatalf("%s: bind :%d: %v", n.name, p, err)
	}
	if err := so.Listen(f.now, backlog); err != nil {
		f.t.Fatalf("%s: listen :%d: %v", n.name, p, err)
	}
	return so
}

// dial starts a connection from n to the server's port p (from local port
// lport when it is not 0). It does not run the clock.
func (f *fixture) dial(n, server *node, p, lport uint16) *Socket {
	f.t.Helper()
	so := n.st.NewSocket()
	if lport != 0 {
		so.SetReuseAddr(true)
		if err := so.Bind(netip.AddrPortFrom(n.st.opts.Addrs[0], lport)); err != nil {
			f.t.Fatalf("%s: bind :%d: %v", n.name, lport, err)
		}
	}
	if err := so.Connect(f.now, netip.AddrPortFrom(server.st.opts.Addrs[0], p)); err != nil {
		f.t.Fatalf("%s: connect: %v", n.name, err)
	}
	return so
}

// connect opens one connection from a to l's port on b and accepts it.
func (f *fixture) connect(a, b *node, l *Socket) (client, server *Socket) {
	f.t.Helper()
	client = f.dial(a, b, l.Local().Port(), 0)
	f.run(10 * time.Millisecond)
	if client.State() != tcp.Established {
		f.t.Fatalf("client state %v after the handshake, want ESTABLISHED", client.State())
	}
	server, err := l.Accept()
	if err != nil {
		f.t.Fatalf("accept: %v", err)
	}
	return client, server
}

// closeBoth closes first, runs until second has the FIN, closes second,
// and runs until both FINs are ACKed.
func (f *fixture) closeBoth(first, second *Socket) {
	f.t.Helper()
	first.Close(f.now)
	// Past the 40 ms delayed ACK of the FIN (after data, Linux delays it),
	// so that the close is the four-way one.
	f.run(50 * time.Millisecond)
	second.Close(f.now)
	f.run(10 * time.Millisecond)
}

// rowsOf returns the rows of n's connection table in the given state.
func rowsOf(n *node, now clock.Instant, state tcp.State) []ConnInfo {
	var out []ConnInfo
	for _, r := range n.st.Connections(now) {
		if r.State == state {
			out = append(out, r)
		}
	}
	return out
}

// build encodes a hand-made packet.
func build(t testing.TB, p wire.Packet) []byte {
	t.Helper()
	buf := make([]byte, 2048)
	n, err := wire.EncodePacket(buf, &p, 64, 1)
	if err != nil {
		t.Fatalf("EncodePacket: %v", err)
	}
	return buf[:n]
}

// segment is a hand-made TCP segment between two address:port pairs.
func segment(src, dst netip.AddrPort, flags wire.Flags, sq, ack uint32, payload string) wire.Packet {
	return wire.Packet{
		Src: src.Addr(), Dst: dst.Addr(),
		TCP: wire.TCPFields{
			SrcPort: src.Port(), DstPort: dst.Port(),
			Seq: sq, Ack: ack, Flags: flags, Window: 65535,
		},
		Payload: []byte(payload),
	}
}

// drain collects everything st has to send.
func drain(t testing.TB, st *Stack, now clock.Instant) []wire.Packet {
	t.Helper()
	return pollBounded(t, st, now, 1<<20)
}

// pollBounded collects what st sends at now, failing if it sends more than
// limit packets: a stack that loops on empty segments fails rather than
// hangs.
func pollBounded(t testing.TB, st *Stack, now clock.Instant, limit int) []wire.Packet {
	t.Helper()
	var out []wire.Packet
	buf := make([]byte, 4096)
	for {
		n := st.PollPacket(now, buf)
		if n == 0 {
			return out
		}
		if len(out) == limit {
			t.Fatalf("more than %d packets for one input", limit)
		}
		var p wire.Packet
		if err := wire.ParsePacket(slices.Clone(buf[:n]), &p); err != nil {
			t.Fatalf("the stack sent a malformed packet: %v", err)
		}
		out = append(out, p)
	}
}

// newStack makes a lone stack with Linux's defaults on addrB.
func newStack(t testing.TB, opts ...opt) (*Stack, *recorder) {
	t.Helper()
	o := DefaultOptions(addrB)
	for _, fn := range opts {
		fn(&o)
	}
	obs := &recorder{}
	st, err := New(o, obs)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return st, obs
}

// wantErr checks err against want (nil for success) with errors.Is.
func wantErr(t testing.TB, what string, err, want error) {
	t.Helper()
	if want == nil && err != nil || want != nil && !errors.Is(err, want) {
		t.Errorf("%s: got %v, want %v", what, err, errOrNil(want))
	}
}

func errOrNil(err error) any {
	if err == nil {
		return "success"
	}
	return err
}

func ap(a netip.Addr, p uint16) netip.AddrPort { return netip.AddrPortFrom(a, p) }

// clockAt is i milliseconds.
func clockAt(i int) clock.Instant { return clock.Instant(int64(i) * int64(time.Millisecond)) }
