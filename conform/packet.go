package conform

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"

	"github.com/tcpwave/tcpwave/notation"
	"github.com/tcpwave/tcpwave/wire"
)

// remoteISN is the script's initial sequence number: inbound sequence
// numbers are relative to it.
const remoteISN = 0x3b9aca00

// peer is the connection the script plays: the numbers that turn relative
// sequence numbers into absolute ones and back.
type peer struct {
	local, remote netip.Addr
	// localPort and remotePort are the host's and the script's ports of
	// the current connection: the listener's port and --remote_port until
	// the host sends a SYN, then the SYN's ports.
	localPort, remotePort uint16
	localISN              uint32  // the host's ISN, from its latest SYN
	ts                    tsClock // the host's TS clock against the script's values
	ipID                  uint16
}

// payloadByte is the byte the script sends at a relative sequence number.
func payloadByte(rel uint32) byte { return byte('a' + rel%26) }

// build makes the IP packet an inbound packet line describes.
func (pr *peer) build(pk *PacketSpec) ([]byte, error) {
	var opt []byte
	for _, o := range pk.Opts {
		switch o.Kind {
		case OptNOP:
			opt = append(opt, 1)
		case OptEOL:
			opt = append(opt, 0)
		case OptMSS:
			opt = binary.BigEndian.AppendUint16(append(opt, 2, 4), uint16(o.Val))
		case OptWScale:
			opt = append(opt, 3, 3, byte(o.Val))
		case OptSACKOK:
			opt = append(opt, 4, 2)
		case OptTS:
			if o.ValAny || o.EcrAny {
				return nil, fmt.Errorf("a packet the script sends needs TS values, not *")
			}
			ecr := pr.ts.ecr(o.Ecr) // the script cannot know the host's clock
			opt = append(opt, 8, 10)
			opt = binary.BigEndian.AppendUint32(opt, o.Val)
			opt = binary.BigEndian.AppendUint32(opt, ecr)
		case OptSACK:
			opt = append(opt, 5, byte(2+8*len(o.Blocks)))
			for _, b := range o.Blocks {
				opt = binary.BigEndian.AppendUint32(opt, pr.localISN+b.Left)
				opt = binary.BigEndian.AppendUint32(opt, pr.localISN+b.Right)
			}
		}
	}
	for len(opt)%4 != 0 {
		opt = append(opt, 0)
	}
	hl := 20 + len(opt)
	seg := make([]byte, hl+pk.Len)
	binary.BigEndian.PutUint16(seg[0:], pr.remotePort)
	binary.BigEndian.PutUint16(seg[2:], pr.localPort)
	binary.BigEndian.PutUint32(seg[4:], remoteISN+pk.Seq)
	if pk.HasAck {
		binary.BigEndian.PutUint32(seg[8:], pr.localISN+pk.Ack)
	}
	seg[12] = byte(hl/4) << 4
	seg[13] = byte(pk.Flags)
	win := uint16(65535)
	if pk.HasWin {
		win = pk.Win
	}
	binary.BigEndian.PutUint16(seg[14:], win)
	copy(seg[20:], opt)
	for i := range pk.Len {
		seg[hl+i] = payloadByte(pk.Seq + uint32(i))
	}
	binary.BigEndian.PutUint16(seg[16:], wire.TCPChecksum(pr.remote, pr.local, seg))
	return pr.ipPacket(seg)
}

// observed is a packet the host sent, parsed.
type observed struct {
	p    wire.Packet
	opts []TCPOption // the raw option list, nops included
}

