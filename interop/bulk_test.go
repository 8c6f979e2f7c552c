package interop

import (
	"crypto/sha256"
	"hash"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/tcp"
)

// bulkSize is what each direction of TestBulk carries.
const bulkSize = 16 << 20

// TestBulk moves 16 MiB between the stacks, one way in each direction
// and both ways at once, checking SHA-256 digests at both ends. Each
// side half-closes after its data and reads to EOF, then closes; the
// close must be clean (FIN both ways, no RST, TIME_WAIT only on a side
// whose FIN went first), no packet may exceed the MTU, tcpwave's
// full-sized segments must fill it (gVisor's stop at 1472 bytes: it
// keeps room for 40 bytes of options in every segment), and no checksum
// may fail.
func TestBulk(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name           string
		client, server Kind
		network        string
		up, down       int64 // bytes from client to server, and back
	}{
		{"tcpwave-sends-to-gvisor", TCPWave, GVisor, "tcp4", bulkSize, 0},
		{"gvisor-sends-to-tcpwave", TCPWave, GVisor, "tcp4", 0, bulkSize},
		{"both-ways/tcpwave-dials", TCPWave, GVisor, "tcp4", bulkSize, bulkSize},
		{"both-ways/gvisor-dials/ipv6", GVisor, TCPWave, "tcp6", bulkSize, bulkSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.client, tt.server, Config{})
			c, s := e.connect(t, tt.network)
			start := time.Now()
			var wg sync.WaitGroup
			wg.Go(func() { exchange(t, "client", c, tt.up, 1, tt.down, 2) })
			wg.Go(func() { exchange(t, "server", s, tt.down, 2, tt.up, 1) })
			wg.Wait()
			el := time.Since(start)
			t.Logf("%d MiB up, %d MiB down in %v: %.0f MiB/s", tt.up/mib, tt.down/mib, el.Round(time.Millisecond),
				float64(tt.up+tt.down)/mib/el.Seconds())
			if t.Failed() {
				return
			}
			c.Close()
			s.Close()
			// Both FINs were exchanged: each side ends in TIME_WAIT (its
			// FIN went first, or both crossed) or CLOSED; at least one
			// holds TIME_WAIT, unless a RST for its re-ACK of a
			// retransmitted FIN ended it (checkClean allows that RST only).
			if !poll(func() bool {
				cs, ss := c.State(), s.State()
				done := func(x tcp.State) bool { return x == tcp.TimeWait || x == tcp.Closed }
				return done(cs) && done(ss) && (cs == tcp.TimeWait || ss == tcp.TimeWait || timeWaitKilled(e.Pair))
			}) {
				t.Errorf("after the close: client %s, server %s", c.RawState(), s.RawState())
			}
			t.Logf("after the close: client %s, server %s", c.RawState(), s.RawState())
			checkClean(t, e.Pair)
			for _, p := range []struct {
				who  string
				kind Kind
				port *Port
				sent int64
			}{{"client", tt.client, e.cport, tt.up}, {"server", tt.server, e.sport, tt.down}} {
				st := p.port.Stats()
				t.Logf("%s's port: %+v", p.who, st)
				if st.TooLong > 0 {
					t.Errorf("%s sent %d packets larger than the MTU", p.who, st.TooLong)
				}
				if p.kind == TCPWave && p.sent > 0 && st.MaxLen != MTU {
					t.Errorf("%s's largest packet is %d bytes, want %d", p.who, st.MaxLen, MTU)
				}
			}
		})
	}
}

// exchange writes n pseudo-random bytes from seed to c in uneven chunks,
// half-closes, and at the same time reads to EOF, expecting want bytes
// from wantSeed. It reports failures on t.
func exchange(t *testing.T, who string, c Conn, n int64, seed uint64, want int64, wantSeed uint64) {
	c.SetDeadline(time.Now().Add(4 * waitTimeout))
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := send(c, n, seed); err != nil {
			t.Errorf("%s: send: %v", who, err)
			return
		}
		if err := c.CloseWrite(); err != nil {
			t.Errorf("%s: CloseWrite: %v", who, err)
		}
	})
	v := newVerifier(wantSeed)
	got, err := io.CopyBuffer(v, c, make([]byte, 48<<10))
	switch {
	case err != nil:
		t.Errorf("%s: read after %d bytes: %v", who, got, err)
	case v.bad >= 0:
		t.Errorf("%s: received bytes differ from what was sent from offset %d", who, v.bad)
	case got != want || v.sum() != digest(want, wantSeed):
		t.Errorf("%s: received %d bytes (want %d), SHA-256 match %v", who, got, want, v.sum() == digest(want, wantSeed))
	}
	wg.Wait()
}

