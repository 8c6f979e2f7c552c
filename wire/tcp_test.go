package wire

import (
	"bytes"
	"errors"
	"testing"
)

func TestEncodeTCPOptionLayout(t *testing.T) {
	ts := func(o Options) Options { o.HasTimestamp, o.TSVal, o.TSEcr = true, 0x01020304, 0x05060708; return o }
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"none", Options{}, ""},
		{"linux SYN", Options{MSS: 1460, SACKPermitted: true, HasTimestamp: true, TSVal: 100, HasWScale: true, WScale: 7},
			"020405b4 0402080a 00000064 00000000 01030307"},
		{"SYN-ACK without TS", Options{MSS: 1460, SACKPermitted: true, HasWScale: true, WScale: 7},
			"020405b4 01010402 01030307"},
		{"data with TS", ts(Options{}), "0101080a 01020304 05060708"},
		{"mss only", Options{MSS: 536}, "02040218"},
		{"sackOK only", Options{SACKPermitted: true}, "01010402"},
		{"wscale only", Options{HasWScale: true, WScale: 14}, "0103030e"},
		{"wscale above 14 written as given", Options{HasWScale: true, WScale: 15}, "0103030f"},
		{"TS and SACK", ts(Options{NumSACK: 1, SACK: [4]SACKBlock{{100, 200}}}),
			"0101080a 01020304 05060708 0101050a 00000064 000000c8"},
		{"three SACK blocks with TS", ts(Options{NumSACK: 3, SACK: [4]SACKBlock{{1, 2}, {3, 4}, {5, 6}}}),
			"0101080a 01020304 05060708 0101051a 00000001 00000002 00000003 00000004 00000005 00000006"},
		{"four SACK blocks", Options{NumSACK: 4, SACK: [4]SACKBlock{{1, 2}, {3, 4}, {5, 6}, {7, 8}}},
			"01010522 00000001 00000002 00000003 00000004 00000005 00000006 00000007 00000008"},
		{"everything in 40 bytes", Options{MSS: 1, SACKPermitted: true, HasWScale: true, NumSACK: 3, SACK: [4]SACKBlock{{1, 2}, {3, 4}, {5, 6}}},
			"02040001 01010402 01030300 0101051a 00000001 00000002 00000003 00000004 00000005 00000006"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := TCPFields{SrcPort: 1, DstPort: 2, Flags: ACK, Options: tt.opts}
			buf := make([]byte, 100)
			n, err := EncodeTCP(buf, &f, nil, v4A, v4B)
			if err != nil {
				t.Fatal(err)
			}
			want := unhex(t, tt.want)
			if n != 20+len(want) || f.HeaderLen() != n {
				t.Fatalf("wrote %d bytes, HeaderLen %d, want %d", n, f.HeaderLen(), 20+len(want))
			}
			if got := buf[20:n]; !bytes.Equal(got, want) {
				t.Errorf("options\n got %x\nwant %x", got, want)
			}
			if int(buf[12]>>4)*4 != n {
				t.Errorf("data offset %d, want %d", buf[12]>>4, n/4)
			}
			if !VerifyTCPChecksum(v4A, v4B, buf[:n]) {
				t.Error("checksum does not verify")
			}
		})
	}
}

func TestEncodeTCPErrors(t *testing.T) {
	tooLong := Options{HasTimestamp: true, NumSACK: 4}
	tests := []struct {
		name    string
		f       TCPFields
		payload []byte
		buf     int
		src     any
		want    error
	}{
		{"TS with 4 SACK blocks", TCPFields{Options: tooLong}, nil, 100, nil, ErrOptionsTooLong},
		{"NumSACK 5", TCPFields{Options: Options{NumSACK: 5}}, nil, 100, nil, ErrOptionsTooLong},
		{"NumSACK 255", TCPFields{Options: Options{NumSACK: 255}}, nil, 5000, nil, ErrOptionsTooLong},
		{"all options and 4 SACK", TCPFields{Options: Options{MSS: 1, HasWScale: true, NumSACK: 4}}, nil, 100, nil, ErrOptionsTooLong},
		{"buffer below header", TCPFields{}, nil, 19, nil, ErrBufferTooSmall},
		{"buffer below options", linuxSYN(), nil, 39, nil, ErrBufferTooSmall},
		{"buffer below payload", TCPFields{}, []byte("hello"), 24, nil, ErrBufferTooSmall},
		{"mixed families", TCPFields{}, nil, 100, v6A, ErrBadAddress},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := v4A
			if tt.src != nil {
				src = v6A
			}
			buf := make([]byte, tt.buf)
			n, err := EncodeTCP(buf, &tt.f, tt.payload, src, v4B)
			if !errors.Is(err, tt.want) || n != 0 {
				t.Fatalf("EncodeTCP = %d, %v; want 0, %v", n, err, tt.want)
			}
		})
	}
	// Exactly the right size works.
	f := linuxSYN()
	buf := make([]byte, 45)
	if n, err := EncodeTCP(buf, &f, []byte("hello"), v4A, v4B); err != nil || n != 45 {
		t.Fatalf("EncodeTCP into exact buffer = %d, %v", n, err)
	}
}

