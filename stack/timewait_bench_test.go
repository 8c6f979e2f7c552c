package stack

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/tcpwave/tcpwave/tcp"
)

// BenchmarkTimeWait measures the TIME_WAIT table alone: one op is a
// connection that reached TIME_WAIT turning into a record (enterTimeWait:
// the connection is freed, the record holds the port and joins the expiry
// queue) and that record expiring (HandleTimeout). Records are made in
// batches so the table holds many at once, as on a busy server; the cost
// per record should not grow with the batch (O(1) per record).
func BenchmarkTimeWait(b *testing.B) {
	for _, batch := range []int{1 << 10, 1 << 14, 1 << 16} {
		b.Run(fmt.Sprintf("records=%d", batch), func(b *testing.B) { benchTimeWait(b, batch) })
	}
}

func benchTimeWait(b *testing.B, batch int) {
	// A real connection in TIME_WAIT lends its tcp.Conn to every socket.
	s := newTimeWait(b)
	tmpl := s.client.conn
	if tmpl.State() != tcp.TimeWait {
		b.Fatalf("template connection in %v", tmpl.State())
	}
	st, err := New(DefaultOptions(addrA), nil)
	if err != nil {
		b.Fatal(err)
	}
	socks := make([]Socket, batch)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(batch, b.N-done)
		b.StopTimer()
		for i := range n {
			k := done + i
			so := &socks[i]
			*so = Socket{st: st, conn: tmpl, tuple: Tuple{
				Local:  netip.AddrPortFrom(addrA, uint16(1024+k%60000)),
				Remote: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(k >> 16), byte(k >> 8)}), uint16(k)),
			}}
			st.conns[so.tuple] = so
			st.hold(so.tuple.Local.Port(), so)
		}
		b.StartTimer()
		for i := range n {
			st.enterTimeWait(0, &socks[i])
		}
		st.HandleTimeout(tmpl.Deadline())
		st.Touched() // as a driver would: the sockets are reused
		done += n
	}
	b.StopTimer()
	if st.tw.len() != 0 || len(st.conns) != 0 || len(st.bound) != 0 || st.tw.ports.len() != 0 {
		b.Fatalf("left %d records, %d connections, %d+%d ports", st.tw.len(), len(st.conns), len(st.bound), st.tw.ports.len())
	}
}
