package stack

import (
	"encoding/binary"
	"flag"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/seq"
	"github.com/tcpwave/tcpwave/tcp"
	"github.com/tcpwave/tcpwave/wire"
)

// FuzzHostilePeer plays a hostile peer's whole conversation against a
// stack.Stack driven sans-IO on virtual time: one listener on each of an
// IPv4 and an IPv6 address (port 80; port 81 has none), and clients the
// stack's application opens (active open to port 443 and up). The input is
// a program of steps (see the op constants): the peer's packets, built with
// wire's encoders, with SYN options of every kind and size (MSS 0-127 and
// larger values, window scale 0-255, SACK-permitted, timestamps with any
// values, SACK blocks of any count and values, raw option bytes appended:
// NOPs, EOL, unknown kinds, malformed lengths), any combination of flags,
// sequence and acknowledgment numbers near and far from the window,
// duplicates, RSTs and corrupted packets; the application's calls (accept,
// write, read, close, shutdown, connect, socket options, closing and
// reopening the listeners); and time advancing, which fires every timer at
// its deadline on the way.
//
// After every step the stack is polled until it has nothing to send, and
// these invariants are checked (hpRun.check, hpRun.drain, hpRun.settle):
//
//   - no panic, and every packet it sends parses, fits the MTU and carries
//     no more payload than the connection's MSS;
//   - bounded output: one step (one input, or the timers of one instant)
//     sends at most hpMaxBare segments without payload per 4-tuple and
//     no three identical segments on one 4-tuple (no empty-segment loop),
//     and at most 2*SndBufMax payload bytes per connection: what one step
//     may send is bounded by the congestion and peer's windows, both
//     within what the send buffer holds (at most SndBufMax), new data and
//     retransmissions each at most once; in segments of at least hpMinRoom
//     bytes (tcp_min_snd_mss 48 less 12 of timestamps and 28 of SACK
//     blocks) that is at most stepBudget packets in all;
//   - every payload byte sent is the application's byte at that offset of
//     its stream, written and not beyond; every byte read is the peer's
//     byte at that sequence number, in order;
//   - no spin: once HandleTimeout(now) has run and the packets are out,
//     Deadline() is after now (at most hpSpinRounds rounds at one instant);
//   - memory bounded: each connection's send and receive queues within
//     SndBufMax and RcvBufMax, nothing left queued once polled, TIME_WAIT
//     records within MaxTimeWait, orphans within MaxOrphans, accept and SYN
//     queues within their backlogs, and connections within what the
//     listeners' queues, the application's sockets and the orphans allow;
//   - a connection with anything unacknowledged or unsent has a timer
//     (the retransmission or the persist timer, as in Linux);
//   - progress or a timeout: at the end the application closes everything,
//     the peer falls silent and time runs on; within hpFinalBound of virtual
//     time (and hpFinalEvents timer firings) every connection's timers end it
//     and the stack is empty (Idle), with no orphan left.
//
// The harness's names start with hp (hostile peer).
func FuzzHostilePeer(f *testing.F) {
	for _, s := range hpSeeds() {
		f.Add(s.prog)
	}
	f.Fuzz(func(t *testing.T, prog []byte) {
		h := newHPRun(t)
		h.run(prog)
		h.finish()
	})
}

// TestHostilePeerSeeds runs each seed conversation by name, and checks that the
// normal ones went where they were meant to: a test of the fuzz target's
// encoder as much as of the stack.
func TestHostilePeerSeeds(t *testing.T) {
	for _, s := range hpSeeds() {
		t.Run(s.name, func(t *testing.T) {
			h := newHPRun(t)
			h.run(s.prog)
			if s.wantRead > 0 && h.readTotal < s.wantRead {
				t.Errorf("the application read %d bytes, want at least %d", h.readTotal, s.wantRead)
			}
			if s.wantSent > 0 && h.sentTotal < s.wantSent {
				t.Errorf("the stack sent %d payload bytes, want at least %d", h.sentTotal, s.wantSent)
			}
			h.finish()
		})
	}
}

// The program's operations: each is one byte (taken modulo hpOpCount)
// followed by its arguments. A program that runs out of bytes reads zeros.
const (
	hpOpSYN      = iota // fam/dport, port, extra flags, options: a new SYN from a peer (it becomes the current peer)
	hpOpSegment         // peer, flags, seq, ack, len, window, options: any segment
	hpOpACK             // peer, window: a proper ACK of everything the stack sent
	hpOpData            // peer, len, flags: in-sequence data with a proper ACK
	hpOpDup             // peer: the peer's last packet again
	hpOpAccept          // accept every queued connection of both listeners
	hpOpWrite           // socket, len: the application writes
	hpOpRead            // socket, len: the application reads
	hpOpClose           // socket: close(2)
	hpOpShutdown        // socket, how: shutdown(2)
	hpOpTime            // amount: time passes, timers fire
	hpOpConnect         // family/port: the application connects to a peer (active open)
	hpOpListen          // which: a listener closes, or reopens
	hpOpSockopt         // socket, which: TCP_NODELAY on/off, SO_LINGER {on, 0}
	hpOpRST             // peer, seq: a RST near or in the window
	hpOpTime2           // amount: time passes (a second opcode, so time is common)
	hpOpSACK            // peer, lo, hi: a duplicate ACK with a SACK block [last ACK+16*lo, stack's next-16*hi)
	hpOpCount
)

// Limits of the harness, and the invariants' bounds.
const (
	hpMaxApps     = 16                 // sockets the application holds at once
	hpMaxBare     = 8                  // segments without payload per 4-tuple per step
	hpSpinRounds  = 4                  // HandleTimeout rounds at one instant before it is a spin
	hpFinalBound  = 4 * time.Hour      // every connection ends within this once all is closed
	hpFinalEvents = 100_000            // timer firings allowed in that time
	hpMaxSteps    = 400                // program steps run
	hpMinRoom     = 8                  // least payload of a full segment (tcp_min_snd_mss 48 less timestamps and 3 SACK blocks)
	hpMaxTimeWait = 8                  // Options.MaxTimeWait
	hpMaxOrphans  = 4                  // Options.MaxOrphans
	hpSynBacklog  = 4                  // Options.MaxSynBacklog
	hpBacklog     = 2                  // the listeners' backlog
	hpTSHz        = time.Millisecond   // the peer's timestamp clock
	hpPeerISN     = uint32(0xffff0000) // the peers' streams wrap
)

