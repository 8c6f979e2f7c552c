package wire

import "strconv"

// FormatSegment describes a TCP segment in packetdrill notation, for
// traces: the flags (Flags.String), "start:end(len)" with sequence numbers
// relative to seqBase, " ack N" relative to ackBase when ACK is set, and
// " win N" with the raw window field. With withOptions and at least one
// option, " <...>" follows, listing the options as EncodeTCP lays them out
// (NOPs included) with SACK blocks relative to ackBase. Relative numbers
// use 32-bit wrap-around arithmetic and print unsigned. Examples:
//
//	S 0:0(0) win 65535 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>
//	FP. 1:6(5) ack 1 win 502
//	R 5:5(0) win 0
func FormatSegment(f *TCPFields, payloadLen int, seqBase, ackBase uint32, withOptions bool) string {
	b := make([]byte, 0, 128)
	b = append(b, f.Flags.String()...)
	b = append(b, ' ')
	start := f.Seq - seqBase
	b = strconv.AppendUint(b, uint64(start), 10)
	b = append(b, ':')
	b = strconv.AppendUint(b, uint64(start+uint32(payloadLen)), 10)
	b = append(b, '(')
	b = strconv.AppendInt(b, int64(payloadLen), 10)
	b = append(b, ')')
	if f.Flags.Has(ACK) {
		b = append(b, " ack "...)
		b = strconv.AppendUint(b, uint64(f.Ack-ackBase), 10)
	}
	b = append(b, " win "...)
	b = strconv.AppendUint(b, uint64(f.Window), 10)
	if withOptions && !f.Options.empty() {
		b = append(b, " <"...)
		b = f.Options.appendTo(b, ackBase)
		b = append(b, '>')
	}
	return string(b)
}

// String lists the options in packetdrill notation, in the order and with
// the NOPs EncodeTCP writes, without angle brackets, for example
// "mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7" or
// "nop,nop,TS val 5 ecr 9,nop,nop,sack 100:200". SACK blocks print as
// absolute sequence numbers. No options give "".
func (o *Options) String() string {
	return string(o.appendTo(nil, 0))
}

// appendTo appends the option list to b, SACK edges relative to base.
func (o *Options) appendTo(b []byte, base uint32) []byte {
	first := true
	item := func(s string) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, s...)
	}
	if o.MSS != 0 {
		item("mss ")
		b = strconv.AppendUint(b, uint64(o.MSS), 10)
	}
	if o.HasTimestamp {
		if o.SACKPermitted {
			item("sackOK")
		} else {
			item("nop")
			item("nop")
		}
		item("TS val ")
		b = strconv.AppendUint(b, uint64(o.TSVal), 10)
		b = append(b, " ecr "...)
		b = strconv.AppendUint(b, uint64(o.TSEcr), 10)
	} else if o.SACKPermitted {
		item("nop")
		item("nop")
		item("sackOK")
	}
	if o.HasWScale {
		item("nop")
		item("wscale ")
		b = strconv.AppendUint(b, uint64(o.WScale), 10)
	}
	if o.NumSACK > 0 {
		item("nop")
		item("nop")
		item("sack")
		for k := 0; k < int(min(o.NumSACK, MaxSACKBlocks)); k++ {
			b = append(b, ' ')
			b = strconv.AppendUint(b, uint64(o.SACK[k].Left-base), 10)
			b = append(b, ':')
			b = strconv.AppendUint(b, uint64(o.SACK[k].Right-base), 10)
		}
	}
	return b
}
