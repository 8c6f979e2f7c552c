package interop

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/tcpwave/tcpwave"
	"github.com/tcpwave/tcpwave/link"
	"github.com/tcpwave/tcpwave/link/pipe"
	"github.com/tcpwave/tcpwave/tcp"
	"github.com/tcpwave/tcpwave/wire"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	gstack "gvisor.dev/gvisor/pkg/tcpip/stack"
	gtcp "gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// LinkConfig describes a [Link]: the in-memory cable of the benchmarks,
// which, unlike a [Wire], can carry jumbo packets and lose some.
type LinkConfig struct {
	// MTU is the largest packet the link carries; 0 means 1500. At most
	// 65535.
	MTU int
	// Queue is each direction's queue length in packets; 0 picks room
	// for several megabytes of full-sized packets.
	Queue int
	// Loss is the probability, in [0, 1], that a packet is lost, drawn
	// for every packet in each direction.
	Loss float64
	// Seed seeds the loss decisions; each direction draws from a stream
	// of its own, so that a run can be repeated.
	Seed uint64
	// GSOMaxSize, when above the MTU, gives the link segmentation
	// offload, as a veth pair with TSO and GRO has: besides packets of
	// up to MTU bytes it carries TCP super-packets of up to GSOMaxSize
	// bytes whole (LinkEnd.WriteGSO), and the far end reads them as they
	// are. At most 65535. 0 means no offload.
	GSOMaxSize int
}

// Link is an in-memory link between two hosts built on package link/pipe:
// every packet is copied into a buffer of its own, and each direction
// may lose packets at random. What A sends, B receives, and the other way
// round.
type Link struct {
	A, B *LinkEnd
}

// LinkStats counts what one LinkEnd sent.
type LinkStats struct {
	Packets uint64 // packets the host handed to the link, super-packets included
	Bytes   uint64 // their bytes
	MaxLen  int    // length of the largest packet sent
	// Super counts the super-packets: packets longer than the MTU, which
	// only a link with offload carries.
	Super uint64
	// Segments counts the TCP segments the packets stand for: one per
	// packet, and for a super-packet the number of segments of the size
	// the sender gave (WriteGSO) its payload splits into.
	Segments uint64
	Lost     uint64 // packets lost at random (LinkConfig.Loss)
	Dropped  uint64 // packets the pipe lost (queue full or peer closed)
}

// CheckOffload returns an error unless these packets were mostly
// super-packets: some longer than the MTU, and over 4 segments a packet on
// average (a 64 KiB super-packet holds 45 of 1448 bytes).
func (st LinkStats) CheckOffload() error {
	if st.Super == 0 || st.Segments < 4*st.Packets {
		return fmt.Errorf("interop: offload: %d packets, %d of them super-packets, for %d segments; want over 4 segments a packet",
			st.Packets, st.Super, st.Segments)
	}
	return nil
}

// LinkEnd is one end of a Link. It implements link.Endpoint and is safe
// for concurrent use. It also implements link.Offloader, which only
// means offload when the link has it (LinkConfig.GSOMaxSize): otherwise
// GSOMaxSize returns 0.
type LinkEnd struct {
	end  *pipe.End
	loss float64

	mu  sync.Mutex // guards rng
	rng *rand.Rand

	packets, bytes, lost, super, segs atomic.Uint64
	maxLen                            atomic.Int64
}

var (
	_ link.Poller    = (*LinkEnd)(nil)
	_ link.Offloader = (*LinkEnd)(nil)
)

// NewLink returns a link as cfg describes.
func NewLink(cfg LinkConfig) (*Link, error) {
	mtu := cfg.MTU
	if mtu == 0 {
		mtu = MTU
	}
	if mtu < 148 || mtu > 65535 {
		return nil, fmt.Errorf("interop: link MTU %d out of [148, 65535]", mtu)
	}
	if !(cfg.Loss >= 0 && cfg.Loss <= 1) {
		return nil, fmt.Errorf("interop: link loss %v out of [0, 1]", cfg.Loss)
	}
	if g := cfg.GSOMaxSize; g != 0 && (g <= mtu || g > 65535) {
		return nil, fmt.Errorf("interop: link GSOMaxSize %d out of [MTU+1, 65535] (MTU %d)", g, mtu)
	}
	q := cfg.Queue
	if q <= 0 {
		q = max(wireQueue*MTU/mtu, 512)
	}
	a, b := pipe.NewEnds(mtu, q)
	if cfg.GSOMaxSize != 0 {
		a, b = pipe.NewOffload(mtu, cfg.GSOMaxSize, q)
	}
	mk := func(e *pipe.End, stream uint64) *LinkEnd {
		return &LinkEnd{end: e, loss: cfg.Loss, rng: rand.New(rand.NewPCG(cfg.Seed, stream))}
	}
	return &Link{A: mk(a, 1), B: mk(b, 2)}, nil
}

