package wire

import "testing"

func TestFormatSegment(t *testing.T) {
	syn := linuxSYN()
	syn.Seq, syn.Options.TSVal = 1000, 100
	synAck := TCPFields{Seq: 5000, Ack: 1001, Flags: SYN | ACK, Window: 65160,
		Options: Options{MSS: 1460, SACKPermitted: true, HasWScale: true, WScale: 7}}
	data := TCPFields{Seq: 1001, Ack: 5001, Flags: ACK | PSH, Window: 502,
		Options: Options{HasTimestamp: true, TSVal: 200, TSEcr: 150}}
	sack := TCPFields{Seq: 5001, Ack: 1001, Flags: ACK, Window: 502,
		Options: Options{HasTimestamp: true, TSVal: 160, TSEcr: 200,
			NumSACK: 2, SACK: [4]SACKBlock{{2001, 3001}, {4001, 5001}}}}
	tests := []struct {
		name             string
		f                TCPFields
		payloadLen       int
		seqBase, ackBase uint32
		withOptions      bool
		want             string
	}{
		{"linux SYN", syn, 0, 1000, 0, true, "S 0:0(0) win 65535 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>"},
		{"SYN without options", syn, 0, 1000, 0, false, "S 0:0(0) win 65535"},
		{"SYN-ACK without TS", synAck, 0, 5000, 1000, true, "S. 0:0(0) ack 1 win 65160 <mss 1460,nop,nop,sackOK,nop,wscale 7>"},
		{"FIN-ACK", TCPFields{Seq: 1, Ack: 1, Flags: FIN | ACK, Window: 502}, 0, 0, 0, true, "F. 1:1(0) ack 1 win 502"},
		{"FIN-PSH-ACK with data", TCPFields{Seq: 101, Ack: 201, Flags: FIN | PSH | ACK, Window: 502}, 5, 100, 200, false, "FP. 1:6(5) ack 1 win 502"},
		{"RST", TCPFields{Seq: 5, Ack: 77, Flags: RST}, 0, 0, 0, true, "R 5:5(0) win 0"},
		{"RST-ACK", TCPFields{Seq: 5, Ack: 77, Flags: RST | ACK}, 0, 0, 70, true, "R. 5:5(0) ack 7 win 0"},
		{"no flags", TCPFields{Seq: 9}, 0, 0, 0, true, "- 9:9(0) win 0"},
		{"data with TS", data, 1000, 1000, 5000, true, "P. 1:1001(1000) ack 1 win 502 <nop,nop,TS val 200 ecr 150>"},
		{"data hiding options", data, 1000, 1000, 5000, false, "P. 1:1001(1000) ack 1 win 502"},
		{"SACK relative to ackBase", sack, 0, 5000, 1000, true, ". 1:1(0) ack 1 win 502 <nop,nop,TS val 160 ecr 200,nop,nop,sack 1001:2001 3001:4001>"},
		{"sequence wrap", TCPFields{Seq: 10, Ack: 3, Flags: ACK, Window: 1}, 20, 0xfffffff0, 0xfffffffe, false, ". 26:46(20) ack 5 win 1"},
		{"end wraps", TCPFields{Seq: 0xfffffffe, Flags: ACK}, 4, 0, 0, false, ". 4294967294:2(4) ack 0 win 0"},
		{"all flags", TCPFields{Flags: 0xff}, 0, 0, 0, false, "SFRPUEW. 0:0(0) ack 0 win 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FormatSegment(&tt.f, tt.payloadLen, tt.seqBase, tt.ackBase, tt.withOptions); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestOptionsString(t *testing.T) {
	tests := []struct {
		o    Options
		want string
	}{
		{Options{}, ""},
		{Options{MSS: 536}, "mss 536"},
		{Options{SACKPermitted: true}, "nop,nop,sackOK"},
		{Options{HasWScale: true}, "nop,wscale 0"},
		{Options{MSS: 1460, SACKPermitted: true, HasTimestamp: true, TSVal: 1, TSEcr: 2, HasWScale: true, WScale: 14},
			"mss 1460,sackOK,TS val 1 ecr 2,nop,wscale 14"},
		{Options{NumSACK: 1, SACK: [4]SACKBlock{{4294967295, 10}}}, "nop,nop,sack 4294967295:10"},
		{Options{NumSACK: 9, SACK: [4]SACKBlock{{1, 2}, {3, 4}, {5, 6}, {7, 8}}}, "nop,nop,sack 1:2 3:4 5:6 7:8"},
	}
	for _, tt := range tests {
		if got := tt.o.String(); got != tt.want {
			t.Errorf("%+v: got %q, want %q", tt.o, got, tt.want)
		}
	}
}

// The formatted options name exactly the bytes EncodeTCP writes.
func TestOptionsStringMatchesLayout(t *testing.T) {
	for _, o := range allOptionCombos() {
		if o.encodedLen() > MaxOptionsLen {
			continue
		}
		f := TCPFields{Options: o}
		buf := make([]byte, 60)
		n, err := EncodeTCP(buf, &f, nil, v4A, v4B)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := o.String(), describeOptionBytes(t, buf[20:n]); got != want {
			t.Errorf("String %q, bytes say %q", got, want)
		}
	}
}

// describeOptionBytes names raw option bytes one by one, independently of
// Options.
func describeOptionBytes(t *testing.T, b []byte) string {
	t.Helper()
	s := ""
	add := func(x string) {
		if s != "" {
			s += ","
		}
		s += x
	}
	u32 := func(b []byte) uint32 { return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) }
	for i := 0; i < len(b); {
		switch b[i] {
		case 1:
			add("nop")
			i++
			continue
		case 2:
			add("mss " + itoa(uint32(b[i+2])<<8|uint32(b[i+3])))
		case 3:
			add("wscale " + itoa(uint32(b[i+2])))
		case 4:
			add("sackOK")
		case 5:
			x := "sack"
			for k := i + 2; k < i+int(b[i+1]); k += 8 {
				x += " " + itoa(u32(b[k:])) + ":" + itoa(u32(b[k+4:]))
			}
			add(x)
		case 8:
			add("TS val " + itoa(u32(b[i+2:])) + " ecr " + itoa(u32(b[i+6:])))
		default:
			t.Fatalf("unexpected kind %d in %x", b[i], b)
		}
		i += int(b[i+1])
	}
	return s
}

func itoa(v uint32) string {
	if v == 0 {
		return "0"
	}
	var d []byte
	for ; v > 0; v /= 10 {
		d = append([]byte{byte('0' + v%10)}, d...)
	}
	return string(d)
}
