package tcp

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/notation"
	"github.com/tcpwave/tcpwave/seq"
	"github.com/tcpwave/tcpwave/wire"
)

// The core tests are packet scripts in packetdrill-like notation (our own
// runner; packetdrill's code and scripts are not used):
//
//	+0    connect                       user call (connect, close, shutdown_wr,
//	                                    shutdown_rd, abort, write N, read N,
//	                                    bufs RCV SND)
//	+0    > S 0:0(0) <mss 1460,...>     we must send this (seq relative to our ISN,
//	                                    ack relative to the peer's)
//	+0    < S. 0:0(0) ack 1 win 65535   the peer sends this
//	+60s  state CLOSED                  our state
//	+0    read 5 = EOF                  a call's result: a count or an error name
//
// Payloads carry real bytes: every byte of the peer's stream is
// peerByte(relative sequence number) and every byte we write is
// ourByte(relative sequence number), so "write N" queues the next N bytes
// of our stream, each segment we send is checked byte for byte, and
//
//	+0    read 100 = data 1:11          checks that the read returned exactly
//	                                    the peer's bytes 1..10, in order.
//
// Other checks: "mss N", "sendq N", "recvq N", "retrans N" (total
// retransmissions), "count NAME N" (the events of Counts counted so far,
// NAME a field: "count ChallengeACK 1"). Options on an expected segment
// are checked only when written, timestamps included ("<>" demands none;
// "TS val * ecr 100" skips a value); "sack 101:201 301:401" lists SACK
// blocks relative to the peer's ISN.
//
// Time advances with "+d" before each line; every timer due on the way
// fires at its own instant, and each segment we send is checked against the
// time it was sent. Any segment we send that the script does not expect
// fails the test.

const peerISN = 0x10000000

type scripted struct {
	t      *testing.T
	cfg    Config
	now    clock.Instant
	c      *Conn
	out    []timedSeg
	states []string
	iss    seq.Value
	wrote  int    // bytes of our stream accepted by Write
	counts Counts // every event the connection counted so far
}

// peerByte and ourByte give the byte at a relative sequence number of each
// direction's stream: patterns that differ at every offset of a window, so
// a byte out of place or from the wrong direction is caught.
func peerByte(rel uint32) byte { return byte(rel*7 + rel>>8 + 0x31) }
func ourByte(rel uint32) byte  { return byte(rel*13 + rel>>8 + 0x5a) }

// flight is the script lines of n segments of size bytes from sequence
// number from, sent at once in Linux's transmission units of unit
// segments (push.go): the last segment of each unit of two or more has
// PSH (__tcp_transmit_skb), as does the last segment when it ends the
// data written (end). opts, when not empty, is written on the last line.
func flight(from, n, size, unit int, end bool, opts string) string {
	var b strings.Builder
	for i := range n {
		flag := "."
		if (i+1)%unit == 0 && unit > 1 || i == n-1 && (end || n%unit > 1) {
			flag = "P."
		}
		fmt.Fprintf(&b, "+0    > %s %d:%d(%d) ack 1", flag, from+i*size, from+(i+1)*size, size)
		if i == n-1 && opts != "" {
			b.WriteString(" " + opts)
		}
		b.WriteString("\n")
	}
	return b.String()
}

type timedSeg struct {
	at  clock.Instant
	seg Segment
}

func (h *scripted) StateChanged(_ clock.Instant, c *Conn, from, to State, why string) {
	h.states = append(h.states, to.String())
	if why == "" {
		h.t.Errorf("state change %v -> %v without a reason", from, to)
	}
}

func runScript(t *testing.T, cfg Config, script string) *scripted {
	t.Helper()
	h := &scripted{t: t, cfg: cfg, iss: 0x80000000}
	for i, raw := range strings.Split(script, "\n") {
		line := strings.TrimSpace(raw)
		if k := strings.Index(line, "//"); k >= 0 {
			line = strings.TrimSpace(line[:k])
		}
		if line == "" {
			continue
		}
		if err := h.step(line); err != nil {
			t.Fatalf("script line %d %q: %v\nstates: %v", i+1, line, err, h.states)
		}
	}
	if len(h.out) > 0 {
		t.Fatalf("script ended with unexpected outbound segments: %s", h.describeOut())
	}
	return h
}

