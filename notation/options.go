package notation

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/tcpwave/tcpwave/wire"
)

// OptKind is a TCP option as the notation names it.
type OptKind uint8

// The options the notation has.
const (
	OptNOP OptKind = iota
	OptEOL
	OptMSS
	OptWScale
	OptSACKOK
	OptTS
	OptSACK
	OptOther // a kind the notation has no name for, written "option N"
)

// Option is one item of an option list.
type Option struct {
	Kind   OptKind
	Val    uint32 // mss, wscale, TS val; OptOther: the option's kind byte
	Ecr    uint32 // TS ecr
	ValAny bool   // "TS val *"
	EcrAny bool   // "ecr *"
	Blocks []SACKRange
}

// SACKRange is one SACK block "a:b".
type SACKRange struct{ Left, Right uint32 }

// encodedLen is the option's length on the wire.
func (o *Option) encodedLen() int {
	switch o.Kind {
	case OptMSS:
		return 4
	case OptWScale:
		return 3
	case OptSACKOK:
		return 2
	case OptTS:
		return 10
	case OptSACK:
		return 2 + 8*len(o.Blocks)
	}
	return 1 // nop, eol
}

// OptionsLen is the length of an option list on the wire, before padding.
func OptionsLen(opts []Option) int {
	n := 0
	for i := range opts {
		n += opts[i].encodedLen()
	}
	return n
}

// FormatOptions writes an option list without the angle brackets, e.g.
// "mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7", SACK blocks relative to
// base.
func FormatOptions(opts []Option, base uint32) string {
	return string(appendOptions(nil, opts, base))
}

func appendOptions(b []byte, opts []Option, base uint32) []byte {
	for i, o := range opts {
		if i > 0 {
			b = append(b, ',')
		}
		b = o.appendTo(b, base)
	}
	return b
}

func (o *Option) appendTo(b []byte, base uint32) []byte {
	switch o.Kind {
	case OptNOP:
		return append(b, "nop"...)
	case OptEOL:
		return append(b, "eol"...)
	case OptMSS:
		return strconv.AppendUint(append(b, "mss "...), uint64(o.Val), 10)
	case OptWScale:
		return strconv.AppendUint(append(b, "wscale "...), uint64(o.Val), 10)
	case OptSACKOK:
		return append(b, "sackOK"...)
	case OptTS:
		b = strconv.AppendUint(append(b, "TS val "...), uint64(o.Val), 10)
		return strconv.AppendUint(append(b, " ecr "...), uint64(o.Ecr), 10)
	case OptSACK:
		b = append(b, "sack"...)
		for _, k := range o.Blocks {
			b = strconv.AppendUint(append(b, ' '), uint64(k.Left-base), 10)
			b = strconv.AppendUint(append(b, ':'), uint64(k.Right-base), 10)
		}
		return b
	}
	return strconv.AppendUint(append(b, "option "...), uint64(o.Val), 10)
}

// parseOptions reads "<mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7>",
// "<>" (no options) or "<...>" (AnyOpts).
func (s *Segment) parseOptions(list string) error {
	body := strings.TrimSpace(list[1 : len(list)-1])
	if body == "..." {
		s.AnyOpts = true
		return nil
	}
	s.Opts = []Option{}
	if body == "" {
		return nil
	}
	for _, item := range strings.Split(body, ",") {
		o, err := parseOption(item, list)
		if err != nil {
			return err
		}
		s.Opts = append(s.Opts, o)
	}
	return nil
}

// parseOption reads one item of the list.
func parseOption(item, list string) (Option, error) {
	f := strings.Fields(item)
	if len(f) == 0 {
		return Option{}, fmt.Errorf("TCP options: empty item in %q", list)
	}
	switch f[0] {
	case "nop", "eol", "sackOK":
		return parseBare(f)
	case "mss", "wscale":
		return parseNumbered(f)
	case "TS":
		return parseTS(f)
	case "sack":
		return parseSACK(f)
	}
	return Option{}, fmt.Errorf("unknown TCP option %q (want mss, sackOK, TS, nop, wscale, sack, eol)", f[0])
}

func parseBare(f []string) (Option, error) {
	if len(f) != 1 {
		return Option{}, fmt.Errorf("TCP option %q takes no value", f[0])
	}
	switch f[0] {
	case "nop":
		return Option{Kind: OptNOP}, nil
	case "eol":
		return Option{Kind: OptEOL}, nil
	}
	return Option{Kind: OptSACKOK}, nil
}

