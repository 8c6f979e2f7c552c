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
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
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
	Packets uint64 // packets the host handed to the link
	Bytes   uint64 // their bytes
	MaxLen  int    // length of the largest packet sent
	Lost    uint64 // packets lost at random (LinkConfig.Loss)
	Dropped uint64 // packets the pipe lost (queue full or peer closed)
}

// LinkEnd is one end of a Link. It implements link.Endpoint and is safe
// for concurrent use.
type LinkEnd struct {
	end  *pipe.End
	loss float64

	mu  sync.Mutex // guards rng
	rng *rand.Rand

	packets, bytes, lost atomic.Uint64
	maxLen               atomic.Int64
}

var _ link.Poller = (*LinkEnd)(nil)

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
	q := cfg.Queue
	if q <= 0 {
		q = max(wireQueue*MTU/mtu, 512)
	}
	a, b := pipe.NewEnds(mtu, q)
	mk := func(e *pipe.End, stream uint64) *LinkEnd {
		return &LinkEnd{end: e, loss: cfg.Loss, rng: rand.New(rand.NewPCG(cfg.Seed, stream))}
	}
	return &Link{A: mk(a, 1), B: mk(b, 2)}, nil
}

// WritePacket sends a copy of pkt to the peer, unless the link loses it
// (link.Endpoint).
func (e *LinkEnd) WritePacket(pkt []byte) error {
	if len(pkt) <= e.end.MTU() {
		e.packets.Add(1)
		e.bytes.Add(uint64(len(pkt)))
		for n := int64(len(pkt)); ; {
			m := e.maxLen.Load()
			if n <= m || e.maxLen.CompareAndSwap(m, n) {
				break
			}
		}
		if e.loss > 0 {
			e.mu.Lock()
			lose := e.rng.Float64() < e.loss
			e.mu.Unlock()
			if lose {
				e.lost.Add(1)
				return nil
			}
		}
	}
	return e.end.WritePacket(pkt) // the pipe copies pkt, or refuses it as too long
}

// ReadPacket waits for a packet from the peer (link.Endpoint).
func (e *LinkEnd) ReadPacket(buf []byte) (int, error) { return e.end.ReadPacket(buf) }

// PollPacket takes a packet from the peer if one is waiting
// (link.Poller).
func (e *LinkEnd) PollPacket(buf []byte) (int, error) { return e.end.PollPacket(buf) }

// MTU returns the link's MTU (link.Endpoint).
func (e *LinkEnd) MTU() int { return e.end.MTU() }

// Close closes this end of the link (link.Endpoint).
func (e *LinkEnd) Close() error { return e.end.Close() }

// Stats returns the end's counts.
func (e *LinkEnd) Stats() LinkStats {
	return LinkStats{
		Packets: e.packets.Load(),
		Bytes:   e.bytes.Load(),
		MaxLen:  int(e.maxLen.Load()),
		Lost:    e.lost.Load(),
		Dropped: e.end.Stats().Dropped,
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
// each incoming one is read into a pooled gVisor buffer of its own. No
// checksum offload is configured.
type GVisorLinkHost struct {
	*GVisorHost
	ep  link.Endpoint
	mtu int
}

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
	h.ch.AddNotify(h)
	if err := setupGVisor(s, h.ch, addrs, cfg); err != nil {
		s.Destroy()
		return nil, fmt.Errorf("interop: gvisor: %w", err)
	}
	go h.inbound()
	return h, nil
}

// WriteNotify moves the packets the stack has queued on its channel
// endpoint to the link (channel.Notification).
func (h *GVisorLinkHost) WriteNotify() {
	h.outMu.Lock()
	defer h.outMu.Unlock()
	for {
		pkt := h.ch.Read()
		if pkt == nil {
			return
		}
		v := pkt.ToView()
		pkt.DecRef()
		_ = h.ep.WritePacket(v.AsSlice()) // the link copies it; an error means it is closed
		v.Release()
	}
}

// inbound injects the packets that arrive on the link into the stack.
func (h *GVisorLinkHost) inbound() {
	defer close(h.inDone)
	injectLoop(h.ep, h.ch, h.mtu)
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
	switch h := h.(type) {
	case *TCPWaveHost:
		return h.Stack.Counters().OutSegs, nil
	case *GVisorHost:
		return h.Stack.Stats().TCP.SegmentsSent.Value(), nil
	case *GVisorLinkHost:
		return h.Stack.Stats().TCP.SegmentsSent.Value(), nil
	}
	return 0, fmt.Errorf("interop: no segment counter for %T", h)
}

// StateCounts returns how many of h's connections are in each state,
// TIME_WAIT records and listeners included, as h's own stack lists them
// (tcpwave's Stack.Connections, gVisor's registered endpoints).
func StateCounts(h Host) (map[tcp.State]int, error) {
	counts := make(map[tcp.State]int)
	switch h := h.(type) {
	case *TCPWaveHost:
		for _, r := range h.Stack.Connections() {
			counts[r.State]++
		}
		return counts, nil
	case *GVisorHost:
		gvisorStates(h, counts)
		return counts, nil
	case *GVisorLinkHost:
		gvisorStates(h.GVisorHost, counts)
		return counts, nil
	}
	return nil, fmt.Errorf("interop: no connection list for %T", h)
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

// setupGVisor gives s a NIC on ch with addrs and a default route for
// each family, and applies cfg, as NewGVisor does.
func setupGVisor(s *gstack.Stack, ch *channel.Endpoint, addrs []netip.Addr, cfg Config) error {
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
