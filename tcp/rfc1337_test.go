package tcp

import (
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/seq"
	"github.com/tcpwave/tcpwave/wire"
)

// TestTWRecordRFC1337: with Config.RFC1337 (Linux tcp_rfc1337=1) a RST at
// RCV.NXT no longer kills the TIME_WAIT record: it is dropped, the 2MSL
// timer is left alone, and its timestamp is taken as Linux takes it;
// without the option (Linux's default) the record is killed. Other
// segments are judged the same either way.
func TestTWRecordRFC1337(t *testing.T) {
	const (
		rcvNxt = seq.Value(5000)
		sndNxt = seq.Value(9000)
	)
	start := clock.Instant(0).Add(10 * time.Second)
	now := start.Add(20 * time.Second)
	tests := []struct {
		name         string
		rfc1337      bool
		seg          Segment
		want         TimeWaitAction
		restart      bool
		wantTSRecent uint32
	}{
		{name: "default: RST at RCV.NXT kills the record", seg: Segment{Seq: rcvNxt, Flags: wire.RST}, want: TWKill, wantTSRecent: 500},
		{name: "rfc1337: RST at RCV.NXT is ignored, timer untouched", rfc1337: true,
			seg: Segment{Seq: rcvNxt, Flags: wire.RST}, want: TWDrop, wantTSRecent: 500},
		{name: "rfc1337: RST ACK at RCV.NXT is ignored", rfc1337: true,
			seg: Segment{Seq: rcvNxt, Ack: sndNxt, Flags: wire.RST | wire.ACK}, want: TWDrop, wantTSRecent: 500},
		{name: "rfc1337: an ignored RST's timestamp is still taken (Linux tw_ts_recent)", rfc1337: true,
			seg:  Segment{Seq: rcvNxt, Flags: wire.RST, Opts: wire.Options{HasTimestamp: true, TSVal: 600}},
			want: TWDrop, wantTSRecent: 600},
		{name: "rfc1337: RST beyond RCV.NXT dropped as before", rfc1337: true,
			seg: Segment{Seq: rcvNxt + 10, Flags: wire.RST}, want: TWDrop, wantTSRecent: 500},
		{name: "rfc1337: a bare ACK still restarts 2MSL", rfc1337: true,
			seg: Segment{Seq: rcvNxt, Ack: sndNxt, Flags: wire.ACK}, want: TWDrop, restart: true, wantTSRecent: 500},
		{name: "rfc1337: a retransmitted FIN is still ACKed", rfc1337: true,
			seg: Segment{Seq: rcvNxt - 1, Ack: sndNxt, Flags: wire.FIN | wire.ACK}, want: TWAck, restart: true, wantTSRecent: 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.RFC1337 = tt.rfc1337
			tw := TWRecord{RcvNxt: rcvNxt, SndNxt: sndNxt, TSOK: true, TSRecent: 500, Expire: start.Add(cfg.TimeWait)}
			checkTWHandle(t, &tw, &cfg, now, tt.seg, tt.want, tt.restart)
			if tw.TSRecent != tt.wantTSRecent {
				t.Errorf("TSRecent %d, want %d", tw.TSRecent, tt.wantTSRecent)
			}
		})
	}
}

// TestDefaultConfigRFC1337: the default follows Linux, tcp_rfc1337=0.
func TestDefaultConfigRFC1337(t *testing.T) {
	if DefaultConfig().RFC1337 {
		t.Error("DefaultConfig().RFC1337 is true; Linux's tcp_rfc1337 defaults to 0")
	}
}