func TestEncodeTCPPayloadInPlace(t *testing.T) {
	f := linuxSYN()
	f.Flags = ACK | PSH
	buf := make([]byte, 200)
	hl := f.HeaderLen()
	copy(buf[hl:], "in place payload")
	n, err := EncodeTCP(buf, &f, buf[hl:hl+16], v6A, v6B)
	if err != nil {
		t.Fatal(err)
	}
	var g TCPFields
	payload, err := ParseTCP(buf[:n], &g)
	if err != nil || string(payload) != "in place payload" || g != f {
		t.Fatalf("ParseTCP = %q, %v, %+v", payload, err, g)
	}
	if !VerifyTCPChecksum(v6A, v6B, buf[:n]) {
		t.Fatal("checksum does not verify")
	}
}

func TestParseTCPHeaderFields(t *testing.T) {
	b := unhex(t, `9c400050 fffffffe 80000001 50ff01f6 00000102 6869`)
	var f TCPFields
	payload, err := ParseTCP(b, &f)
	if err != nil {
		t.Fatal(err)
	}
	want := TCPFields{SrcPort: 40000, DstPort: 80, Seq: 0xfffffffe, Ack: 0x80000001,
		Flags: FIN | SYN | RST | PSH | ACK | URG | ECE | CWR, Window: 502, Urgent: 0x102}
	if f != want {
		t.Errorf("fields %+v\nwant %+v", f, want)
	}
	if string(payload) != "hi" || &payload[0] != &b[20] {
		t.Errorf("payload %q does not alias the input", payload)
	}
	// Parsing into used fields resets the options.
	f.Options = Options{MSS: 9, NumSACK: 2, SACK: [4]SACKBlock{{1, 2}, {3, 4}}}
	if _, err := ParseTCP(b, &f); err != nil || f != want {
		t.Errorf("reparse into dirty fields gave %+v, %v", f, err)
	}
}

func TestParseTCPOptions(t *testing.T) {
	tests := []struct {
		name string
		opts string
		want Options
	}{
		{"none", "", Options{}},
		{"linux SYN", "020405b4 0402080a 00000064 00000000 01030307",
			Options{MSS: 1460, SACKPermitted: true, HasTimestamp: true, TSVal: 100, HasWScale: true, WScale: 7}},
		{"EOL ends the list", "0101 00 02 04 05b4 00 00000000", Options{}},
		{"EOL after MSS", "020405b4 00 ff 01 02", Options{MSS: 1460}},
		{"all NOPs", "01010101 01010101", Options{}},
		{"unknown kinds skipped", "1e04aabb fe020204 05b40000", Options{MSS: 1460}},
		{"unknown kind with long body", "220c0000 00000000 00000000 03030101", Options{HasWScale: true, WScale: 1}},
		{"wscale 14", "0103030e", Options{HasWScale: true, WScale: 14}},
		{"wscale 15 clamped", "0103030f", Options{HasWScale: true, WScale: 14}},
		{"wscale 255 clamped", "010303ff", Options{HasWScale: true, WScale: 14}},
		{"mss 0", "02040000", Options{}},
		{"duplicate MSS, last wins", "02040100 02040200", Options{MSS: 0x200}},
		{"one SACK block", "0101050a 00000001 00000002",
			Options{NumSACK: 1, SACK: [4]SACKBlock{{1, 2}}}},
		{"two SACK blocks", "01010512 00000001 00000002 00000003 00000004",
			Options{NumSACK: 2, SACK: [4]SACKBlock{{1, 2}, {3, 4}}}},
		{"four SACK blocks", "01010522 00000001 00000002 00000003 00000004 00000005 00000006 00000007 00000008",
			Options{NumSACK: 4, SACK: [4]SACKBlock{{1, 2}, {3, 4}, {5, 6}, {7, 8}}}},
		{"second SACK replaces first", "05120000 00010000 00020000 00030000 00040101 050a0000 00090000 000a0000",
			Options{NumSACK: 1, SACK: [4]SACKBlock{{9, 10}}}},
		{"timestamps", "0101080a ffffffff 00000001",
			Options{HasTimestamp: true, TSVal: 0xffffffff, TSEcr: 1}},
		{"sackOK then TS unaligned", "0402080a 00000001 00000002 01010101",
			Options{SACKPermitted: true, HasTimestamp: true, TSVal: 1, TSEcr: 2}},
		{"option ending exactly at header end", "01010103 030a0101 01010101 01010402", Options{HasWScale: true, WScale: 10, SACKPermitted: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seg := rawTCP(t, unhex(t, tt.opts), []byte("xyz"))
			var f TCPFields
			payload, err := ParseTCP(seg, &f)
			if err != nil {
				t.Fatal(err)
			}
			if f.Options != tt.want {
				t.Errorf("options %+v\nwant    %+v", f.Options, tt.want)
			}
			if string(payload) != "xyz" {
				t.Errorf("payload %q", payload)
			}
		})
	}
}