var (
	hpHostV4 = netip.MustParseAddr("10.0.0.2")
	hpHostV6 = netip.MustParseAddr("fd00::2")
	hpPeerV4 = netip.MustParseAddr("10.0.0.1")
	hpPeerV6 = netip.MustParseAddr("fd00::1")
)

// hostile is one run of the fuzz target: the stack, the peer's view of
// each 4-tuple it used, and the application's sockets.
type hpRun struct {
	t         *testing.T
	st        *Stack
	now       clock.Instant
	listeners [2]*Socket // IPv4 and IPv6, nil while closed
	apps      []*hpApp
	written   map[*Socket]int   // bytes the application wrote on a socket, for the check of what is sent
	peers     []*hpPeer         // in the order first used
	byTuple   map[Tuple]*hpPeer // keyed from the stack's side
	prog      []byte
	pc        int
	buf       []byte // PollPacket's
	pkt       []byte // the packet being built
	payload   []byte
	rd        []byte
	step      int
	op        string // the step's operation, for messages
	// set by options for send: raw option bytes, the urgent pointer, and
	// the offset of a byte to corrupt (-1: none)
	raw     []byte
	urgent  uint16
	corrupt int
	// per step
	bare      map[Tuple]int
	same      map[hpSegKey]int
	sentBytes map[Tuple]int
	packets   int
	budget    int
	// totals, for TestHostilePeerSeeds
	readTotal, sentTotal int
}

// hpTrace logs every packet and state change of the fuzz target's
// stack (with -v): go test ./stack -run TestHostilePeerSeeds/NAME -v -args -hostilepeer.trace.
var hpTrace = flag.Bool("hostilepeer.trace", false, "log the hostile-peer conversations (with -v)")

// hpTracer logs what a stack does.
type hpTracer struct{ t *testing.T }

func (o hpTracer) PacketSent(now clock.Instant, pkt []byte) {
	o.t.Logf("%v > %s", now, hpDescribe(pkt))
}

func (o hpTracer) PacketReceived(now clock.Instant, pkt []byte) {
	o.t.Logf("%v < %s", now, hpDescribe(pkt))
}

func (o hpTracer) PacketDropped(now clock.Instant, pkt []byte, err error) {
	o.t.Logf("%v < dropped (%v)", now, err)
}

func (o hpTracer) StateChanged(now clock.Instant, t Tuple, from, to tcp.State, why string) {
	o.t.Logf("%v %v>%v %v -> %v (%s)", now, t.Local, t.Remote, from, to, why)
}

// hpApp is a socket the application holds.
type hpApp struct {
	so   *Socket
	read int // bytes read so far: the next is the peer's byte at IRS+1+read
}

// peer is the hostile peer's side of one 4-tuple: what it sent and what it
// saw the stack send.
type hpPeer struct {
	t        Tuple // from the stack's side
	iss      uint32
	nxt      uint32 // the peer's next sequence number
	acked    uint32 // the last ACK it sent
	ts       bool   // it sends timestamps
	tsBase   uint32
	stackISS uint32
	stackNxt uint32 // the highest sequence number the stack sent, plus one
	stackAck uint32 // what the stack last acknowledged: the next byte it wants
	stackTS  uint32 // the stack's last TSval
	seen     bool   // the stack has sent on this tuple
	last     []byte // the last packet sent
}

// hpSegKey identifies a segment for the check of repeated segments.
type hpSegKey struct {
	t        Tuple
	seq, ack uint32
	flags    wire.Flags
	wnd      uint16
	n        int
}

func newHPRun(t *testing.T) *hpRun {
	t.Helper()
	o := DefaultOptions(hpHostV4, hpHostV6)
	copy(o.ISNKey[:], "hostile peer")
	o.MaxSynBacklog = hpSynBacklog
	o.MaxTimeWait = hpMaxTimeWait
	o.MaxOrphans = hpMaxOrphans
	o.TCP.RcvBuf, o.TCP.RcvBufMax = 4096, 16384
	o.TCP.SndBuf, o.TCP.SndBufMax = 4096, 16384
	var obs Observer
	if testing.Verbose() && *hpTrace {
		obs = hpTracer{t}
	}
	st, err := New(o, obs)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h := &hpRun{
		t: t, st: st,
		written: map[*Socket]int{},
		byTuple: map[Tuple]*hpPeer{},
		buf:     make([]byte, o.MTU),
		pkt:     make([]byte, 4096),
		payload: make([]byte, 4096),
		rd:      make([]byte, 8192),
		corrupt: -1,
	}
	h.listen(0)
	h.listen(1)
	return h
}

// listen opens listener i (0 IPv4, 1 IPv6) on port 80.
func (h *hpRun) listen(i int) {
	h.t.Helper()
	so := h.st.NewSocket()
	so.SetReuseAddr(true)
	addr := []netip.Addr{hpHostV4, hpHostV6}[i]
	if err := so.Bind(netip.AddrPortFrom(addr, 80)); err != nil {
		// A connection of the old listener may hold the port, as in
		// Linux without SO_REUSEADDR on both; then it stays closed.
		so.Close(h.now)
		return
	}
	if err := so.Listen(h.now, hpBacklog); err != nil {
		h.t.Fatalf("listen: %v", err)
	}
	h.listeners[i] = so
}

// arg returns the program's next byte, or 0 past its end.
func (h *hpRun) arg() byte {
	if h.pc >= len(h.prog) {
		return 0
	}
	h.pc++
	return h.prog[h.pc-1]
}

func (h *hpRun) arg32() uint32 {
	return uint32(h.arg())<<24 | uint32(h.arg())<<16 | uint32(h.arg())<<8 | uint32(h.arg())
}

func (h *hpRun) fatalf(format string, args ...any) {
	h.t.Helper()
	h.t.Fatalf("step %d (%s) at %v: %s", h.step, h.op, h.now, fmt.Sprintf(format, args...))
}

