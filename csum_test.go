package tcpwave

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/link"
	"github.com/tcpwave/tcpwave/link/pipe"
	"github.com/tcpwave/tcpwave/trace"
	"github.com/tcpwave/tcpwave/wire"
)

// csumEnd is a pipe end with checksum offload (link.ChecksumOffloader),
// as a TUN device with a virtio-net header is: it vouches for every
// packet it reads, whose TCP checksum it garbles first, so that only a
// host that trusts the vouch takes them, and it completes the partial
// checksums written to it, counting those that did not hold the
// pseudo-header's sum.
type csumEnd struct {
	*pipe.End
	checked    atomic.Int64 // packets read and vouched for
	partial    atomic.Int64 // packets written with WritePartial
	badPartial atomic.Int64 // of those, ones whose field was not the pseudo-header's sum
}

var _ link.ChecksumOffloader = (*csumEnd)(nil)

func (e *csumEnd) ChecksumOffload() bool { return true }

func (e *csumEnd) ReadPacketChecked(buf []byte, wait bool) (int, bool, error) {
	var n int
	var err error
	if wait {
		n, err = e.End.ReadPacket(buf)
	} else {
		n, err = e.End.PollPacket(buf)
	}
	if err != nil || n == 0 {
		return n, false, err
	}
	if ipLen, _, herr := wire.TCPHeaders(buf[:n]); herr == nil {
		buf[ipLen+16] ^= 0xa5 // garbled: only the vouch gets it in
	}
	e.checked.Add(1)
	return n, true, nil
}

func (e *csumEnd) WritePartial(pkt []byte, segSize int) error {
	e.partial.Add(1)
	ipLen, _, err := wire.TCPHeaders(pkt)
	if err != nil || ipLen != wire.IPv4HeaderLen {
		return errors.New("csumEnd: not an IPv4 TCP packet")
	}
	src, dst := netip.AddrFrom4([4]byte(pkt[12:16])), netip.AddrFrom4([4]byte(pkt[16:20]))
	seg := pkt[ipLen:]
	if binary.BigEndian.Uint16(seg[16:]) != wire.PseudoHeaderSum(src, dst, len(seg)) {
		e.badPartial.Add(1)
	}
	binary.BigEndian.PutUint16(seg[16:], wire.Checksum(seg))
	return e.End.WritePacket(pkt)
}

// TestChecksumOffload: a host on a link with checksum offload takes the
// packets the link vouches for without verifying their checksums (here
// garbled, so a host that verified them would take nothing), and sends
// packets with partial checksums (the pseudo-header's sum) for the link
// to complete; 1 MiB goes each way, intact, to and from a host on a plain
// link end. With an Observer the host uses neither, so that the Observer
// sees complete checksums.
func TestChecksumOffload(t *testing.T) {
	for _, observe := range []bool{false, true} {
		name := "offload"
		var opts []Option
		if observe {
			name = "observed"
			opts = append(opts, WithObserver(&trace.Observer{}))
		}
		t.Run(name, func(t *testing.T) {
			ea, eb := pipe.NewEnds(1500, 0)
			ce := &csumEnd{End: ea}
			a, b := hostsOn(t, ce, eb, opts...)
			client, server := connPair(t, a, b) // the server is a's
			data := make([]byte, 1<<20)
			rand.Read(data)
			for _, dir := range []struct {
				name     string
				from, to *Conn
			}{{"to the host with offload", client, server}, {"from it", server, client}} {
				dir.to.SetReadDeadline(time.Now().Add(30 * time.Second))
				errc := make(chan error, 1)
				go func() { _, err := dir.from.Write(data); errc <- err }()
				got := make([]byte, len(data))
				if _, err := io.ReadFull(dir.to, got); err != nil {
					t.Fatalf("%s: read: %v", dir.name, err)
				}
				if err := <-errc; err != nil {
					t.Fatalf("%s: write: %v", dir.name, err)
				}
				if !bytes.Equal(got, data) {
					t.Fatalf("%s: data differs", dir.name)
				}
			}
			client.Close()
			server.Close()
			checked, partial, bad := ce.checked.Load(), ce.partial.Load(), ce.badPartial.Load()
			t.Logf("%d packets read checked, %d written partial (%d not the pseudo-header's sum)", checked, partial, bad)
			if observe && (checked != 0 || partial != 0) {
				t.Errorf("a host with an Observer used checksum offload: %d packets read checked, %d written partial", checked, partial)
			}
			if !observe && (checked < 700 || partial < 700) {
				t.Errorf("%d packets read checked, %d written partial; want over 700 each (1 MiB each way)", checked, partial)
			}
			if bad != 0 {
				t.Errorf("%d packets written partial did not hold the pseudo-header's sum", bad)
			}
			if c := a.Counters(); c.InCsumErrors != 0 {
				t.Errorf("the host with offload counted %d checksum errors", c.InCsumErrors)
			}
		})
	}
}
