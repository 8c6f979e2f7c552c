package conform

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/tcpwave/tcpwave/stack"
	"github.com/tcpwave/tcpwave/tcp"
)

// Shell runs a back-quoted line on tcpwave. It understands two commands,
// joined by "&&" if need be:
//
//   - sysctl [-q] [-w] net.ipv4.tcp_NAME=V ...: sets the stack option
//     that mirrors the sysctl, before the stack starts (and
//     net.ipv4.ip_local_port_range="LOW HIGH");
//   - [!] ss -tan [-H] [-o] [state S]... [sport|dport = :PORT]...
//     [| PIPELINE]: prints tcpwave's
//     connection table as ss would and pipes it through PIPELINE in sh
//     (text tools such as grep and wc; nothing touches a network).
//
// Anything else is unsupported and fails the script.
func (b *twBackend) Shell(cmd string) error {
	for _, part := range strings.Split(cmd, "&&") {
		part = strings.TrimSpace(part)
		f := strings.Fields(part)
		switch {
		case len(f) == 0:
			return fmt.Errorf("tcpwave backend: empty command in `%s`", cmd)
		case f[0] == "sysctl":
			if err := b.sysctl(f[1:]); err != nil {
				return err
			}
		case f[0] == "ss" || f[0] == "!" && len(f) > 1 && f[1] == "ss":
			if err := b.ss(part); err != nil {
				return err
			}
		default:
			return fmt.Errorf("tcpwave backend: unsupported shell command %q (only sysctl net.ipv4.tcp_* and ss -tan are emulated)", part)
		}
	}
	return nil
}

// sysctls maps each sysctl tcpwave has an option for to a setter.
var sysctls = map[string]func(o *stack.Options, v int) error{
	"net.ipv4.tcp_fin_timeout": func(o *stack.Options, v int) error {
		o.TCP.FinTimeout = time.Duration(v) * time.Second
		return nil
	},
	"net.ipv4.tcp_orphan_retries":  func(o *stack.Options, v int) error { o.TCP.OrphanRetries = v; return nil },
	"net.ipv4.tcp_retries2":        func(o *stack.Options, v int) error { o.TCP.Retries2 = v; return nil },
	"net.ipv4.tcp_syn_retries":     func(o *stack.Options, v int) error { o.TCP.SynRetries = v; return nil },
	"net.ipv4.tcp_synack_retries":  func(o *stack.Options, v int) error { o.TCP.SynAckRetries = v; return nil },
	"net.ipv4.tcp_syncookies":      func(o *stack.Options, v int) error { o.SynCookies = v; return nil },
	"net.ipv4.tcp_max_tw_buckets":  func(o *stack.Options, v int) error { o.MaxTimeWait = v; return nil },
	"net.ipv4.tcp_max_syn_backlog": func(o *stack.Options, v int) error { o.MaxSynBacklog = v; return nil },
	"net.ipv4.tcp_timestamps": func(o *stack.Options, v int) error {
		o.TCP.Timestamps = v != 0
		return nil
	},
	"net.ipv4.tcp_sack": func(o *stack.Options, v int) error {
		o.TCP.SACK = v != 0
		return nil
	},
	"net.ipv4.tcp_dsack": func(o *stack.Options, v int) error {
		o.TCP.DSACK = v != 0
		return nil
	},
	"net.ipv4.tcp_invalid_ratelimit": func(o *stack.Options, v int) error {
		o.TCP.ChallengeAck = time.Duration(v) * time.Millisecond
		return nil
	},
	"net.ipv4.tcp_tw_reuse": func(o *stack.Options, v int) error { o.TWReuse = v; return nil },
	"net.ipv4.tcp_tw_reuse_delay": func(o *stack.Options, v int) error {
		o.TWReuseDelay = time.Duration(v) * time.Millisecond
		return nil
	},
	"net.core.somaxconn": func(o *stack.Options, v int) error { o.SomaxConn = v; return nil },
}

// portRange is the sysctl of two values tcpwave emulates.
const portRange = "net.ipv4.ip_local_port_range"