func (h *scripted) describeOut() string {
	var b []string
	for _, o := range h.out {
		b = append(b, fmt.Sprintf("%v: %s", o.at, h.fmt(&o.seg)))
	}
	return strings.Join(b, "; ")
}

func (h *scripted) fmt(s *Segment) string {
	f := wire.TCPFields{Seq: uint32(s.Seq), Ack: uint32(s.Ack), Flags: s.Flags, Window: s.Wnd, Options: s.Opts}
	n := notation.FromTCP(&f, len(s.Payload), uint32(h.iss), peerISN, true)
	return n.String()
}

func (h *scripted) step(line string) error {
	fields := strings.Fields(line)
	if strings.HasPrefix(fields[0], "+") {
		d, err := parseDur(fields[0][1:])
		if err != nil {
			return err
		}
		h.advance(h.now.Add(d))
		fields = fields[1:]
	}
	if len(fields) == 0 {
		return nil
	}
	switch fields[0] {
	case "<":
		if len(h.out) > 0 {
			return fmt.Errorf("unexpected outbound before inbound: %s", h.describeOut())
		}
		s, _, err := parseSeg(fields[1:], peerISN, h.iss)
		if err != nil {
			return err
		}
		for i := range s.Payload {
			s.Payload[i] = peerByte(uint32(s.Seq-peerISN) + uint32(i))
		}
		if h.c == nil {
			if s.Flags != wire.SYN {
				return fmt.Errorf("no connection for a non-SYN")
			}
			h.c = NewPassive(&h.cfg, h, h.now, h.iss, 0, &s)
		} else {
			h.c.HandleSegment(h.now, &s)
		}
		h.drain()
	case ">":
		want, line, err := parseSeg(fields[1:], h.iss, peerISN)
		if err != nil {
			return err
		}
		if len(h.out) == 0 {
			return fmt.Errorf("expected %s, nothing was sent (next deadline %v)", strings.Join(fields[1:], " "), h.c.Deadline())
		}
		got := h.out[0]
		h.out = h.out[1:]
		if got.at != h.now {
			return fmt.Errorf("segment %s sent at %v, script expects %v", h.fmt(&got.seg), got.at, h.now)
		}
		if err := matchSeg(&got.seg, &want, &line); err != nil {
			return fmt.Errorf("%v: got %s", err, h.fmt(&got.seg))
		}
		for i, b := range got.seg.Payload {
			rel := uint32(got.seg.Seq-h.iss) + uint32(i)
			if b != ourByte(rel) {
				return fmt.Errorf("payload byte at %d is %#x, want %#x: got %s", rel, b, ourByte(rel), h.fmt(&got.seg))
			}
		}
	case "state":
		if got := h.c.State().String(); got != fields[1] {
			return fmt.Errorf("state %s, want %s", got, fields[1])
		}
	case "mss", "sendq", "recvq", "retrans":
		want, err := strconv.Atoi(fields[1])
		if err != nil {
			return err
		}
		got := map[string]int{"mss": h.c.MSS(), "sendq": h.c.SendQ(), "recvq": h.c.RecvQ(), "retrans": h.c.TotalRetransmits()}[fields[0]]
		if got != want {
			return fmt.Errorf("%s %d, want %d", fields[0], got, want)
		}
	case "count":
		want, err := strconv.Atoi(fields[2])
		if err != nil {
			return err
		}
		h.takeCounts()
		p, ok := countFields(&h.counts)[fields[1]]
		if !ok {
			return fmt.Errorf("no count %q", fields[1])
		}
		if int(*p) != want {
			return fmt.Errorf("count %s %d, want %d", fields[1], *p, want)
		}
	case "states":
		if got := strings.Join(h.states, ","); got != fields[1] {
			return fmt.Errorf("states %s, want %s", got, fields[1])
		}
	default:
		// Calls separated by ";" happen at one instant, before we poll.
		for _, c := range strings.Split(strings.Join(fields, " "), ";") {
			if err := h.call(strings.Fields(c)); err != nil {
				return err
			}
		}
		h.drain()
	}
	return nil
}

// advance moves time to target, firing each timer at its own instant.
func (h *scripted) advance(target clock.Instant) {
	for h.c != nil {
		d := h.c.Deadline()
		if d > target {
			break
		}
		h.now = max(h.now, d)
		h.c.HandleTimeout(h.now)
		h.drain()
	}
	h.now = target
}

