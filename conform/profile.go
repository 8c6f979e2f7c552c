package conform

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/tcpwave/tcpwave/stack"
)

// multiSysctls are the sysctls of three values ("MIN DEFAULT MAX") the
// tcpwave backend emulates, each with what sets them.
var multiSysctls = map[string]func(o *stack.Options, v [3]int){
	// tcp_rmem: DEFAULT is the receive buffer a socket starts with
	// (Linux's sk_rcvbuf, memory: half of it is window until a segment is
	// measured, more once full-sized segments are; the ring holds it
	// all), MAX bounds auto-tuning and decides the window scale offered.
	// MIN matters only under memory pressure, which tcpwave does not
	// model.
	"net.ipv4.tcp_rmem": func(o *stack.Options, v [3]int) {
		o.TCP.RmemDefault = v[1]
		o.TCP.RcvBuf = max(o.TCP.RcvBuf, v[1])
		o.TCP.RcvBufMax = v[2]
	},
	// tcp_wmem: DEFAULT is the send buffer a socket starts with, MAX
	// bounds its growth; MIN, as above.
	"net.ipv4.tcp_wmem": func(o *stack.Options, v [3]int) {
		o.TCP.SndBuf, o.TCP.SndBufMax = v[1], v[2]
	},
}

// memIndex says which of twBackend.mem a three-value sysctl sets.
var memIndex = map[string]int{"net.ipv4.tcp_rmem": 0, "net.ipv4.tcp_wmem": 1}

// setTriple parses "MIN DEFAULT MAX", applies it and returns it.
func setTriple(o *stack.Options, k, v string, set func(*stack.Options, [3]int)) ([3]int, error) {
	f := strings.Fields(v)
	var x [3]int
	if len(f) != 3 {
		return x, fmt.Errorf("tcpwave backend: sysctl %s=%q: want \"MIN DEFAULT MAX\"", k, v)
	}
	for i, s := range f {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1<<30 {
			return x, fmt.Errorf("tcpwave backend: sysctl %s=%q: %q is not a size in bytes", k, v, s)
		}
		x[i] = n
	}
	if x[0] > x[1] || x[1] > x[2] {
		return x, fmt.Errorf("tcpwave backend: sysctl %s=%q: want MIN <= DEFAULT <= MAX", k, v)
	}
	set(o, x)
	return x, nil
}

// profileSysctl is one setting of packetdrill's default profile.
type profileSysctl struct {
	name, value string
	// tcpwave is set when the tcpwave backend has the setting; the
	// others describe what tcpwave does anyway or does not model.
	tcpwave bool
}

// packetdrillProfile is packetdrill's defaults.sh (the production-like
// settings its test suites start from), as a script's shell line
// `../common/defaults.sh` applies it. The kernel takes every line it
// has (a sysctl this kernel lacks is skipped); tcpwave takes those it
// has an option for. What the others set is tcpwave's fixed behaviour
// (cubic, no ECN, no Fast Open, FACK off) or is not modelled (F-RTO,
// tcp_reordering, slow start after idle, RACK's tcp_recovery and
// tcp_early_retrans=4, tcp_tso_win_divisor, pacing ratios,
// tcp_notsent_lowat): a script that depends on one of those may pass on
// the kernel only. The profile's `ip tcp_metrics flush` and its pfifo
// qdisc on tun0 are not needed: each run has a new namespace, whose
// device paces nothing.
var packetdrillProfile = []profileSysctl{
	{"net.ipv4.tcp_rmem", "4096 540000 15728640", true},
	{"net.ipv4.tcp_wmem", "4096 262144 4194304", true},
	{"net.ipv4.tcp_timestamps", "1", true},
	{"net.ipv4.tcp_syn_retries", "5", true},
	{"net.ipv4.tcp_synack_retries", "5", true},
	{"net.ipv4.tcp_frto", "2", false},
	{"net.ipv4.tcp_sack", "1", true},
	{"net.ipv4.tcp_dsack", "1", true},
	{"net.ipv4.tcp_fack", "0", false},
	{"net.ipv4.tcp_reordering", "3", false},
	{"net.ipv4.tcp_congestion_control", "cubic", false},
	{"net.ipv4.tcp_slow_start_after_idle", "0", false},
	{"net.ipv4.tcp_early_retrans", "4", false},
	{"net.ipv4.tcp_recovery", "1", false},
	{"net.ipv4.tcp_tso_win_divisor", "3", false},
	{"net.ipv4.tcp_ecn", "0", false},
	{"net.ipv4.tcp_ecn_option", "1", false},
	{"net.ipv4.tcp_pacing_ss_ratio", "200", false},
	{"net.ipv4.tcp_pacing_ca_ratio", "120", false},
	{"net.ipv4.tcp_notsent_lowat", "4294967295", false},
	{"net.ipv4.tcp_fastopen", "0x70403", false},
	{"net.ipv4.tcp_syncookies", "1", true},
}

// isDefaultsScript reports whether a shell line runs packetdrill's
// defaults.sh (`../common/defaults.sh`, any path to a file of that name,
// no arguments).
func isDefaultsScript(cmd string) bool {
	f := strings.Fields(cmd)
	return len(f) == 1 && (f[0] == "defaults.sh" || strings.HasSuffix(f[0], "/defaults.sh"))
}

// profileCommand is the shell command that applies packetdrill's profile
// on a backend: every setting on the kernel (one it does not have is
// skipped), the ones tcpwave has on tcpwave.
func profileCommand(backend string) string {
	var must, may []string
	for _, p := range packetdrillProfile {
		kv := fmt.Sprintf("%s=%q", p.name, p.value)
		switch {
		case p.tcpwave:
			must = append(must, kv)
		case backend != "tcpwave":
			may = append(may, "{ sysctl -q "+kv+" 2>/dev/null || true; }")
		}
	}
	cmd := "sysctl -q " + strings.Join(must, " ")
	if len(may) > 0 {
		cmd += " && " + strings.Join(may, " && ")
	}
	return cmd
}
