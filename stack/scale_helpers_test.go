package stack

import (
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/tcp"
	"github.com/tcpwave/tcpwave/wire"
)

// A peerRig drives one stack through whole connection lifecycles with
// hand-made peer segments, and no second stack: the most direct honest
// way to make many connections in a given state. Every connection goes
// through the stack's real handshake, close and TIME_WAIT code; only the
// peer is a script. The rig reuses its buffers, so it adds nothing to the
// heap the stack holds.
type peerRig struct {
	t    testing.TB
	st   *Stack
	l    *Socket // the listener on addrB:port, for passive opens
	now  clock.Instant
	out  []byte // PollPacket's buffer
	in   []byte // the buffer peer segments are built in
	last wire.Packet
}

// rigOptions are Linux's defaults with room for n connections in every
// queue.
func rigOptions(n int) opt {
	return func(o *Options) {
		o.SomaxConn, o.MaxSynBacklog = n, n
		o.MaxTimeWait = max(n, o.MaxTimeWait)
		o.EphemeralLow, o.EphemeralHigh = 1024, 65535
	}
}

func newPeerRig(t testing.TB, n int, opts ...opt) *peerRig {
	t.Helper()
	st, _ := newStack(t, append([]opt{rigOptions(n), func(o *Options) { o.ISN = rigISN }}, opts...)...)
	r := &peerRig{t: t, st: st, out: make([]byte, 2048), in: make([]byte, 2048)}
	r.l = st.NewSocket()
	if err := r.l.Bind(ap(addrB, port)); err != nil {
		t.Fatalf("bind: %v", err)
	}
	if err := r.l.Listen(0, n); err != nil {
		t.Fatalf("listen: %v", err)
	}
	st.obs = nil // a recorder would keep every packet
	return r
}

// rigISN gives every connection of the rig the same ISN, so the script
// knows the sequence numbers without parsing replies.
func rigISN(clock.Instant, Tuple) uint32 { return 5000 }

const peerISN = 1000

// peerAddr is the i-th peer: a distinct address:port for each i (up to
// 2^32 of them).
func peerAddr(i int) netip.AddrPort {
	return ap(netip.AddrFrom4([4]byte{10, 128 | byte(i>>22), byte(i >> 14), byte(i >> 6)}), uint16(1024+i&63))
}

// send hands the stack one segment from remote to local.
func (r *peerRig) send(remote, local netip.AddrPort, flags wire.Flags, sq, ack uint32) {
	p := segment(remote, local, flags, sq, ack, "")
	n, err := wire.EncodePacket(r.in, &p, 64, 1)
	if err != nil {
		r.t.Fatalf("EncodePacket: %v", err)
	}
	r.st.HandlePacket(r.now, r.in[:n])
}

// drain sends nothing anywhere: it polls the stack dry, keeps the last
// packet and returns how many there were.
func (r *peerRig) drain() int {
	k := 0
	for {
		n := r.st.PollPacket(r.now, r.out)
		if n == 0 {
			break
		}
		k++
		if err := wire.ParsePacket(r.out[:n], &r.last); err != nil {
			r.t.Fatalf("stack sent a malformed packet: %v", err)
		}
	}
	r.st.Touched()
	return k
}

// open runs a passive open from remote and returns the accepted socket.
func (r *peerRig) open(remote netip.AddrPort) *Socket {
	local := ap(addrB, port)
	r.send(remote, local, wire.SYN, peerISN, 0)
	r.drain()
	r.send(remote, local, wire.ACK, peerISN+1, rigISN(0, Tuple{})+1)
	r.drain()
	so, err := r.l.Accept()
	if err != nil {
		r.t.Fatalf("accept from %v: %v", remote, err)
	}
	return so
}

// timeWait runs one whole lifecycle from remote in which the stack closes
// first, so that it ends in TIME_WAIT: handshake, close(), the peer's ACK
// and FIN, the stack's last ACK.
func (r *peerRig) timeWait(remote netip.AddrPort) {
	so := r.open(remote)
	so.Close(r.now)
	r.drain()
	isn := rigISN(0, Tuple{})
	r.send(remote, ap(addrB, port), wire.FIN|wire.ACK, peerISN+1, isn+2)
	r.drain()
	if st := so.State(); st != tcp.Closed {
		r.t.Fatalf("socket for %v in %v after the peer's FIN, want a record", remote, st)
	}
}

// heapAfterGC is the live heap after two collections.
func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// rigStep is how far apart the rig's lifecycles are in virtual time.
const rigStep = time.Microsecond

// dial runs an active open to remote and returns the connected socket.
func (r *peerRig) dial(remote netip.AddrPort) *Socket {
	so := r.st.NewSocket()
	if err := so.Connect(r.now, remote); err != nil {
		r.t.Fatalf("connect to %v: %v", remote, err)
	}
	r.drain()
	r.send(remote, so.Local(), wire.SYN|wire.ACK, peerISN, rigISN(0, Tuple{})+1)
	r.drain()
	if st := so.State(); st != tcp.Established {
		r.t.Fatalf("socket to %v in %v after the SYN-ACK", remote, st)
	}
	return so
}

// clientTimeWait runs one whole lifecycle in which the stack dials remote
// and closes first: it ends in TIME_WAIT on an ephemeral port.
func (r *peerRig) clientTimeWait(remote netip.AddrPort) {
	so := r.dial(remote)
	so.Close(r.now)
	r.drain()
	r.send(remote, so.Local(), wire.FIN|wire.ACK, peerISN+1, rigISN(0, Tuple{})+2)
	r.drain()
	if st := so.State(); st != tcp.Closed {
		r.t.Fatalf("socket to %v in %v after the peer's FIN, want a record", remote, st)
	}
}