// takeCounts adds the connection's new events to h.counts.
func (h *scripted) takeCounts() {
	if h.c == nil {
		return
	}
	k := h.c.TakeCounts()
	add := countFields(&k)
	for name, p := range countFields(&h.counts) {
		*p += *add[name]
	}
}

// countFields maps the field names of Counts to the fields of k.
func countFields(k *Counts) map[string]*uint32 {
	return map[string]*uint32{
		"RetransSegs": &k.RetransSegs, "AttemptFails": &k.AttemptFails, "InErrs": &k.InErrs,
		"ChallengeACK": &k.ChallengeACK, "AbortOnData": &k.AbortOnData, "AbortOnTimeout": &k.AbortOnTimeout,
		"PAWSEstab": &k.PAWSEstab, "SACKRecovery": &k.SACKRecovery, "RenoRecovery": &k.RenoRecovery,
		"DSACKRecv": &k.DSACKRecv, "DSACKOldSent": &k.DSACKOldSent, "DSACKOfoSent": &k.DSACKOfoSent,
		"Timeouts": &k.Timeouts, "LossProbes": &k.LossProbes, "LossProbeRecovery": &k.LossProbeRecovery,
		"KeepAlive": &k.KeepAlive, "AbortOnLinger": &k.AbortOnLinger,
		"LostRetransmit": &k.LostRetransmit, "SACKRecoveryFail": &k.SACKRecoveryFail,
	}
}

func (h *scripted) drain() {
	if h.c == nil {
		return
	}
	defer h.takeCounts()
	buf := make([]byte, 65536)
	for range 1000 {
		var s Segment
		if !h.c.Poll(h.now, &s, buf) {
			return
		}
		s.Payload = append([]byte(nil), s.Payload...)
		h.out = append(h.out, timedSeg{h.now, s})
	}
	h.t.Fatal("Poll never stopped")
}

func (h *scripted) call(f []string) error {
	var n int
	var err error
	result := ""
	if i := indexOf(f, "="); i >= 0 {
		result = strings.Join(f[i+1:], " ")
		f = f[:i]
	}
	switch f[0] {
	case "connect":
		h.c = NewActive(&h.cfg, h, h.now, h.iss, 0)
	case "close":
		h.c.Close(h.now)
	case "bufs": // bufs RCV SND: SO_RCVBUF and SO_SNDBUF, as sk_rcvbuf and sk_sndbuf (0: left alone)
		r, e1 := strconv.Atoi(f[1])
		sn, e2 := strconv.Atoi(f[2])
		if e := errors.Join(e1, e2); e != nil {
			return fmt.Errorf("bad bufs: %w", e)
		}
		h.c.SetBuffers(r, sn)
	case "shutdown_wr":
		err = h.c.CloseWrite(h.now)
	case "shutdown_rd":
		h.c.CloseRead()
	case "abort":
		h.c.Abort(h.now)
	case "keepalive": // keepalive on|off [IDLE INTVL CNT]: SO_KEEPALIVE, TCP_KEEPIDLE, ...
		if len(f) == 5 {
			idle, e1 := time.ParseDuration(f[2])
			intvl, e2 := time.ParseDuration(f[3])
			cnt, e3 := strconv.Atoi(f[4])
			if e := errors.Join(e1, e2, e3); e != nil {
				return fmt.Errorf("bad keepalive settings: %w", e)
			}
			err = h.c.SetKeepAliveParams(h.now, KeepAliveParams{Idle: idle, Interval: intvl, Count: cnt})
		}
		h.c.SetKeepAlive(h.now, f[1] == "on")
	case "usertimeout", "linger2": // TCP_USER_TIMEOUT D, TCP_LINGER2 D
		d, perr := time.ParseDuration(f[1])
		if perr != nil {
			return fmt.Errorf("bad %s: %w", f[0], perr)
		}
		if f[0] == "linger2" {
			h.c.SetLinger2(h.now, d)
		} else {
			err = h.c.SetUserTimeout(h.now, d)
		}
	case "write":
		k, _ := strconv.Atoi(f[1])
		p := make([]byte, k)
		for i := range p {
			p[i] = ourByte(uint32(1 + h.wrote + i))
		}
		n, err = h.c.Write(h.now, p)
		h.wrote += n
	case "read":
		k, _ := strconv.Atoi(f[1])
		p := make([]byte, k)
		n, err = h.c.Read(h.now, p)
		if rest, ok := strings.CutPrefix(result, "data "); ok {
			var a, b uint32
			if _, serr := fmt.Sscanf(rest, "%d:%d", &a, &b); serr != nil {
				return fmt.Errorf("bad data range %q", rest)
			}
			if err != nil {
				return fmt.Errorf("read returned %s, want data %s", errName(err), rest)
			}
			if n != int(b-a) {
				return fmt.Errorf("read returned %d bytes, want %d (data %s)", n, b-a, rest)
			}
			for i := range n {
				if want := peerByte(a + uint32(i)); p[i] != want {
					return fmt.Errorf("read byte %d (peer seq %d) is %#x, want %#x", i, a+uint32(i), p[i], want)
				}
			}
			return nil
		}
	default:
		return fmt.Errorf("unknown command %q", f[0])
	}
	if result != "" {
		got := strconv.Itoa(n)
		if err != nil {
			got = errName(err)
		}
		if got != result {
			return fmt.Errorf("%s returned %s, want %s", f[0], got, result)
		}
	} else if err != nil {
		return fmt.Errorf("%s: %v", f[0], err)
	}
	return nil
}

