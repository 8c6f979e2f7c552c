package tcp

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/seq"
	"github.com/tcpwave/tcpwave/wire"
)

// legalEdges are the state changes RFC 9293 §3.3.2 draws, plus Linux's
// shortcuts (FIN_WAIT_1 straight to TIME_WAIT; any state to CLOSED on RST,
// abort or timeout).
var legalEdges = map[[2]State]bool{
	{Listen, SynRcvd}: true, {SynSent, SynRcvd}: true, {SynSent, Established}: true,
	{SynRcvd, Established}: true, {SynRcvd, FinWait1}: true, {SynRcvd, CloseWait}: true,
	{Established, FinWait1}: true, {Established, CloseWait}: true,
	{FinWait1, FinWait2}: true, {FinWait1, Closing}: true, {FinWait1, TimeWait}: true,
	{FinWait2, TimeWait}: true, {CloseWait, LastAck}: true, {Closing, TimeWait}: true,
}

type edgeChecker struct {
	t   *testing.T
	bad string
}

func (e *edgeChecker) StateChanged(_ clock.Instant, c *Conn, from, to State, why string) {
	if to != Closed && !legalEdges[[2]State{from, to}] && e.bad == "" {
		e.bad = from.String() + " -> " + to.String() + " (" + why + ")"
	}
}

// peerStream is the byte at a sequence number of the peer's stream, so a
// byte delivered out of place is caught.
func peerStream(s seq.Value) byte { return byte(uint32(s)*7 + uint32(s)>>9) }

// ourStream is the byte at an offset of our own stream, so a byte sent from
// the wrong place is caught.
func ourStream(off int) byte { return byte(off*13 + off>>8 + 0x5a) }

