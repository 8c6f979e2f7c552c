package scenario

import (
	"fmt"
	"slices"
	"strings"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/trace"
)

// Wire lists every segment put on the wire, in order, as "A>B F. 1:1(0)
// ack 1" (window and options left out, as SCENARIOS.md writes them).
// Segments lost on the way are included: they were sent.
func (r *Run) Wire() []string {
	var out []string
	for _, e := range r.Rec.Events() {
		if e.Kind != trace.KindSend {
			continue
		}
		to := "B"
		if e.Host == "B" {
			to = "A"
		}
		out = append(out, e.Host+">"+to+" "+stripWin(&e))
	}
	return out
}

// stripWin writes e's segment without its window and options.
func stripWin(e *trace.Event) string {
	if e.Seg == nil {
		return e.SegText()
	}
	seg := *e.Seg
	seg.HasWin, seg.Opts, seg.AnyOpts = false, nil, false
	return seg.String()
}

// Lost lists the segments the network dropped, as Wire writes them.
func (r *Run) Lost() []string {
	var out []string
	for _, e := range r.Rec.Events() {
		if e.Kind == trace.KindDrop && e.Host == "net" {
			out = append(out, e.Src+">"+e.Dst+" "+stripWin(&e))
		}
	}
	return out
}

// ConnStates returns, for each connection of host in order of first
// appearance, the states it went through (its first "from" state, then
// every "to"). Listeners are left out.
func (r *Run) ConnStates(host string) [][]string {
	var order []trace.Conn
	m := map[trace.Conn][]string{}
	for _, e := range r.Rec.Events() {
		if e.Kind != trace.KindState || e.Host != host || !e.Conn.Connected() {
			continue
		}
		from := e.From.String()
		if _, ok := m[e.Conn]; !ok {
			order = append(order, e.Conn)
			m[e.Conn] = []string{from}
		} else if last := m[e.Conn][len(m[e.Conn])-1]; last != from {
			// A new incarnation of the same 4-tuple.
			order = append(order, e.Conn)
			m[e.Conn] = append(m[e.Conn], "|", from)
		}
		m[e.Conn] = append(m[e.Conn], e.To.String())
	}
	var out [][]string
	seen := map[trace.Conn]bool{}
	for _, c := range order {
		if seen[c] {
			continue
		}
		seen[c] = true
		parts := m[c]
		for {
			i := slices.Index(parts, "|")
			if i < 0 {
				out = append(out, parts)
				break
			}
			out = append(out, parts[:i])
			parts = parts[i+1:]
		}
	}
	return out
}

// Apps lists host's application calls as "call=result".
func (r *Run) Apps(host string) []string {
	var out []string
	for _, e := range r.Rec.Events() {
		if e.Kind == trace.KindApp && e.Host == host {
			out = append(out, e.Call+"="+e.Result)
		}
	}
	return out
}

// StateAt returns when host's n-th (0-based) connection entered state, and
// whether it did.
func (r *Run) StateAt(host string, n int, state string) (clock.Instant, bool) {
	conns := map[trace.Conn]int{}
	for _, e := range r.Rec.Events() {
		if e.Kind != trace.KindState || e.Host != host || !e.Conn.Connected() {
			continue
		}
		if _, ok := conns[e.Conn]; !ok {
			conns[e.Conn] = len(conns)
		}
		if conns[e.Conn] == n && e.To.String() == state {
			return e.T, true
		}
	}
	return 0, false
}

// stateTime is StateAt for a check: an error if the connection never
// entered state (a run cut short by its network, for example).
func stateTime(r *Run, host string, n int, state string) (clock.Instant, error) {
	t, ok := r.StateAt(host, n, state)
	if !ok {
		return 0, fmt.Errorf("host %s connection %d never reached %s", host, n, state)
	}
	return t, nil
}

// expectWire checks the whole wire against want.
func expectWire(r *Run, want ...string) error {
	return sameList("segments on the wire", r.Wire(), want)
}

// expectWireFrom checks the wire from the first segment equal to want[0].
func expectWireFrom(r *Run, want ...string) error {
	w := r.Wire()
	i := slices.Index(w, want[0])
	if i < 0 {
		return fmt.Errorf("segment %q never sent; wire: %s", want[0], strings.Join(w, " | "))
	}
	return sameList("segments on the wire from "+want[0], w[i:], want)
}

// expectStates checks the state path of host's n-th connection.
func expectStates(r *Run, host string, n int, want string) error {
	cs := r.ConnStates(host)
	if n >= len(cs) {
		return fmt.Errorf("host %s has %d connections, want at least %d", host, len(cs), n+1)
	}
	return sameList(fmt.Sprintf("host %s connection %d states", host, n), cs[n], strings.Split(want, ","))
}

// expectApps checks host's application calls and results.
func expectApps(r *Run, host string, want ...string) error {
	return sameList("host "+host+" application calls", r.Apps(host), want)
}

func sameList(what string, got, want []string) error {
	if slices.Equal(got, want) {
		return nil
	}
	return fmt.Errorf("%s not as expected:\n  got  %s\n  want %s", what, strings.Join(got, " | "), strings.Join(want, " | "))
}

// all returns the first error of several checks.
func all(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// SendTimes returns when host sent segments that read seg (as Wire writes
// them, without the host prefix).
func (r *Run) SendTimes(host, seg string) []clock.Instant {
	var out []clock.Instant
	for _, e := range r.Rec.Events() {
		if e.Kind == trace.KindSend && e.Host == host && stripWin(&e) == seg {
			out = append(out, e.T)
		}
	}
	return out
}

// count returns how many times s occurs in list.
func count(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}