// run runs the program's steps.
func (h *hpRun) run(prog []byte) {
	h.t.Helper()
	h.prog = prog
	for h.step = 0; h.pc < len(prog) && h.step < hpMaxSteps; h.step++ {
		h.begin()
		h.do(h.arg() % hpOpCount)
		h.settle()
		h.check()
	}
}

// do runs one operation.
func (h *hpRun) do(op byte) {
	h.t.Helper()
	switch op {
	case hpOpSYN:
		h.op = "SYN"
		h.syn()
	case hpOpSegment:
		h.op = "segment"
		h.segment()
	case hpOpACK:
		h.op = "ACK"
		p := h.peerArg()
		if p == nil {
			return
		}
		h.send(p, wire.ACK, p.expect(), p.stackNxt, h.window(h.arg()), h.properOpts(p), 0)
	case hpOpData:
		h.op = "data"
		p := h.peerArg()
		n := h.length(h.arg())
		fl := wire.ACK | wire.PSH | wire.Flags(h.arg())&wire.FIN
		if p == nil {
			return
		}
		h.send(p, fl, p.expect(), p.stackNxt, 65535, h.properOpts(p), n)
	case hpOpDup:
		h.op = "duplicate"
		if p := h.peerArg(); p != nil && p.last != nil {
			h.st.HandlePacket(h.now, slices.Clone(p.last))
		}
	case hpOpAccept:
		h.op = "accept"
		h.accept()
	case hpOpWrite:
		h.op = "write"
		a, n := h.appArg(), int(h.arg())*64
		if a == nil {
			return
		}
		w := make([]byte, n)
		off := h.written[a.so]
		for k := range w {
			w[k] = hpOurByte(off + k)
		}
		k, _ := a.so.Write(h.now, w)
		h.written[a.so] += k
	case hpOpRead:
		h.op = "read"
		a, n := h.appArg(), 1+int(h.arg())*32
		if a == nil {
			return
		}
		h.read(a, n)
	case hpOpClose:
		h.op = "close"
		if i := h.appIndex(); i >= 0 {
			h.apps[i].so.Close(h.now)
			h.apps = slices.Delete(h.apps, i, i+1)
		}
	case hpOpShutdown:
		h.op = "shutdown"
		a, how := h.appArg(), int(h.arg()%3)
		if a != nil {
			a.so.Shutdown(h.now, how)
		}
	case hpOpTime, hpOpTime2:
		h.op = "time"
		b := h.arg()
		d := []time.Duration{time.Millisecond, 10 * time.Millisecond, 200 * time.Millisecond, 5 * time.Second}[b>>6] * time.Duration(b&63)
		h.advance(h.now.Add(d))
	case hpOpConnect:
		h.op = "connect"
		h.connect(h.arg())
	case hpOpListen:
		h.op = "listen"
		i := int(h.arg() & 1)
		if l := h.listeners[i]; l != nil {
			l.Close(h.now)
			h.listeners[i] = nil
		} else {
			h.listen(i)
		}
	case hpOpSockopt:
		h.op = "sockopt"
		a, which := h.appArg(), h.arg()
		if a == nil {
			return
		}
		secs := time.Duration(1+which>>3) * time.Second
		switch which % 8 {
		case 0:
			a.so.SetNoDelay(true)
		case 1:
			a.so.SetNoDelay(false)
		case 2:
			a.so.SetLinger(true, 0)
		case 3: // SO_KEEPALIVE with TCP_KEEPIDLE/INTVL/CNT from the input
			a.so.SetKeepAliveParams(h.now, tcp.KeepAliveParams{Idle: secs, Interval: secs, Count: 1 + int(which>>5)})
			a.so.SetKeepAlive(h.now, true)
		case 4:
			a.so.SetKeepAlive(h.now, false)
		case 5: // TCP_USER_TIMEOUT
			a.so.SetUserTimeout(h.now, secs)
		case 6: // TCP_LINGER2, negative too
			a.so.SetLinger2(h.now, secs-4*time.Second)
		case 7:
			a.so.SetUserTimeout(h.now, 0)
		}
	case hpOpSACK:
		h.op = "SACK"
		p, lo, hi := h.peerArg(), h.arg(), h.arg()
		if p == nil {
			return
		}
		o := h.properOpts(p)
		o.NumSACK = 1
		o.SACK[0] = wire.SACKBlock{Left: p.acked + uint32(lo)*16, Right: p.stackNxt - uint32(hi)*16}
		h.send(p, wire.ACK, p.expect(), p.acked, 65535, o, 0)
	case hpOpRST:
		h.op = "RST"
		p := h.peerArg()
		d := int8(h.arg())
		if p == nil {
			return
		}
		fl := wire.RST
		if d&1 != 0 {
			fl |= wire.ACK
		}
		h.send(p, fl, p.expect()+uint32(int32(d)>>1)*97, p.stackNxt, 0, wire.Options{}, 0)
	}
}

// syn sends a SYN from a peer chosen by the program: IPv4 or IPv6, port
// 80 (a listener) or 81 (none), and one of 256 source ports.
func (h *hpRun) syn() {
	sel, port := h.arg(), h.arg()
	extra := wire.Flags(h.arg())
	fam := int(sel & 1)
	t := Tuple{
		Local:  netip.AddrPortFrom([]netip.Addr{hpHostV4, hpHostV6}[fam], 80+uint16(sel>>1&1)),
		Remote: netip.AddrPortFrom([]netip.Addr{hpPeerV4, hpPeerV6}[fam], 1000+uint16(port)),
	}
	p := h.byTuple[t]
	if p == nil {
		p = &hpPeer{t: t, iss: hpPeerISN + uint32(port)<<4, tsBase: uint32(port) << 20}
		h.addPeer(p)
	} else {
		// A new incarnation: past the old one's sequence space.
		p.iss = p.nxt + 1<<20
		p.seen = false
	}
	p.nxt = p.iss
	opts := h.options(p)
	p.ts = opts.HasTimestamp
	h.send(p, wire.SYN|extra, p.iss, 0, h.window(h.arg()), opts, 0)
}

