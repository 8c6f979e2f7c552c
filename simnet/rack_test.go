package simnet_test

import (
	"bytes"
	"io"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tcpwave/tcpwave/simnet"
	"github.com/tcpwave/tcpwave/stack"
	"github.com/tcpwave/tcpwave/tcp"
)

// lossyBulk sends size bytes from 10.0.0.1 to 10.0.0.2 over a link
// with 10% loss each way and 1 ms of delay, and returns how long it took
// (simulated time) and the sender's counters.
func lossyBulk(t *testing.T, seed uint64, size int, rack bool) (time.Duration, stack.Counters) {
	t.Helper()
	var took time.Duration
	var k stack.Counters
	synctest.Test(t, func(t *testing.T) {
		n := simnet.New(simnet.Options{Seed: seed, Link: simnet.Link{Delay: time.Millisecond, Loss: 0.10},
			TCP: func(c *tcp.Config) { c.RACK = rack }})
		a, b := n.Host("10.0.0.1"), n.Host("10.0.0.2")
		ln, err := b.Listen("tcp", ":9")
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan []byte, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				got <- nil
				return
			}
			data, _ := io.ReadAll(c)
			c.Close()
			got <- data
		}()
		c, err := a.Dial("tcp", "10.0.0.2:9")
		if err != nil {
			t.Fatal(err)
		}
		msg := bytes.Repeat([]byte("rack "), size/5)
		start := time.Now()
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		c.(interface{ CloseWrite() error }).CloseWrite()
		if data := <-got; !bytes.Equal(data, msg) {
			t.Fatalf("seed %d: %d of %d bytes arrived intact", seed, len(data), len(msg))
		}
		took = time.Since(start)
		c.Close()
		ln.Close()
		k = a.Stack().Counters()
		n.Close()
	})
	return took, k
}

// TestRACKLossyBulk: on a link that loses 10% each way, RACK (RFC 8985)
// repairs lost retransmissions, after an RTO too, and holes with few
// segments above them without waiting for the retransmission timer:
// fewer RTOs over the same seeds than the RFC 6675 rules alone, where the
// 200 ms minimum RTO is long against the 2 ms round trip.
func TestRACKLossyBulk(t *testing.T) {
	const size = 512 << 10
	var rtoOn, rtoOff, lostRexmit uint64
	var tookOn, tookOff time.Duration
	for seed := range uint64(6) {
		d, k := lossyBulk(t, seed+1, size, true)
		tookOn += d
		rtoOn += k.TCPTimeouts
		lostRexmit += k.TCPLostRetransmit
		t.Logf("seed %d RACK: %v, RTOs %d, lost retransmissions %d, retransmitted %d", seed+1, d, k.TCPTimeouts, k.TCPLostRetransmit, k.RetransSegs)
		d, k = lossyBulk(t, seed+1, size, false)
		tookOff += d
		rtoOff += k.TCPTimeouts
		t.Logf("seed %d RFC 6675: %v, RTOs %d, retransmitted %d", seed+1, d, k.TCPTimeouts, k.RetransSegs)
	}
	t.Logf("RACK: %v, %d RTOs; RFC 6675 alone: %v, %d RTOs", tookOn, rtoOn, tookOff, rtoOff)
	if lostRexmit == 0 {
		t.Error("RACK found no lost retransmission (TCPLostRetransmit) at 10% loss")
	}
	if rtoOn >= rtoOff {
		t.Errorf("RACK took %d RTOs, the RFC 6675 rules alone %d: want fewer", rtoOn, rtoOff)
	}
}