// TestParseTCPMalformedOptions: malformed options never fail the parse,
// as in Linux's tcp_parse_options: a length below 2 or past the header ends
// the list (what came before is kept), a known kind with the wrong length
// is skipped. The "kernel:" rows are SYNs whose SYN-ACK from Linux 6.18
// showed which options it honoured.
func TestParseTCPMalformedOptions(t *testing.T) {
	tests := []struct {
		name string
		opts string
		want Options
	}{
		{"length 0", "02000000", Options{}},
		{"length 1", "02010000", Options{}},
		{"unknown kind length 1", "63010000", Options{}},
		{"unknown kind length 0 after NOP", "01630000", Options{}},
		{"kind without length byte", "01010102", Options{}},
		{"MSS runs past header", "01010204", Options{}},
		{"unknown kind runs past header", "1e0a0000", Options{}},
		{"SACK runs past header", "01010512 00000001 00000002", Options{}},
		{"MSS length 3", "02030500", Options{}},
		{"MSS length 5", "02050000 00000000", Options{}},
		{"wscale length 2", "03020000", Options{}},
		{"wscale length 4", "03040e00", Options{}},
		{"sackOK length 3", "04030000", Options{}},
		{"sackOK length 4", "04040000", Options{}},
		{"SACK length 2", "05020000", Options{}},
		{"SACK length 6", "05060000 00000000", Options{}},
		{"SACK length 11", "050b0000 00000000 00000000", Options{}},
		{"SACK length 9", "05090000 00000000 00000000", Options{}},
		{"TS length 8", "08080000 00000000", Options{}},
		{"TS length 12", "080c0000 00000000 00000000", Options{}},
		{"wrong length after good ones", "020405b4 0101080a 00000001 00000002 03020000",
			Options{MSS: 1460, HasTimestamp: true, TSVal: 1, TSEcr: 2}},
		{"silly length keeps the options before it", "020405b4 0402 2201 0101080a 00000001 00000002 01030307",
			Options{MSS: 1460, SACKPermitted: true}},
		{"kernel: MSS length 3 first", "020305 0402 080a 00000001 00000002 01030307 00",
			Options{SACKPermitted: true, HasTimestamp: true, TSVal: 1, TSEcr: 2, HasWScale: true, WScale: 7}},
		{"kernel: MSS length 5", "0205000000 0402 080a 00000001 00000002 01030307 010101",
			Options{SACKPermitted: true, HasTimestamp: true, TSVal: 1, TSEcr: 2, HasWScale: true, WScale: 7}},
		{"kernel: sackOK length 3", "020405b4 040300 080a 00000001 00000002 01030307 01 0000",
			Options{MSS: 1460, HasTimestamp: true, TSVal: 1, TSEcr: 2, HasWScale: true, WScale: 7}},
		{"kernel: TS length 9", "020405b4 0402 0809 00000001 000000 01030307 010101 0000",
			Options{MSS: 1460, SACKPermitted: true, HasWScale: true, WScale: 7}},
		{"kernel: wscale length 4 last", "020405b4 0402 080a 00000001 00000002 03040700",
			Options{MSS: 1460, SACKPermitted: true, HasTimestamp: true, TSVal: 1, TSEcr: 2}},
		{"kernel: wscale past the end", "020405b4 0402 080a 00000001 00000002 01030807",
			Options{MSS: 1460, SACKPermitted: true, HasTimestamp: true, TSVal: 1, TSEcr: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seg := rawTCP(t, unhex(t, tt.opts), []byte("xyz"))
			var f TCPFields
			payload, err := ParseTCP(seg, &f)
			if err != nil {
				t.Fatalf("ParseTCP: %v", err)
			}
			if f.Options != tt.want {
				t.Errorf("options %+v\nwant    %+v", f.Options, tt.want)
			}
			if string(payload) != "xyz" {
				t.Errorf("payload %q", payload)
			}
		})
	}
}