// segment sends a segment of any kind.
func (h *hpRun) segment() {
	p := h.peerArg()
	flags := wire.Flags(h.arg())
	sm, am := h.arg(), h.arg()
	n := h.length(h.arg())
	wnd := h.window(h.arg())
	if p == nil {
		return
	}
	opts := h.options(p)
	var sq uint32
	d := uint32(int32(int8(sm)) >> 2)
	switch sm & 3 {
	case 0:
		sq = p.expect()
		if flags&wire.SYN != 0 {
			sq = p.iss // a SYN, or the SYN-ACK to an active open
			if opts.HasTimestamp {
				p.ts = true
			}
		}
	case 1:
		sq = p.expect() + d*8
	case 2:
		sq = p.expect() + d<<24 // far outside any window
	case 3:
		sq = p.nxt + d
	}
	var ack uint32
	d = uint32(int32(int8(am)) >> 2)
	switch am & 3 {
	case 0:
		ack = p.stackNxt
	case 1:
		ack = p.stackNxt + d
	case 2:
		ack = p.stackNxt - d*8
	case 3:
		ack = p.stackNxt + d<<20
	}
	h.send(p, flags, sq, ack, wnd, opts, n)
}

// expect is the sequence number the stack wants next from the peer, as
// far as the peer knows.
func (p *hpPeer) expect() uint32 {
	if p.seen {
		return p.stackAck
	}
	return p.nxt
}

// length decodes a payload length: 0-127 bytes, or multiples of 16 up
// to 2032.
func (h *hpRun) length(b byte) int {
	if b&0x80 == 0 {
		return int(b)
	}
	return int(b&0x7f) * 16
}

// window decodes a window: 0, or b repeated in both bytes (65535 for 255).
func (h *hpRun) window(b byte) uint16 { return uint16(b)<<8 | uint16(b) }

// properOpts are the options a well-behaved peer puts on a segment.
func (h *hpRun) properOpts(p *hpPeer) wire.Options {
	if !p.ts {
		return wire.Options{}
	}
	return wire.Options{HasTimestamp: true, TSVal: p.tsNow(h.now), TSEcr: p.stackTS}
}

func (p *hpPeer) tsNow(now clock.Instant) uint32 {
	return p.tsBase + uint32(int64(now)/int64(hpTSHz))
}

// Bits of the options byte.
const (
	hpOptMSS    = 1 << iota // then a byte: 0-127, 128-191 up to 1460 by 16, 192-255 large
	hpOptWScale             // then the shift, 0-255
	hpOptSACKOK
	hpOptTS     // then a mode byte: proper, old, zero, random
	hpOptSACK   // then a count byte and two bytes a block
	hpOptRaw    // then a length and that many raw option bytes
	hpOptUrgent // then a byte: the urgent pointer
	hpOptCorrupt
)

// options decodes the options byte and its arguments into p's options.
// Raw bytes and the urgent pointer go in h.raw and h.urgent for send, and
// a corruption offset in h.corrupt.
func (h *hpRun) options(p *hpPeer) wire.Options {
	b := h.arg()
	var o wire.Options
	h.raw, h.urgent, h.corrupt = h.raw[:0], 0, -1
	if b&hpOptMSS != 0 {
		m := h.arg()
		switch {
		case m < 128:
			o.MSS = uint16(m)
		case m < 192:
			o.MSS = 1460 - uint16(191-m)*16
		default:
			o.MSS = uint16(m-192)<<10 | 0x3ff
		}
	}
	if b&hpOptWScale != 0 {
		o.HasWScale, o.WScale = true, h.arg()
	}
	o.SACKPermitted = b&hpOptSACKOK != 0
	if b&hpOptTS != 0 {
		o.HasTimestamp = true
		switch m := h.arg(); m & 3 {
		case 0:
			o.TSVal, o.TSEcr = p.tsNow(h.now), p.stackTS
		case 1:
			o.TSVal, o.TSEcr = p.tsNow(h.now)-uint32(m)<<22, p.stackTS-uint32(m>>2)
		case 2:
		case 3:
			o.TSVal, o.TSEcr = h.arg32(), h.arg32()
		}
	}
	if b&hpOptSACK != 0 {
		c := h.arg()
		o.NumSACK = c&3 + 1
		base := p.acked
		if c&4 != 0 {
			base = p.stackNxt
		}
		for k := range int(o.NumSACK) {
			l, r := h.arg(), h.arg()
			left := base + uint32(int32(int8(l)))*16
			o.SACK[k] = wire.SACKBlock{Left: left, Right: left + uint32(int32(int8(r)))*8}
		}
	}
	if b&hpOptRaw != 0 {
		n := int(h.arg() % 41)
		for range n {
			h.raw = append(h.raw, h.arg())
		}
	}
	if b&hpOptUrgent != 0 {
		h.urgent = uint16(h.arg()) * 37
	}
	if b&hpOptCorrupt != 0 {
		h.corrupt = int(h.arg())
	}
	return o
}

// hpOurByte is the application's byte at an offset of its stream.
func hpOurByte(off int) byte { return byte(off*13 + off>>8 + 0x5a) }

// hpPeerByte is the peer's byte at a sequence number.
func hpPeerByte(s uint32) byte { return byte(s*7 + s>>9) }

