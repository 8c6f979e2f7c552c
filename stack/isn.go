package stack

import (
	"encoding/binary"
	"sort"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/seq"
)

// hash32 is a keyed hash of a 4-tuple (RFC 6528's F), with a salt so that
// one key serves several uses: SipHash-2-4 keyed by Options.ISNKey, as
// Linux's secure_tcp_seq is keyed by net_secret.
func (s *Stack) hash32(t Tuple, salt byte) uint32 { return s.hash32n(t, salt, 0) }

// hash32n is hash32 with a number mixed in.
func (s *Stack) hash32n(t Tuple, salt byte, n uint32) uint32 {
	var b [1 + 2*(16+2) + 4]byte
	b[0] = salt
	la, ra := t.Local.Addr().As16(), t.Remote.Addr().As16()
	copy(b[1:], la[:])
	binary.BigEndian.PutUint16(b[17:], t.Local.Port())
	copy(b[19:], ra[:])
	binary.BigEndian.PutUint16(b[35:], t.Remote.Port())
	binary.BigEndian.PutUint32(b[37:], n)
	return uint32(s.sip.sum64(b[:]))
}

// isn is RFC 6528: a 4-microsecond clock plus a keyed hash of the 4-tuple.
func (s *Stack) isn(now clock.Instant, t Tuple) seq.Value {
	if s.opts.ISN != nil {
		return seq.Value(s.opts.ISN(now, t))
	}
	return seq.Value(uint32(now.Micros()/4) + s.hash32(t, 0))
}

// tsOffset is the per-connection timestamp offset (Linux tsoffset).
func (s *Stack) tsOffset(t Tuple) uint32 { return s.hash32(t, 2) }

func sortRows(rows []ConnInfo) {
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if c := a.Local.Compare(b.Local); c != 0 {
			return c < 0
		}
		return a.Peer.Compare(b.Peer) < 0
	})
}

func sortSockets(all []*Socket) {
	sort.Slice(all, func(i, j int) bool {
		a, b := all[i].tuple, all[j].tuple
		if c := a.Local.Compare(b.Local); c != 0 {
			return c < 0
		}
		return a.Remote.Compare(b.Remote) < 0
	})
}
