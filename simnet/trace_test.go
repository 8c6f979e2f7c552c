package simnet_test

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tcpwave/tcpwave/simnet"
	"github.com/tcpwave/tcpwave/tcp"
	"github.com/tcpwave/tcpwave/trace"
)

// fakeTB is a failed test for DumpOnFailure.
type fakeTB struct {
	dir      string
	logs     []string
	cleanups []func()
}

func (f *fakeTB) Helper()                      {}
func (f *fakeTB) Cleanup(fn func())            { f.cleanups = append(f.cleanups, fn) }
func (f *fakeTB) Failed() bool                 { return true }
func (f *fakeTB) Logf(format string, a ...any) { f.logs = append(f.logs, fmt.Sprintf(format, a...)) }
func (f *fakeTB) TempDir() string              { return f.dir }

// TestTraceOnFailure: with Options.Trace the run is recorded; a failed
// test's cleanup logs the ladder, with the FIN the fault dropped marked,
// and writes a ladder, an HTML page and a capture.
func TestTraceOnFailure(t *testing.T) {
	dir := t.TempDir()
	ft := &fakeTB{dir: dir}
	synctest.Test(t, func(t *testing.T) {
		n := simnet.New(simnet.Options{Seed: 1, Trace: true, Link: simnet.Link{Delay: 10 * time.Millisecond}})
		n.DumpOnFailure(ft, "")
		a, b := n.Host("10.0.0.1"), n.Host("10.0.0.2")
		n.Drop(simnet.Rule{From: a, Match: simnet.FIN, Count: 1, Name: "lose the client's FIN"})
		ln, _ := b.Listen("tcp", ":80")
		go func() {
			c, err := ln.Accept()
			if err == nil {
				io.Copy(io.Discard, c)
				c.Close()
			}
		}()
		c, err := a.Dial("tcp", "10.0.0.2:80")
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("hello"))
		c.Close()
		time.Sleep(2 * time.Second)
		ln.Close()
		n.Close()
		states := map[string][]tcp.State{}
		for _, e := range n.Trace() {
			if e.Kind == trace.KindState {
				states[e.Host] = append(states[e.Host], e.To)
			}
		}
		if got := states["10.0.0.1"]; len(got) == 0 || got[len(got)-1] != tcp.TimeWait {
			t.Errorf("client's states %v, want them to end in TIME_WAIT", got)
		}
		if got := states["10.0.0.2"]; len(got) == 0 || got[len(got)-1] != tcp.Closed {
			t.Errorf("server's states %v, want them to end CLOSED", got)
		}
	})
	for _, fn := range ft.cleanups {
		fn()
	}
	log := strings.Join(ft.logs, "\n")
	if !strings.Contains(log, "lose the client's FIN") || !strings.Contains(log, "TIME_WAIT") {
		t.Errorf("the dump's log lacks the fault or the states:\n%s", log)
	}
	html, err := os.ReadFile(filepath.Join(dir, "10.0.0.1-10.0.0.2.html"))
	if err != nil || !strings.Contains(string(html), `data-drop=`) {
		t.Errorf("HTML page: %v, with a dropped segment: %v", err, strings.Contains(string(html), "data-drop="))
	}
	ladder, err := os.ReadFile(filepath.Join(dir, "10.0.0.1-10.0.0.2.txt"))
	if err != nil || !strings.Contains(string(ladder), "FIN_WAIT_1") {
		t.Errorf("ladder: %v\n%s", err, ladder)
	}
	pc, err := os.ReadFile(filepath.Join(dir, "capture.pcap"))
	if err != nil || len(pc) < 24+16 || binary.LittleEndian.Uint32(pc) != 0xa1b2c3d4 {
		t.Errorf("capture: %v, %d bytes", err, len(pc))
	}
}

// TestTraceNeedsOption: without Options.Trace there is no trace to write.
func TestTraceNeedsOption(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := simnet.New(simnet.Options{})
		defer n.Close()
		if n.Trace() != nil {
			t.Error("Trace without Options.Trace is not nil")
		}
		if err := n.WriteTrace(t.TempDir()); err == nil {
			t.Error("WriteTrace without Options.Trace: no error")
		}
	})
}
