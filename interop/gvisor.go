package interop

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/tcpwave/tcpwave/tcp"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	gstack "gvisor.dev/gvisor/pkg/tcpip/stack"
	gtcp "gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// GVisorOption changes a gVisor stack before it is used (transport
// protocol options, for example).
type GVisorOption func(s *gstack.Stack) error

const (
	nicID = 1
	// channelQueue is the channel endpoint's outbound queue; it is
	// drained synchronously (WriteNotify), so it never holds more than a
	// few packets.
	channelQueue = 1024
	// listenBacklog is the backlog of GVisorHost listeners, as gonet's.
	listenBacklog = 4096
)

// GVisorHost is a gVisor netstack (IPv4, IPv6 and TCP, with gVisor's
// default TCP options) as a Host. Its NIC is a channel link endpoint
// joined to a Port: packets the stack sends are copied to the port as
// the channel endpoint queues them (WriteNotify, on the sending
// goroutine); one goroutine reads each packet from the port into a
// gVisor buffer of its own and injects it into the stack. No checksum
// offload is configured: gVisor computes and verifies every checksum
// itself.
type GVisorHost struct {
	// Stack is the gVisor stack, for its statistics (Stack.Stats()) and
	// options.
	Stack *gstack.Stack
	ch    *channel.Endpoint
	port  *Port
	addrs []netip.Addr

	outMu     sync.Mutex // one drain of ch at a time, so that packets keep their order
	inDone    chan struct{}
	closeOnce sync.Once
}

// NewGVisor starts a gVisor stack on port with addrs; it owns port from
// now on (if NewGVisor fails, port is left open).
func NewGVisor(port *Port, addrs []netip.Addr, cfg Config) (*GVisorHost, error) {
	s := gstack.New(gstack.Options{
		NetworkProtocols:   []gstack.NetworkProtocolFactory{ipv4.NewProtocol, ipv6.NewProtocol},
		TransportProtocols: []gstack.TransportProtocolFactory{gtcp.NewProtocol},
	})
	h := &GVisorHost{
		Stack:  s,
		ch:     channel.New(channelQueue, MTU, ""),
		port:   port,
		addrs:  addrs,
		inDone: make(chan struct{}),
	}
	fail := func(err error) (*GVisorHost, error) {
		s.Destroy()
		return nil, fmt.Errorf("interop: gvisor: %w", err)
	}
	h.ch.AddNotify(h)
	if err := s.CreateNIC(nicID, h.ch); err != nil {
		return fail(tcpipErr("create NIC", err))
	}
	for _, a := range addrs {
		pa := tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber, AddressWithPrefix: tcpip.AddrFromSlice(a.AsSlice()).WithPrefix()}
		if a.Is6() {
			pa.Protocol = ipv6.ProtocolNumber
		}
		if err := s.AddProtocolAddress(nicID, pa, gstack.AddressProperties{}); err != nil {
			return fail(tcpipErr("add address", err))
		}
	}
	s.SetRouteTable([]tcpip.Route{
		{Destination: header.IPv4EmptySubnet, NIC: nicID},
		{Destination: header.IPv6EmptySubnet, NIC: nicID},
	})
	if cfg.TimeWait != 0 {
		opt := tcpip.TCPTimeWaitTimeoutOption(cfg.TimeWait)
		if err := s.SetTransportProtocolOption(gtcp.ProtocolNumber, &opt); err != nil {
			return fail(tcpipErr("set TIME_WAIT", err))
		}
	}
	for _, o := range cfg.GVisor {
		if err := o(s); err != nil {
			return fail(err)
		}
	}
	go h.inbound()
	return h, nil
}

// WriteNotify moves the packets the stack has queued on its channel
// endpoint to the port (channel.Notification).
func (h *GVisorHost) WriteNotify() {
	h.outMu.Lock()
	defer h.outMu.Unlock()
	for {
		pkt := h.ch.Read()
		if pkt == nil {
			return
		}
		v := pkt.ToView() // the packet, headers and payload, in one buffer
		pkt.DecRef()
		_ = h.port.WritePacket(v.AsSlice()) // the port copies it; an error means it is closed
		v.Release()
	}
}

// inbound injects the packets that arrive on the port into the stack.
func (h *GVisorHost) inbound() {
	defer close(h.inDone)
	injectLoop(h.port, h.ch, MTU)
}