// send builds the peer's packet with wire's encoders (the structured
// options in Linux's layout, then any raw option bytes, then the payload,
// both checksums right unless corrupted on purpose) and hands it to the
// stack.
func (h *hpRun) send(p *hpPeer, flags wire.Flags, sq, ack uint32, wnd uint16, opts wire.Options, n int) {
	h.t.Helper()
	first := sq
	if flags&wire.SYN != 0 {
		first++
	}
	for k := range n {
		h.payload[k] = hpPeerByte(first + uint32(k))
	}
	f := wire.TCPFields{
		SrcPort: p.t.Remote.Port(), DstPort: p.t.Local.Port(),
		Seq: sq, Ack: ack, Flags: flags, Window: wnd, Urgent: h.urgent, Options: opts,
	}
	for f.HeaderLen() > 60 && f.Options.NumSACK > 0 {
		f.Options.NumSACK-- // as many SACK blocks as fit beside the rest
	}
	src, dst := p.t.Remote.Addr(), p.t.Local.Addr()
	ipLen := wire.IPv4HeaderLen
	if src.Is6() {
		ipLen = wire.IPv6HeaderLen
	}
	seg := h.pkt[ipLen:]
	k, err := wire.EncodeTCP(seg, &f, h.payload[:n], src, dst)
	if err != nil {
		h.fatalf("EncodeTCP: %v", err)
	}
	if raw := h.raw; len(raw) > 0 {
		// Raw option bytes after the structured ones, padded with EOL to
		// a multiple of four, as many as fit in 40.
		hl := f.HeaderLen()
		room := 60 - hl
		raw = raw[:min(len(raw), room)]
		pad := (len(raw) + 3) &^ 3
		copy(seg[hl+pad:], seg[hl:k]) // the payload moves up
		copy(seg[hl:], raw)
		clear(seg[hl+len(raw) : hl+pad])
		k += pad
		seg[12] = byte((hl+pad)/4) << 4
		seg[16], seg[17] = 0, 0
		binary.BigEndian.PutUint16(seg[16:18], wire.TCPChecksum(src, dst, seg[:k]))
	}
	if src.Is4() {
		_, err = wire.EncodeIPv4Header(h.pkt, src, dst, 6, 64, uint16(h.step), k)
	} else {
		_, err = wire.EncodeIPv6Header(h.pkt, src, dst, 6, 64, k)
	}
	if err != nil {
		h.fatalf("encode IP header: %v", err)
	}
	pkt := slices.Clone(h.pkt[:ipLen+k])
	if h.corrupt >= 0 {
		pkt[h.corrupt%len(pkt)] ^= 0x5a
	}
	p.last = pkt
	end := first + uint32(n)
	if flags&wire.FIN != 0 {
		end++
	}
	if seq.Value(end).GreaterThan(seq.Value(p.nxt)) && seq.Value(end).Sub(seq.Value(p.nxt)) < 1<<20 {
		p.nxt = end
	}
	if flags&wire.ACK != 0 {
		p.acked = ack
	}
	h.raw, h.urgent, h.corrupt = h.raw[:0], 0, -1
	h.st.HandlePacket(h.now, slices.Clone(pkt))
}

func (h *hpRun) addPeer(p *hpPeer) {
	h.byTuple[p.t] = p
	h.peers = append(h.peers, p)
}

// peerArg picks one of the peers used so far (nil if none).
func (h *hpRun) peerArg() *hpPeer {
	b := h.arg()
	if len(h.peers) == 0 {
		return nil
	}
	return h.peers[int(b)%len(h.peers)]
}

// appIndex picks one of the application's sockets (-1 if none).
func (h *hpRun) appIndex() int {
	b := h.arg()
	if len(h.apps) == 0 {
		return -1
	}
	return int(b) % len(h.apps)
}

func (h *hpRun) appArg() *hpApp {
	if i := h.appIndex(); i >= 0 {
		return h.apps[i]
	}
	return nil
}

// accept takes every queued connection of both listeners; beyond hpMaxApps
// the application closes what it accepts.
func (h *hpRun) accept() {
	for _, l := range h.listeners {
		if l == nil {
			continue
		}
		for {
			so, err := l.Accept()
			if err != nil {
				break
			}
			if len(h.apps) >= hpMaxApps {
				so.Close(h.now)
				continue
			}
			h.apps = append(h.apps, &hpApp{so: so})
		}
	}
}

// connect opens a connection to a peer on port 443-446, IPv4 or IPv6.
func (h *hpRun) connect(b byte) {
	if len(h.apps) >= hpMaxApps {
		return
	}
	fam := int(b & 1)
	remote := netip.AddrPortFrom([]netip.Addr{hpPeerV4, hpPeerV6}[fam], 443+uint16(b>>1&3))
	so := h.st.NewSocket()
	if err := so.Connect(h.now, remote); err != nil {
		so.Close(h.now)
		return
	}
	t := Tuple{Local: so.Local(), Remote: remote}
	p := h.byTuple[t]
	if p == nil {
		p = &hpPeer{t: t, tsBase: uint32(b) << 24}
		h.addPeer(p)
	}
	p.iss = hpPeerISN - uint32(b)<<8
	p.nxt, p.seen = p.iss, false
	h.apps = append(h.apps, &hpApp{so: so})
}

// read reads up to n bytes and checks them against the peer's stream.
func (h *hpRun) read(a *hpApp, n int) {
	h.t.Helper()
	k, err := a.so.Read(h.now, h.rd[:n])
	if k > 0 && err != nil {
		h.fatalf("read returned %d bytes and %v", k, err)
	}
	if k == 0 {
		return
	}
	start := uint32(a.so.Conn().IRS()) + 1 + uint32(a.read)
	for i, b := range h.rd[:k] {
		if want := hpPeerByte(start + uint32(i)); b != want {
			h.fatalf("byte %d of the stream read as %#x, the peer sent %#x at seq %d", a.read+i, b, want, start+uint32(i))
		}
	}
	a.read += k
	h.readTotal += k
}

// begin starts a step's output accounting.
func (h *hpRun) begin() {
	h.bare, h.same, h.sentBytes = map[Tuple]int{}, map[hpSegKey]int{}, map[Tuple]int{}
	h.packets = 0
	h.budget = h.stepBudget()
}

// stepBudget is the most packets one step may send: per connection (and
// one more, for one the step may create) hpMaxBare segments without
// payload plus its payload bound (2*SndBufMax) in segments of at least
// hpMinRoom bytes, and per TIME_WAIT record, listener and arriving packet a
// few control segments.
func (h *hpRun) stepBudget() int {
	perConn := hpMaxBare + 2*h.st.opts.TCP.SndBufMax/hpMinRoom
	return (len(h.st.conns)+1)*perConn + hpMaxBare*(h.st.tw.len()+len(h.st.listeners)+1)
}

// drain polls the stack until it has nothing to send, checking each packet.
func (h *hpRun) drain() {
	h.t.Helper()
	for {
		n := h.st.PollPacket(h.now, h.buf)
		if n == 0 {
			break
		}
		h.packets++
		if h.packets > h.budget {
			h.fatalf("more than %d packets in one step (a send loop); the last: %s", h.budget, hpDescribe(h.buf[:n]))
		}
		h.sent(h.buf[:n])
	}
	h.st.Touched()
}

