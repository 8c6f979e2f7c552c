//go:build linux

package interop

import (
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip/link/fdbased"
)

// GVisorFDHost is a gVisor netstack whose NIC is gVisor's own
// fdbased link endpoint on the file descriptor of a TUN device, as a
// program that embeds gVisor on a TUN device runs it: the device carries
// bare IP packets (IFF_TUN with IFF_NO_PI), one read or write system
// call each. gVisor computes and verifies every checksum.
//
// It has no segmentation offload: in this gVisor version the fdbased
// endpoint takes GSO (and with it the virtio-net header) only on a
// socket (an AF_PACKET socket on a veth or a NIC), not on a TUN device's
// descriptor. GVisorLinkHost on a link/tun device with offload is gVisor
// on a TUN device with a virtio-net header and host GSO.
type GVisorFDHost struct {
	*GVisorHost
	fd int
}

// NewGVisorFD starts a gVisor stack with addrs on fd, a TUN device
// opened with IFF_TUN and IFF_NO_PI whose MTU is mtu. It owns fd from now
// on: Close closes it (if NewGVisorFD fails, fd is left open).
func NewGVisorFD(fd, mtu int, addrs []netip.Addr, cfg Config) (*GVisorFDHost, error) {
	ep, err := fdbased.New(&fdbased.Options{FDs: []int{fd}, MTU: uint32(mtu)})
	if err != nil {
		return nil, fmt.Errorf("interop: gvisor fdbased: %w", err)
	}
	s := newGVisorStack()
	if err := setupGVisor(s, ep, addrs, cfg); err != nil {
		s.Destroy()
		return nil, fmt.Errorf("interop: gvisor fdbased: %w", err)
	}
	done := make(chan struct{})
	close(done) // no goroutine of the host's own: the endpoint reads the device
	return &GVisorFDHost{
		GVisorHost: &GVisorHost{Stack: s, addrs: append([]netip.Addr(nil), addrs...), inDone: done},
		fd:         fd,
	}, nil
}

// Close aborts every endpoint of the stack, waits for the endpoint to
// stop reading the device (Stack.Destroy removes the NIC) and closes
// the device.
func (h *GVisorFDHost) Close() error {
	var err error
	h.closeOnce.Do(func() {
		h.Stack.Destroy()
		err = unix.Close(h.fd)
	})
	return err
}
