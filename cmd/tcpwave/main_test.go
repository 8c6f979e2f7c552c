package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/tcpwave/tcpwave/scenario"
)

func TestList(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"scenario", "list"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, s := range scenario.Catalog() {
		if !strings.Contains(out.String(), s.Name+" ") || s.Summary == "" {
			t.Errorf("list lacks %s or its summary", s.Name)
		}
	}
}

func TestRunAll(t *testing.T) {
	var out, errb bytes.Buffer
	code := run([]string{"scenario", "run", "--all"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d:\n%s%s", code, out.String(), errb.String())
	}
	n := len(scenario.Catalog())
	if strings.Count(out.String(), "PASS ") != n || !strings.Contains(out.String(), "passed, 0 failed") {
		t.Fatalf("want %d PASS lines:\n%s", n, out.String())
	}
}

func TestRunLadderAndJSON(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"scenario", "run", "four-way-close"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"F. 1:1(0) ack 1", "FIN_WAIT_2 -> TIME_WAIT", "s pass ~~~", "TIME_WAIT -> CLOSED", "PASS four-way-close"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("ladder lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if code := run([]string{"scenario", "run", "lost-ack-4", "--json"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	sc := bufio.NewScanner(&out)
	var drops, lines int
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		lines++
		if _, ok := m["t_us"]; !ok {
			t.Fatalf("line without t_us: %s", sc.Text())
		}
		if m["ev"] == "drop" && m["host"] == "net" {
			drops++
		}
	}
	if lines < 20 || drops != 1 {
		t.Fatalf("%d lines, %d drops; want a full trace with the one lost ACK", lines, drops)
	}
}

func TestFlagsChangeTheRun(t *testing.T) {
	var out, errb bytes.Buffer
	// With TIME_WAIT 0, lost-ack-4's retransmitted FIN draws a RST: the
	// scenario's own check (ACKed again in TIME_WAIT) must then fail.
	code := run([]string{"scenario", "run", "lost-ack-4", "--time-wait", "0"}, &out, &errb)
	if code != 1 || !strings.Contains(out.String(), "R 2:2(0)") {
		t.Fatalf("exit %d; want a failing check and a RST in the trace:\n%s", code, out.String())
	}
	out.Reset()
	if code := run([]string{"scenario", "run", "four-way-close", "--netstat-at", "1.5s"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "FIN-WAIT-2") || !strings.Contains(out.String(), "CLOSE-WAIT") {
		t.Fatalf("netstat table missing states:\n%s", out.String())
	}
}

func TestBadUsage(t *testing.T) {
	tests := [][]string{
		{},
		{"scenario"},
		{"scenario", "run"},
		{"scenario", "run", "no-such"},
		{"scenario", "run", "four-way-close", "--loss", "2"},
		{"scenario", "run", "--all", "four-way-close"},
		{"scenario", "run", "four-way-close", "--time-wait", "-1s"},
		{"bogus"},
	}
	for _, args := range tests {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
		if errb.Len() == 0 {
			t.Errorf("%q: no message on stderr", args)
		}
	}
}

// --pcap writes the run with virtual timestamps; gopacket's independent
// reader decodes it, and the same seed gives the same bytes.
func TestPcap(t *testing.T) {
	dir := t.TempDir()
	write := func(name string) []byte {
		t.Helper()
		path := filepath.Join(dir, name)
		var out, errb bytes.Buffer
		if code := run([]string{"scenario", "run", "lost-ack-4", "--pcap", path}, &out, &errb); code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, b := write("a.pcap"), write("b.pcap")
	if !bytes.Equal(a, b) {
		t.Fatal("the same seed wrote different pcap files")
	}
	r, err := pcapgo.NewReader(bytes.NewReader(a))
	if err != nil {
		t.Fatal(err)
	}
	var flags []string
	var last time.Time
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if ci.Timestamp.Before(last) {
			t.Fatal("timestamps go backwards")
		}
		last = ci.Timestamp
		p := gopacket.NewPacket(data, layers.LayerTypeIPv4, gopacket.Default)
		tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if !ok {
			t.Fatalf("no TCP layer in %v", p)
		}
		f := ""
		for _, x := range []struct {
			on bool
			c  string
		}{{tcp.SYN, "S"}, {tcp.FIN, "F"}, {tcp.RST, "R"}, {tcp.ACK, "."}} {
			if x.on {
				f += x.c
			}
		}
		flags = append(flags, f)
	}
	// Handshake, A's FIN and B's ACK, B's FIN, A's lost ACK, B's
	// retransmitted FIN, A's second ACK: the lost ACK was still captured.
	want := "S S. . F. . F. . F. ."
	if got := strings.Join(flags, " "); got != want {
		t.Fatalf("flags %q, want %q", got, want)
	}
	if last.Sub(time.Unix(0, 0)) < 2*time.Second {
		t.Fatalf("last packet at %v: virtual timestamps missing", last)
	}
}