// injectLoop reads each packet from r straight into a pooled gVisor buffer
// of its own and injects it into ch, until r is closed.
func injectLoop(r interface{ ReadPacket([]byte) (int, error) }, ch *channel.Endpoint, mtu int) {
	for {
		v := buffer.NewViewSize(mtu)
		n, err := r.ReadPacket(v.AsSlice())
		if err != nil || n == 0 {
			v.Release()
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		v.CapLength(n)
		var proto tcpip.NetworkProtocolNumber
		switch v.AsSlice()[0] >> 4 {
		case 4:
			proto = ipv4.ProtocolNumber
		case 6:
			proto = ipv6.ProtocolNumber
		default:
			v.Release()
			continue
		}
		pkt := newInboundPacket(v)
		ch.InjectInbound(proto, pkt)
		pkt.DecRef()
	}
}

// Kind returns GVisor.
func (h *GVisorHost) Kind() Kind { return GVisor }

// Addrs returns the host's addresses.
func (h *GVisorHost) Addrs() []netip.Addr { return append([]netip.Addr(nil), h.addrs...) }

// Close aborts every endpoint of the stack (gVisor's Stack.Close sends a
// RST on each connection), waits for its goroutines and closes the port.
func (h *GVisorHost) Close() error {
	h.closeOnce.Do(func() {
		h.Stack.Destroy()
		h.port.Close()
		<-h.inDone
		h.ch.Close()
	})
	return nil
}

// fullAddr parses "ip:port" (an empty ip for listening on any address)
// for network and returns it with its network protocol.
func fullAddr(network, address string) (tcpip.FullAddress, tcpip.NetworkProtocolNumber, error) {
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return tcpip.FullAddress{}, 0, err
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return tcpip.FullAddress{}, 0, &net.AddrError{Err: "invalid port", Addr: address}
	}
	fa := tcpip.FullAddress{Port: uint16(port)}
	proto := ipv4.ProtocolNumber
	if network == "tcp6" {
		proto = ipv6.ProtocolNumber
	}
	if host != "" {
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return tcpip.FullAddress{}, 0, err
		}
		ip = ip.Unmap()
		if ip.Is6() {
			proto = ipv6.ProtocolNumber
		}
		if network == "tcp4" && ip.Is6() || network == "tcp6" && ip.Is4() {
			return tcpip.FullAddress{}, 0, &net.AddrError{Err: "address is not of the network's family", Addr: host}
		}
		fa.Addr = tcpip.AddrFromSlice(ip.AsSlice())
	}
	return fa, proto, nil
}

// Dial connects to address, as gonet.DialContextTCP does, but keeps the
// tcpip.Endpoint to report its state.
func (h *GVisorHost) Dial(ctx context.Context, network, address string) (Conn, error) {
	fa, proto, err := fullAddr(network, address)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	fail := func(err error) (Conn, error) {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: fullToTCPAddr(fa), Err: err}
	}
	var wq waiter.Queue
	ep, terr := h.Stack.NewEndpoint(gtcp.ProtocolNumber, proto, &wq)
	if terr != nil {
		return fail(tcpipErr("socket", terr))
	}
	entry, notify := waiter.NewChannelEntry(waiter.WritableEvents | waiter.EventHUp | waiter.EventErr)
	wq.EventRegister(&entry)
	defer wq.EventUnregister(&entry)
	terr = ep.Connect(fa)
	if _, ok := terr.(*tcpip.ErrConnectStarted); ok {
		select {
		case <-notify:
			terr = ep.LastError()
		case <-ctx.Done():
			ep.Close()
			return fail(ctx.Err())
		}
	}
	if terr != nil {
		ep.Close()
		return fail(tcpipErr("connect", terr))
	}
	return newGConn(ep, &wq), nil
}

// Listen listens on address with a backlog of 4096.
func (h *GVisorHost) Listen(network, address string) (Listener, error) {
	fa, proto, err := fullAddr(network, address)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	fail := func(err error) (Listener, error) {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: fullToTCPAddr(fa), Err: err}
	}
	l := &gListener{wq: new(waiter.Queue), closed: make(chan struct{})}
	ep, terr := h.Stack.NewEndpoint(gtcp.ProtocolNumber, proto, l.wq)
	if terr != nil {
		return fail(tcpipErr("socket", terr))
	}
	if terr := ep.Bind(fa); terr != nil {
		ep.Close()
		return fail(tcpipErr("bind", terr))
	}
	if terr := ep.Listen(listenBacklog); terr != nil {
		ep.Close()
		return fail(tcpipErr("listen", terr))
	}
	l.ep = ep
	return l, nil
}

// gListener is a listening gVisor endpoint.
type gListener struct {
	ep        tcpip.Endpoint
	wq        *waiter.Queue
	closed    chan struct{}
	closeOnce sync.Once
}

func (l *gListener) AcceptConn() (Conn, error) {
	entry, notify := waiter.NewChannelEntry(waiter.ReadableEvents)
	l.wq.EventRegister(&entry)
	defer l.wq.EventUnregister(&entry)
	for {
		ep, wq, terr := l.ep.Accept(nil)
		if terr == nil {
			return newGConn(ep, wq), nil
		}
		if _, ok := terr.(*tcpip.ErrWouldBlock); !ok {
			return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: tcpipErr("accept", terr)}
		}
		select {
		case <-notify:
		case <-l.closed:
			return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: net.ErrClosed}
		}
	}
}

func (l *gListener) Addr() net.Addr {
	a, err := l.ep.GetLocalAddress()
	if err != nil {
		return nil
	}
	return fullToTCPAddr(a)
}

