package trace

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/tcpwave/tcpwave/tcp"
)

func TestWriteJSONLSchema(t *testing.T) {
	evs := []Event{
		{T: us(1000), Host: "A", Kind: KindState, From: tcp.Established, To: tcp.FinWait1, Why: "close() called"},
		{T: us(1000), Host: "A", Kind: KindSend, Seg: sg("F. 1:1(0) ack 1 win 65535")},
		{T: us(1500), Host: "net", Kind: KindDrop, Src: "A", Dst: "B", Seg: sg("F. 1:1(0) ack 1 win 65535")},
		{T: us(2000), Host: "B", Kind: KindApp, Call: "read", Result: "EOF"},
		{T: 0, Host: "A", Kind: KindSend, Seg: sg("S 0:0(0) win 65535 <mss 1460,sackOK>")},
	}
	want := `{"t_us":1000,"host":"A","ev":"state","from":"ESTABLISHED","to":"FIN_WAIT_1","why":"close() called"}
{"t_us":1000,"host":"A","ev":"send","seg":"F. 1:1(0) ack 1 win 65535"}
{"t_us":1500,"host":"net","ev":"drop","from":"A","to":"B","seg":"F. 1:1(0) ack 1 win 65535"}
{"t_us":2000,"host":"B","ev":"app","call":"read","result":"EOF"}
{"t_us":0,"host":"A","ev":"send","seg":"S 0:0(0) win 65535 <mss 1460,sackOK>"}
`
	var b bytes.Buffer
	if err := WriteJSONL(&b, evs); err != nil {
		t.Fatal(err)
	}
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestJSONLValidAndRoundTrip(t *testing.T) {
	evs := []Event{
		{T: us(100), Host: "A", Kind: KindState, From: tcp.Closed, To: tcp.SynSent, Why: "connect() called"},
		{T: us(100), Host: "A", Kind: KindSend, Seg: sg("S 0:0(0) win 65535 <mss 1460,sackOK,wscale 7>")},
		{T: us(600), Host: "B", Kind: KindRecv, Seg: sg("S 0:0(0) win 65535 <mss 1460,sackOK,wscale 7>")},
		{T: us(600), Host: "B", Kind: KindState, From: tcp.Listen, To: tcp.SynRcvd, Why: "RFC 9293 §3.10.7.2: SYN received"},
		{T: us(20500), Host: "net", Kind: KindDrop, Src: "A", Dst: "B", Seg: sg(". 7:7(0) ack 2 win 512")},
		{T: us(60220500), Host: "A", Kind: KindState, From: tcp.TimeWait, To: tcp.Closed, Why: "2MSL timeout"},
		{T: us(1), Kind: KindApp}, // only the mandatory keys
	}
	// Awkward text must still make valid JSON.
	evs = append(evs,
		Event{T: us(70_000_000), Host: "B", Kind: KindApp, Call: "write(\"a\\b\")", Result: "EPIPE\n\t<&>"},
		Event{T: us(70_000_001), Host: "A", Kind: KindState, From: tcp.Closing, To: tcp.TimeWait, Why: "§ ü \u2028 \x01"},
		Event{T: -us(5), Host: "A", Kind: KindApp, Call: "negative time"},
	)
	var b bytes.Buffer
	if err := WriteJSONL(&b, evs); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != len(evs) {
		t.Fatalf("%d lines for %d events", len(lines), len(evs))
	}
	for i, ln := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(ln), &m); err != nil {
			t.Fatalf("line %d %q is not JSON: %v", i+1, ln, err)
		}
		if _, ok := m["t_us"]; !ok {
			t.Errorf("line %d lacks t_us", i+1)
		}
		for k, v := range m {
			if v == "" {
				t.Errorf("line %d has empty %q", i+1, k)
			}
		}
	}
	got, err := ReadJSONL(&b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, evs) {
		t.Errorf("round trip differs:\ngot  %v\nwant %v", got, evs)
	}
}

func TestReadJSONL(t *testing.T) {
	in := "\n" + `{"t_us":7,"host":"A","ev":"recv","seg":"R 1:1(0) win 0","extra":true}` + "\r\n\n" +
		`  {"t_us":8,"host":"B","ev":"app","call":"read","result":"ECONNRESET"}` // no final newline
	got, err := ReadJSONL(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Event{
		{T: us(7), Host: "A", Kind: KindRecv, Seg: sg("R 1:1(0) win 0")},
		{T: us(8), Host: "B", Kind: KindApp, Call: "read", Result: "ECONNRESET"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got, err := ReadJSONL(strings.NewReader("")); err != nil || len(got) != 0 {
		t.Errorf("empty input: %v, %v", got, err)
	}
	for _, bad := range []string{
		`{"t_us":1}` + "\n" + `{"t_us":` + "\n",
		`{"t_us":1}` + "\n" + `null`,
		`{"t_us":1}` + "\n" + `[1]`,
		`{"t_us":"soon"}`,
	} {
		_, err := ReadJSONL(strings.NewReader(bad))
		if err == nil {
			t.Errorf("ReadJSONL(%q) succeeded", bad)
		} else if !strings.Contains(err.Error(), "line ") {
			t.Errorf("error %q does not name the line", err)
		}
	}
}

func TestWriteJSONLError(t *testing.T) {
	many := make([]Event, 1000)
	if err := WriteJSONL(errWriter{}, many); err == nil {
		t.Error("write error not reported")
	}
}

type errWriter struct{}

func (errWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// ReadJSONL reads the typed values back and says which line does not.
func TestReadJSONLTyped(t *testing.T) {
	in := `{"t_us":1,"host":"B","ev":"state","to":"LISTEN","conn":"10.0.0.2:80"}
{"t_us":2,"host":"B","ev":"drop","from":"?","to":"B","why":"bad checksum","seg":"(52 bytes)"}
`
	got, err := ReadJSONL(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Event{
		{T: us(1), Host: "B", Kind: KindState, FromUnknown: true, To: tcp.Listen, Conn: cn("10.0.0.2:80")},
		{T: us(2), Host: "B", Kind: KindDrop, Src: "?", Dst: "B", Size: 52, Why: "bad checksum"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	var b bytes.Buffer
	if err := WriteJSONL(&b, got); err != nil || b.String() != in {
		t.Errorf("written back as %q (%v), want %q", b.String(), err, in)
	}
	for _, bad := range []string{
		`{"t_us":1,"ev":"state","from":"CLOSED","to":"SYN_RECEIVED"}`,
		`{"t_us":1,"ev":"state","from":"INVALID","to":"LISTEN"}`,
		`{"t_us":1,"ev":"state","to":"LISTEN","conn":"10.0.0.1>10.0.0.2:80"}`,
		`{"t_us":1,"ev":"send","seg":"S 0:0(0) win x"}`,
		`{"t_us":1,"ev":"drop","seg":"(0 bytes)"}`,
	} {
		if _, err := ReadJSONL(strings.NewReader("\n" + bad)); err == nil || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("ReadJSONL(%s): error %v, want one naming line 2", bad, err)
		}
	}
}
