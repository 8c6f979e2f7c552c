package stack

import (
	"strings"
	"testing"
	"time"
)

// invariantRig is two hosts with a listener on B, an open connection, and
// a TIME_WAIT record on A.
type invariantRig struct {
	f                 *fixture
	a, b              *node
	l, client, server *Socket
}

func newInvariantRig(t *testing.T) *invariantRig {
	t.Helper()
	f, a, b := pair(t)
	r := &invariantRig{f: f, a: a, b: b, l: f.listen(b, port, 8)}
	r.client, r.server = f.connect(a, b, r.l)
	c2, s2 := f.connect(a, b, r.l)
	f.closeBoth(c2, s2)
	if a.st.tw.len() != 1 {
		t.Fatalf("A holds %d TIME_WAIT records, want 1", a.st.tw.len())
	}
	return r
}

// TestCheckInvariantsCatches corrupts one table at a time and requires
// CheckInvariants to report it (and to pass before).
func TestCheckInvariantsCatches(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(r *invariantRig) *Stack
		want    string
	}{
		{"orphan count", func(r *invariantRig) *Stack { r.a.st.orphans++; return r.a.st }, "orphan count"},
		{"orphan phase without the count", func(r *invariantRig) *Stack { r.client.phase = phaseOrphan; return r.a.st }, "orphan count"},
		{"connection under another 4-tuple", func(r *invariantRig) *Stack {
			s := r.a.st
			delete(s.conns, r.client.tuple)
			t := r.client.tuple
			t.Remote = ap(addrX, 9)
			s.conns[t] = r.client
			return s
		}, "listed under"},
		{"connection in phaseDone left in the demux table", func(r *invariantRig) *Stack { r.client.phase = phaseDone; return r.a.st }, "demux table in phase"},
		{"connection without its port", func(r *invariantRig) *Stack {
			r.a.st.release(r.client.tuple.Local.Port(), r.client)
			return r.a.st
		}, "does not hold its port"},
		{"bind table index", func(r *invariantRig) *Stack { r.server.boundIdx += 7; return r.b.st }, "hold its port"},
		{"bind() holders miscounted", func(r *invariantRig) *Stack { r.b.st.bindPorts.add(port, 1); return r.b.st }, "holders by bind() or listen() counted"},
		{"listener out of phase", func(r *invariantRig) *Stack { r.l.phase = phaseIdle; return r.b.st }, "listener"},
		{"stranger in the accept queue", func(r *invariantRig) *Stack { r.l.acceptQ = append(r.l.acceptQ, r.server); return r.b.st }, "accept queue holds"},
		{"SYN_RCVD count", func(r *invariantRig) *Stack { r.l.synRcvd++; return r.b.st }, "SYN_RCVD"},
		{"timer of a finished socket", func(r *invariantRig) *Stack {
			so := r.a.st.NewSocket()
			r.a.st.timers.update(so, r.f.now.Add(time.Second))
			return r.a.st
		}, "no live connection"},
		{"timer count", func(r *invariantRig) *Stack { r.a.st.timers.n++; return r.a.st }, "its count says"},
		{"TIME_WAIT index", func(r *invariantRig) *Stack { clear(r.a.st.tw.index); return r.a.st }, "its index finds"},
		{"TIME_WAIT beyond MaxTimeWait", func(r *invariantRig) *Stack { r.a.st.opts.MaxTimeWait = 0; return r.a.st }, "MaxTimeWait"},
		{"RSTs beyond segments", func(r *invariantRig) *Stack {
			r.a.st.counters.OutRsts = r.a.st.counters.OutSegs + 1
			return r.a.st
		}, "OutRsts > OutSegs"},
		{"TIME_WAIT records beyond TW", func(r *invariantRig) *Stack { r.a.st.counters.TW = 0; return r.a.st }, "> TW"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newInvariantRig(t)
			for _, n := range []*node{r.a, r.b} {
				if err := n.st.CheckInvariants(); err != nil {
					t.Fatalf("%s before the corruption: %v", n.name, err)
				}
			}
			err := tt.corrupt(r).CheckInvariants()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("CheckInvariants = %v, want an error with %q", err, tt.want)
			}
		})
	}
}