func (l *gListener) Close() error {
	err := error(net.ErrClosed)
	l.closeOnce.Do(func() {
		close(l.closed)
		l.ep.Close()
		err = nil
	})
	return err
}

func fullToTCPAddr(a tcpip.FullAddress) *net.TCPAddr {
	ip, _ := netip.AddrFromSlice(a.Addr.AsSlice())
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, a.Port))
}

// gConn is a gonet.TCPConn that keeps its endpoint, and whose errors
// wrap the errno Linux would give (gonet only keeps their text).
type gConn struct {
	*gonet.TCPConn
	ep tcpip.Endpoint
}

func newGConn(ep tcpip.Endpoint, wq *waiter.Queue) *gConn {
	return &gConn{TCPConn: gonet.NewTCPConn(wq, ep), ep: ep}
}

// Endpoint returns the connection's gVisor endpoint.
func (c *gConn) Endpoint() tcpip.Endpoint { return c.ep }

// EndpointState returns the endpoint's state as gVisor has it.
func (c *gConn) EndpointState() gtcp.EndpointState { return gtcp.EndpointState(c.ep.State()) }

func (c *gConn) Read(b []byte) (int, error) {
	n, err := c.TCPConn.Read(b)
	return n, errnoErr("read", err)
}

func (c *gConn) Write(b []byte) (int, error) {
	n, err := c.TCPConn.Write(b)
	return n, errnoErr("write", err)
}

func (c *gConn) CloseWrite() error { return errnoErr("shutdown", c.TCPConn.CloseWrite()) }

func (c *gConn) CloseRead() error { return errnoErr("shutdown", c.TCPConn.CloseRead()) }

// SetLinger sets SO_LINGER on the endpoint. gVisor's Close never blocks:
// only sec == 0 (abort with a RST) changes what Close does here.
func (c *gConn) SetLinger(sec int) error {
	c.ep.SocketOptions().SetLinger(tcpip.LingerOption{Enabled: sec >= 0, Timeout: time.Duration(max(sec, 0)) * time.Second})
	return nil
}

func (c *gConn) State() tcp.State { return fromGVisor(c.EndpointState()) }

func (c *gConn) RawState() string { return c.EndpointState().String() }

func (c *gConn) Unread() int {
	n, err := c.ep.GetSockOptInt(tcpip.ReceiveQueueSizeOption)
	if err != nil {
		return 0
	}
	return n
}

// fromGVisor maps gVisor's endpoint states to RFC 9293's. gVisor's
// own states before the SYN (INITIAL, BOUND) and after an error or a
// RST (ERROR) are CLOSED; CONNECTING (the SYN is on its way) is
// SYN_SENT.
func fromGVisor(s gtcp.EndpointState) tcp.State {
	switch s {
	case gtcp.StateListen:
		return tcp.Listen
	case gtcp.StateConnecting, gtcp.StateSynSent:
		return tcp.SynSent
	case gtcp.StateSynRecv:
		return tcp.SynRcvd
	case gtcp.StateEstablished:
		return tcp.Established
	case gtcp.StateFinWait1:
		return tcp.FinWait1
	case gtcp.StateFinWait2:
		return tcp.FinWait2
	case gtcp.StateCloseWait:
		return tcp.CloseWait
	case gtcp.StateClosing:
		return tcp.Closing
	case gtcp.StateLastAck:
		return tcp.LastAck
	case gtcp.StateTimeWait:
		return tcp.TimeWait
	}
	return tcp.Closed
}

// errnos maps the text of the tcpip errors that reach a gonet caller to
// the errno Linux gives in their place.
var errnos = map[string]syscall.Errno{
	(&tcpip.ErrConnectionReset{}).String():   syscall.ECONNRESET,
	(&tcpip.ErrConnectionAborted{}).String(): syscall.ECONNABORTED,
	(&tcpip.ErrConnectionRefused{}).String(): syscall.ECONNREFUSED,
	(&tcpip.ErrClosedForSend{}).String():     syscall.EPIPE,
	(&tcpip.ErrTimeout{}).String():           syscall.ETIMEDOUT,
	(&tcpip.ErrNotConnected{}).String():      syscall.ENOTCONN,
	(&tcpip.ErrPortInUse{}).String():         syscall.EADDRINUSE,
}

// errnoErr puts the errno behind a gonet error into its *net.OpError, as
// an *os.SyscallError, so that errors.Is(err, syscall.ECONNRESET) works as
// it does with package net and tcpwave.
func errnoErr(call string, err error) error {
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Err == nil {
		return err
	}
	if e, ok := errnos[oe.Err.Error()]; ok {
		c := *oe
		c.Err = os.NewSyscallError(call, e)
		return &c
	}
	return err
}

// tcpipErr converts a tcpip.Error of a call to an error, with the errno
// Linux would give when there is one.
func tcpipErr(call string, err tcpip.Error) error {
	if e, ok := errnos[err.String()]; ok {
		return os.NewSyscallError(call, e)
	}
	return fmt.Errorf("%s: %s", call, err)
}