// sent checks one packet the stack sent and updates the peer's view.
func (h *hpRun) sent(b []byte) {
	h.t.Helper()
	var p wire.Packet
	if err := wire.ParsePacket(b, &p); err != nil {
		h.fatalf("the stack sent a malformed packet: %v", err)
	}
	if len(b) > h.st.opts.MTU {
		h.fatalf("a %d-byte packet, MTU %d", len(b), h.st.opts.MTU)
	}
	t := Tuple{Local: netip.AddrPortFrom(p.Src, p.TCP.SrcPort), Remote: netip.AddrPortFrom(p.Dst, p.TCP.DstPort)}
	n := len(p.Payload)
	key := hpSegKey{t: t, seq: p.TCP.Seq, ack: p.TCP.Ack, flags: p.TCP.Flags, wnd: p.TCP.Window, n: n}
	if h.same[key]++; h.same[key] >= 3 {
		h.fatalf("the same segment three times in one step: %s", hpDescribe(b))
	}
	if n == 0 {
		if h.bare[t]++; h.bare[t] > hpMaxBare {
			h.fatalf("more than %d segments without payload on %v in one step: %s", hpMaxBare, t, hpDescribe(b))
		}
	} else {
		so := h.st.conns[t]
		if so == nil || so.conn == nil {
			h.fatalf("payload from no connection: %s", hpDescribe(b))
		}
		if n > so.conn.MSS() {
			h.fatalf("%d bytes of payload, MSS %d: %s", n, so.conn.MSS(), hpDescribe(b))
		}
		off := int(int32(p.TCP.Seq - uint32(so.conn.ISS()) - 1))
		for i, c := range p.Payload {
			if off+i < 0 || off+i >= h.written[so] || c != hpOurByte(off+i) {
				h.fatalf("sent byte %#x at offset %d of a stream of %d bytes written: %s", c, off+i, h.written[so], hpDescribe(b))
			}
		}
		h.sentBytes[t] += n
		h.sentTotal += n
		if h.sentBytes[t] > 2*h.st.opts.TCP.SndBufMax {
			h.fatalf("%d payload bytes on %v in one step, more than twice SndBufMax", h.sentBytes[t], t)
		}
	}
	pr := h.byTuple[t]
	if pr == nil {
		return
	}
	end := p.TCP.Seq + uint32(n)
	if p.TCP.Flags&(wire.SYN|wire.FIN) != 0 {
		end++
	}
	if p.TCP.Flags&wire.SYN != 0 {
		pr.stackISS, pr.stackNxt = p.TCP.Seq, end
	}
	if !pr.seen || seq.Value(end).GreaterThan(seq.Value(pr.stackNxt)) {
		pr.stackNxt = end
	}
	if p.TCP.Flags&wire.ACK != 0 && p.TCP.Flags&wire.RST == 0 {
		pr.stackAck = p.TCP.Ack
		pr.seen = true
	}
	if p.TCP.Options.HasTimestamp {
		pr.stackTS = p.TCP.Options.TSVal
	}
}

// hpDescribe formats a packet for a message.
func hpDescribe(b []byte) string {
	var p wire.Packet
	if err := wire.ParsePacket(b, &p); err != nil {
		return fmt.Sprintf("malformed (%v)", err)
	}
	return fmt.Sprintf("%v:%d > %v:%d %v seq %d ack %d win %d len %d %v", p.Src, p.TCP.SrcPort, p.Dst, p.TCP.DstPort,
		p.TCP.Flags, p.TCP.Seq, p.TCP.Ack, p.TCP.Window, len(p.Payload), &p.TCP.Options)
}

// settle sends what the step left and runs the timers due at now, until
// the deadline is after now: at most hpSpinRounds rounds, else a spin.
func (h *hpRun) settle() {
	h.t.Helper()
	for round := 0; ; round++ {
		h.drain()
		if d := h.st.Deadline(); d > h.now {
			return
		} else if round == hpSpinRounds {
			h.fatalf("deadline %v not after now after %d rounds of HandleTimeout (a spin)", d, hpSpinRounds)
		}
		h.st.HandleTimeout(h.now)
		if d := h.st.Deadline(); d <= h.now {
			h.fatalf("deadline %v not after now right after HandleTimeout", d)
		}
	}
}

// advance moves the clock to end, firing each timer at its deadline on
// the way; each instant is a step of its own for the output bounds.
func (h *hpRun) advance(end clock.Instant) {
	h.t.Helper()
	for events := 0; ; events++ {
		if events == hpFinalEvents {
			h.fatalf("%d timer firings before %v", events, end)
		}
		d := h.st.Deadline()
		if d > end {
			break
		}
		h.now = max(h.now, d)
		h.begin()
		h.st.HandleTimeout(h.now)
		h.settle()
		h.check()
	}
	h.now = max(h.now, end)
}

// check verifies the memory and state bounds after a step.
func (h *hpRun) check() {
	h.t.Helper()
	s := h.st
	cfg := &s.opts.TCP
	if err := s.CheckInvariants(); err != nil {
		h.fatalf("%v", err)
	}
	if s.ctlHead != len(s.ctl) || len(s.dirty) != 0 {
		h.fatalf("%d control segments and %d connections still queued after polling", len(s.ctl)-s.ctlHead, len(s.dirty))
	}
	if s.tw.len() > s.opts.MaxTimeWait {
		h.fatalf("%d TIME_WAIT records, MaxTimeWait %d", s.tw.len(), s.opts.MaxTimeWait)
	}
	if s.orphans > s.opts.MaxOrphans || s.orphans < 0 {
		h.fatalf("%d orphans, MaxOrphans %d", s.orphans, s.opts.MaxOrphans)
	}
	limit := len(h.apps) + s.opts.MaxOrphans
	for _, ls := range s.listeners {
		for _, l := range ls {
			if len(l.acceptQ) > l.backlog+1 {
				h.fatalf("accept queue of %d, backlog %d", len(l.acceptQ), l.backlog)
			}
			if l.synRcvd > max(l.backlog+1, s.opts.MaxSynBacklog) || l.synRcvd < 0 {
				h.fatalf("%d connections in SYN_RCVD, backlog %d", l.synRcvd, l.backlog)
			}
			limit += l.backlog + 1 + max(l.backlog+1, s.opts.MaxSynBacklog)
		}
	}
	if len(s.conns) > limit {
		h.fatalf("%d connections, more than the %d the queues, the application's sockets and the orphans allow", len(s.conns), limit)
	}
	if s.timers.len() > len(s.conns) {
		h.fatalf("%d timers for %d connections", s.timers.len(), len(s.conns))
	}
	for t, so := range s.conns {
		c := so.conn
		if c.SendQ() > max(cfg.SndBuf, cfg.SndBufMax) || c.RecvQ() > max(cfg.RcvBuf, cfg.RcvBufMax) || c.RcvBuf() > max(cfg.RcvBuf, cfg.RcvBufMax) {
			h.fatalf("%v: send queue %d, receive queue %d (buffer %d) beyond their bounds", t, c.SendQ(), c.RecvQ(), c.RcvBuf())
		}
		out := c.Info().Outstanding
		if c.State() != tcp.Closed && out > c.SendQ()+2 {
			h.fatalf("%v: %d bytes outstanding with %d buffered", t, out, c.SendQ())
		}
		if st := c.State(); st != tcp.Closed && st != tcp.TimeWait && (out > 0 || c.SendQ() > 0) && c.Deadline() == clock.Never {
			// Linux keeps the retransmission or the persist timer
			// running while anything is unacknowledged.
			h.fatalf("%v in %v: %d bytes outstanding, %d queued, and no timer", t, st, out, c.SendQ())
		}
	}
}

