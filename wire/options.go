package wire

import "encoding/binary"

// TCP option kinds (IANA "TCP Option Kind Numbers").
const (
	optEOL       = 0
	optNOP       = 1
	optMSS       = 2
	optWScale    = 3
	optSACKPerm  = 4
	optSACK      = 5
	optTimestamp = 8
)

// MaxWScale is the largest window shift RFC 7323 §2.3 allows; larger
// received values are treated as MaxWScale.
const MaxWScale = 14

// MaxOptionsLen is the most option bytes a TCP header can hold.
const MaxOptionsLen = 40

// parseOptions decodes the option bytes opt into o (which it resets
// first) as Linux's tcp_parse_options does: it never fails. EOL ends the
// list; an option whose length byte is missing, below 2 or runs past the
// header ends it too, keeping what came before; an option of a known kind
// with the wrong length for it is skipped by its length and ignored.
func parseOptions(opt []byte, o *Options) {
	*o = Options{}
	for i := 0; i < len(opt); {
		kind := opt[i]
		switch kind {
		case optEOL:
			return
		case optNOP:
			i++
			continue
		}
		if i+1 >= len(opt) {
			return
		}
		n := int(opt[i+1])
		if n < 2 || i+n > len(opt) {
			return // tcp_parse_options: "silly options" and partial ones end the list
		}
		o.apply(kind, opt[i+2:i+n])
		i += n
	}
}

// apply records one well-framed option of the given kind whose bytes
// after the kind and length are body; a known kind with the wrong length
// is ignored (tcp_parse_options).
func (o *Options) apply(kind byte, body []byte) {
	switch kind {
	case optMSS:
		if len(body) == 2 {
			o.MSS = binary.BigEndian.Uint16(body)
		}
	case optWScale:
		if len(body) == 1 {
			o.HasWScale = true
			o.WScale = min(body[0], MaxWScale)
		}
	case optSACKPerm:
		if len(body) == 0 {
			o.SACKPermitted = true
		}
	case optSACK:
		blocks := len(body) / 8
		if len(body)%8 != 0 || blocks < 1 || blocks > MaxSACKBlocks {
			return
		}
		o.SACK = [MaxSACKBlocks]SACKBlock{}
		for k := 0; k < blocks; k++ {
			o.SACK[k] = SACKBlock{
				Left:  binary.BigEndian.Uint32(body[8*k:]),
				Right: binary.BigEndian.Uint32(body[8*k+4:]),
			}
		}
		o.NumSACK = uint8(blocks)
	case optTimestamp:
		if len(body) == 8 {
			o.HasTimestamp = true
			o.TSVal = binary.BigEndian.Uint32(body[0:4])
			o.TSEcr = binary.BigEndian.Uint32(body[4:8])
		}
	}
}

// optMD5 is the TCP MD5 signature option (RFC 2385), 18 bytes long.
const (
	optMD5    = 19
	optMD5Len = 18
)

// ScanAuthOptions walks the option bytes opt of a segment as Linux's
// tcp_parse_auth_options does before it hands a segment to a socket
// (tcp_inbound_hash, on kernels built with TCP-MD5 and without TCP-AO,
// the common build): only while at least 18 bytes of options remain, it
// stops at EOL, skips NOPs, and fails with ErrBadOption (a *ParseError
// whose Offset counts from the start of opt) at an option whose length is
// below 2 or runs past the header, at an MD5 signature option whose length
// is not 18, and at a second one; md5 reports an MD5 signature option
// found on the way. Linux drops the whole segment when it fails, and when
// it finds a signature for a socket with no MD5 key (TCPMD5Unexpected).
func ScanAuthOptions(opt []byte) (md5 bool, err error) {
	for i := 0; len(opt)-i >= optMD5Len; {
		switch opt[i] {
		case optEOL:
			return md5, nil
		case optNOP:
			i++
			continue
		}
		n := int(opt[i+1])
		if n < 2 || n > len(opt)-i {
			return md5, parseErr("tcp option", ErrBadOption, i+1)
		}
		if opt[i] == optMD5 {
			switch {
			case n != optMD5Len:
				return md5, parseErr("tcp option", ErrBadOption, i+1)
			case md5:
				return md5, parseErr("tcp option", ErrBadOption, i) // a second one
			}
			md5 = true
		}
		i += n
	}
	return md5, nil
}

// encodedLen returns how many bytes write produces for o. Every
// piece of the Linux layout is a multiple of four bytes, so the result
// needs no padding. It can exceed MaxOptionsLen.
func (o *Options) encodedLen() int {
	n := 0
	if o.MSS != 0 {
		n += 4
	}
	if o.HasTimestamp {
		n += 12
	} else if o.SACKPermitted {
		n += 4
	}
	if o.HasWScale {
		n += 4
	}
	if o.NumSACK > 0 {
		n += 4 + 8*int(o.NumSACK)
	}
	return n
}

// empty reports whether o encodes to no bytes.
func (o *Options) empty() bool { return o.encodedLen() == 0 }

// write writes o into b in the order and with the padding Linux
// uses (see EncodeTCP) and returns the number of bytes written. The caller
// has checked that b holds o.encodedLen() bytes and that NumSACK is at
// most MaxSACKBlocks.
func (o *Options) write(b []byte) int {
	i := 0
	if o.MSS != 0 {
		b[i], b[i+1] = optMSS, 4
		binary.BigEndian.PutUint16(b[i+2:], o.MSS)
		i += 4
	}
	if o.HasTimestamp {
		if o.SACKPermitted {
			b[i], b[i+1] = optSACKPerm, 2
		} else {
			b[i], b[i+1] = optNOP, optNOP
		}
		b[i+2], b[i+3] = optTimestamp, 10
		binary.BigEndian.PutUint32(b[i+4:], o.TSVal)
		binary.BigEndian.PutUint32(b[i+8:], o.TSEcr)
		i += 12
	} else if o.SACKPermitted {
		b[i], b[i+1], b[i+2], b[i+3] = optNOP, optNOP, optSACKPerm, 2
		i += 4
	}
	if o.HasWScale {
		b[i], b[i+1], b[i+2], b[i+3] = optNOP, optWScale, 3, o.WScale
		i += 4
	}
	if o.NumSACK > 0 {
		n := int(o.NumSACK)
		b[i], b[i+1], b[i+2], b[i+3] = optNOP, optNOP, optSACK, byte(2+8*n)
		i += 4
		for k := 0; k < n; k++ {
			binary.BigEndian.PutUint32(b[i:], o.SACK[k].Left)
			binary.BigEndian.PutUint32(b[i+4:], o.SACK[k].Right)
			i += 8
		}
	}
	return i
}
