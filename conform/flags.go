package conform

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// packetdrill's command-line flags that a script's header may carry,
// beyond the addresses and ports (parse.go). Each is accepted with the
// meaning it has here, or refused with the reason:
//
//	--ip_version=V         the family: ipv4, ipv6 or ipv4-mapped-ipv6
//	                       (ipv6.go)
//	--mtu=N                the link MTU (packetdrill's run_all.py runs
//	                       IPv6 with --mtu=1520), 1280 to 65535
//	--tcp_ts_tick_usecs=N  compare the host's TS val, N µs a tick (tsClock)
//	--tcp_ts_ecr_scaled    a script ecr the host never sent as TS val is
//	                       shifted from the first one (tsClock.ecr)
//	--mss=N                the segment size of an inbound payload larger
//	                       than the MTU allows (a super-packet: GSO)
//	--netmask_ip=M         the prefix of the kernel's local address
//	                       (/1 to /32: 0.0.0.0 is refused, not taken
//	                       for the default /24)
//	--gateway_ip=A         accepted; no effect (the peer's address is
//	                       routed into the device directly)
//	--init_scripts=...     refused: write the commands as shell lines
//	--strict_segments, --non_fatal, --speed, --wire_*, --so_*, --dry_run,
//	--is_anyip, --send_omit_free, --define, --code_*: refused (what they
//	change does not exist in this runner)
func (p *lineParser) flagOption(o *Options, line string) (bool, error) {
	name, val, hasVal := strings.Cut(strings.TrimPrefix(line, "--"), "=")
	switch name {
	case "tcp_ts_ecr_scaled":
		if hasVal {
			return true, p.errf("option --tcp_ts_ecr_scaled takes no value")
		}
		o.TSEcrScaled = true
	case "tcp_ts_tick_usecs":
		n, err := strconv.ParseUint(val, 10, 32)
		if err != nil || n > uint64(MaxTSTick/time.Microsecond) {
			return true, p.errf("option --tcp_ts_tick_usecs: %q is not a number of microseconds up to 1 s", val)
		}
		o.TSTick = time.Duration(n) * time.Microsecond
	case "mss":
		n, err := strconv.ParseUint(val, 10, 16)
		if err != nil || n < 8 {
			return true, p.errf("option --mss: %q is not a segment size (8 to 65535 bytes)", val)
		}
		o.MSS = int(n)
	case "ip_version":
		v, err := ParseIPVersion(val)
		if err != nil {
			return true, p.errf("option %v", err)
		}
		o.IPVersion = v
	case "mtu":
		n, err := strconv.Atoi(val)
		if err != nil || n < minMTU || n > 65535 {
			return true, p.errf("option --mtu=%s: want a number of bytes from %d to 65535", val, minMTU)
		}
		o.MTU = n
	case "netmask_ip":
		a, err := netip.ParseAddr(val)
		bits := maskBits(a)
		if err != nil || !a.Is4() || bits < 1 {
			return true, p.errf("option --netmask_ip: %q is not an IPv4 netmask", val)
		}
		o.PrefixLen = bits
	case "gateway_ip":
		if _, err := netip.ParseAddr(val); err != nil {
			return true, p.errf("option --gateway_ip: %q is not an address", val)
		}
	case "init_scripts":
		return true, p.errf("option --init_scripts is not supported: write the commands as `shell lines` at the start of the script (`../common/defaults.sh` applies packetdrill's default profile)")
	case "strict_segments", "non_fatal", "speed", "wire_client", "wire_server", "wire_server_ip",
		"wire_server_port", "wire_client_dev", "wire_server_dev", "so_filename", "so_flags",
		"dry_run", "is_anyip", "send_omit_free", "define", "code_command", "code_format", "code_sockopt", "verbose":
		return true, p.errf("option --%s is not supported by this runner (no such setting: one host, one TUN device, no wire mode, no shared-object stack, no code blocks)", name)
	default:
		return false, nil
	}
	return true, nil
}

// MaxTSTick is the longest TS tick a script's --tcp_ts_tick_usecs (or
// the command line's) may give: 1 s.
const MaxTSTick = time.Second

// maskBits is the prefix length of a contiguous netmask, -1 if it is not
// one.
func maskBits(a netip.Addr) int {
	if !a.Is4() {
		return -1
	}
	b := a.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	n := 0
	for v&0x80000000 != 0 {
		v <<= 1
		n++
	}
	if v != 0 {
		return -1
	}
	return n
}