func (b *twBackend) sysctl(args []string) error {
	n := 0
	for j := 0; j < len(args); j++ {
		a := args[j]
		if a == "-q" || a == "-w" || a == "-qw" {
			continue
		}
		k, v, found := strings.Cut(a, "=")
		if !found {
			return fmt.Errorf("tcpwave backend: sysctl %q: only sysctl NAME=VALUE is emulated", a)
		}
		// NAME="A B C", as sh passes it to sysctl in one word; a value
		// split into words is joined again.
		if strings.HasPrefix(v, `"`) {
			for !strings.HasSuffix(v[1:], `"`) && j+1 < len(args) {
				j++
				v += " " + args[j]
			}
			if !strings.HasSuffix(v[1:], `"`) {
				return fmt.Errorf("tcpwave backend: sysctl %s: unterminated quote", a)
			}
			v = strings.Trim(v, `"`)
		}
		if err := b.setSysctl(k, v); err != nil {
			return err
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("tcpwave backend: sysctl without NAME=VALUE")
	}
	return nil
}

// setSysctl sets one sysctl: on the options the stack will start with,
// or, once it runs, on the running stack (stack.SetOptions), as a sysctl
// written in the middle of a script takes effect on Linux at that point.
func (b *twBackend) setSysctl(k, v string) error {
	o := b.opts
	if b.st != nil {
		o = *b.st.Options()
	}
	var err error
	memVal := 0 // tcp_rmem[1] or tcp_wmem[1]
	switch {
	case k == portRange:
		if b.st != nil {
			return fmt.Errorf("tcpwave backend: sysctl %s after the first packet or call: tcpwave cannot change its port range while it runs; set it at the start of the script", portRange)
		}
		err = setPortRange(&o, v)
	case multiSysctls[k] != nil:
		var x [3]int
		x, err = setTriple(&o, k, v, multiSysctls[k])
		memVal = x[1]
	default:
		set, known := sysctls[k]
		if !known {
			return fmt.Errorf("tcpwave backend: sysctl %s: tcpwave has no option for it", k)
		}
		x, aerr := strconv.Atoi(v)
		if aerr != nil {
			return fmt.Errorf("tcpwave backend: sysctl %s=%s: not a number", k, v)
		}
		err = set(&o, x)
	}
	if err != nil {
		return err
	}
	if err := o.Validate(); err != nil {
		return fmt.Errorf("tcpwave backend: sysctl %s=%s: %w", k, v, err)
	}
	if b.st != nil {
		if err := b.st.SetOptions(o); err != nil {
			return fmt.Errorf("tcpwave backend: sysctl %s=%s: %w", k, v, err)
		}
	}
	b.opts = o
	if i, ok := memIndex[k]; ok {
		b.mem[i] = memVal
	}
	return nil
}

// setPortRange sets ip_local_port_range from "LOW HIGH".
func setPortRange(o *stack.Options, v string) error {
	f := strings.Fields(v)
	if len(f) != 2 {
		return fmt.Errorf("tcpwave backend: sysctl %s=%q: want \"LOW HIGH\"", portRange, v)
	}
	lo, err1 := strconv.ParseUint(f[0], 10, 16)
	hi, err2 := strconv.ParseUint(f[1], 10, 16)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("tcpwave backend: sysctl %s=%q: not two port numbers", portRange, v)
	}
	o.EphemeralLow, o.EphemeralHigh = uint16(lo), uint16(hi)
	return nil
}

// ssStates maps ss's state filter names to tcpwave states.
var ssStates = map[string][]tcp.State{
	"established": {tcp.Established}, "syn-sent": {tcp.SynSent}, "syn-recv": {tcp.SynRcvd},
	"fin-wait-1": {tcp.FinWait1}, "fin-wait-2": {tcp.FinWait2}, "time-wait": {tcp.TimeWait},
	"close-wait": {tcp.CloseWait}, "last-ack": {tcp.LastAck}, "listening": {tcp.Listen},
	"closing": {tcp.Closing},
	"all": {tcp.Established, tcp.SynSent, tcp.SynRcvd, tcp.FinWait1, tcp.FinWait2, tcp.TimeWait,
		tcp.CloseWait, tcp.LastAck, tcp.Listen, tcp.Closing},
	"connected": {tcp.Established, tcp.SynRcvd, tcp.FinWait1, tcp.FinWait2, tcp.TimeWait,
		tcp.CloseWait, tcp.LastAck, tcp.Closing},
	"synchronized": {tcp.Established, tcp.FinWait1, tcp.FinWait2, tcp.TimeWait,
		tcp.CloseWait, tcp.LastAck, tcp.Closing},
}