// WritePacket sends a copy of pkt to the peer, unless the link loses it
// (link.Endpoint).
func (e *LinkEnd) WritePacket(pkt []byte) error {
	if len(pkt) <= e.end.MTU() {
		e.count(len(pkt), 1)
		if e.lose() {
			return nil
		}
	}
	return e.end.WritePacket(pkt) // the pipe copies pkt, or refuses it as too long
}

// WriteGSO sends a copy of the TCP super-packet pkt, whose payload is
// segments of segSize bytes, to the peer whole, unless the link loses it
// (link.Offloader); the loss is drawn once for the whole super-packet.
// Without offload it takes only packets that fit the MTU.
func (e *LinkEnd) WriteGSO(pkt []byte, segSize int) error {
	if segSize > 0 && len(pkt) <= max(e.end.GSOMaxSize(), e.end.MTU()) {
		e.count(len(pkt), segments(pkt, segSize))
		if len(pkt) > e.end.MTU() {
			e.super.Add(1)
		}
		if e.lose() {
			return nil
		}
	}
	return e.end.WriteGSO(pkt, segSize) // the pipe copies pkt, or refuses it
}

// count counts a packet of n bytes that stands for segs segments.
func (e *LinkEnd) count(n, segs int) {
	e.packets.Add(1)
	e.bytes.Add(uint64(n))
	e.segs.Add(uint64(segs))
	for n := int64(n); ; {
		m := e.maxLen.Load()
		if n <= m || e.maxLen.CompareAndSwap(m, n) {
			break
		}
	}
}

// lose draws whether the link loses the packet at hand, and counts it if
// so.
func (e *LinkEnd) lose() bool {
	if e.loss == 0 {
		return false
	}
	e.mu.Lock()
	lost := e.rng.Float64() < e.loss
	e.mu.Unlock()
	if lost {
		e.lost.Add(1)
	}
	return lost
}

// segments returns how many segments of segSize bytes the payload of
// the TCP packet pkt (IPv4 or IPv6 without extension headers) splits
// into: at least one. A packet it cannot parse counts as one.
func segments(pkt []byte, segSize int) int {
	_, hdr, err := wire.TCPHeaders(pkt)
	payload := len(pkt) - hdr
	if err != nil || payload <= 0 || segSize <= 0 {
		return 1
	}
	return (payload + segSize - 1) / segSize
}

// ReadPacket waits for a packet from the peer (link.Endpoint).
func (e *LinkEnd) ReadPacket(buf []byte) (int, error) { return e.end.ReadPacket(buf) }

// PollPacket takes a packet from the peer if one is waiting
// (link.Poller).
func (e *LinkEnd) PollPacket(buf []byte) (int, error) { return e.end.PollPacket(buf) }

// MTU returns the link's MTU (link.Endpoint).
func (e *LinkEnd) MTU() int { return e.end.MTU() }

// GSOMaxSize returns the largest super-packet the link carries, or 0
// without offload (link.Offloader).
func (e *LinkEnd) GSOMaxSize() int { return e.end.GSOMaxSize() }

// Close closes this end of the link (link.Endpoint).
func (e *LinkEnd) Close() error { return e.end.Close() }

// Stats returns the end's counts.
func (e *LinkEnd) Stats() LinkStats {
	return LinkStats{
		Packets:  e.packets.Load(),
		Bytes:    e.bytes.Load(),
		MaxLen:   int(e.maxLen.Load()),
		Super:    e.super.Load(),
		Segments: e.segs.Load(),
		Lost:     e.lost.Load(),
		Dropped:  e.end.Stats().Dropped,
	}
}

