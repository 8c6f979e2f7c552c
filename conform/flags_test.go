package conform

import (
	"strings"
	"testing"
	"time"
)

// TestFlagOptions checks packetdrill's header flags: the ones accepted set
// their option, the others are refused with a reason.
func TestFlagOptions(t *testing.T) {
	const body = "\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
	tests := []struct {
		line  string
		check func(o *Options) bool
		err   string // a part of the error, "" when accepted
	}{
		{"--tcp_ts_tick_usecs=1000", func(o *Options) bool { return o.TSTick == time.Millisecond }, ""},
		{"--tcp_ts_tick_usecs=0", func(o *Options) bool { return o.TSTick == 0 }, ""},
		{"--tcp_ts_tick_usecs=2000000", nil, "up to 1 s"},
		{"--tcp_ts_tick_usecs=x", nil, "not a number"},
		{"--tcp_ts_ecr_scaled", func(o *Options) bool { return o.TSEcrScaled }, ""},
		{"--tcp_ts_ecr_scaled=1", nil, "takes no value"},
		{"--mss=1000", func(o *Options) bool { return o.MSS == 1000 }, ""},
		{"--mss=0", nil, "not a segment size"},
		{"--mtu=1280", func(o *Options) bool { return o.MTU == 1280 }, ""},
		{"--mtu=100", nil, "want a number of bytes"},
		{"--netmask_ip=255.255.0.0", func(o *Options) bool { return o.PrefixLen == 16 }, ""},
		{"--netmask_ip=255.0.255.0", nil, "not an IPv4 netmask"},
		{"--gateway_ip=192.168.0.254", func(o *Options) bool { return true }, ""},
		{"--gateway_ip=nope", nil, "not an address"},
		{"--tcp_ts_tick_usecs=1000000", func(o *Options) bool { return o.TSTick == time.Second }, ""},
		{"--tcp_ts_tick_usecs=1000001", nil, "up to 1 s"},
		{"--tcp_ts_tick_usecs=-1", nil, "not a number"},
		{"--tcp_ts_tick_usecs=", nil, "not a number"},
		{"--tcp_ts_tick_usecs=99999999999999999999", nil, "not a number"},
		{"--mss=1", nil, "not a segment size"},
		{"--mss=7", nil, "not a segment size"},
		{"--mss=8", func(o *Options) bool { return o.MSS == 8 }, ""},
		{"--mss=65535", func(o *Options) bool { return o.MSS == 65535 }, ""},
		{"--mss=65536", nil, "not a segment size"},
		{"--mss=-1", nil, "not a segment size"},
		{"--mss=", nil, "not a segment size"},
		{"--mss=1e3", nil, "not a segment size"},
		{"--mtu=65535", func(o *Options) bool { return o.MTU == 65535 }, ""},
		{"--mtu=65536", nil, "from 1280 to 65535"},
		{"--mtu=0", nil, "from 1280 to 65535"},
		{"--mtu=-1500", nil, "from 1280 to 65535"},
		{"--mtu=", nil, "from 1280 to 65535"},
		{"--netmask_ip=255.255.255.255", func(o *Options) bool { return o.PrefixLen == 32 }, ""},
		{"--netmask_ip=128.0.0.0", func(o *Options) bool { return o.PrefixLen == 1 }, ""},
		{"--netmask_ip=0.0.0.0", nil, "not an IPv4 netmask"},
		{"--netmask_ip=255.255.255.1", nil, "not an IPv4 netmask"},
		{"--netmask_ip=ffff:ffff::", nil, "not an IPv4 netmask"},
		{"--netmask_ip=24", nil, "not an IPv4 netmask"},
		{"--netmask_ip=", nil, "not an IPv4 netmask"},
		{"--ip_version=ipv6", func(o *Options) bool { return o.IPVersion == IPv6 }, ""},
		{"--ip_version=ipv4-mapped-ipv6", func(o *Options) bool { return o.Mapped() }, ""},
		{"--ip_version=IPV4", nil, "want ipv4, ipv6 or ipv4-mapped-ipv6"},
		{"--ip_version=0", nil, "want ipv4, ipv6 or ipv4-mapped-ipv6"},
		{"--ip_version=", nil, "want ipv4, ipv6 or ipv4-mapped-ipv6"},
		{"--init_scripts=a.sh", nil, "shell lines"},
		{"--strict_segments", nil, "not supported"},
		{"--wire_client", nil, "not supported"},
		{"--no_such_flag=1", nil, "unsupported option"},
	}
	for _, tc := range tests {
		t.Run(tc.line, func(t *testing.T) {
			s, err := Parse("t.pkt", tc.line+body)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.err != "" && err == nil:
				t.Fatalf("accepted, want an error with %q", tc.err)
			case tc.err != "" && !strings.Contains(err.Error(), tc.err):
				t.Fatalf("error %q, want one with %q", err, tc.err)
			case tc.err == "" && !tc.check(&s.Options):
				t.Fatalf("options %+v not set as the flag says", s.Options)
			}
		})
	}
}