// ss prints tcpwave's connection table as `ss -tan [state S]` does and
// runs the rest of the pipeline on it.
func (b *twBackend) ss(cmd string) error {
	negate := false
	if strings.HasPrefix(cmd, "!") {
		negate, cmd = true, strings.TrimSpace(cmd[1:])
	}
	ssPart, rest, piped := strings.Cut(cmd, "|")
	f := strings.Fields(ssPart)[1:]
	header, states, sawT, timers := true, map[tcp.State]bool{}, false, false
	nStates := 0
	var ports []ssPortFilter
	for i := 0; i < len(f); i++ {
		a := f[i]
		switch {
		case a == "sport" || a == "dport":
			pf, n, err := parseSSPort(f[i:])
			if err != nil {
				return err
			}
			ports = append(ports, pf)
			i += n - 1
		case a == "state" && i+1 < len(f):
			set, ok := ssStates[f[i+1]]
			if !ok {
				return fmt.Errorf("tcpwave backend: ss state %q is not emulated", f[i+1])
			}
			for _, s := range set {
				states[s] = true
			}
			nStates += len(set)
			i++
		case strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--"):
			for _, c := range a[1:] {
				switch c {
				case 't':
					sawT = true
				case 'o':
					timers = true
				case 'a', 'n':
				case 'H':
					header = false
				default:
					return fmt.Errorf("tcpwave backend: ss flag -%c is not emulated", c)
				}
			}
		default:
			return fmt.Errorf("tcpwave backend: ss argument %q is not emulated (filter with grep instead)", a)
		}
	}
	if !sawT {
		return fmt.Errorf("tcpwave backend: only ss -t (TCP) is emulated")
	}
	var out bytes.Buffer
	showState := nStates != 1
	if header {
		if showState {
			out.WriteString("State ")
		}
		out.WriteString("Recv-Q Send-Q Local Address:Port Peer Address:Port Process\n")
	}
	if b.st != nil {
		for _, row := range b.st.Connections(b.now) {
			if len(states) > 0 && !states[row.State] {
				continue
			}
			if row.State == tcp.Closed || !matchSSPorts(ports, row.Local.Port(), row.Peer.Port()) {
				continue
			}
			o := &b.script.Options
			peer := o.sockAddr(row.Peer).String()
			if row.State == tcp.Listen {
				peer = ssListenerPeer(o.sockAddr(row.Local).Addr())
			}
			if showState {
				out.WriteString(row.State.SSName() + " ")
			}
			fmt.Fprintf(&out, "%d %d %s %s", row.RecvQ, row.SendQ, o.sockAddr(row.Local), peer)
			if timers && row.Timer != "" {
				fmt.Fprintf(&out, " timer:(%s,%s,%d)", row.Timer, ssTimer(row.TimerLeft), row.Retransmit)
			}
			out.WriteString("\n")
		}
	}
	failed := false
	var detail string
	if piped {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c := exec.CommandContext(ctx, "sh", "-c", rest)
		c.Stdin = bytes.NewReader(out.Bytes())
		o, err := c.CombinedOutput()
		failed, detail = err != nil, strings.TrimSpace(string(o))
	}
	if failed != negate {
		return fmt.Errorf("shell command failed on tcpwave's connection table:\n%s\n%s", strings.TrimRight(out.String(), "\n"), detail)
	}
	return nil
}

// ssTimer formats a timer's remaining time as ss does (iproute2's
// print_ms_timer): "206ms", "1.500ms" for 1.5 s, "59sec", "1min".
func ssTimer(d time.Duration) string {
	ms := int(d / time.Millisecond)
	secs, minutes, msecs := ms/1000%60, ms/60000, ms%1000
	var b strings.Builder
	if minutes > 0 {
		msecs = 0
		fmt.Fprintf(&b, "%dmin", minutes)
		if minutes > 9 {
			secs = 0
		}
	}
	if secs > 0 {
		if secs > 9 {
			msecs = 0
		}
		sep := "sec"
		if msecs > 0 {
			sep = "."
		}
		fmt.Fprintf(&b, "%d%s", secs, sep)
	}
	if msecs > 0 {
		fmt.Fprintf(&b, "%03dms", msecs)
	}
	return b.String()
}
