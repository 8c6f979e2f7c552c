package trace

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/stack"
	"github.com/tcpwave/tcpwave/tcp"
)

func TestSSTimer(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, ""},
		{0, ""},
		{time.Microsecond, "001ms"}, // rounded up to a whole millisecond
		{5 * time.Millisecond, "005ms"},
		{200 * time.Millisecond, "200ms"},
		{999 * time.Millisecond, "999ms"},
		{time.Second, "1sec"},
		{1500 * time.Millisecond, "1.500ms"},
		{9*time.Second + 1*time.Millisecond, "9.001ms"},
		{10*time.Second + 500*time.Millisecond, "10sec"},
		{59 * time.Second, "59sec"},
		{59*time.Second + 999*time.Millisecond, "59sec"},
		{60 * time.Second, "1min"},
		{60*time.Second + 500*time.Millisecond, "1min"},
		{119 * time.Second, "1min59sec"},
		{9*time.Minute + 59*time.Second, "9min59sec"},
		{10*time.Minute + 30*time.Second, "10min"},
		{2 * time.Hour, "120min"},
	} {
		if got := SSTimer(c.d); got != c.want {
			t.Errorf("SSTimer(%v) = %q, want %q", c.d, got, c.want)
		}
	}
}

func TestWriteTable(t *testing.T) {
	ap := netip.MustParseAddrPort
	const header = "State      Recv-Q Send-Q  Local Address:Port   Peer Address:Port  Process"
	for _, c := range []struct {
		name   string
		rows   []stack.ConnInfo
		header string   // "" for the standard one
		want   []string // lines after the header
	}{
		{
			name: "empty",
		},
		{
			name: "listener v4",
			rows: []stack.ConnInfo{{State: tcp.Listen, SendQ: 128, Local: ap("0.0.0.0:80")}},
			want: []string{"LISTEN     0      128           0.0.0.0:80          0.0.0.0:*"},
		},
		{
			name: "listener v6",
			rows: []stack.ConnInfo{{State: tcp.Listen, RecvQ: 2, SendQ: 4096, Local: ap("[::]:22")}},
			want: []string{"LISTEN     2      4096             [::]:22             [::]:*"},
		},
		{
			name: "unbound",
			rows: []stack.ConnInfo{{State: tcp.Closed}},
			want: []string{"UNCONN     0      0                   *:*                 *:*"},
		},
		{
			name:   "timers",
			header: "State      Recv-Q Send-Q  Local Address:Port   Peer Address:Port   Process",
			rows: []stack.ConnInfo{
				{State: tcp.Established, Local: ap("10.0.0.1:80"), Peer: ap("10.0.0.2:40000")},
				{State: tcp.TimeWait, Local: ap("10.0.0.1:80"), Peer: ap("10.0.0.2:40001"),
					Timer: "timewait", TimerLeft: 59 * time.Second},
				{State: tcp.FinWait1, SendQ: 1, Local: ap("10.0.0.1:80"), Peer: ap("10.0.0.2:40002"),
					Timer: "on", TimerLeft: 200 * time.Millisecond, Retransmit: 3},
				{State: tcp.Established, Local: ap("10.0.0.1:80"), Peer: ap("10.0.0.2:40003"),
					Timer: "keepalive", TimerLeft: 119 * time.Second},
				{State: tcp.Established, SendQ: 1000, Local: ap("10.0.0.1:80"), Peer: ap("10.0.0.2:40004"),
					Timer: "persist", TimerLeft: 1500 * time.Millisecond, Retransmit: 1},
			},
			want: []string{
				"ESTAB      0      0            10.0.0.1:80         10.0.0.2:40000",
				"TIME-WAIT  0      0            10.0.0.1:80         10.0.0.2:40001  timer:(timewait,59sec,0)",
				"FIN-WAIT-1 0      1            10.0.0.1:80         10.0.0.2:40002  timer:(on,200ms,3)",
				"ESTAB      0      0            10.0.0.1:80         10.0.0.2:40003  timer:(keepalive,1min59sec,0)",
				"ESTAB      0      1000         10.0.0.1:80         10.0.0.2:40004  timer:(persist,1.500ms,1)",
			},
		},
		{
			name:   "wide columns grow and colons stay aligned",
			header: "State      Recv-Q   Send-Q  Local Address:Port         Peer Address:Port   Process",
			rows: []stack.ConnInfo{
				{State: tcp.Established, RecvQ: 12345678, Local: ap("[2001:db8::1]:443"), Peer: ap("[2001:db8::abcd:2]:65535")},
				{State: tcp.CloseWait, Local: ap("127.0.0.1:8080"), Peer: ap("127.0.0.1:5")},
			},
			want: []string{
				"ESTAB      12345678 0       [2001:db8::1]:443    [2001:db8::abcd:2]:65535",
				"CLOSE-WAIT 0        0           127.0.0.1:8080            127.0.0.1:5",
			},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteTable(&b, c.rows); err != nil {
				t.Fatal(err)
			}
			got := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
			wantHeader := header
			if c.header != "" {
				wantHeader = c.header
			}
			want := append([]string{wantHeader}, c.want...)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			// Every line's two colons sit under the header's.
			lcol := strings.Index(got[0], ":Port")
			pcol := lcol + 1 + strings.Index(got[0][lcol+1:], ":Port")
			for _, ln := range got[1:] {
				if ln[lcol] != ':' || ln[pcol] != ':' {
					t.Errorf("colons not at columns %d and %d: %q", lcol, pcol, ln)
				}
			}
		})
	}
}
