package explain

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/wire"
)

// statesInOrder returns an error message when a side's transitions of c
// go back in time, "" otherwise.
func statesInOrder(c *Conn) string {
	for s := Client; s <= Server; s++ {
		for i := 1; i < len(c.States[s]); i++ {
			if tr := c.States[s]; tr[i].T < tr[i-1].T {
				return s.String() + " " + tr[i].From.String() + "->" + tr[i].To.String() + " at " + tr[i].T.String() + " before " + tr[i-1].From.String() + "->" + tr[i-1].To.String() + " at " + tr[i-1].T.String()
			}
		}
	}
	return ""
}

// TestSimultaneousCloseOrder: in a simultaneous close seen at the client
// (as on loopback), the server's FIN does not ACK the client's, which
// reached the server after it sent its own: the server went
// ESTABLISHED -> FIN_WAIT_1 -> CLOSING, and its transitions keep that
// order in time though the client's FIN was seen first.
func TestSimultaneousCloseOrder(t *testing.T) {
	c, s := netip.MustParseAddrPort("127.0.0.1:47696"), netip.MustParseAddrPort("127.0.0.1:80")
	conv := []seg{
		{true, wire.SYN, 0, 0, 0},
		{false, wire.SYN | wire.ACK, 0, 1, 0},
		{true, wire.ACK, 1, 1, 0},
		{true, wire.ACK | wire.FIN, 1, 1, 0},
		{false, wire.ACK | wire.FIN, 1, 1, 0}, // does not ACK the client's FIN
		{true, wire.ACK, 2, 2, 0},
		{false, wire.ACK, 2, 2, 0},
	}
	data := pcapFile(binary.LittleEndian, false, linkRaw, 0, ipPackets(t, c, s, conv, false), time.Unix(1, 0))
	conns, _, err := explainAll(t, data)
	if err != nil {
		t.Fatal(err)
	}
	if len(conns) != 1 || conns[0].Close != CloseSimultaneous {
		t.Fatalf("%d connections, close %q, want one simultaneous", len(conns), conns[0].Close)
	}
	want := []string{"LISTEN", "SYN_RCVD", "ESTABLISHED", "FIN_WAIT_1", "CLOSING", "TIME_WAIT", "CLOSED"}
	if got := explainedStates(conns[0], Server); !slices.Equal(got, want) {
		t.Errorf("server states %v, want %v", got, want)
	}
	if msg := statesInOrder(conns[0]); msg != "" {
		t.Errorf("%s\n%s", msg, dump(conns[0]))
	}
}