// finish closes everything as a process exit does, lets the peer fall
// silent and time run on, and requires every connection to end.
func (h *hpRun) finish() {
	h.t.Helper()
	h.op = "final"
	h.begin()
	for _, a := range h.apps {
		a.so.Close(h.now)
	}
	h.apps = nil
	for i, l := range h.listeners {
		if l != nil {
			l.Close(h.now)
			h.listeners[i] = nil
		}
	}
	h.st.CloseAll(h.now)
	h.settle()
	h.check()
	h.advance(h.now.Add(hpFinalBound))
	if !h.st.Idle() || h.st.orphans != 0 {
		var left []string
		for _, r := range h.st.Connections(h.now) {
			left = append(left, fmt.Sprintf("%v %v>%v timer %q %v", r.State, r.Local, r.Peer, r.Timer, r.TimerLeft))
		}
		h.fatalf("%v after everything closed, the stack still holds %d connections, %d TIME_WAIT records, %d orphans: %v",
			hpFinalBound, len(h.st.conns), h.st.tw.len(), h.st.orphans, left)
	}
}

// hpSeed is a conversation of the seed corpus.
type hpSeed struct {
	name string
	prog []byte
	// For TestHostilePeerSeeds: the least the application reads and the
	// least payload the stack sends (0: no check).
	wantRead, wantSent int
}

// hpProg writes a program for FuzzHostilePeer, one method per
// operation, its arguments in the order the operation reads them.
type hpProg []byte

func (b *hpProg) op(op byte, args ...byte) *hpProg {
	*b = append(append(*b, op), args...)
	return b
}

// syn: a SYN from the peer on port 1000+port of family fam (0 IPv4, 1
// IPv6) to port 80, with the options opts (an options byte and its
// arguments) and window byte wnd.
func (b *hpProg) syn(fam, port byte, opts []byte, wnd byte) *hpProg {
	return b.op(hpOpSYN, append(append([]byte{fam, port, 0}, opts...), wnd)...)
}

// seg: any segment from peer p; sm and am are the seq and ack modes.
func (b *hpProg) seg(p byte, fl wire.Flags, sm, am, n, wnd byte, opts []byte) *hpProg {
	return b.op(hpOpSegment, append([]byte{p, byte(fl), sm, am, n, wnd}, opts...)...)
}

func (b *hpProg) ack(p, wnd byte) *hpProg { return b.op(hpOpACK, p, wnd) }
func (b *hpProg) data(p, n byte, fin bool) *hpProg {
	f := byte(0)
	if fin {
		f = byte(wire.FIN)
	}
	return b.op(hpOpData, p, n, f)
}
func (b *hpProg) accept() *hpProg               { return b.op(hpOpAccept) }
func (b *hpProg) write(a, n64 byte) *hpProg     { return b.op(hpOpWrite, a, n64) }
func (b *hpProg) read(a, n32 byte) *hpProg      { return b.op(hpOpRead, a, n32) }
func (b *hpProg) close(a byte) *hpProg          { return b.op(hpOpClose, a) }
func (b *hpProg) shutdown(a, how byte) *hpProg  { return b.op(hpOpShutdown, a, how) }
func (b *hpProg) ms(n byte) *hpProg             { return b.op(hpOpTime, n&63) }
func (b *hpProg) ms10(n byte) *hpProg           { return b.op(hpOpTime, 64|n&63) }
func (b *hpProg) secs5(n byte) *hpProg          { return b.op(hpOpTime, 192|n&63) }
func (b *hpProg) connect(sel byte) *hpProg      { return b.op(hpOpConnect, sel) }
func (b *hpProg) rst(p byte, d int8) *hpProg    { return b.op(hpOpRST, p, byte(d)) }
func (b *hpProg) dup(p byte) *hpProg            { return b.op(hpOpDup, p) }
func (b *hpProg) sack(p, lo, hi byte) *hpProg   { return b.op(hpOpSACK, p, lo, hi) }
func (b *hpProg) toggleListener(i byte) *hpProg { return b.op(hpOpListen, i) }
func (b *hpProg) sockopt(a, which byte) *hpProg { return b.op(hpOpSockopt, a, which) }
func (b *hpProg) bytes() []byte                 { return slices.Clone(*b) }
func hpSeqNear(d int8) byte                     { return byte(d)<<2 | 1 }
func hpTSOpts() []byte                          { return []byte{hpOptTS, 0} }
func hpMSSOpts(mss byte, more byte, args ...byte) []byte {
	return append([]byte{hpOptMSS | more, mss}, args...)
}
func hpFullOpts() []byte { return []byte{hpOptMSS | hpOptWScale | hpOptSACKOK | hpOptTS, 191, 7, 0} }

