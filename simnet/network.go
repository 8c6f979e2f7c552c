package simnet

import (
	"bytes"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/tcpwave/tcpwave/tcp"
)

// Options configure a Network.
type Options struct {
	// Seed seeds every random choice of the network: ISNs and timestamp
	// offsets, ephemeral ports, and the links' draws. The same seed
	// replays the same packets (see Determinism in the package doc).
	Seed uint64
	// Link is the link between every two hosts, both ways, until SetLink
	// changes one direction.
	Link Link
	// MTU is every host's MTU; 0 means 1500. One out of the stack's
	// range (below 148, room for IPv6 and TCP headers and an 88-byte MSS,
	// or above 65535) makes AddHost fail and Host panic.
	MTU int
	// TCP adjusts each host's TCP configuration (Linux's defaults).
	TCP func(*tcp.Config)
	// Trace records the run as trace events (Trace, WriteTrace,
	// DumpOnFailure): every segment each host sends and receives, each
	// state change, each packet lost and why. Up to 200,000 events.
	Trace bool
}

// Network is a set of hosts joined by virtual links. Its methods may be
// called from any goroutine.
type Network struct {
	opts Options

	mu      sync.Mutex
	hosts   map[netip.Addr]*Host
	links   map[dir]*linkState
	rules   []*ruleState
	queue   arrivals // packets on the wire, by arrival
	seq     uint64   // arrivals scheduled (the heap's tie-break)
	wake    chan struct{}
	closed  bool
	done    chan struct{} // closed when the wire's goroutine ends
	started time.Time

	events    []Event // what happened to packets, up to maxEvents
	eventsCut int     // events not kept
	tr        *tracer // the trace, with Options.Trace
	// flows is, per direction of each connection that crossed the
	// network, the sequence number after the last segment seen
	// (ResetConn). It is never pruned, as ResetConn may be called on a
	// connection long closed: about 70 bytes a direction, for the
	// network's life.
	flows map[[2]netip.AddrPort]uint32
}

// dir is a link direction, by host address.
type dir struct{ from, to netip.Addr }

// New returns a network with no hosts. Close it when done: in a
// testing/synctest bubble every goroutine must end before the bubble.
func New(opts Options) *Network {
	if opts.MTU == 0 {
		opts.MTU = 1500
	}
	n := &Network{
		opts:    opts,
		hosts:   make(map[netip.Addr]*Host),
		links:   make(map[dir]*linkState),
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		started: time.Now(),
	}
	if opts.Trace {
		n.tr = &tracer{}
	}
	go n.wire()
	return n
}

// Host returns the host with address addr ("10.0.0.1", "fd00::1"),
// starting it on first use. It panics on an address that does not parse
// or on a closed network: it is meant for tests, where those are
// mistakes in the test. AddHost returns an error instead.
func (n *Network) Host(addr string) *Host {
	h, err := n.AddHost(addr)
	if err != nil {
		panic(err)
	}
	return h
}

// AddHost is Host with an error in place of the panic. An IPv4-mapped
// IPv6 address is its IPv4 address; one with a zone ("fe80::1%eth0"), or
// one that is not a unicast address the stack takes (unspecified,
// multicast, broadcast, loopback), is refused.
func (n *Network) AddHost(addr string) (*Host, error) {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return nil, fmt.Errorf("simnet: host address: %w", err)
	}
	if a.Zone() != "" {
		// Packets carry no zone: one to the host would find none.
		return nil, fmt.Errorf("simnet: host address %v: a zone, but a simnet host has no interfaces", a)
	}
	a = a.Unmap()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, errors.New("simnet: network closed")
	}
	if h := n.hosts[a]; h != nil {
		return h, nil
	}
	h := &Host{n: n, addr: a}
	if err := h.start(); err != nil {
		return nil, err
	}
	n.hosts[a] = h
	return h, nil
}

// Hosts returns the network's hosts, by address.
func (n *Network) Hosts() []*Host {
	n.mu.Lock()
	defer n.mu.Unlock()
	hs := make([]*Host, 0, len(n.hosts))
	for _, h := range n.hosts {
		hs = append(hs, h)
	}
	sort.Slice(hs, func(i, j int) bool { return hs[i].addr.Less(hs[j].addr) })
	return hs
}

// SetLink sets the link from one host to another (one direction; call it
// twice for both). It applies to packets sent from now on; those on the
// wire keep their arrival.
func (n *Network) SetLink(from, to *Host, l Link) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.link(dir{from.addr, to.addr}).cfg = l.clamped()
}

