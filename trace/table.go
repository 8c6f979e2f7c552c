package trace

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/tcpwave/tcpwave/stack"
	"github.com/tcpwave/tcpwave/tcp"
)

// WriteTable writes rows as `ss -tan -o` lays them out:
//
//	State      Recv-Q Send-Q  Local Address:Port   Peer Address:Port   Process
//	LISTEN     0      128           0.0.0.0:80          0.0.0.0:*
//	ESTAB      0      0            10.0.0.1:80         10.0.0.2:40000
//	TIME-WAIT  0      0            10.0.0.1:80         10.0.0.2:40001  timer:(timewait,59sec,0)
//
// With short addresses and ports the header is exactly "State      Recv-Q
// Send-Q  Local Address:Port   Peer Address:Port  Process". State is
// State.SSName(); the queues are left-aligned numbers; trailing blanks are
// trimmed. Addresses are split at the port colon, the address right-aligned
// and the port left-aligned, so the colons line up under the header's; a
// column widens when a value needs it. IPv6 addresses are bracketed
// ("[::1]:22"). A zero Peer (a listener) is printed "0.0.0.0:*" or "[::]:*"
// after the local address's family, and "*:*" when Local is zero too. A row
// with a Timer gets ss's "timer:(name,left,retransmits)" in the Process
// column; the name is printed as given ("on", "keepalive", "timewait",
// "persist", ...) and the time left as SSTimer formats it.
func WriteTable(w io.Writer, rows []stack.ConnInfo) error {
	return writeTable(w, rows, false)
}

// WriteTableInfo is WriteTable with `ss -tani`'s second line under each
// connection past the handshake: its TCP state (FormatInfo), indented by
// a tab.
func WriteTableInfo(w io.Writer, rows []stack.ConnInfo) error {
	return writeTable(w, rows, true)
}

// FormatInfo writes a connection's tcp.Info as ss -i does, in ss's words
// and units: "cubic wscale:7,7 rto:204 rtt:0.5/0.25 mss:1448 rcvmss:536
// cwnd:10 bytes_acked:1 bytes_received:1 snd_wnd:64256 rcv_wnd:64256";
// ssthresh when set, "retrans:0/N" after retransmissions, and
// "in_recovery" during one. rto and rtt are in milliseconds, cwnd and
// ssthresh in segments.
func FormatInfo(i tcp.Info) string {
	var b strings.Builder
	b.WriteString(i.CongestionControl)
	if i.SndWScale >= 0 {
		fmt.Fprintf(&b, " wscale:%d,%d", i.SndWScale, i.RcvWScale)
	}
	ms := func(ns int64) string { return strconv.FormatFloat(float64(ns)/1e6, 'f', -1, 64) }
	fmt.Fprintf(&b, " rto:%s rtt:%s/%s mss:%d rcvmss:%d", ms(i.RTO), ms(i.SRTT), ms(i.RTTVar), i.MSS, i.RcvMSS)
	if i.MSS > 0 {
		fmt.Fprintf(&b, " cwnd:%d", (i.Cwnd+i.MSS-1)/i.MSS)
		if i.Ssthresh < 1<<30 {
			fmt.Fprintf(&b, " ssthresh:%d", i.Ssthresh/i.MSS)
		}
	}
	fmt.Fprintf(&b, " bytes_acked:%d bytes_received:%d", i.BytesAcked, i.BytesReceived)
	if i.Retransmits > 0 {
		fmt.Fprintf(&b, " retrans:0/%d", i.Retransmits)
	}
	if i.InRecovery {
		b.WriteString(" in_recovery")
	}
	fmt.Fprintf(&b, " snd_wnd:%d rcv_wnd:%d", i.SndWnd, i.RcvWnd)
	return b.String()
}

