//go:build linux

package netns

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// SSRow is one TCP socket as "ss -tan -o" lists it.
type SSRow struct {
	// State is ss's name for the state: LISTEN, SYN-SENT, SYN-RECV,
	// ESTAB, FIN-WAIT-1, FIN-WAIT-2, CLOSE-WAIT, CLOSING, LAST-ACK,
	// TIME-WAIT, UNCONN.
	State string
	// RecvQ and SendQ are the queues ss shows: for a listener, the
	// accept queue's length and its limit (the backlog); otherwise the
	// bytes not yet read by the application and the bytes not yet
	// acknowledged by the peer.
	RecvQ, SendQ int
	// Local and Peer are the socket's addresses. ss's "*" (any address,
	// which it prints for a dual-stack IPv6 socket) is [::], and a "*"
	// port is 0; a listener's Peer is therefore [::]:0 or 0.0.0.0:0.
	Local, Peer netip.AddrPort
	// Dev is the device the socket is bound to (SO_BINDTODEVICE), which
	// ss prints after a '%' in the local address; empty if none.
	Dev string
	// Timer is what ss -o shows inside "timer:(...)": the timer's name,
	// the time left and the retransmission count, such as
	// "timewait,59sec,0" or "on,200ms,0"; empty when no timer runs.
	Timer string
}

// String formats the row as one line of ss -tan -o would.
func (r SSRow) String() string {
	local := r.Local.String()
	if r.Dev != "" {
		local = fmt.Sprintf("%s%%%s:%d", addrString(r.Local.Addr()), r.Dev, r.Local.Port())
	}
	s := fmt.Sprintf("%-10s %-6d %-6d %s %s", r.State, r.RecvQ, r.SendQ, local, r.Peer)
	if r.Timer != "" {
		s += " timer:(" + r.Timer + ")"
	}
	return s
}

// addrString writes a in brackets when it is IPv6, as ss does.
func addrString(a netip.Addr) string {
	if a.Is6() {
		return "[" + a.String() + "]"
	}
	return a.String()
}

// SS lists the TCP sockets of the namespace, running "ss -Htan -o" in
// it (so the ss command must be installed), in ss's order.
func (ns *NS) SS(ctx context.Context) ([]SSRow, error) {
	out, err := ns.Exec(ctx, "ss", "-Htan", "-o")
	if err != nil {
		return nil, err
	}
	return ParseSS(string(out))
}

// ParseSS parses the output of "ss -Htan -o" (or "ss -tan -o": a header
// line is skipped). Lines that do not parse are an error.
func ParseSS(out string) ([]SSRow, error) {
	var rows []SSRow
	for i, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || i == 0 && f[0] == "State" {
			continue
		}
		r, err := parseSSLine(f)
		if err != nil {
			return rows, fmt.Errorf("netns: ss line %d %q: %w", i+1, line, err)
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// parseSSLine parses one line's fields.
func parseSSLine(f []string) (SSRow, error) {
	var r SSRow
	if len(f) < 5 {
		return r, fmt.Errorf("%d fields, want at least 5", len(f))
	}
	r.State = f[0]
	var err error
	if r.RecvQ, err = strconv.Atoi(f[1]); err != nil {
		return r, fmt.Errorf("Recv-Q: %w", err)
	}
	if r.SendQ, err = strconv.Atoi(f[2]); err != nil {
		return r, fmt.Errorf("Send-Q: %w", err)
	}
	if r.Local, r.Dev, err = parseSSAddr(f[3]); err != nil {
		return r, fmt.Errorf("local address: %w", err)
	}
	if r.Peer, _, err = parseSSAddr(f[4]); err != nil {
		return r, fmt.Errorf("peer address: %w", err)
	}
	for _, x := range f[5:] {
		if t, ok := strings.CutPrefix(x, "timer:("); ok {
			r.Timer = strings.TrimSuffix(t, ")")
		}
	}
	return r, nil
}

// parseSSAddr parses ss's "addr:port", "[addr]:port", "addr%dev:port",
// "[addr]%dev:port" or "*:*".
func parseSSAddr(s string) (netip.AddrPort, string, error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return netip.AddrPort{}, "", fmt.Errorf("%q has no port", s)
	}
	host, port := s[:i], s[i+1:]
	var p uint64
	if port != "*" {
		var err error
		if p, err = strconv.ParseUint(port, 10, 16); err != nil {
			return netip.AddrPort{}, "", fmt.Errorf("port of %q: %w", s, err)
		}
	}
	dev := ""
	if j := strings.LastIndexByte(host, '%'); j >= 0 && j > strings.LastIndexByte(host, ']') {
		host, dev = host[:j], host[j+1:]
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "*" {
		return netip.AddrPortFrom(netip.IPv6Unspecified(), uint16(p)), dev, nil
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.AddrPort{}, "", err
	}
	return netip.AddrPortFrom(a, uint16(p)), dev, nil
}