// NewHostOn starts a host of kind k on any link endpoint ep, with addrs;
// it owns ep from now on (if NewHostOn fails, ep is left open). Both
// kinds take their MSS from ep's MTU, as Linux takes it from the route's:
// tcpwave's MSS is set to MTU-40 (tcpwave itself only lowers its default
// 1460 to fit a smaller MTU, and lowers it by 20 more for IPv6), and
// gVisor's NIC gets ep's MTU, from which gVisor derives its MSS. A
// tcpwave host is a *TCPWaveHost, a gVisor one a *GVisorLinkHost.
func NewHostOn(k Kind, ep link.Endpoint, addrs []netip.Addr, cfg Config) (Host, error) {
	switch k {
	case TCPWave:
		mss := uint16(min(ep.MTU()-40, 65535))
		opts := []tcpwave.Option{tcpwave.WithTCP(func(c *tcp.Config) {
			c.MSS = mss
			if cfg.TimeWait != 0 {
				c.TimeWait = cfg.TimeWait
			}
		})}
		opts = append(opts, tcpwave.WithCloseTimeout(closeTimeout))
		opts = append(opts, cfg.TCPWave...)
		s, err := tcpwave.New(ep, addrs, opts...)
		if err != nil {
			return nil, err
		}
		return &TCPWaveHost{Stack: s}, nil
	case GVisor:
		return NewGVisorOn(ep, addrs, cfg)
	}
	return nil, fmt.Errorf("interop: unknown kind %q", k)
}

// NewPairOn starts hosts of kinds a and b on a new Link made from lc: A
// on Link.A with AddrA4 and AddrA6, B on Link.B with AddrB4 and AddrB6.
// The Pair's Wire is nil; the Link is returned beside it.
func NewPairOn(a, b Kind, lc LinkConfig, cfg Config) (*Pair, *Link, error) {
	l, err := NewLink(lc)
	if err != nil {
		return nil, nil, err
	}
	ha, err := NewHostOn(a, l.A, []netip.Addr{AddrA4, AddrA6}, cfg)
	if err != nil {
		l.A.Close()
		l.B.Close()
		return nil, nil, err
	}
	hb, err := NewHostOn(b, l.B, []netip.Addr{AddrB4, AddrB6}, cfg)
	if err != nil {
		ha.Close()
		l.B.Close()
		return nil, nil, err
	}
	return &Pair{A: ha, B: hb}, l, nil
}

// GVisorLinkHost is a gVisor netstack on any link.Endpoint, of any MTU:
// a [GVisorHost] whose channel endpoint has the link's MTU (so that
// gVisor derives its MSS from it), and whose packets are moved to and
// from the link as GVisorHost moves them to and from a Port: each
// outgoing packet is flattened into one buffer and copied by the link,
// each incoming one is read into a pooled gVisor buffer of its own.
//
// On a link with segmentation offload (a link.Offloader whose GSOMaxSize
// is above its MTU) the channel endpoint offers gVisor host GSO
// (stack.HostGSOSupported, with a GSOMaxSize that keeps every
// super-packet, IP header included, within the link's), so gVisor's TCP
// hands it super-packets of several segments, which go to the link
// whole (WriteGSO), and packets are read with buffers of GSOMaxSize
// bytes. With host GSO gVisor leaves the TCP checksum partial (the
// pseudo-header's sum only, as Linux's CHECKSUM_PARTIAL) for the device;
// GVisorLinkHost completes it as a NIC with TX checksum offload would,
// over the whole super-packet, before the link copies it. No receive
// checksum offload is configured: the receiving gVisor verifies every
// checksum, as tcpwave does.
type GVisorLinkHost struct {
	*GVisorHost
	ep      link.Endpoint
	offload link.Offloader // ep, when the link has offload
	mtu     int
}

// gsoChannel is a channel endpoint whose GSOMaxSize is the link's
// (channel.Endpoint's is fixed at 32 KiB).
type gsoChannel struct {
	*channel.Endpoint
	max uint32
}

// GSOMaxSize returns the largest super-packet gVisor may build
// (stack.GSOEndpoint).
func (c *gsoChannel) GSOMaxSize() uint32 { return c.max }