// parseOut parses a packet the host sent. ok is false for packets that are
// not TCP between the two addresses, in their family (the runner ignores
// those: in IPv6 the kernel sends router solicitations and MLD reports).
func (pr *peer) parseOut(pkt []byte) (*observed, bool, error) {
	if !pr.isTCP(pkt) {
		return nil, false, nil
	}
	o := &observed{}
	if err := wire.ParsePacket(pkt, &o.p); err != nil {
		return nil, false, fmt.Errorf("the host sent a malformed packet: %w", err)
	}
	if o.p.Src != pr.local || o.p.Dst != pr.remote {
		return nil, false, nil
	}
	ihl := ipHeaderLen(pkt)
	doff := int(pkt[ihl+12]>>4) * 4
	o.opts = rawOptions(pkt[ihl+20 : ihl+doff])
	return o, true, nil
}

// rawOptions lists the options as they appear on the wire.
func rawOptions(b []byte) []TCPOption {
	var out []TCPOption
	for i := 0; i < len(b); {
		switch b[i] {
		case 0:
			return append(out, TCPOption{Kind: OptEOL})
		case 1:
			out = append(out, TCPOption{Kind: OptNOP})
			i++
			continue
		}
		if i+1 >= len(b) || b[i+1] < 2 || i+int(b[i+1]) > len(b) {
			return append(out, TCPOption{Kind: OptOther, Val: uint32(b[i])})
		}
		n := int(b[i+1])
		body := b[i+2 : i+n]
		o := TCPOption{Kind: OptOther, Val: uint32(b[i])}
		switch {
		case b[i] == 2 && n == 4:
			o = TCPOption{Kind: OptMSS, Val: uint32(binary.BigEndian.Uint16(body))}
		case b[i] == 3 && n == 3:
			o = TCPOption{Kind: OptWScale, Val: uint32(body[0])}
		case b[i] == 4 && n == 2:
			o = TCPOption{Kind: OptSACKOK}
		case b[i] == 8 && n == 10:
			o = TCPOption{Kind: OptTS, Val: binary.BigEndian.Uint32(body), Ecr: binary.BigEndian.Uint32(body[4:])}
		case b[i] == 5 && (n-2)%8 == 0:
			o = TCPOption{Kind: OptSACK}
			for k := 0; k+8 <= len(body); k += 8 {
				o.Blocks = append(o.Blocks, SACKRange{Left: binary.BigEndian.Uint32(body[k:]), Right: binary.BigEndian.Uint32(body[k+4:])})
			}
		}
		out = append(out, o)
		i += n
	}
	return out
}

// learn takes what a SYN the host sent teaches: its ISN and the
// connection's ports.
func (pr *peer) learn(o *observed) {
	if o.p.TCP.Flags.Has(wire.SYN) {
		pr.localISN = o.p.TCP.Seq
		pr.localPort, pr.remotePort = o.p.TCP.SrcPort, o.p.TCP.DstPort
	}
}

// learnTS takes the host's latest timestamp, for the ecr of the script's
// next packet.
func (pr *peer) learnTS(o *observed) {
	for _, x := range o.opts {
		if x.Kind == OptTS {
			pr.ts.sent(x.Val)
		}
	}
}

// format writes a packet the host sent in the script's notation.
func (pr *peer) format(o *observed) string {
	t := &o.p.TCP
	isn := pr.localISN
	if t.Flags.Has(wire.SYN) {
		isn = t.Seq
	}
	seg := notation.FromTCP(t, len(o.p.Payload), isn, remoteISN, false)
	seg.Opts = relativeSACK(o.opts, remoteISN)
	s := seg.String()
	if !t.Flags.Has(wire.SYN) && (t.SrcPort != pr.localPort || t.DstPort != pr.remotePort) {
		s += fmt.Sprintf(" (ports %d>%d)", t.SrcPort, t.DstPort)
	}
	return s
}

// relativeSACK copies opts with SACK blocks made relative to base.
func relativeSACK(opts []TCPOption, base uint32) []TCPOption {
	out := make([]TCPOption, len(opts))
	for i, o := range opts {
		out[i] = o
		if o.Kind != OptSACK {
			continue
		}
		out[i].Blocks = make([]SACKRange, len(o.Blocks))
		for k, b := range o.Blocks {
			out[i].Blocks[k] = SACKRange{Left: b.Left - base, Right: b.Right - base}
		}
	}
	return out
}