// parseNumbered reads "mss N" and "wscale N".
func parseNumbered(f []string) (Option, error) {
	if len(f) != 2 {
		return Option{}, fmt.Errorf("TCP option %s: want \"%s N\"", f[0], f[0])
	}
	o, bits := Option{Kind: OptMSS}, 16
	if f[0] == "wscale" {
		o.Kind, bits = OptWScale, 8
	}
	n, err := strconv.ParseUint(f[1], 10, bits)
	if err != nil {
		return o, fmt.Errorf("TCP option %s: %q is not a %d-bit number", f[0], f[1], bits)
	}
	o.Val = uint32(n)
	return o, nil
}

// parseTS reads "TS val N ecr N", either number possibly "*".
func parseTS(f []string) (Option, error) {
	o := Option{Kind: OptTS}
	if len(f) != 5 || f[1] != "val" || f[3] != "ecr" {
		return o, fmt.Errorf("TCP option TS: want \"TS val N ecr N\"")
	}
	var err error
	if f[2] == "*" {
		o.ValAny = true
	} else if o.Val, err = parseU32(f[2], "TS val"); err != nil {
		return o, err
	}
	if f[4] == "*" {
		o.EcrAny = true
	} else if o.Ecr, err = parseU32(f[4], "TS ecr"); err != nil {
		return o, err
	}
	return o, nil
}

// parseSACK reads "sack a:b [c:d ...]".
func parseSACK(f []string) (Option, error) {
	o := Option{Kind: OptSACK}
	if len(f) < 2 || len(f) > 1+wire.MaxSACKBlocks {
		return o, fmt.Errorf("TCP option sack: want 1 to %d blocks a:b", wire.MaxSACKBlocks)
	}
	for _, b := range f[1:] {
		l, r, ok := strings.Cut(b, ":")
		if !ok {
			return o, fmt.Errorf("TCP option sack: block %q: want a:b", b)
		}
		lv, err := parseU32(l, "sack block start")
		if err != nil {
			return o, err
		}
		rv, err := parseU32(r, "sack block end")
		if err != nil {
			return o, err
		}
		o.Blocks = append(o.Blocks, SACKRange{lv, rv})
	}
	return o, nil
}

// FromWire lists parsed options as wire.EncodeTCP lays them out, NOPs
// included, with SACK blocks relative to base; no options give nil.
func FromWire(w *wire.Options, base uint32) []Option {
	var out []Option
	nop := Option{Kind: OptNOP}
	if w.MSS != 0 {
		out = append(out, Option{Kind: OptMSS, Val: uint32(w.MSS)})
	}
	ts := Option{Kind: OptTS, Val: w.TSVal, Ecr: w.TSEcr}
	switch {
	case w.HasTimestamp && w.SACKPermitted:
		out = append(out, Option{Kind: OptSACKOK}, ts)
	case w.HasTimestamp:
		out = append(out, nop, nop, ts)
	case w.SACKPermitted:
		out = append(out, nop, nop, Option{Kind: OptSACKOK})
	}
	if w.HasWScale {
		out = append(out, nop, Option{Kind: OptWScale, Val: uint32(w.WScale)})
	}
	if w.NumSACK > 0 {
		sack := Option{Kind: OptSACK}
		for _, b := range w.SACK[:min(w.NumSACK, wire.MaxSACKBlocks)] {
			sack.Blocks = append(sack.Blocks, SACKRange{b.Left - base, b.Right - base})
		}
		out = append(out, nop, nop, sack)
	}
	return out
}

// ToWire gathers an option list into wire.Options, SACK blocks relative
// to base made absolute; NOPs, EOLs and unnamed kinds are skipped.
func ToWire(opts []Option, base uint32) wire.Options {
	var w wire.Options
	for _, o := range opts {
		switch o.Kind {
		case OptMSS:
			w.MSS = uint16(o.Val)
		case OptWScale:
			w.HasWScale, w.WScale = true, uint8(o.Val)
		case OptSACKOK:
			w.SACKPermitted = true
		case OptTS:
			w.HasTimestamp, w.TSVal, w.TSEcr = true, o.Val, o.Ecr
		case OptSACK:
			for _, b := range o.Blocks {
				if w.NumSACK < wire.MaxSACKBlocks {
					w.SACK[w.NumSACK] = wire.SACKBlock{Left: base + b.Left, Right: base + b.Right}
					w.NumSACK++
				}
			}
		}
	}
	return w
}
