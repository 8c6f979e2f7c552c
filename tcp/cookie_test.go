package tcp

import (
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/seq"
	"github.com/tcpwave/tcpwave/wire"
)

// cookieCase is a SYN and our configuration, with the options a cookie
// must keep for them.
type cookieCase struct {
	name string
	cfg  func(*Config)
	syn  wire.Options
	now  clock.Instant
	want CookieOptions
	bits uint32 // the low bits of the cookie's TSval; unused without timestamps
}

var cookieCases = []cookieCase{
	{name: "timestamps, window scale 7 and SACK: all kept",
		syn:  wire.Options{MSS: 1460, SACKPermitted: true, HasTimestamp: true, TSVal: 100, HasWScale: true, WScale: 7},
		want: CookieOptions{WScale: 7, SACKOK: true, TSOK: true}, bits: 7 | cookieTSSACK},
	{name: "timestamps and SACK, no window scale: the scale bits are all ones",
		syn:  wire.Options{MSS: 1460, SACKPermitted: true, HasTimestamp: true, TSVal: 100},
		want: CookieOptions{WScale: -1, SACKOK: true, TSOK: true}, bits: cookieTSWScale | cookieTSSACK},
	{name: "timestamps and window scale 14 (the largest), no SACK",
		syn:  wire.Options{MSS: 1300, HasTimestamp: true, TSVal: 100, HasWScale: true, WScale: 14},
		want: CookieOptions{WScale: 14, TSOK: true}, bits: 14},
	{name: "window scale 0 is a scale, not its absence",
		syn:  wire.Options{MSS: 1300, HasTimestamp: true, TSVal: 100, HasWScale: true, WScale: 0},
		want: CookieOptions{WScale: 0, TSOK: true}, bits: 0},
	{name: "window scale and SACK without timestamps: nowhere to keep them, the SYN-ACK offers neither (Linux tcp_clear_options)",
		syn:  wire.Options{MSS: 1460, SACKPermitted: true, HasWScale: true, WScale: 7},
		want: CookieOptions{WScale: -1}},
	{name: "our timestamps off: as if the SYN had none",
		cfg:  func(c *Config) { c.Timestamps = false },
		syn:  wire.Options{MSS: 1460, SACKPermitted: true, HasTimestamp: true, TSVal: 100, HasWScale: true, WScale: 7},
		want: CookieOptions{WScale: -1}},
	{name: "our SACK and window scaling off: only timestamps",
		cfg:  func(c *Config) { c.SACK, c.WScale, c.RcvBuf = false, -1, 65535 },
		syn:  wire.Options{MSS: 1460, SACKPermitted: true, HasTimestamp: true, TSVal: 100, HasWScale: true, WScale: 7},
		want: CookieOptions{WScale: -1, TSOK: true}, bits: cookieTSWScale},
	{name: "in the first 64 ms of the clock the cookie's TSval is moved back across zero, never ahead of the clock",
		syn:  wire.Options{MSS: 1460, SACKPermitted: true, HasTimestamp: true, TSVal: 100, HasWScale: true, WScale: 7},
		now:  clock.Instant(10 * time.Millisecond),
		want: CookieOptions{WScale: 7, SACKOK: true, TSOK: true}, bits: 7 | cookieTSSACK},
}

// TestCookieSynAck: the cookie's SYN-ACK is the SYN-ACK an ordinary
// half-open connection sends, but for the TSval, whose low bits hold the
// peer's options and which lies at most 63 ms behind the clock
// (cookie_init_timestamp); without timestamps it offers neither window
// scaling nor SACK.
func TestCookieSynAck(t *testing.T) {
	const iss, tsOff = seq.Value(0xfffffff0), 0x12345678
	for _, tt := range cookieCases {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			now := tt.now
			if now == 0 {
				now = clock.Instant(1234567 * time.Millisecond)
			}
			syn := Segment{Seq: 4000, Flags: wire.SYN, Wnd: 64240, Opts: tt.syn}
			var plain, cookie Segment
			if !NewPassive(&cfg, nil, now, iss, tsOff, &syn).Poll(now, &plain, make([]byte, 2048)) {
				t.Fatal("no SYN-ACK from a half-open connection")
			}
			CookieSynAck(&cfg, now, iss, tsOff, &syn, &cookie)
			if cookie.Flags != plain.Flags || cookie.Seq != plain.Seq || cookie.Ack != plain.Ack || cookie.Wnd != plain.Wnd || len(cookie.Payload) != 0 {
				t.Fatalf("cookie SYN-ACK %+v, want the header of %+v", cookie, plain)
			}
			if !tt.want.TSOK {
				if want := (wire.Options{MSS: cfg.MSS}); cookie.Opts != want {
					t.Errorf("options %+v, want %+v", cookie.Opts, want)
				}
				return
			}
			if behind := plain.Opts.TSVal - cookie.Opts.TSVal; behind >= 1<<cookieTSBits {
				t.Errorf("cookie TSval %d is %d behind the clock's %d, want 0..63", cookie.Opts.TSVal, behind, plain.Opts.TSVal)
			}
			if got := (cookie.Opts.TSVal - tsOff) & cookieTSOptMask; got != tt.bits {
				t.Errorf("TSval's low bits %#x, want %#x", got, tt.bits)
			}
			p, c := plain.Opts, cookie.Opts
			p.TSVal, c.TSVal = 0, 0
			if c != p {
				t.Errorf("options %+v, want %+v", c, p)
			}
		})
	}
}