// NewGVisorOn starts a gVisor stack on ep with addrs; it owns ep from now
// on (if NewGVisorOn fails, ep is left open).
func NewGVisorOn(ep link.Endpoint, addrs []netip.Addr, cfg Config) (*GVisorLinkHost, error) {
	mtu := ep.MTU()
	if mtu <= 0 || mtu > buffer.MaxChunkSize {
		return nil, fmt.Errorf("interop: gvisor: MTU %d out of range", mtu)
	}
	s := newGVisorStack()
	h := &GVisorLinkHost{
		GVisorHost: &GVisorHost{
			Stack:  s,
			ch:     channel.New(channelQueue, uint32(mtu), ""),
			addrs:  append([]netip.Addr(nil), addrs...),
			inDone: make(chan struct{}),
		},
		ep:  ep,
		mtu: mtu,
	}
	var nic gstack.LinkEndpoint = h.ch
	readLen := mtu
	if off, ok := ep.(link.Offloader); ok && off.GSOMaxSize() > mtu {
		g := off.GSOMaxSize()
		if g > buffer.MaxChunkSize || g <= header.IPv6MinimumSize {
			return nil, fmt.Errorf("interop: gvisor: GSOMaxSize %d out of range", g)
		}
		h.offload = off
		h.ch.SupportedGSOKind = gstack.HostGSOSupported
		// gVisor's GSO size bounds the TCP segment, header included,
		// less one byte; the IP header comes on top, at most 40 bytes
		// here (gVisor adds no IPv4 options and no IPv6 extension
		// headers to these packets).
		nic = &gsoChannel{Endpoint: h.ch, max: uint32(g - header.IPv6MinimumSize)}
		readLen = g
	}
	h.ch.AddNotify(h)
	if err := setupGVisor(s, nic, addrs, cfg); err != nil {
		s.Destroy()
		return nil, fmt.Errorf("interop: gvisor: %w", err)
	}
	go h.inbound(readLen)
	return h, nil
}

// WriteNotify moves the packets the stack has queued on its channel
// endpoint to the link (channel.Notification): with offload, it
// completes each partial TCP checksum and hands super-packets to the
// link whole.
func (h *GVisorLinkHost) WriteNotify() {
	h.outMu.Lock()
	defer h.outMu.Unlock()
	for {
		pkt := h.ch.Read()
		if pkt == nil {
			return
		}
		gso := pkt.GSOOptions
		l4 := len(pkt.LinkHeader().Slice()) + len(pkt.NetworkHeader().Slice()) // where the TCP header starts
		v := pkt.ToView()
		pkt.DecRef()
		b := v.AsSlice()
		hostGSO := gso.Type == gstack.GSOTCPv4 || gso.Type == gstack.GSOTCPv6
		if hostGSO && gso.NeedsCsum {
			completeChecksum(b, l4, int(gso.CsumOffset))
		}
		if hostGSO && h.offload != nil && len(b) > h.mtu {
			_ = h.offload.WriteGSO(b, int(gso.MSS)) // the link copies it; an error means it is closed
		} else {
			_ = h.ep.WritePacket(b)
		}
		v.Release()
	}
}

// completeChecksum finishes a partial checksum, as a NIC with TX checksum
// offload does: the transport header starts at l4 of pkt, and its
// checksum field, csumOff bytes into it, holds the sum of the
// pseudo-header; the checksum is the complement of the sum of everything
// from l4 to the end of the packet.
func completeChecksum(pkt []byte, l4, csumOff int) {
	if l4 < 0 || l4+csumOff+2 > len(pkt) {
		return // not a packet gVisor makes; the receiver will reject it
	}
	checksum.Put(pkt[l4+csumOff:], ^checksum.Checksum(pkt[l4:], 0))
}

// inbound injects the packets that arrive on the link into the stack,
// reading each into a buffer of readLen bytes.
func (h *GVisorLinkHost) inbound(readLen int) {
	defer close(h.inDone)
	injectLoop(h.ep, h.ch, readLen)
}

// Close aborts every endpoint of the stack, waits for its goroutines and
// closes the link endpoint.
func (h *GVisorLinkHost) Close() error {
	h.closeOnce.Do(func() {
		h.Stack.Destroy()
		h.ep.Close()
		<-h.inDone
		h.ch.Close()
	})
	return nil
}

