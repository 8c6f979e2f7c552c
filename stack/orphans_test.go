package stack

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/tcp"
	"github.com/tcpwave/tcpwave/wire"
)

// TestMaxOrphans: connections closed by the application that still finish
// their close are orphans; beyond MaxOrphans (tcp_max_orphans) a close()
// resets its connection instead, as Linux's tcp_close does when
// tcp_check_oom fails: RST, counted in TCPAbortOnMemory, the peer reset.
// Orphans that finish make room again, and the count returns to zero.
func TestMaxOrphans(t *testing.T) {
	tests := []struct {
		name       string
		max        int
		conns      int
		passive    bool // the server closes second, from CLOSE_WAIT (an orphan in LAST_ACK)
		wantAborts int
	}{
		{"Linux's default leaves every orphan alone", DefaultOptions(addrA).MaxOrphans, 4, false, 0},
		{"two orphans allowed: the third and fourth closes reset", 2, 4, false, 2},
		{"no orphan allowed: every close that would leave one resets", 0, 3, false, 3},
		{"no orphan allowed: a close in CLOSE_WAIT resets from LAST_ACK", 0, 2, true, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, a, b := pair(t, func(o *Options) { o.MaxOrphans = tt.max })
			l := f.listen(b, port, 8)
			var clients, servers []*Socket
			for range tt.conns {
				c, s := f.connect(a, b, l)
				clients, servers = append(clients, c), append(servers, s)
			}
			closer, closerNode, peer := clients, a, servers
			if tt.passive {
				for _, c := range clients {
					c.Shutdown(f.now, ShutWR) // B gets the FIN: CLOSE_WAIT
				}
				f.run(10 * time.Millisecond)
				closer, closerNode, peer = servers, b, clients
			}
			mark := f.now
			for _, so := range closer {
				so.Close(f.now)
			}
			f.run(10 * time.Millisecond)
			rsts := 0
			for _, p := range f.since(mark) {
				if p.from == closerNode.name && p.p.TCP.Flags&wire.RST != 0 {
					rsts++
				}
			}
			k := closerNode.st.Counters()
			if rsts != tt.wantAborts || int(k.TCPAbortOnMemory) != tt.wantAborts {
				t.Errorf("%d RSTs sent, TCPAbortOnMemory %d; want %d each", rsts, k.TCPAbortOnMemory, tt.wantAborts)
			}
			reset := 0
			for _, so := range peer {
				if _, err := so.Read(f.now, make([]byte, 10)); errors.Is(err, syscall.ECONNRESET) {
					reset++
				}
			}
			if reset != tt.wantAborts {
				t.Errorf("%d peers reset, want %d", reset, tt.wantAborts)
			}
			alive := tt.conns - tt.wantAborts
			if got := closerNode.st.orphans; got != alive || got > tt.max {
				t.Errorf("%d orphans counted, want %d (at most MaxOrphans %d)", got, alive, tt.max)
			}
			// The peers close too: the orphans finish, and one more close
			// finds room (unless no orphan is ever allowed).
			for _, so := range peer {
				so.Close(f.now)
			}
			f.run(10 * time.Millisecond)
			if got := closerNode.st.orphans; got != 0 {
				t.Errorf("%d orphans counted after every close finished, want 0", got)
			}
			if tt.max > 0 && !tt.passive {
				c, s := f.connect(a, b, l)
				c.Close(f.now)
				f.run(10 * time.Millisecond)
				if c.State() != tcp.FinWait2 || s.Conn().State() != tcp.CloseWait {
					t.Errorf("after the orphans finished, a close left %v and its peer %v, want FIN_WAIT_2 and CLOSE_WAIT (a FIN, no RST)",
						c.State(), s.Conn().State())
				}
				if k := a.st.Counters(); int(k.TCPAbortOnMemory) != tt.wantAborts {
					t.Errorf("TCPAbortOnMemory %d after room was made, want %d", k.TCPAbortOnMemory, tt.wantAborts)
				}
			}
			f.run(2 * a.st.opts.TCP.TimeWait)
			if a.st.orphans != 0 || b.st.orphans != 0 {
				t.Errorf("orphans counted at the end: A %d, B %d", a.st.orphans, b.st.orphans)
			}
		})
	}
}
