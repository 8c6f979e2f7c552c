package trace

import (
	"bufio"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/tcpwave/tcpwave/stack"
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
	for _, c := range all {
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
	}
	return bw.Flush()
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