// hpSeeds is the seed corpus: the inputs of known bugs and a few
// normal conversations to start from.
func hpSeeds() []hpSeed {
	var seeds []hpSeed
	add := func(name string, b *hpProg, wantRead, wantSent int) {
		seeds = append(seeds, hpSeed{name, b.bytes(), wantRead, wantSent})
	}

	// Issue 13's remote DoS: MSS 11 with timestamps left a negative
	// payload room, and a write made the stack send empty segments
	// forever.
	add("mss-11-ts", new(hpProg).
		syn(0, 0, hpMSSOpts(11, hpOptTS, 0), 255).ack(0, 255).data(0, 5, false).
		accept().write(0, 4).ms(10).ack(0, 255).ms10(20), 0, 48)

	// MSS 20 with timestamps and SACK: three out-of-order pieces make the
	// stack's ACKs carry three SACK blocks (28 bytes), more than the
	// room of 8 bytes the timestamps leave of 20.
	b := new(hpProg).syn(0, 1, hpMSSOpts(20, hpOptTS|hpOptSACKOK, 0), 255).ack(0, 255).accept()
	for _, d := range []int8{2, 6, 10} {
		b.seg(0, wire.ACK, hpSeqNear(d), 0, 8, 255, hpTSOpts())
	}
	add("mss-20-sack-ooo", b.write(0, 4).ms(10).ack(0, 255).ms10(30), 0, 8)

	// MSS 1 without timestamps: the floor of 48 bytes.
	add("mss-1", new(hpProg).
		syn(0, 2, hpMSSOpts(1, 0), 255).ack(0, 255).accept().write(0, 16).
		ms(5).ack(0, 255).ms(5).ack(0, 255).ms10(30).ack(0, 255), 0, 48)

	// MSS 0 (read as none: 536) and a window scale of 255.
	add("mss-0-wscale-255", new(hpProg).
		syn(0, 3, []byte{hpOptMSS | hpOptWScale | hpOptSACKOK, 0, 255}, 255).ack(0, 255).accept().write(0, 32).
		ms(5).ack(0, 255).ms10(30), 0, 536)

	// A normal conversation over IPv4: data both ways, the peer's FIN,
	// the application's close.
	add("normal-v4", new(hpProg).
		syn(0, 4, hpFullOpts(), 255).ack(0, 255).data(0, 100, false).accept().
		read(0, 10).write(0, 64).ms(1).ack(0, 255).ms(1).ack(0, 255).data(0, 0x80|64, true).
		read(0, 40).close(0).ms(1).ack(0, 255).secs5(13), 100+64*16, 4096)

	// The same over IPv6, with the application closing first.
	add("normal-v6", new(hpProg).
		syn(1, 5, hpFullOpts(), 255).ack(0, 255).accept().write(0, 8).ms(1).ack(0, 255).
		data(0, 50, false).read(0, 2).shutdown(0, 1).ms(1).ack(0, 255).data(0, 0, true).close(0).secs5(13), 50, 512)

	// An active open: the stack connects, the peer answers with a
	// SYN-ACK with every option, data flows both ways, the peer resets.
	add("active-open", new(hpProg).
		connect(0).seg(0, wire.SYN|wire.ACK, 0, 0, 0, 255, hpFullOpts()).
		write(0, 16).ms(1).ack(0, 255).data(0, 120, false).read(0, 4).ms(50).ack(0, 255).
		rst(0, 0).read(0, 4).close(0).secs5(2), 120, 1024)

	// A SYN flood from many ports fills the SYN queue (SYN cookies), then
	// the handshakes complete; duplicates and RSTs, and a stray to port 81.
	b = new(hpProg)
	for i := range byte(8) {
		b.syn(0, 100+i, hpFullOpts(), 255)
	}
	for i := range byte(8) {
		b.ack(i, 255)
	}
	b.accept().dup(3).rst(4, 0).rst(5, 20).op(hpOpSYN, 2, 9, 0, 0, 255).dup(1).seg(2, wire.SYN, 0, 0, 0, 255, hpFullOpts())
	add("syn-flood", b.ms10(30).secs5(1), 0, 0)

	// Loss recovery: three segments in flight, three duplicate ACKs that
	// SACK the last two, then the ACK of everything.
	add("sack-recovery", new(hpProg).
		syn(0, 7, hpFullOpts(), 255).ack(0, 255).accept().write(0, 64).
		sack(0, 91, 0).sack(0, 91, 0).sack(0, 91, 0).ms(5).sack(0, 91, 0).ms(20).ack(0, 255).
		write(0, 32).ms(1).ack(0, 255).ms10(30).ack(0, 255), 0, 4096)

	// TIME_WAIT records: the peer's FIN retransmitted into one, then a
	// new SYN on the same 4-tuple reopens it.
	add("time-wait", new(hpProg).
		syn(0, 8, hpFullOpts(), 255).ack(0, 255).accept().close(0).ms(1).ack(0, 255).data(0, 0, true).
		ms(1).dup(0).ms(1).syn(0, 8, hpFullOpts(), 255).ack(0, 255).accept().
		data(0, 10, false).read(0, 1).close(0).ms10(10), 10, 0)

	// The peer sends a stream the application reads as it comes, one
	// round trip after another: receive-buffer auto-tuning grows the
	// window.
	b = new(hpProg).syn(1, 9, hpFullOpts(), 255).ack(0, 255).accept()
	for range 12 {
		b.data(0, 0x80|90, false).data(0, 0x80|90, false).read(0, 120).ms(10)
	}
	add("bulk-in", b.data(0, 0, true).read(0, 1).close(0).ms(1).ack(0, 255), 16*1440, 0)

	// Odd options: NOPs, EOL, an unknown kind, a bad length; corrupted
	// and urgent packets; a listener closed under its connections.
	add("odd-options", new(hpProg).
		syn(0, 6, []byte{hpOptMSS | hpOptRaw, 64, 8, 1, 1, 0x1e, 4, 0xaa, 0xbb, 0, 7}, 255).ack(0, 255).
		seg(0, wire.ACK|wire.URG|wire.PSH, 0, 0, 10, 255, []byte{hpOptUrgent | hpOptRaw, 3, 0xfe, 1, 1, 3}).
		seg(0, wire.ACK, 0, 0, 10, 255, []byte{hpOptCorrupt, 30}).
		seg(0, wire.ACK, 0, 0, 10, 255, []byte{hpOptTS | hpOptSACK, 3, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}).
		toggleListener(0).ms10(10).toggleListener(0).secs5(1), 0, 0)
	return seeds
}
