package simnet

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/link/pcap"
	"github.com/tcpwave/tcpwave/stack"
	"github.com/tcpwave/tcpwave/tcp"
	"github.com/tcpwave/tcpwave/trace"
	"github.com/tcpwave/tcpwave/trace/htmlpage"
	"github.com/tcpwave/tcpwave/wire"
)

// tracer records a network's trace: every host's segments and state
// changes (through a trace.Observer per host) and the network's drops,
// on the network's clock, with segments numbered alike at both ends.
type tracer struct {
	mu     sync.Mutex
	rel    trace.Relativizer
	events []trace.Event
	cut    int // events not kept (maxEvents)
}

// add appends an event, with t.mu held.
func (t *tracer) add(e trace.Event) {
	if len(t.events) >= maxEvents {
		t.cut++
		return
	}
	t.events = append(t.events, e)
}

// hostObserver is a host's stack.Observer: the host's events, moved to
// the network's clock (the host's clock starts when the host boots).
type hostObserver struct {
	t      *tracer
	obs    trace.Observer
	offset time.Duration // the host's boot, on the network's clock
}

var _ stack.Observer = (*hostObserver)(nil)

func newHostObserver(t *tracer, name string, offset time.Duration) *hostObserver {
	h := &hostObserver{t: t, offset: offset}
	h.obs = trace.Observer{Host: name, Rel: &t.rel, Add: func(e trace.Event) {
		e.T = e.T.Add(h.offset)
		t.add(e)
	}}
	return h
}

// PacketSent records a send.
func (h *hostObserver) PacketSent(now clock.Instant, pkt []byte) {
	h.t.mu.Lock()
	defer h.t.mu.Unlock()
	h.obs.PacketSent(now, pkt)
}

// PacketReceived records a receive.
func (h *hostObserver) PacketReceived(now clock.Instant, pkt []byte) {
	h.t.mu.Lock()
	defer h.t.mu.Unlock()
	h.obs.PacketReceived(now, pkt)
}

// PacketDropped records a packet the host could not take.
func (h *hostObserver) PacketDropped(now clock.Instant, pkt []byte, err error) {
	h.t.mu.Lock()
	defer h.t.mu.Unlock()
	h.obs.PacketDropped(now, pkt, err)
}

// StateChanged records a state change.
func (h *hostObserver) StateChanged(now clock.Instant, tu stack.Tuple, from, to tcp.State, why string) {
	h.t.mu.Lock()
	defer h.t.mu.Unlock()
	h.obs.StateChanged(now, tu, from, to, why)
}

// netDrop records a packet the network lost, and why: the link, a fault,
// a host that is down.
func (t *tracer) netDrop(at time.Duration, from, to netip.Addr, pkt []byte, why string) {
	var p wire.Packet
	t.mu.Lock()
	defer t.mu.Unlock()
	e := trace.Event{T: clock.Instant(at), Host: "net", Kind: trace.KindDrop, Src: from.String(), Dst: to.String(), Why: why}
	if wire.ParsePacket(pkt, &p) == nil {
		e.Seg = t.rel.Segment(&p)
	} else {
		e.Size = len(pkt)
	}
	t.add(e)
}

// Trace returns the run's events (trace.Event, as the scenarios and the
// soak record them): every host's segments sent and received and its
// connections' state changes, named by the host's address, and every
// packet the network lost, as a drop event of host "net" whose Why says
// why (a fault's drops say "dropped by fault: " and the rule). It needs
// Options.Trace; without it, it returns nil.
func (n *Network) Trace() []trace.Event {
	if n.tr == nil {
		return nil
	}
	n.tr.mu.Lock()
	ev := append([]trace.Event(nil), n.tr.events...)
	n.tr.mu.Unlock()
	sort.SliceStable(ev, func(i, j int) bool { return ev[i].T < ev[j].T })
	return ev
}

