package interop

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/tcpwave/tcpwave/link/pipe"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	gstack "gvisor.dev/gvisor/pkg/tcpip/stack"
)

// NewNativePair starts two hosts of kind k, A with AddrA4 and AddrA6 and
// B with AddrB4 and AddrB6, joined by that stack's own in-memory link of
// the given MTU, the link its users would pick, rather than the shared
// Link every kind runs on:
//
//   - tcpwave: link/pipe (pipe.NewEnds with pipe.DefaultQueue), whose
//     ends the hosts read in batches (link.Poller), and which carries
//     each packet in the buffer its sender built it in, copied neither
//     in nor out (pipe.End.SwapPacket and NextPacket);
//   - gVisor: two channel link endpoints, with one goroutine a direction
//     that takes each packet the sender queues and injects it into the
//     receiver's endpoint as it is (the packet's buffer is shared, not
//     flattened or copied), as gVisor's own tests join stacks.
//
// Neither link offloads anything: both stacks compute and verify every
// checksum. The Pair's Wire is nil.
func NewNativePair(k Kind, mtu int, cfg Config) (*Pair, error) {
	if mtu < 1280 || mtu > 65535 {
		return nil, fmt.Errorf("interop: native link MTU %d out of range [1280, 65535]", mtu)
	}
	switch k {
	case TCPWave:
		a, b := pipe.NewEnds(mtu, pipe.DefaultQueue)
		ha, err := NewHostOn(TCPWave, a, []netip.Addr{AddrA4, AddrA6}, cfg)
		if err != nil {
			a.Close()
			b.Close()
			return nil, err
		}
		hb, err := NewHostOn(TCPWave, b, []netip.Addr{AddrB4, AddrB6}, cfg)
		if err != nil {
			ha.Close()
			b.Close()
			return nil, err
		}
		return &Pair{A: ha, B: hb}, nil
	case GVisor:
		ha, err := newGVisorChannelHost(mtu, []netip.Addr{AddrA4, AddrA6}, cfg)
		if err != nil {
			return nil, err
		}
		hb, err := newGVisorChannelHost(mtu, []netip.Addr{AddrB4, AddrB6}, cfg)
		if err != nil {
			ha.Close()
			return nil, err
		}
		ha.join(hb)
		hb.join(ha)
		return &Pair{A: ha, B: hb}, nil
	}
	return nil, fmt.Errorf("interop: unknown kind %q", k)
}

// GVisorChannelHost is a gVisor stack whose NIC is a channel endpoint
// joined directly to another's (NewNativePair).
type GVisorChannelHost struct {
	*GVisorHost
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // made by join, closed when its forwarding goroutine ends
}

// newGVisorChannelHost starts a gVisor stack on a channel endpoint of
// mtu; join connects it to its peer.
func newGVisorChannelHost(mtu int, addrs []netip.Addr, cfg Config) (*GVisorChannelHost, error) {
	s := newGVisorStack()
	ch := channel.New(channelQueue, uint32(mtu), "")
	if err := setupGVisor(s, ch, addrs, cfg); err != nil {
		s.Destroy()
		return nil, fmt.Errorf("interop: gvisor: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &GVisorChannelHost{
		GVisorHost: &GVisorHost{Stack: s, ch: ch, addrs: append([]netip.Addr(nil), addrs...), inDone: make(chan struct{})},
		ctx:        ctx,
		cancel:     cancel,
	}
	close(h.inDone) // nothing reads a port: the peer's goroutine injects
	return h, nil
}

// join starts the goroutine that moves what h sends to peer.
func (h *GVisorChannelHost) join(peer *GVisorChannelHost) {
	h.done = make(chan struct{})
	go func() {
		defer close(h.done)
		for {
			pkt := h.ch.ReadContext(h.ctx)
			if pkt == nil {
				return
			}
			in := gstack.NewPacketBuffer(gstack.PacketBufferOptions{Payload: pkt.ToBuffer()})
			peer.ch.InjectInbound(pkt.NetworkProtocolNumber, in)
			in.DecRef()
			pkt.DecRef()
		}
	}()
}

// Close destroys the stack, stops its forwarding goroutine and closes
// its channel endpoint.
func (h *GVisorChannelHost) Close() error {
	h.closeOnce.Do(func() {
		h.Stack.Destroy()
		h.cancel()
		if h.done != nil { // joined
			<-h.done
		}
		h.ch.Close()
	})
	return nil
}