func errName(err error) string {
	switch {
	case errors.Is(err, io.EOF):
		return "EOF"
	case errors.Is(err, syscall.ECONNRESET):
		return "ECONNRESET"
	case errors.Is(err, syscall.EPIPE):
		return "EPIPE"
	case errors.Is(err, syscall.EAGAIN):
		return "EAGAIN"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "ECONNREFUSED"
	case errors.Is(err, syscall.ETIMEDOUT):
		return "ETIMEDOUT"
	case errors.Is(err, syscall.ENOTCONN):
		return "ENOTCONN"
	}
	return err.Error()
}

func indexOf(f []string, s string) int {
	for i, x := range f {
		if x == s {
			return i
		}
	}
	return -1
}

func parseDur(s string) (time.Duration, error) {
	if s == "0" {
		return 0, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("bad time %q", s)
	}
	return time.Duration(v * float64(time.Second)), nil
}

// parseSeg reads "FLAGS start:end(len) [ack N] [win N] [<opts>]" with
// sequence numbers relative to seqBase and acks relative to ackBase. It
// returns the segment and the line as written, which says what to match.
func parseSeg(f []string, seqBase, ackBase seq.Value) (Segment, notation.Segment, error) {
	n, err := notation.Parse(strings.Join(f, " "))
	if err != nil {
		return Segment{}, n, err
	}
	s := Segment{
		Flags:   n.Flags,
		Seq:     seqBase + seq.Value(n.Seq),
		Ack:     ackBase + seq.Value(n.Ack),
		Wnd:     n.Win,
		Payload: make([]byte, n.Len),
		Opts:    notation.ToWire(n.Opts, uint32(ackBase)),
	}
	return s, n, nil
}

// matchSeg compares the fields the script line names: flags, range and
// ack always; win and options only when written.
func matchSeg(got, want *Segment, line *notation.Segment) error {
	switch {
	case got.Flags != want.Flags:
		return fmt.Errorf("flags differ")
	case got.Seq != want.Seq || len(got.Payload) != len(want.Payload):
		return fmt.Errorf("range differs")
	case got.Flags&wire.ACK != 0 && got.Ack != want.Ack:
		return fmt.Errorf("ack differs")
	}
	if line.HasWin && got.Wnd != want.Wnd {
		return fmt.Errorf("win %d, want %d", got.Wnd, want.Wnd)
	}
	if line.Opts != nil {
		g, w := got.Opts, want.Opts
		for _, o := range line.Opts {
			if o.Kind == notation.OptTS && o.ValAny {
				g.TSVal, w.TSVal = 0, 0
			}
			if o.Kind == notation.OptTS && o.EcrAny {
				g.TSEcr, w.TSEcr = 0, 0
			}
		}
		if g != w {
			return fmt.Errorf("options differ")
		}
	}
	return nil
}
