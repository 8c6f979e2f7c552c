package tcp

import (
	"bytes"
	"testing"
)

func TestRingSmallFirstBuffer(t *testing.T) {
	r := ring{max: 1 << 20}
	r.writeAt(0, []byte{'x'})
	r.commit(1)
	if len(r.buf) > ringMinAlloc {
		t.Errorf("one byte got a %d-byte buffer, want at most %d", len(r.buf), ringMinAlloc)
	}
	// Growing keeps the data, wrapped or not.
	r.discard(1)
	want := bytes.Repeat([]byte("0123456789"), 1000)
	for i := 0; i < len(want); i += 7 {
		p := want[i:min(i+7, len(want))]
		r.writeAt(r.len(), p)
		r.commit(len(p))
	}
	got := make([]byte, len(want)+1)
	if n := r.read(got); !bytes.Equal(got[:n], want) {
		t.Errorf("read back %d bytes that differ from the %d written", n, len(want))
	}
}