// link returns the state of a direction, made from Options.Link on first
// use. With n.mu held.
func (n *Network) link(d dir) *linkState {
	ls := n.links[d]
	if ls == nil {
		ls = &linkState{cfg: n.opts.Link.clamped(), seed: n.opts.Seed ^ seedOf(d)}
		n.links[d] = ls
	}
	return ls
}

// seedOf derives a link direction's stream from its addresses.
func seedOf(d dir) uint64 {
	h := fnv.New64a()
	h.Write(d.from.AsSlice())
	h.Write([]byte{0})
	h.Write(d.to.AsSlice())
	return h.Sum64()
}

// isnKey derives a host's ISN key from the seed and its address.
func (n *Network) isnKey(a netip.Addr) [16]byte {
	var k [16]byte
	h := fnv.New128a()
	binary.Write(h, binary.BigEndian, n.opts.Seed)
	h.Write(a.AsSlice())
	copy(k[:], h.Sum(nil))
	return k
}

// Close closes every host (as a process exit closes its sockets, waiting
// up to the hosts' close timeout for their FINs to be answered) and stops
// the network.
func (n *Network) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return errors.New("simnet: network already closed")
	}
	hs := make([]*Host, 0, len(n.hosts))
	for _, h := range n.hosts {
		hs = append(hs, h)
	}
	n.mu.Unlock()
	var wg sync.WaitGroup
	for _, h := range hs {
		wg.Go(func() { h.stop(false) })
	}
	wg.Wait()
	n.mu.Lock()
	n.closed = true
	n.queue = nil
	n.mu.Unlock()
	n.poke()
	<-n.done
	return nil
}

// poke wakes the wire's goroutine.
func (n *Network) poke() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// arrival is a packet on the wire.
type arrival struct {
	at   time.Time
	seq  uint64
	to   *Host
	gen  uint64 // the incarnation of the host it was sent to
	pkt  []byte
	from netip.Addr
}

// arrivals is a min-heap of arrivals by time, then by scheduling order.
type arrivals []*arrival

func (q arrivals) Len() int { return len(q) }
func (q arrivals) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q arrivals) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *arrivals) Push(x any)   { *q = append(*q, x.(*arrival)) }
func (q *arrivals) Pop() any {
	old := *q
	a := old[len(old)-1]
	*q = old[:len(old)-1]
	return a
}

// schedule puts a packet on the wire to arrive at a.at. With n.mu held.
func (n *Network) schedule(a *arrival) {
	n.seq++
	a.seq = n.seq
	heap.Push(&n.queue, a)
	n.poke()
}

// nextDue takes the arrival to deliver at now, if one is due. Arrivals
// due at one instant go one an instant, in an order of their own (by
// destination, source and bytes), not in the order they were sent: hosts
// that send at one virtual instant do so in whatever order the scheduler
// ran them, and the order of arrival must not depend on it. The others
// move on by a nanosecond, to be sorted again with what is due then.
// With n.mu held.
func (n *Network) nextDue(now time.Time) *arrival {
	if len(n.queue) == 0 || n.queue[0].at.After(now) {
		return nil
	}
	at := n.queue[0].at
	var same []*arrival
	for len(n.queue) > 0 && n.queue[0].at.Equal(at) {
		same = append(same, heap.Pop(&n.queue).(*arrival))
	}
	sort.Slice(same, func(i, j int) bool { return same[i].before(same[j]) })
	for _, a := range same[1:] {
		a.at = at.Add(time.Nanosecond)
		heap.Push(&n.queue, a)
	}
	return same[0]
}

// before orders arrivals due at one instant.
func (a *arrival) before(b *arrival) bool {
	if a.to.addr != b.to.addr {
		return a.to.addr.Less(b.to.addr)
	}
	if a.from != b.from {
		return a.from.Less(b.from)
	}
	return bytes.Compare(a.pkt, b.pkt) < 0
}

// wire delivers packets when they are due, until the network closes.
func (n *Network) wire() {
	defer close(n.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		n.mu.Lock()
		if n.closed {
			n.mu.Unlock()
			return
		}
		now := time.Now()
		due := n.nextDue(now)
		var wait time.Duration = -1
		if due == nil && len(n.queue) > 0 {
			wait = n.queue[0].at.Sub(now)
		}
		n.mu.Unlock()
		if due != nil {
			due.to.deliver(due)
			continue
		}
		if wait >= 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-n.wake:
				timer.Stop()
			}
			continue
		}
		<-n.wake
	}
}
