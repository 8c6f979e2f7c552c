package stack

import (
	"slices"
	"testing"
)

// A SYN for a listener does not touch it: nothing joins its accept
// queue, so an Accept waiting on it would only find the queue empty
// again. The ACK that completes the handshake touches it.
func TestSynDoesNotTouchListener(t *testing.T) {
	f, a, b := pair(t)
	l := f.listen(b, port, 8)
	f.dial(a, b, port, 0)
	buf := make([]byte, 1500)
	step := func(from, to *node) []*Socket {
		n := from.st.PollPacket(f.now, buf)
		if n == 0 {
			t.Fatalf("%s has nothing to send", from.name)
		}
		from.st.Touched()
		to.st.HandlePacket(f.now, slices.Clone(buf[:n]))
		return to.st.Touched()
	}
	// The SYN, the SYN-ACK, the ACK.
	if touched := step(a, b); slices.Contains(touched, l) {
		t.Error("the SYN touched the listener")
	}
	step(b, a)
	if touched := step(a, b); !slices.Contains(touched, l) {
		t.Error("the handshake's last ACK did not touch the listener")
	}
	if !l.Acceptable() {
		t.Error("the listener has no connection to accept")
	}
}