// TestCookieTSDecode: the ACK that echoes the cookie's TSval gives the
// options back (cookie_timestamp_decode); a request for something we do
// not do fails, and Linux answers it with RST.
func TestCookieTSDecode(t *testing.T) {
	const tsOff = 0x12345678
	now := clock.Instant(1234567 * time.Millisecond)
	for _, tt := range cookieCases {
		t.Run("round trip: "+tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			syn := Segment{Seq: 4000, Flags: wire.SYN, Opts: tt.syn}
			var synack Segment
			CookieSynAck(&cfg, now, 77, tsOff, &syn, &synack)
			ack := Segment{Seq: 4001, Ack: 78, Flags: wire.ACK}
			if synack.Opts.HasTimestamp {
				ack.Opts = wire.Options{HasTimestamp: true, TSVal: 101, TSEcr: synack.Opts.TSVal}
			}
			got, ok := CookieTSDecode(&cfg, &ack, tsOff)
			if !ok || got != tt.want {
				t.Errorf("decoded %+v, %v; want %+v, true", got, ok, tt.want)
			}
		})
	}
	ts := func(bits uint32) *Segment {
		return &Segment{Flags: wire.ACK, Opts: wire.Options{HasTimestamp: true, TSVal: 1, TSEcr: 64*1000 + bits + tsOff}}
	}
	for _, tt := range []struct {
		name string
		cfg  func(*Config)
		ack  *Segment
		want CookieOptions
		ok   bool
	}{
		{"SACK asked for, our SACK off", func(c *Config) { c.SACK = false }, ts(cookieTSWScale | cookieTSSACK), CookieOptions{WScale: -1, TSOK: true, SACKOK: true}, false},
		{"window scale asked for, our scaling off", func(c *Config) { c.WScale = -1 }, ts(3), CookieOptions{WScale: 3, TSOK: true}, false},
		{"no timestamp in the ACK: no options", nil, &Segment{Flags: wire.ACK}, CookieOptions{WScale: -1}, true},
		{"our timestamps off: the ACK's timestamp is not read", func(c *Config) { c.Timestamps = false }, ts(3), CookieOptions{WScale: -1}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			got, ok := CookieTSDecode(&cfg, tt.ack, tsOff)
			if got != tt.want || ok != tt.ok {
				t.Errorf("decoded %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

// stateLog records a connection's states.
type stateLog []string

func (l *stateLog) StateChanged(_ clock.Instant, c *Conn, from, to State, why string) {
	*l = append(*l, from.String()+">"+to.String())
}

// TestNewFromCookie: the connection rebuilt from a cookie passes through
// SYN_RCVD to ESTABLISHED on the ACK, takes the ACK's data, and uses the
// options the cookie kept: the MSS from msstab (less the timestamps),
// the peer's window scale and SACK.
func TestNewFromCookie(t *testing.T) {
	for _, tt := range []struct {
		name     string
		opts     CookieOptions
		ackOpts  wire.Options
		wantMSS  int
		wantSent int // bytes of the first data segment: the peer's window 100 << its scale
	}{
		{"timestamps, scale 2, SACK", CookieOptions{WScale: 2, SACKOK: true, TSOK: true},
			wire.Options{HasTimestamp: true, TSVal: 555, TSEcr: 1}, 1440 - 12, 400},
		{"no options", CookieOptions{WScale: -1}, wire.Options{}, 1440, 100},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			var states stateLog
			now := clock.Instant(5 * time.Second)
			ck := SynCookie{ISS: 1000, IRS: 5000, MSS: 1440, TSOffset: 7, CookieOptions: tt.opts}
			ack := Segment{Seq: 5001, Ack: 1001, Flags: wire.ACK | wire.PSH, Wnd: 100, Opts: tt.ackOpts, Payload: []byte("hello")}
			c := NewFromCookie(&cfg, &states, now, &ck, &ack)
			if got := joinStates(states); got != "LISTEN>SYN_RCVD,SYN_RCVD>ESTABLISHED" {
				t.Errorf("states %s", got)
			}
			// The peer's window (400 or 100 bytes, at most 536) bounds the
			// MSS it gets (tcp_bound_to_half_wnd), as it bounds the data.
			if int(c.mssFull) != tt.wantMSS || c.MSS() != tt.wantSent || c.ISS() != 1000 || c.IRS() != 5000 || c.flags.has(wsOK) != (tt.opts.WScale >= 0) || c.flags.has(sackOK) != tt.opts.SACKOK || c.flags.has(tsOK) != tt.opts.TSOK {
				t.Errorf("mss %d (bounded %d) iss %d irs %d ws %v sack %v ts %v; want %d (%d) 1000 5000 %+v", c.mssFull, c.MSS(), c.ISS(), c.IRS(), c.flags.has(wsOK), c.flags.has(sackOK), c.flags.has(tsOK), tt.wantMSS, tt.wantSent, tt.opts)
			}
			buf := make([]byte, 100)
			if n, err := c.Read(now, buf); string(buf[:n]) != "hello" || err != nil {
				t.Errorf("read %q, %v; want the ACK's data", buf[:n], err)
			}
			var s Segment
			if !c.Poll(now, &s, make([]byte, 2048)) || s.Flags != wire.ACK || s.Ack != 5006 || s.Seq != 1001 || s.Opts.HasTimestamp != tt.opts.TSOK {
				t.Fatalf("first segment %+v, want the ACK of the data", s)
			}
			if tt.opts.TSOK && s.Opts.TSEcr != 555 {
				t.Errorf("TSecr %d, want the ACK's TSval 555", s.Opts.TSEcr)
			}
			if n, err := c.Write(now, make([]byte, 3000)); n != 3000 || err != nil {
				t.Fatalf("write: %d, %v", n, err)
			}
			if !c.Poll(now, &s, make([]byte, 2048)) || len(s.Payload) != tt.wantSent {
				t.Errorf("first data segment carries %d bytes, want %d (the peer's window, scaled)", len(s.Payload), tt.wantSent)
			}
		})
	}
}

// FuzzNewFromCookie rebuilds connections from any cookie contents and any
// returning ACK (flags, window, timestamps, data): no panic, only legal
// state changes, an open connection that took the ACK's data, and a
// cookie SYN-ACK whose options decode back to what they encode.
func FuzzNewFromCookie(f *testing.F) {
	f.Add(uint8(0), uint8(7), true, true, uint16(502), uint32(1000), uint32(64), []byte("hello"), uint8(0))
	f.Add(uint8(3), uint8(15), false, false, uint16(0), uint32(0), uint32(0), []byte{}, uint8(wire.FIN))
	f.Add(uint8(2), uint8(14), true, true, uint16(65535), uint32(1<<31), uint32(0xffffffff), make([]byte, 3000), uint8(wire.PSH|wire.FIN))
	f.Fuzz(func(t *testing.T, mssIdx, ws uint8, sack, ts bool, wnd uint16, tsval, tsecr uint32, payload []byte, flags uint8) {
		cfg := DefaultConfig()
		mss := [...]uint16{536, 1300, 1440, 1460, 1220, 1420, 8940}[int(mssIdx)%7]
		opts := CookieOptions{WScale: -1, SACKOK: sack && ts, TSOK: ts}
		if ws%16 <= wire.MaxWScale && ts {
			opts.WScale = int(ws % 16)
		}
		// The SYN-ACK for these options decodes back to them.
		syn := Segment{Seq: 99, Flags: wire.SYN, Opts: wire.Options{MSS: mss, SACKPermitted: opts.SACKOK, HasTimestamp: ts, TSVal: tsval}}
		if opts.WScale >= 0 {
			syn.Opts.HasWScale, syn.Opts.WScale = true, uint8(opts.WScale)
		}
		now := clock.Instant(tsecr) * clock.Instant(time.Millisecond)
		var synack Segment
		CookieSynAck(&cfg, now, 1000, tsval, &syn, &synack)
		echo := Segment{Flags: wire.ACK, Opts: wire.Options{HasTimestamp: ts, TSVal: tsval, TSEcr: synack.Opts.TSVal}}
		quirk := ts && synack.Opts.TSVal == 0 // Linux takes no offset from a zero TSecr
		if got, ok := CookieTSDecode(&cfg, &echo, tsval); !ok || !quirk && got != opts {
			t.Fatalf("options %+v encode to TSval %d, decode to %+v, %v", opts, synack.Opts.TSVal, got, ok)
		}
		chk := &edgeChecker{t: t}
		ck := SynCookie{ISS: 1000, IRS: 99, MSS: mss, TSOffset: tsval, CookieOptions: opts}
		ack := Segment{Seq: 100, Ack: 1001, Flags: wire.ACK | wire.Flags(flags)&(wire.FIN|wire.PSH|wire.URG), Wnd: wnd,
			Opts: wire.Options{HasTimestamp: ts, TSVal: tsval, TSEcr: tsecr}, Payload: payload}
		c := NewFromCookie(&cfg, chk, now, &ck, &ack)
		if chk.bad != "" {
			t.Fatalf("illegal state change %s", chk.bad)
		}
		if st := c.State(); st != Established && st != CloseWait {
			t.Fatalf("state %v, want ESTABLISHED or CLOSE_WAIT", st)
		}
		if want := min(len(payload), synWindowOf(&cfg, cfg.RcvBuf, ts)); c.RecvQ() != want {
			t.Fatalf("%d bytes queued from a %d-byte ACK, want %d", c.RecvQ(), len(payload), want)
		}
		buf := make([]byte, 65536)
		var s Segment
		for i := 0; c.Poll(now, &s, buf); i++ {
			if i > 100 {
				t.Fatal("Poll never stops")
			}
		}
	})
}
