package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/stack"
	"github.com/tcpwave/tcpwave/tcp"
	"github.com/tcpwave/tcpwave/trace"
	"github.com/tcpwave/tcpwave/trace/htmlpage"
)

// netstat asks a running tcpwave process for its connection table.
func netstat(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	const synopsis = "tcpwave netstat [--control PATH] [-i]"
	fs := flag.NewFlagSet("tcpwave netstat", flag.ContinueOnError)
	control := fs.String("control", "", "the control socket of the running tcpwave process (default: the one running in this network namespace)")
	info := fs.Bool("i", false, "also each connection's TCP state, as ss -i shows it (congestion control, window scales, rto, rtt, mss, cwnd, bytes, windows)")
	if code, ok := parseArgs(fs, synopsis, args, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() != 0 {
		return usageError(fs, synopsis, stderr, "unexpected argument %q", fs.Arg(0))
	}
	req := reqNetstat
	if *info {
		req = reqNetstatInfo
	}
	if err := askControl(ctx, *control, req, stdout); err != nil {
		fmt.Fprintln(stderr, "tcpwave netstat:", err)
		return 1
	}
	return 0
}

// liveEvents prints every segment and state change of a real stack as
// JSON Lines while it happens (stack.Observer, through a trace.Observer).
type liveEvents struct {
	mu   sync.Mutex
	w    io.Writer // JSON Lines as they happen; nil for none
	host string
	obs  trace.Observer // guarded by mu; made on first use
	// rec, if set, keeps the events for an HTML page, with the peer's side
	// inferred: what tcpwave receives the peer sent at that instant, and
	// what tcpwave sends the peer receives (a TUN device has no wire time).
	rec  *trace.Recorder
	peer string
}

// observe runs fn on the trace.Observer, under the lock.
func (l *liveEvents) observe(fn func(o *trace.Observer)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.obs.Add == nil {
		l.obs = trace.Observer{Host: l.host, Add: l.record}
	}
	fn(&l.obs)
}

func (l *liveEvents) emit(e trace.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.record(e)
}

// record prints and keeps e; l.mu is held.
func (l *liveEvents) record(e trace.Event) {
	e.Host = l.host
	e.T = e.T / 1000 * 1000 // whole microseconds, as the simulator's
	if e.Kind == trace.KindDrop {
		// The device's drops are mostly not TCP: say why, not what.
		e = trace.Event{T: e.T, Host: e.Host, Kind: e.Kind, Why: e.Why}
	}
	if l.w != nil {
		trace.WriteJSONL(l.w, []trace.Event{e})
	}
	if l.rec == nil || e.Kind == trace.KindDrop {
		return // the page shows TCP; the device also carries IPv6 chatter
	}
	mirror := e
	mirror.Host = l.peer
	switch e.Kind {
	case trace.KindRecv:
		mirror.Kind = trace.KindSend
		l.rec.Add(mirror)
		l.rec.Add(e)
	case trace.KindSend:
		mirror.Kind = trace.KindRecv
		l.rec.Add(e)
		l.rec.Add(mirror)
	default:
		l.rec.Add(e)
	}
}

// writeHTML writes the recorded conversation as an HTML page.
func (l *liveEvents) writeHTML(path, title string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = htmlpage.Write(f, l.rec.Events(), htmlpage.Page{
		Title:   title,
		Summary: htmlpage.Text{EN: "tcpwave on a TUN device, talking to the Linux kernel. The kernel's side is inferred from what tcpwave saw on the device.", ZH: "tcpwave 在 TUN 设备上与 Linux 内核通信。内核一侧由 tcpwave 在设备上看到的报文推断。"},
		Left:    htmlpage.Host{Name: l.host, Role: htmlpage.Text{EN: "tcpwave", ZH: "tcpwave"}},
		Right:   htmlpage.Host{Name: l.peer, Role: htmlpage.Text{EN: "Linux kernel", ZH: "Linux 内核"}},
		Origin:  htmlpage.Text{EN: "Recorded by tcpwave on a TUN device; real time since the stack started.", ZH: "由 tcpwave 在 TUN 设备上记录；时间为协议栈启动以来的真实时间。"},
	})
	return errors.Join(err, f.Close())
}

// PacketSent records a segment tcpwave sent.
func (l *liveEvents) PacketSent(now clock.Instant, pkt []byte) {
	l.observe(func(o *trace.Observer) { o.PacketSent(now, pkt) })
}

// PacketReceived records a segment tcpwave received.
func (l *liveEvents) PacketReceived(now clock.Instant, pkt []byte) {
	l.observe(func(o *trace.Observer) { o.PacketReceived(now, pkt) })
}

// PacketDropped records a packet tcpwave did not take.
func (l *liveEvents) PacketDropped(now clock.Instant, pkt []byte, err error) {
	l.observe(func(o *trace.Observer) { o.PacketDropped(now, pkt, err) })
}

// StateChanged records a state change.
func (l *liveEvents) StateChanged(now clock.Instant, t stack.Tuple, from, to tcp.State, why string) {
	l.observe(func(o *trace.Observer) { o.StateChanged(now, t, from, to, why) })
}