// TestScanAuthOptions is Linux's tcp_parse_auth_options on a kernel with
// TCP-MD5 and without TCP-AO: a silly or partial option fails only while
// 18 bytes or more of options remain (Linux 6.18 dropped a SYN with an
// option of length 1 18 bytes from the end and answered one with it 5
// bytes from the end, and dropped SYNs with an MD5 option of length 17 or
// 20 or with two of them), and an 18-byte MD5 option is found.
func TestScanAuthOptions(t *testing.T) {
	tests := []struct {
		name   string
		opts   string
		md5    bool
		bad    bool
		offset int
	}{
		{"none", "", false, false, 0},
		{"Linux SYN", "020405b4 0402080a 00000001 00000000 01030307", false, false, 0},
		{"length 1 at the start", "2201 020405b4 0402080a 00000001 00000000 01030307", false, true, 1},
		{"length 0 with 18 left", "020405b4 0402 2200 080a 00000001 00000000 01030307 0101", false, true, 7},
		{"length 1 with 17 left", "020405b4 0402 01 2201 080a00000001 00000000 01030307", false, false, 0},
		{"length 1 with 5 left", "020405b4 0402080a 00000001 00000002 010101 2201010101", false, false, 0},
		{"past the end with 18 left", "01 2213 0000000000000000 0000000000000000", false, true, 2},
		{"past the end with 6 left", "020405b4 0402080a 00000001 00000002 0101 220901010101", false, false, 0},
		{"EOL first", "00 2201 0000000000000000 0000000000000000", false, false, 0},
		{"MD5", "020405b4 1312 00000000000000000000000000000000 0101", true, false, 0},
		{"MD5 after NOPs", "0101 1312 00000000000000000000000000000000", true, false, 0},
		{"MD5 of length 17", "1311 000000000000000000000000000000 020405b4 010101", false, true, 1},
		{"MD5 of length 20", "1314 000000000000000000000000000000000000 020405b4", false, true, 1},
		{"MD5 twice", "1312 00000000000000000000000000000000 1312 00000000000000000000000000000000 01010101", true, true, 18},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md5, err := ScanAuthOptions(unhex(t, tt.opts))
			if md5 != tt.md5 {
				t.Errorf("md5 %v, want %v", md5, tt.md5)
			}
			if !tt.bad {
				if err != nil {
					t.Errorf("error %v, want none", err)
				}
				return
			}
			wantErr(t, err, ErrBadOption, "tcp option")
			var pe *ParseError
			if errors.As(err, &pe) && pe.Offset != tt.offset {
				t.Errorf("offset %d, want %d", pe.Offset, tt.offset)
			}
		})
	}
}

func TestParseTCPBadLength(t *testing.T) {
	seg := rawTCP(t, unhex(t, "020405b4"), []byte("data"))
	for doff := 0; doff < 16; doff++ {
		b := bytes.Clone(seg)
		b[12] = byte(doff<<4) | b[12]&0x0f
		var f TCPFields
		payload, err := ParseTCP(b, &f)
		switch {
		case doff < 5 || doff*4 > len(b):
			wantErr(t, err, ErrBadLength, "tcp")
		case err != nil:
			t.Errorf("doff %d: %v", doff, err)
		case len(payload) != len(b)-doff*4:
			t.Errorf("doff %d: payload length %d", doff, len(payload))
		}
	}
}

func TestParseTCPTruncated(t *testing.T) {
	f := linuxSYN()
	buf := make([]byte, 100)
	n, err := EncodeTCP(buf, &f, []byte("payload"), v4A, v4B)
	if err != nil {
		t.Fatal(err)
	}
	seg := buf[:n]
	hl := f.HeaderLen()
	for i := 0; i < n; i++ {
		// A fresh copy of exactly i bytes, so reading past it would panic.
		b := bytes.Clone(seg[:i])
		var g TCPFields
		payload, err := ParseTCP(b, &g)
		switch {
		case i < 20:
			wantErr(t, err, ErrTruncated, "tcp")
		case i < hl:
			wantErr(t, err, ErrBadLength, "tcp")
		case err != nil || g != f || len(payload) != i-hl:
			t.Errorf("len %d: %v, %d payload bytes", i, err, len(payload))
		}
	}
}

func TestHeaderLen(t *testing.T) {
	for _, o := range allOptionCombos() {
		f := TCPFields{Options: o}
		hl := f.HeaderLen()
		if hl%4 != 0 || hl < 20 {
			t.Fatalf("HeaderLen %d for %+v", hl, o)
		}
		buf := make([]byte, 100)
		n, err := EncodeTCP(buf, &f, nil, v4A, v4B)
		if hl > 60 {
			if !errors.Is(err, ErrOptionsTooLong) {
				t.Fatalf("HeaderLen %d but EncodeTCP error %v", hl, err)
			}
			continue
		}
		if err != nil || n != hl {
			t.Fatalf("HeaderLen %d, EncodeTCP = %d, %v", hl, n, err)
		}
	}
}
