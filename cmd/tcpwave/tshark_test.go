package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/scenario"
)

// requireTool finds a program the test needs. Without it the test skips
// with a message, except in CI (CI=true), where a missing prerequisite is a
// failure.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required in CI (.ci/run installs it): %v", name, err)
	}
	t.Skipf("%s not installed (apt-get install %s): %v", name, name, err)
	return ""
}

func tshark(t *testing.T, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("tshark %v: %v\n%s", args, err, errb.String())
	}
	return out.String()
}

// TestTsharkReadsOurPcap checks the close sequence of four-way-close as
// tshark decodes it.
func TestTsharkReadsOurPcap(t *testing.T) {
	bin := requireTool(t, "tshark")
	path := filepath.Join(t.TempDir(), "fwc.pcap")
	var out, errb bytes.Buffer
	if code := run([]string{"scenario", "run", "four-way-close", "--pcap", path}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	got := tshark(t, bin, "-r", path, "-T", "fields", "-e", "tcp.flags.str", "-e", "tcp.seq", "-e", "tcp.ack")
	var rows []string
	for _, line := range strings.Split(strings.TrimSpace(got), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			t.Fatalf("unexpected tshark line %q", line)
		}
		flags := strings.NewReplacer("·", "", "A", ".").Replace(f[0])
		rows = append(rows, flags+" "+f[1]+" "+f[2])
	}
	// tshark's relative numbers: handshake, then FIN, ACK, FIN, ACK.
	want := []string{"S 0 0", ".S 0 1", ". 1 1", ".F 1 1", ". 1 2", ".F 1 2", ". 2 2"}
	if strings.Join(rows, "|") != strings.Join(want, "|") {
		t.Fatalf("tshark sees\n  %v\nwant\n  %v", rows, want)
	}
}

// TestTsharkFindsNothingWrong runs every scenario to a pcap and asks
// tshark, with checksum validation on, for bad checksums, malformed
// packets and expert warnings: the only warnings allowed are the RSTs the
// scenario itself sends, and the duplicate ACKs that carry a D-SACK block
// for a duplicate segment, which Linux sends too (RFC 2883).
func TestTsharkFindsNothingWrong(t *testing.T) {
	bin := requireTool(t, "tshark")
	dir := t.TempDir()
	for _, s := range scenario.Catalog() {
		t.Run(s.Name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(dir, s.Name+".pcap")
			var out, errb bytes.Buffer
			if code := run([]string{"scenario", "run", s.Name, "--json", "--pcap", path}, &out, &errb); code != 0 {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			rsts := strings.Count(out.String(), `"ev":"send","seg":"R`)
			dsacks := tshark(t, bin, "-r", path, "-Y", "tcp.options.sack.dsack", "-T", "fields", "-e", "frame.number")
			isDSACK := map[string]bool{}
			for _, f := range strings.Fields(dsacks) {
				isDSACK[f] = true
			}
			flagged := tshark(t, bin, "-r", path, "-o", "tcp.check_checksum:TRUE",
				"-Y", "tcp.checksum.status==2 || _ws.malformed || _ws.expert.severity>=warning",
				"-T", "fields", "-e", "frame.number", "-e", "tcp.flags.reset", "-e", "_ws.expert.message")
			n := 0
			for _, line := range strings.Split(strings.TrimSpace(flagged), "\n") {
				if line == "" {
					continue
				}
				if frame, _, _ := strings.Cut(line, "\t"); isDSACK[frame] && strings.Contains(line, "D-SACK") {
					continue
				}
				n++
				if !strings.Contains(line, "Connection reset (RST)") {
					t.Errorf("tshark flags a frame that is not our RST: %q", line)
				}
			}
			if n != rsts {
				t.Errorf("tshark flagged %d frames; the trace has %d RSTs", n, rsts)
			}
		})
	}
}
