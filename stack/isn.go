package stack

import (
	"crypto/sha256"
	"encoding/binary"
	"sort"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/seq"
)

// hash32 is a keyed hash of a 4-tuple (RFC 6528's F), with a salt so that
// one key serves several uses.
func (s *Stack) hash32(t Tuple, salt byte) uint32 {
	var b [16 + 1 + 2*(16+2)]byte
	copy(b[:16], s.opts.ISNKey[:])
	b[16] = salt
	la, ra := t.Local.Addr().As16(), t.Remote.Addr().As16()
	copy(b[17:], la[:])
	binary.BigEndian.PutUint16(b[33:], t.Local.Port())
	copy(b[35:], ra[:])
	binary.BigEndian.PutUint16(b[51:], t.Remote.Port())
	h := sha256.Sum256(b[:])
	return binary.BigEndian.Uint32(h[:4])
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
