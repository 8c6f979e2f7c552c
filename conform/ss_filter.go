package conform

import (
	"fmt"
	"strconv"
	"strings"
)

// ssPortFilter is one of ss's port conditions, "sport = :8080" or
// "dport = :48000": a family-agnostic way for a script to pick its
// connection out of the table (the address column reads 192.0.2.1:48000
// in IPv4, [2001:db8::1]:48000 in IPv6).
type ssPortFilter struct {
	dst  bool // dport: the peer's port; sport: the local one
	port uint16
}

// parseSSPort reads "sport|dport =|==|eq :PORT" at the start of f and
// says how many fields it took.
func parseSSPort(f []string) (ssPortFilter, int, error) {
	bad := fmt.Errorf("tcpwave backend: ss filter %q: only \"sport = :PORT\" and \"dport = :PORT\" are emulated", strings.Join(f[:min(3, len(f))], " "))
	if len(f) < 3 || (f[1] != "=" && f[1] != "==" && f[1] != "eq") || !strings.HasPrefix(f[2], ":") {
		return ssPortFilter{}, 0, bad
	}
	n, err := strconv.ParseUint(f[2][1:], 10, 16)
	if err != nil {
		return ssPortFilter{}, 0, bad
	}
	return ssPortFilter{dst: f[0] == "dport", port: uint16(n)}, 3, nil
}

// matchSSPorts says whether a row with these ports passes every filter
// (ss joins conditions with "and" when none is written).
func matchSSPorts(fs []ssPortFilter, local, peer uint16) bool {
	for _, pf := range fs {
		p := local
		if pf.dst {
			p = peer
		}
		if p != pf.port {
			return false
		}
	}
	return true
}