// send writes n bytes of the stream of seed to w in chunks of random
// sizes up to 100 000 bytes.
func send(w io.Writer, n int64, seed uint64) error {
	src := stream(seed)
	sizes := rand.New(rand.NewPCG(seed, ^seed))
	buf := make([]byte, 100_000)
	for n > 0 {
		k := min(int64(1+sizes.IntN(len(buf))), n)
		src.Read(buf[:k])
		if _, err := w.Write(buf[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// stream returns the pseudo-random byte stream of seed.
func stream(seed uint64) *rand.ChaCha8 {
	var key [32]byte
	key[0], key[1] = byte(seed), byte(seed>>8)
	return rand.NewChaCha8(key)
}

// verifier hashes what it is given with SHA-256 and compares it with a
// stream, to tell where a transfer went wrong.
type verifier struct {
	h    hash.Hash
	src  *rand.ChaCha8
	want []byte
	n    int64 // bytes seen
	bad  int64 // offset of the first byte that differs, or -1
}

func newVerifier(seed uint64) *verifier {
	return &verifier{h: sha256.New(), src: stream(seed), bad: -1}
}

func (v *verifier) Write(p []byte) (int, error) {
	v.h.Write(p)
	if v.bad < 0 {
		if cap(v.want) < len(p) {
			v.want = make([]byte, len(p))
		}
		w := v.want[:len(p)]
		v.src.Read(w)
		for i := range p {
			if p[i] != w[i] {
				v.bad = v.n + int64(i)
				break
			}
		}
	}
	v.n += int64(len(p))
	return len(p), nil
}

func (v *verifier) sum() [32]byte { return [32]byte(v.h.Sum(nil)) }

var digests sync.Map // [2]uint64{n, seed} -> [32]byte

// digest returns the SHA-256 of the first n bytes of the stream of seed.
func digest(n int64, seed uint64) [32]byte {
	k := [2]uint64{uint64(n), seed}
	if d, ok := digests.Load(k); ok {
		return d.([32]byte)
	}
	h := sha256.New()
	io.CopyN(h, stream(seed), n)
	d := [32]byte(h.Sum(nil))
	digests.Store(k, d)
	return d
}

// tcpwaveTWKilled returns how many TIME_WAIT records of p's tcpwave
// hosts a RST ended.
func tcpwaveTWKilled(p *Pair) uint64 {
	var n uint64
	for _, h := range []Host{p.A, p.B} {
		if h, ok := h.(*TCPWaveHost); ok {
			n += h.Counters().TWKilled
		}
	}
	return n
}

// timeWaitKilled reports whether a RST ended a TIME_WAIT of p: tcpwave
// counts those; a gVisor TIME_WAIT shows as a RST it received.
func timeWaitKilled(p *Pair) bool {
	if tcpwaveTWKilled(p) > 0 {
		return true
	}
	for _, h := range []Host{p.A, p.B} {
		if h, ok := h.(*GVisorHost); ok && h.Stack.Stats().TCP.ResetsReceived.Value() > 0 {
			return true
		}
	}
	return false
}

// checkClean fails the test if either host of p sent or received a RST
// or saw a bad checksum.
func checkClean(t *testing.T, p *Pair) {
	t.Helper()
	checkChecksums(t, p)
	// A RST that answers tcpwave's TIME_WAIT re-ACK of a retransmitted FIN
	// (the peer's FIN timer fired before our ACK reached it, which a loaded
	// machine makes likely) is correct: the peer has forgotten the
	// connection, and the RST removes our record (Linux tcp_rfc1337=0).
	// Only those RSTs are allowed.
	twKilled := tcpwaveTWKilled(p)
	var tcpwaveRSTs uint64
	for _, h := range []Host{p.A, p.B} {
		if h, ok := h.(*TCPWaveHost); ok {
			tcpwaveRSTs += h.Counters().OutRsts
		}
	}
	for _, h := range []Host{p.A, p.B} {
		switch h := h.(type) {
		case *TCPWaveHost:
			c := h.Counters()
			t.Logf("tcpwave: %+v", c)
			// The same race the other way: tcpwave in LAST_ACK probes or
			// retransmits its FIN, takes the first ACK and closes, and
			// answers gVisor's TIME_WAIT re-ACK with a RST. At most one
			// RST per FIN it sent again.
			if c.EstabResets != 0 || c.OutRsts > c.RetransSegs+c.TCPLossProbes {
				t.Errorf("tcpwave: OutRsts %d (retransmissions %d, loss probes %d), EstabResets %d; want no RST but for a re-ACK of a FIN sent again",
					c.OutRsts, c.RetransSegs, c.TCPLossProbes, c.EstabResets)
			}
		case *GVisorHost:
			st := h.Stack.Stats()
			tc := st.TCP
			t.Logf("gvisor: segments sent %d, received %d, retransmits %d, resets sent %d, received %d, checksum errors %d",
				tc.SegmentsSent.Value(), tc.ValidSegmentsReceived.Value(), tc.Retransmits.Value(),
				tc.ResetsSent.Value(), tc.ResetsReceived.Value(), tc.ChecksumErrors.Value())
			if sent := tc.ResetsSent.Value(); sent > twKilled {
				t.Errorf("gvisor sent %d resets, only %d of them ended a tcpwave TIME_WAIT; want no others", sent, twKilled)
			}
			if n := tc.ResetsReceived.Value(); n != 0 && n > tcpwaveRSTs {
				t.Errorf("gvisor: %d resets received, tcpwave sent %d for re-ACKs; want no others", n, tcpwaveRSTs)
			}
		}
	}
}

// checkChecksums fails the test if either host of p saw a bad checksum or
// a malformed packet.
func checkChecksums(t *testing.T, p *Pair) {
	t.Helper()
	for _, h := range []Host{p.A, p.B} {
		var g *GVisorHost
		switch h := h.(type) {
		case *TCPWaveHost:
			if n := h.Counters().InErrs; n != 0 {
				t.Errorf("tcpwave: InErrs %d, want 0", n)
			}
			continue
		case *GVisorHost:
			g = h
		case *GVisorLinkHost:
			g = h.GVisorHost
		default:
			t.Fatalf("no checksum counters for %T", h)
		}
		st := g.Stack.Stats()
		if n := st.TCP.ChecksumErrors.Value() + st.IP.MalformedPacketsReceived.Value(); n != 0 {
			t.Errorf("gvisor: %d checksum errors or malformed packets, want 0", n)
		}
	}
}