// FuzzConn feeds a connection random segments, user calls and timer
// firings in every state and checks invariants after each step: no panic;
// SND.UNA <= SND.NXT <= SND.MAX; buffers within bounds; only legal state
// changes; every byte read is the peer's next byte, in order, never twice;
// every byte sent is the byte of our stream its sequence number names.
func FuzzConn(f *testing.F) {
	f.Add([]byte{0, 0x10, 0, 0, 5, 2, 3, 0, 0x11, 0, 1, 0, 5, 200})
	f.Add([]byte{1, 40, 0, 0x10, 0, 2, 9, 5, 255, 5, 255, 5, 255, 5, 255})
	f.Add([]byte{4, 0, 0x11, 0, 0, 0, 5, 100, 0, 0x04, 0, 0, 0})
	f.Add([]byte{0, 0x12, 3, 3, 0, 0, 0x10, 0, 0, 200, 6, 2, 0})
	// write in SYN_RCVD, shutdown, then the ACK of our SYN (SND.UNA+1)
	f.Add([]byte{1, 5, 4, 0, 0x10, 0, 2, 0, 10, 5, 1})
	f.Fuzz(func(t *testing.T, ops []byte) {
		cfg := DefaultConfig()
		cfg.RcvBuf, cfg.SndBuf = 8192, 8192
		cfg.SndBufMax = 64 << 10 // auto-tuning runs, within a small bound
		chk := &edgeChecker{t: t}
		const iss, irs = seq.Value(1_000_000), seq.Value(0xfffff000) // the peer's stream wraps
		var now clock.Instant
		syn := Segment{Seq: irs, Flags: wire.SYN, Wnd: 65535, Opts: wire.Options{MSS: 1000, HasWScale: true, WScale: 2}}
		c := NewPassive(&cfg, chk, now, iss, 0, &syn)
		nextRead := irs + 1
		buf := make([]byte, 65536)
		rd := make([]byte, 3000)
		payload := make([]byte, 3000)
		steps := 0
		wrote := 0 // bytes of our stream the connection accepted
		for i := 0; i < len(ops) && steps < 300; steps++ {
			op := ops[i] % 8
			i++
			arg := func() int {
				if i < len(ops) {
					i++
					return int(ops[i-1])
				}
				return 0
			}
			switch op {
			case 0: // a segment from the peer, near the window edges
				flags := wire.Flags(arg()) &^ (wire.URG | wire.ECE | wire.CWR)
				sq := c.rcvNxt + seq.Value(int8(arg()))*97
				// Even values land just around SND.UNA, odd ones far from it.
				ack := c.sndUna + seq.Value(int8(arg())/2)
				if a := int8(ops[i-1]); a%2 != 0 {
					ack = c.sndUna + seq.Value(a)*61
				}
				n := arg() * 7 % 1500
				first := sq // a SYN takes the first sequence number
				if flags&wire.SYN != 0 {
					first++
				}
				for k := range n {
					payload[k] = peerStream(first + seq.Value(k))
				}
				s := Segment{Seq: sq, Ack: ack, Flags: flags, Wnd: uint16(arg() * 64), Payload: payload[:n]}
				c.HandleSegment(now, &s)
			case 1:
				w := make([]byte, arg()*31)
				for k := range w {
					w[k] = ourStream(wrote + k)
				}
				n, _ := c.Write(now, w)
				wrote += n
			case 2:
				n, err := c.Read(now, rd[:1+arg()*11])
				for k := range n {
					if rd[k] != peerStream(nextRead) {
						t.Fatalf("step %d: byte %d of a read is %#x, want the peer's byte %#x at seq %d", steps, k, rd[k], peerStream(nextRead), nextRead)
					}
					nextRead++
				}
				if err != nil && !errors.Is(err, syscall.EAGAIN) && n > 0 {
					t.Fatalf("read returned data and an error")
				}
			case 3:
				c.Close(now)
			case 4:
				c.CloseWrite(now)
			case 5:
				now = now.Add(time.Duration(arg()) * 10 * time.Millisecond)
				if d := c.Deadline(); d <= now {
					c.HandleTimeout(now)
				}
				if d := c.Deadline(); d <= now && c.state != Closed {
					// Each timer runs at its instant or is moved on: a
					// deadline still due after HandleTimeout is a spin.
					c.HandleTimeout(now)
					if d2 := c.Deadline(); d2 <= now {
						t.Fatalf("step %d: deadline %v not after now %v after two HandleTimeout calls", steps, d2, now)
					}
				}
			case 6:
				c.CloseRead()
			case 7: // abort, or a socket option with timers of its own
				v := arg()
				secs := time.Duration(1+v>>4) * time.Second
				switch v % 16 {
				case 0:
					c.Abort(now)
				case 1:
					c.SetKeepAliveParams(now, KeepAliveParams{Idle: secs, Interval: secs, Count: 1 + v>>5})
					c.SetKeepAlive(now, true)
				case 2:
					c.SetKeepAlive(now, false)
				case 3:
					c.SetUserTimeout(now, secs)
				case 4:
					c.SetLinger2(now, secs-8*time.Second)
				}
			}
			for k := 0; ; k++ {
				if k == 200 {
					t.Fatalf("step %d: Poll still has segments after 200 (a send loop)", steps)
				}
				var out Segment
				if !c.Poll(now, &out, buf) {
					break
				}
				if len(out.Payload) > c.MSS() {
					t.Fatalf("sent %d bytes with MSS %d", len(out.Payload), c.MSS())
				}
				for k, b := range out.Payload {
					off := int(out.Seq.Add(seq.Size(k)).Sub(iss + 1))
					if off < 0 || off >= wrote || b != ourStream(off) {
						t.Fatalf("step %d: sent byte %#x at seq %d (stream offset %d of %d written), want %#x", steps, b, out.Seq.Add(seq.Size(k)), off, wrote, ourStream(max(off, 0)))
					}
				}
			}
			if chk.bad != "" {
				t.Fatalf("illegal state change %s", chk.bad)
			}
			switch {
			case c.sndUna.GreaterThan(c.sndNxt), c.sndNxt.GreaterThan(c.sndMax):
				t.Fatalf("SND.UNA %d, SND.NXT %d, SND.MAX %d out of order", c.sndUna, c.sndNxt, c.sndMax)
			case c.sndBuf.len() > c.sndBuf.max || c.sndBuf.max > max(cfg.SndBuf, cfg.SndBufMax) || c.sndBuf.capacity() > max(cfg.SndBuf, cfg.SndBufMax) ||
				c.rcvBuf.len() > c.rcvBuf.max || c.rcvBuf.capacity() > cfg.RcvBuf+1<<c.rcvWScale:
				t.Fatalf("buffer beyond its bound")
			case c.state != Closed && int(c.sndMax.Sub(c.sndUna)) > c.sndBuf.len()+2:
				t.Fatalf("%d bytes in flight with %d buffered", c.sndMax.Sub(c.sndUna), c.sndBuf.len())
			}
		}
	})
}
