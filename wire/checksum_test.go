package wire

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// slowSum is the textbook RFC 1071 loop over 16-bit words, as a reference.
func slowSum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

func TestChecksumKnownAnswers(t *testing.T) {
	tests := []struct {
		name string
		data string
		want uint16
	}{
		{"empty", "", 0xffff},
		// RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
		{"rfc1071", "0001 f203 f4f5 f6f7", ^uint16(0xddf2)},
		{"odd length", "0001 f203 f4f5 f6f7 01", ^uint16(0xdef2)},
		// A well-known IPv4 header (Wikipedia, "IPv4 header checksum") with its
		// checksum field zeroed: the checksum is b861.
		{"ipv4 header", "4500 0073 0000 4000 4011 0000 c0a8 0001 c0a8 00c7", 0xb861},
		{"ipv4 header verifies", "4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7", 0},
		{"all ones", "ffff ffff ffff ffff ffff ffff ffff ffff ff", 0x00ff},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := unhex(t, tt.data)
			if got := Checksum(b); got != tt.want {
				t.Errorf("Checksum = %04x, want %04x", got, tt.want)
			}
			if got := slowSum(b); got != tt.want {
				t.Errorf("reference = %04x, want %04x", got, tt.want)
			}
		})
	}
}

func TestChecksumMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 300; n++ {
		for _, fill := range []string{"random", "ones"} {
			b := make([]byte, n)
			for i := range b {
				if fill == "ones" {
					b[i] = 0xff
				} else {
					b[i] = byte(r.Uint32())
				}
			}
			if got, want := Checksum(b), slowSum(b); got != want {
				t.Fatalf("%s len %d: Checksum %04x, reference %04x", fill, n, got, want)
			}
		}
	}
	// Summing in pieces of even length equals summing at once.
	b := make([]byte, 1001)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	for cut := 0; cut <= len(b); cut += 2 {
		if got, want := ^fold(sum(sum(0, b[:cut]), b[cut:])), slowSum(b); got != want {
			t.Fatalf("cut %d: %04x, want %04x", cut, got, want)
		}
	}
}

// TestChecksumLongData covers the block path (addBlocks) at and around its
// thresholds and at segment sizes, with data that makes every word carry.
func TestChecksumLongData(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	fills := []struct {
		name string
		byte func(i int) byte
	}{
		{"random", func(int) byte { return byte(r.Uint32()) }},
		{"ones", func(int) byte { return 0xff }},
		{"ff00", func(i int) byte { return byte(0xff * (i % 2)) }},
		{"high bytes", func(i int) byte { return byte(0x80 | i) }},
	}
	for _, n := range []int{127, 128, 129, 191, 192, 193, 1460, 1461, 4097, 9000, 65495, 65535} {
		for _, f := range fills {
			b := make([]byte, n)
			for i := range b {
				b[i] = f.byte(i)
			}
			if got, want := Checksum(b), slowSum(b); got != want {
				t.Errorf("%s len %d: Checksum %04x, reference %04x", f.name, n, got, want)
			}
			// A running sum carried in (a pseudo-header's) joins the block sum.
			if got, want := ^fold(sum(sum(0, b[:2]), b[2:])), slowSum(b); got != want {
				t.Errorf("%s len %d, after 2 bytes: %04x, reference %04x", f.name, n, got, want)
			}
		}
	}
}

// BenchmarkChecksum measures sum at a header's, an MSS's and a 64 KiB
// segment's length.
func BenchmarkChecksum(b *testing.B) {
	for _, n := range []int{40, 1460, 65495} {
		buf := make([]byte, n)
		for i := range buf {
			buf[i] = byte(i * 7)
		}
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			var acc uint64
			for b.Loop() {
				acc = sum(acc>>32, buf)
			}
			if acc == 0 {
				b.Fatal("non-zero data summed to zero")
			}
		})
	}
}

func TestFoldExtremes(t *testing.T) {
	for _, tt := range []struct {
		in   uint64
		want uint16
	}{
		{0, 0}, {0xffff, 0xffff}, {0x10000, 1}, {^uint64(0), 0xffff}, {0xffff0000ffff0000, 0xfffe + 1},
	} {
		if got := fold(tt.in); got != tt.want {
			t.Errorf("fold(%#x) = %#x, want %#x", tt.in, got, tt.want)
		}
	}
}

// knownSYN4 and knownSYN6 are Linux-style SYNs built by hand, with
// checksums computed by an independent program (a Python RFC 1071 loop).
const (
	knownSYN4 = `4500003c 12344000 40063c51 c0000201 c6336402
		9c400050 01020304 00000000 a002ffff bace0000
		020405b4 0402080a 00000064 00000000 01030307`
	knownSYN6 = `60000000 00280640 20010db8 00000000 00000000 00000001
		20010db8 00000000 00000000 00000002
		9c400050 01020304 00000000 a002ffff 4b910000
		020405b4 0402080a 00000064 00000000 01030307`
)

func TestTCPChecksumKnownAnswer(t *testing.T) {
	tests := []struct {
		name     string
		pkt      string
		ipLen    int
		src, dst netip.Addr
		want     uint16
	}{
		{"ipv4", knownSYN4, 20, v4A, v4B, 0xbace},
		{"ipv4 mapped", knownSYN4, 20, netip.AddrFrom16(v4A.As16()), netip.AddrFrom16(v4B.As16()), 0xbace},
		{"ipv6", knownSYN6, 40, v6A, v6B, 0x4b91},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seg := unhex(t, tt.pkt)[tt.ipLen:]
			if !VerifyTCPChecksum(tt.src, tt.dst, seg) {
				t.Fatalf("known-good segment does not verify (sum %04x)", TCPChecksum(tt.src, tt.dst, seg))
			}
			if VerifyTCPChecksum(tt.dst, v4A.Next(), seg) {
				t.Fatal("segment verifies with the wrong addresses")
			}
			seg[16], seg[17] = 0, 0
			if got := TCPChecksum(tt.src, tt.dst, seg); got != tt.want {
				t.Errorf("TCPChecksum = %04x, want %04x", got, tt.want)
			}
		})
	}
}

func TestEncodeMatchesKnownSYN(t *testing.T) {
	for _, tt := range []struct {
		name     string
		src, dst netip.Addr
		want     string
	}{
		{"ipv4", v4A, v4B, knownSYN4},
		{"ipv6", v6A, v6B, knownSYN6},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := Packet{Src: tt.src, Dst: tt.dst, TCP: linuxSYN()}
			got := encodePacket(t, &p)
			if want := unhex(t, tt.want); string(got) != string(want) {
				t.Errorf("EncodePacket:\n got %x\nwant %x", got, want)
			}
		})
	}
}