// SegmentsSent returns the number of TCP segments h has sent,
// retransmissions included, as its own stack counts them (tcpwave's
// OutSegs, gVisor's TCP.SegmentsSent).
func SegmentsSent(h Host) (uint64, error) {
	if h, ok := h.(*TCPWaveHost); ok {
		return h.Stack.Counters().OutSegs, nil
	}
	if g, ok := asGVisor(h); ok {
		return g.Stack.Stats().TCP.SegmentsSent.Value(), nil
	}
	return 0, fmt.Errorf("interop: no segment counter for %T", h)
}

// StateCounts returns how many of h's connections are in each state,
// TIME_WAIT records and listeners included, as h's own stack lists them
// (tcpwave's Stack.Connections, gVisor's registered endpoints).
func StateCounts(h Host) (map[tcp.State]int, error) {
	counts := make(map[tcp.State]int)
	if h, ok := h.(*TCPWaveHost); ok {
		for _, r := range h.Stack.Connections() {
			counts[r.State]++
		}
		return counts, nil
	}
	if g, ok := asGVisor(h); ok {
		gvisorStates(g, counts)
		return counts, nil
	}
	return nil, fmt.Errorf("interop: no connection list for %T", h)
}

// asGVisor returns the GVisorHost inside h, whichever link it runs on.
func asGVisor(h Host) (*GVisorHost, bool) {
	switch h := h.(type) {
	case *GVisorHost:
		return h, true
	case *GVisorLinkHost:
		return h.GVisorHost, true
	case *GVisorChannelHost:
		return h.GVisorHost, true
	}
	return nil, false
}

func gvisorStates(h *GVisorHost, counts map[tcp.State]int) {
	for _, ep := range h.Stack.RegisteredEndpoints() {
		if s, ok := ep.(interface{ State() uint32 }); ok {
			counts[fromGVisor(gtcp.EndpointState(s.State()))]++
		}
	}
}

// newGVisorStack returns a gVisor stack with IPv4, IPv6 and TCP, as
// NewGVisor makes it.
func newGVisorStack() *gstack.Stack {
	return gstack.New(gstack.Options{
		NetworkProtocols:   []gstack.NetworkProtocolFactory{ipv4.NewProtocol, ipv6.NewProtocol},
		TransportProtocols: []gstack.TransportProtocolFactory{gtcp.NewProtocol},
	})
}

// setupGVisor gives s a NIC on the link endpoint ch with addrs and a default route for
// each family, and applies cfg, as NewGVisor does.
func setupGVisor(s *gstack.Stack, ch gstack.LinkEndpoint, addrs []netip.Addr, cfg Config) error {
	if err := s.CreateNIC(nicID, ch); err != nil {
		return tcpipErr("create NIC", err)
	}
	for _, a := range addrs {
		pa := tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber, AddressWithPrefix: tcpip.AddrFromSlice(a.AsSlice()).WithPrefix()}
		if a.Is6() {
			pa.Protocol = ipv6.ProtocolNumber
		}
		if err := s.AddProtocolAddress(nicID, pa, gstack.AddressProperties{}); err != nil {
			return tcpipErr("add address", err)
		}
	}
	s.SetRouteTable([]tcpip.Route{
		{Destination: header.IPv4EmptySubnet, NIC: nicID},
		{Destination: header.IPv6EmptySubnet, NIC: nicID},
	})
	if cfg.TimeWait != 0 {
		opt := tcpip.TCPTimeWaitTimeoutOption(cfg.TimeWait)
		if err := s.SetTransportProtocolOption(gtcp.ProtocolNumber, &opt); err != nil {
			return tcpipErr("set TIME_WAIT", err)
		}
	}
	for _, o := range cfg.GVisor {
		if err := o(s); err != nil {
			return err
		}
	}
	return nil
}

// newInboundPacket wraps v, an arrived packet, in a packet buffer.
func newInboundPacket(v *buffer.View) *gstack.PacketBuffer {
	return gstack.NewPacketBuffer(gstack.PacketBufferOptions{Payload: buffer.MakeWithView(v)})
}
