package stack

import (
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/tcp"
)

// TCP options set before a socket has a connection (earlyOpts): the
// getters show them as the connection will hold them, connect() takes
// them, a listener's children inherit them, and values Linux refuses
// leave nothing behind. Each row sets the options on the listener and on
// the client before connect and checks both ends before and after, the
// child made from the SYN (syncookies=1) or from a SYN cookie (=2).
func TestEarlyOptions(t *testing.T) {
	defaults := DefaultOptions()
	def := defaults.TCP.KeepAliveDefaults()
	type want struct {
		ka       bool
		params   tcp.KeepAliveParams
		ut, l2   time.Duration
		finTimer time.Duration // FinTimeout
	}
	tests := []struct {
		name    string
		set     func(so *Socket) error
		wantErr error
		want    want
	}{
		{name: "nothing set", set: func(*Socket) error { return nil },
			want: want{params: def, finTimer: 60 * time.Second}},
		{name: "keepalive on, all parameters at Linux's maxima", set: func(so *Socket) error {
			so.SetKeepAlive(0, true)
			return so.SetKeepAliveParams(0, tcp.KeepAliveParams{Idle: 32767 * time.Second, Interval: 32767 * time.Second, Count: 127})
		}, want: want{ka: true, params: tcp.KeepAliveParams{Idle: 32767 * time.Second, Interval: 32767 * time.Second, Count: 127}, finTimer: 60 * time.Second}},
		{name: "keepalive parameters at their minima, zero fields left alone", set: func(so *Socket) error {
			if err := so.SetKeepAliveParams(0, tcp.KeepAliveParams{Idle: time.Second, Count: 1}); err != nil {
				return err
			}
			return so.SetKeepAliveParams(0, tcp.KeepAliveParams{Interval: time.Second})
		}, want: want{params: tcp.KeepAliveParams{Idle: time.Second, Interval: time.Second, Count: 1}, finTimer: 60 * time.Second}},
		{name: "keepalive count over the maximum is refused", set: func(so *Socket) error {
			return so.SetKeepAliveParams(0, tcp.KeepAliveParams{Idle: 5 * time.Second, Count: 128})
		}, wantErr: syscall.EINVAL, want: want{params: def, finTimer: 60 * time.Second}},
		{name: "negative keepalive idle is refused", set: func(so *Socket) error {
			return so.SetKeepAliveParams(0, tcp.KeepAliveParams{Idle: -time.Second})
		}, wantErr: syscall.EINVAL, want: want{params: def, finTimer: 60 * time.Second}},
		{name: "user timeout 0 is off", set: func(so *Socket) error { return so.SetUserTimeout(0, 0) },
			want: want{params: def, finTimer: 60 * time.Second}},
		{name: "user timeout 1 ns", set: func(so *Socket) error { return so.SetUserTimeout(0, 1) },
			want: want{params: def, ut: 1, finTimer: 60 * time.Second}},
		{name: "negative user timeout is refused", set: func(so *Socket) error { return so.SetUserTimeout(0, -1) },
			wantErr: syscall.EINVAL, want: want{params: def, finTimer: 60 * time.Second}},
		{name: "linger2 5s", set: func(so *Socket) error { return so.SetLinger2(0, 5*time.Second) },
			want: want{params: def, l2: 5 * time.Second, finTimer: 5 * time.Second}},
		{name: "linger2 above 120s is held at 120s", set: func(so *Socket) error { return so.SetLinger2(0, time.Hour) },
			want: want{params: def, l2: 120 * time.Second, finTimer: 120 * time.Second}},
		{name: "negative linger2 is -1", set: func(so *Socket) error { return so.SetLinger2(0, -time.Hour) },
			want: want{params: def, l2: -1, finTimer: 60 * time.Second}},
	}
	check := func(t *testing.T, who string, so *Socket, w want) {
		t.Helper()
		ka, p := so.KeepAlive()
		if ka != w.ka || p != w.params {
			t.Errorf("%s: keepalive %v %+v, want %v %+v", who, ka, p, w.ka, w.params)
		}
		if got := so.UserTimeout(); got != w.ut {
			t.Errorf("%s: user timeout %v, want %v", who, got, w.ut)
		}
		if got := so.Linger2(); got != w.l2 {
			t.Errorf("%s: linger2 %v, want %v", who, got, w.l2)
		}
		if got := so.FinTimeout(); got != w.finTimer {
			t.Errorf("%s: FIN_WAIT_2 lifetime %v, want %v", who, got, w.finTimer)
		}
	}
	for _, tt := range tests {
		for _, cookies := range []int{1, 2} { // 2: the child comes from a SYN cookie
			t.Run(fmt.Sprintf("%s/syncookies=%d", tt.name, cookies), func(t *testing.T) {
				f, a, b := pair(t, func(o *Options) { o.SynCookies = cookies })
				l := f.listen(b, 80, 8, func(so *Socket) {
					if err := tt.set(so); !errors.Is(err, tt.wantErr) {
						t.Errorf("listener: set: %v, want %v", err, tt.wantErr)
					}
				})
				c := a.st.NewSocket()
				if err := tt.set(c); !errors.Is(err, tt.wantErr) {
					t.Errorf("client: set: %v, want %v", err, tt.wantErr)
				}
				check(t, "listener", l, tt.want)
				check(t, "client before connect", c, tt.want)
				if err := c.Connect(f.now, l.Local()); err != nil {
					t.Fatal(err)
				}
				f.run(10 * time.Millisecond)
				srv, err := l.Accept()
				if err != nil {
					t.Fatalf("accept: %v", err)
				}
				if got, want := b.st.Counters().SyncookiesRecv, uint64(cookies-1); got != want {
					t.Fatalf("SyncookiesRecv %d, want %d", got, want)
				}
				check(t, "client", c, tt.want)
				check(t, "accepted", srv, tt.want)
			})
		}
	}
}
