package trace

import (
	"bytes"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/stack"
	"github.com/tcpwave/tcpwave/tcp"
)

// TestFormatInfo: FormatInfo at the zero Info (MSS 0: no cwnd or
// ssthresh, no division by zero), without window scaling (-1, as
// tcp.Conn.Info reports it), and with every optional part. The zero
// Info's window scales print as "wscale:0,0": a shift of 0 is one a peer
// may negotiate, and ss prints it, so only -1 means "no window scaling".
func TestFormatInfo(t *testing.T) {
	ms := int64(time.Millisecond)
	for _, tc := range []struct {
		name string
		info tcp.Info
		want string
	}{
		{"zero", tcp.Info{}, "wscale:0,0 rto:0 rtt:0/0 mss:0 rcvmss:0 bytes_acked:0 bytes_received:0 snd_wnd:0 rcv_wnd:0"},
		{"MSS 0 with a window", tcp.Info{Cwnd: 14480, Ssthresh: 7240, SndWScale: -1, RcvWScale: -1},
			"rto:0 rtt:0/0 mss:0 rcvmss:0 bytes_acked:0 bytes_received:0 snd_wnd:0 rcv_wnd:0"},
		{"no window scaling", tcp.Info{CongestionControl: "reno", SndWScale: -1, RcvWScale: -1, MSS: 536, Cwnd: 536, Ssthresh: 1 << 30},
			"reno rto:0 rtt:0/0 mss:536 rcvmss:0 cwnd:1 bytes_acked:0 bytes_received:0 snd_wnd:0 rcv_wnd:0"},
		{"ss's example", tcp.Info{CongestionControl: "cubic", SndWScale: 7, RcvWScale: 7, RTO: 204 * ms, SRTT: ms / 2, RTTVar: ms / 4,
			MSS: 1448, RcvMSS: 536, Cwnd: 14480, Ssthresh: 1 << 30, BytesAcked: 1, BytesReceived: 1, SndWnd: 64256, RcvWnd: 64256},
			"cubic wscale:7,7 rto:204 rtt:0.5/0.25 mss:1448 rcvmss:536 cwnd:10 bytes_acked:1 bytes_received:1 snd_wnd:64256 rcv_wnd:64256"},
		{"after a loss", tcp.Info{CongestionControl: "cubic", SndWScale: 14, RcvWScale: 0, MSS: 1448, Cwnd: 14481, Ssthresh: 7240,
			Retransmits: 3, InRecovery: true},
			"cubic wscale:14,0 rto:0 rtt:0/0 mss:1448 rcvmss:0 cwnd:11 ssthresh:5 bytes_acked:0 bytes_received:0 retrans:0/3 in_recovery snd_wnd:0 rcv_wnd:0"},
		{"MSS 1", tcp.Info{SndWScale: -1, MSS: 1, Cwnd: math.MaxInt, Ssthresh: 1<<30 - 1},
			"rto:0 rtt:0/0 mss:1 rcvmss:0 cwnd:" + strconv.Itoa(math.MaxInt) + " ssthresh:1073741823 bytes_acked:0 bytes_received:0 snd_wnd:0 rcv_wnd:0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := strings.TrimSpace(FormatInfo(tc.info)); got != tc.want {
				t.Errorf("FormatInfo =\n%q, want\n%q", got, tc.want)
			}
		})
	}
}

// TestWriteTableInfo: WriteTableInfo puts FormatInfo's line, indented by
// a tab, under each connection past the handshake and not in TIME_WAIT,
// and under no other row.
func TestWriteTableInfo(t *testing.T) {
	ap := netip.MustParseAddrPort
	info := tcp.Info{CongestionControl: "cubic", SndWScale: -1, RcvWScale: -1, MSS: 1448, Cwnd: 14480, Ssthresh: 1 << 30}
	var rows []stack.ConnInfo
	states := []tcp.State{tcp.Listen, tcp.SynSent, tcp.SynRcvd, tcp.Established, tcp.TimeWait, tcp.CloseWait, tcp.Closed, tcp.LastAck}
	for i, s := range states {
		rows = append(rows, stack.ConnInfo{State: s, Local: ap("10.0.0.1:80"), Peer: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.2"), uint16(40000+i)), TCP: info})
	}
	var b bytes.Buffer
	if err := WriteTableInfo(&b, rows); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	var under []string // the state of the row each info line is under
	for i, ln := range lines {
		if !strings.HasPrefix(ln, "\t") {
			continue
		}
		if ln != "\t"+FormatInfo(info) {
			t.Errorf("info line %q, want %q", ln, "\t"+FormatInfo(info))
		}
		if i == 0 || strings.HasPrefix(lines[i-1], "\t") {
			t.Fatalf("info line %d is not under a connection:\n%s", i, b.String())
		}
		under = append(under, strings.Fields(lines[i-1])[0])
	}
	if got, want := strings.Join(under, " "), "ESTAB CLOSE-WAIT LAST-ACK"; got != want {
		t.Errorf("info lines under %q, want %q:\n%s", got, want, b.String())
	}
	var plain bytes.Buffer
	if err := WriteTable(&plain, rows); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(plain.String(), "\t") {
		t.Errorf("WriteTable wrote info lines:\n%s", plain.String())
	}
}