// match checks a packet the host sent against an outbound line and says
// what differs.
func (pr *peer) match(pk *PacketSpec, o *observed) error {
	t := &o.p.TCP
	var diffs []string
	if t.Flags != pk.Flags {
		diffs = append(diffs, fmt.Sprintf("flags %s, want %s", t.Flags, pk.Flags))
	}
	isn := pr.localISN
	if t.Flags.Has(wire.SYN) {
		isn = t.Seq // a SYN starts the host's numbering
	}
	if got := t.Seq - isn; got != pk.Seq {
		diffs = append(diffs, fmt.Sprintf("seq %d, want %d", got, pk.Seq))
	}
	if len(o.p.Payload) != pk.Len {
		diffs = append(diffs, fmt.Sprintf("payload %d bytes, want %d", len(o.p.Payload), pk.Len))
	}
	if pk.HasAck && t.Flags.Has(wire.ACK) && t.Ack-remoteISN != pk.Ack {
		diffs = append(diffs, fmt.Sprintf("ack %d, want %d", t.Ack-remoteISN, pk.Ack))
	}
	if pk.HasWin && t.Window != pk.Win {
		diffs = append(diffs, fmt.Sprintf("win %d, want %d", t.Window, pk.Win))
	}
	if t.Flags.Has(wire.SYN) && t.Seq != pr.localISN {
		pr.ts.reset() // a new connection of the host's: a new TS baseline
	}
	if !pk.AnyOpts {
		if d := matchOpts(pk.Opts, o.opts); d != "" {
			diffs = append(diffs, d)
		} else if d := pr.matchTSVal(pk.Opts, o.opts); d != "" {
			diffs = append(diffs, d)
		}
	}
	if t.SrcPort != pr.localPort && !t.Flags.Has(wire.SYN) || t.DstPort != pr.remotePort && !t.Flags.Has(wire.SYN) {
		diffs = append(diffs, fmt.Sprintf("ports %d>%d, want %d>%d", t.SrcPort, t.DstPort, pr.localPort, pr.remotePort))
	}
	if len(diffs) > 0 {
		return fmt.Errorf("%s", strings.Join(diffs, "; "))
	}
	return nil
}

// matchTSVal takes the TS val of a matching option list into the TS
// clock, which compares it when the script has a tick (tsClock).
func (pr *peer) matchTSVal(want, got []TCPOption) string {
	for i, w := range want {
		if w.Kind == OptTS && !w.ValAny && i < len(got) && got[i].Kind == OptTS {
			if err := pr.ts.observe(w.Val, got[i].Val); err != nil {
				return err.Error()
			}
		}
	}
	return ""
}

// matchOpts compares option lists; TS val is not compared here (the
// host's clock: see tsClock), TS ecr is unless the script wrote "*".
func matchOpts(want, got []TCPOption) string {
	bad := func() string {
		return fmt.Sprintf("options <%s>, want <%s>", notation.FormatOptions(got, remoteISN), notation.FormatOptions(want, 0))
	}
	if len(want) != len(got) {
		return bad()
	}
	for i, w := range want {
		g := got[i]
		if w.Kind != g.Kind {
			return bad()
		}
		switch w.Kind {
		case OptMSS, OptWScale:
			if w.Val != g.Val {
				return bad()
			}
		case OptTS:
			if !w.EcrAny && w.Ecr != g.Ecr {
				return bad()
			}
		case OptSACK:
			if len(w.Blocks) != len(g.Blocks) {
				return bad()
			}
			for k, b := range w.Blocks {
				if g.Blocks[k].Left-remoteISN != b.Left || g.Blocks[k].Right-remoteISN != b.Right {
					return bad()
				}
			}
		}
	}
	return ""
}