// writeTable is WriteTable, with info lines when info.
func writeTable(w io.Writer, rows []stack.ConnInfo, info bool) error {
	type cells struct {
		state, recvq, sendq, laddr, lport, paddr, pport, proc string
	}
	hdr := cells{"State", "Recv-Q", "Send-Q", "Local Address", "Port", "Peer Address", "Port", "Process"}
	all := []cells{hdr}
	for _, r := range rows {
		c := cells{
			state: r.State.SSName(),
			recvq: strconv.Itoa(r.RecvQ),
			sendq: strconv.Itoa(r.SendQ),
		}
		c.laddr, c.lport = splitAddrPort(r.Local, netip.Addr{})
		c.paddr, c.pport = splitAddrPort(r.Peer, r.Local.Addr())
		if r.Timer != "" {
			c.proc = "timer:(" + r.Timer + "," + SSTimer(r.TimerLeft) + "," + strconv.Itoa(r.Retransmit) + ")"
		}
		all = append(all, c)
	}
	// Column widths: ss's minimums, grown to fit.
	wState, wRecv, wSend := len("FIN-WAIT-1"), len("Recv-Q"), len("Send-Q")
	var wLA, wLP, wPA, wPP int
	for _, c := range all {
		wState = max(wState, width(c.state))
		wRecv = max(wRecv, width(c.recvq))
		wSend = max(wSend, width(c.sendq))
		wLA = max(wLA, width(c.laddr))
		wLP = max(wLP, width(c.lport))
		wPA = max(wPA, width(c.paddr))
		wPP = max(wPP, width(c.pport))
	}
	bw := bufio.NewWriter(w)
	for i, c := range all {
		var b strings.Builder
		b.WriteString(padRight(c.state, wState))
		b.WriteString(" ")
		b.WriteString(padRight(c.recvq, wRecv))
		b.WriteString(" ")
		b.WriteString(padRight(c.sendq, wSend))
		b.WriteString("  ")
		b.WriteString(padLeft(c.laddr, wLA))
		b.WriteString(":")
		b.WriteString(padRight(c.lport, wLP))
		b.WriteString("   ")
		b.WriteString(padLeft(c.paddr, wPA))
		b.WriteString(":")
		b.WriteString(padRight(c.pport, wPP))
		b.WriteString("  ")
		b.WriteString(c.proc)
		bw.WriteString(strings.TrimRight(b.String(), " "))
		bw.WriteByte('\n')
		if info && i > 0 && hasInfo(rows[i-1].State) {
			bw.WriteString("\t" + FormatInfo(rows[i-1].TCP) + "\n")
		}
	}
	return bw.Flush()
}

// hasInfo reports whether ss -i prints a connection's TCP state: past
// the handshake and not in TIME_WAIT (a record, not a socket).
func hasInfo(s tcp.State) bool {
	switch s {
	case tcp.Closed, tcp.Listen, tcp.SynSent, tcp.SynRcvd, tcp.TimeWait:
		return false
	}
	return true
}

// splitAddrPort returns the address and port cells of ap. A zero ap is a
// wildcard: the unspecified address of family's IP version with port "*",
// or "*" and "*" if family is zero too.
func splitAddrPort(ap netip.AddrPort, family netip.Addr) (addr, port string) {
	if !ap.IsValid() {
		switch {
		case family.Is4():
			return "0.0.0.0", "*"
		case family.Is6():
			return "[::]", "*"
		}
		return "*", "*"
	}
	a := ap.Addr()
	addr = a.String()
	if a.Is6() {
		addr = "[" + addr + "]"
	}
	return addr, strconv.Itoa(int(ap.Port()))
}

// SSTimer formats the time left on a timer as ss prints it (iproute2's
// print_ms_timer). The duration is first rounded up to whole milliseconds,
// as the kernel reports it; negative means 0. Then:
//
//   - minutes, if any, as "Nmin"; with minutes, milliseconds are dropped,
//     and from 10 minutes on seconds are dropped too;
//   - seconds, if any, as "Nsec" — but when milliseconds follow (only below
//     10 s) as "N." and the milliseconds as three digits plus "ms";
//   - milliseconds alone as "Nms" with three digits.
//
// So 59 s is "59sec", 200 ms is "200ms" (and 5 ms "005ms"), 119 s is
// "1min59sec", 12 min 30 s is "12min", and 1.5 s is "1.500ms" — ss's own
// quirk: the dot separates seconds from milliseconds, it is not a decimal
// point of a millisecond count. Zero is the empty string, as in ss
// ("timer:(on,,0)").
func SSTimer(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	ms := (d + time.Millisecond - 1) / time.Millisecond
	secs := int64(ms / 1000)
	msecs := int64(ms % 1000)
	minutes := secs / 60
	secs %= 60
	var b strings.Builder
	if minutes != 0 {
		msecs = 0
		b.WriteString(strconv.FormatInt(minutes, 10) + "min")
		if minutes > 9 {
			secs = 0
		}
	}
	if secs != 0 {
		if secs > 9 {
			msecs = 0
		}
		b.WriteString(strconv.FormatInt(secs, 10))
		if msecs != 0 {
			b.WriteString(".")
		} else {
			b.WriteString("sec")
		}
	}
	if msecs != 0 {
		b.WriteString(pad3(msecs) + "ms")
	}
	return b.String()
}

func padRight(s string, n int) string {
	if k := n - width(s); k > 0 {
		return s + strings.Repeat(" ", k)
	}
	return s
}