// WriteTrace writes the run into dir (made if missing): for each pair of
// hosts that exchanged packets, a ladder diagram (A-B.txt) and an HTML
// page (A-B.html), and a capture of every packet (capture.pcap: the IP
// and TCP headers, cut after them, at the network's virtual times; lost
// packets included as they left their host). It needs Options.Trace.
func (n *Network) WriteTrace(dir string) error {
	if n.tr == nil {
		return errors.New("simnet: WriteTrace needs Options.Trace")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("simnet: %w", err)
	}
	ev := n.Trace()
	for _, pair := range n.pairs() {
		name := strings.NewReplacer(":", "_").Replace(pair[0] + "-" + pair[1])
		var b bytes.Buffer
		if err := trace.WriteLadder(&b, ev, pair[0], pair[1]); err != nil {
			return fmt.Errorf("simnet: ladder: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".txt"), b.Bytes(), 0o644); err != nil {
			return fmt.Errorf("simnet: %w", err)
		}
		b.Reset()
		page := htmlpage.Page{Title: pair[0] + " ↔ " + pair[1],
			Left: htmlpage.Host{Name: pair[0]}, Right: htmlpage.Host{Name: pair[1]},
			Origin: htmlpage.Text{EN: "A simnet run in virtual time: lost packets say why (link loss, or the fault rule that dropped them)."}}
		if err := htmlpage.Write(&b, ev, page); err != nil {
			return fmt.Errorf("simnet: html: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".html"), b.Bytes(), 0o644); err != nil {
			return fmt.Errorf("simnet: %w", err)
		}
	}
	return n.writePcap(filepath.Join(dir, "capture.pcap"))
}

// pairs returns the pairs of hosts, by name, that exchanged packets.
func (n *Network) pairs() [][2]string {
	seen := map[[2]string]bool{}
	var out [][2]string
	for _, e := range n.Events() {
		a, b := e.From.String(), e.To.String()
		if !e.To.IsValid() {
			continue
		}
		if b < a {
			a, b = b, a
		}
		k := [2]string{a, b}
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// writePcap writes the network's events as a capture.
func (n *Network) writePcap(path string) error {
	var b bytes.Buffer
	w, err := pcap.NewWriter(&b)
	if err != nil {
		return err
	}
	for _, e := range n.Events() {
		if e.Headers == nil {
			continue
		}
		if err := w.WritePacket(clock.Instant(e.At), e.Headers); err != nil {
			return err
		}
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("simnet: %w", err)
	}
	return nil
}

// lostLines lists the network's drops, one a line: when, from and to,
// the segment, and why (the fault rule's name for a fault's).
func lostLines(ev []trace.Event) string {
	var b strings.Builder
	for _, e := range ev {
		if e.Kind != trace.KindDrop || e.Host != "net" {
			continue
		}
		fmt.Fprintf(&b, "  %10.6f  %s > %s  %s  %s\n", time.Duration(e.T).Seconds(), e.Src, e.Dst, e.SegText(), e.Why)
	}
	return b.String()
}

// TB is the part of testing.TB that DumpOnFailure uses.
type TB interface {
	Helper()
	Cleanup(func())
	Failed() bool
	Logf(format string, args ...any)
	TempDir() string
}

// DumpOnFailure makes t's cleanup, when the test has failed, log each
// pair of hosts' ladder diagram and write the trace (WriteTrace) into dir,
// or into t.TempDir() when dir is empty (which the test removes: name a
// dir to keep it). It needs Options.Trace. Call it before n.Close is
// deferred, so that the dump sees the whole run.
func (n *Network) DumpOnFailure(t TB, dir string) {
	t.Helper()
	t.Cleanup(func() {
		if !t.Failed() || n.tr == nil {
			return
		}
		ev := n.Trace()
		for _, p := range n.pairs() {
			var b bytes.Buffer
			trace.WriteLadder(&b, ev, p[0], p[1])
			t.Logf("simnet: %s and %s:\n%s", p[0], p[1], b.String())
		}
		if lost := lostLines(ev); lost != "" {
			t.Logf("simnet: packets lost on the way, and why:\n%s", lost)
		}
		if dir == "" {
			dir = t.TempDir()
		}
		if err := n.WriteTrace(dir); err != nil {
			t.Logf("simnet: %v", err)
			return
		}
		t.Logf("simnet: ladders, HTML pages and capture.pcap in %s", dir)
	})
}
