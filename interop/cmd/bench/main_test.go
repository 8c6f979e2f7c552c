package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/tcpwave/tcpwave/interop"
)

// TestMain lets the test binary serve as the bench binary's child
// process: the command runs each measurement in a child of its own.
func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(child(spec, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestQuickJSON runs every workload once in quick mode with -json and
// checks the output: one object per row with exactly the specified
// fields, every workload present, positive numbers and a ratio that
// says how many times better tcpwave is.
func TestQuickJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every workload on both stacks")
	}
	var out, errs bytes.Buffer
	if code := run([]string{"-quick", "-count", "1", "-json"}, &out, &errs); code != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", code, errs.String())
	}
	units := map[string]struct {
		unit        string
		lowerBetter bool
	}{}
	for _, w := range workloads {
		for _, m := range w.metrics {
			units[m.name] = struct {
				unit        string
				lowerBetter bool
			}{m.unit, m.lowerBetter}
		}
	}
	seen := map[string]bool{}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		line := sc.Text()
		var raw map[string]json.RawMessage
		if err := json.Unmarshal([]byte(line), &raw); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if len(raw) != 5 {
			t.Errorf("line %q: %d fields, want workload, unit, tcpwave, gvisor, ratio", line, len(raw))
		}
		var r struct {
			Workload string   `json:"workload"`
			Unit     string   `json:"unit"`
			TCPWave  *float64 `json:"tcpwave"`
			GVisor   *float64 `json:"gvisor"`
			Ratio    *float64 `json:"ratio"`
		}
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		m, ok := units[r.Workload]
		if !ok {
			t.Errorf("line %q: unknown workload", line)
			continue
		}
		if seen[r.Workload] {
			t.Errorf("workload %s appears twice", r.Workload)
		}
		seen[r.Workload] = true
		if r.Unit != m.unit {
			t.Errorf("%s: unit %q, want %q", r.Workload, r.Unit, m.unit)
		}
		if r.TCPWave == nil || r.GVisor == nil {
			t.Errorf("line %q: missing value", line)
			continue
		}
		tw, gv := *r.TCPWave, *r.GVisor
		if m.unit == "goroutines/conn" {
			// Neither stack is expected to start a goroutine per
			// connection: zero is a valid measurement here.
			if tw < 0 || gv < 0 {
				t.Errorf("%s: negative goroutine count (%v, %v)", r.Workload, tw, gv)
			}
		} else if !(tw > 0 && gv > 0) {
			if !(m.lowerBetter && tw == 0 && gv > 0) { // zero allocations would be a fine result
				t.Errorf("%s: values %v and %v, want both positive", r.Workload, tw, gv)
			}
		}
		if r.Ratio == nil {
			if !(m.lowerBetter && tw == 0) {
				t.Errorf("%s: null ratio with tcpwave %v", r.Workload, tw)
			}
			continue
		}
		ratio := *r.Ratio
		if !(ratio > 0) || math.IsInf(ratio, 0) {
			t.Errorf("%s: ratio %v", r.Workload, ratio)
			continue
		}
		want := 1.0
		switch {
		case tw > 0 && gv > 0 && m.lowerBetter:
			want = gv / tw
		case tw > 0 && gv > 0:
			want = tw / gv
		}
		if math.Abs(ratio-want) > 0.01*want {
			t.Errorf("%s: ratio %v, want %v (tcpwave %v, gvisor %v, lower is better: %v)", r.Workload, ratio, want, tw, gv, m.lowerBetter)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for name := range units {
		if !seen[name] {
			t.Errorf("no row for %s", name)
		}
	}
	for _, w := range workloads {
		if !seen[w.name] {
			t.Errorf("workload %s has no row of its own name", w.name)
		}
	}
}

// TestTable checks the table of a quick run of two workloads.
func TestTable(t *testing.T) {
	var out, errs bytes.Buffer
	if code := run([]string{"-quick", "-count", "1", "-workloads", "handshake,churn-1"}, &out, &errs); code != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", code, errs.String())
	}
	s := out.String()
	for _, want := range []string{"workload", "ratio", "handshake", "µs", "churn-1", "lifecycles/s", "total"} {
		if !strings.Contains(s, want) {
			t.Errorf("table lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "bulk-1500") {
		t.Errorf("table has a workload that was not asked for:\n%s", s)
	}
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-count", "0"},
		{"-count", "-3"},
		{"-count", "many"},
		{"-real", "-count", "0"},
		{"-real", "-workloads", "no-such-workload"},
		{"-workloads", "no-such-workload"},
		{"stray"},
		{"-no-such-flag"},
	} {
		var out, errs bytes.Buffer
		if code := run(args, &out, &errs); code != 2 {
			t.Errorf("run(%q) = %d, want 2", args, code)
		}
		if errs.Len() == 0 {
			t.Errorf("run(%q) said nothing on stderr", args)
		}
	}
}

// TestRunValues: the values of each run land under their peer and
// metric, a run with the wrong number of values is refused, and a peer
// without runs has NaN medians.
func TestRunValues(t *testing.T) {
	rv := runValues[string]{}
	for _, v := range [][]float64{{3, 10}, {1, 30}, {2, 20}} {
		if err := rv.add("a", v, 2); err != nil {
			t.Fatal(err)
		}
	}
	if err := rv.add("a", []float64{1}, 2); err == nil {
		t.Error("one value for two metrics accepted")
	}
	if m0, m1 := rv.median("a", 0), rv.median("a", 1); m0 != 2 || m1 != 20 {
		t.Errorf("medians %v, %v; want 2, 20", m0, m1)
	}
	if m := rv.median("b", 0); !math.IsNaN(m) {
		t.Errorf("median of a peer without runs = %v, want NaN", m)
	}
}

func TestSelectWorkloads(t *testing.T) {
	all, err := selectWorkloads("all")
	if err != nil || len(all) != len(workloads) {
		t.Fatalf("all: %d workloads, %v", len(all), err)
	}
	sel, err := selectWorkloads(" lossy-goodput , bulk-1500")
	if err != nil || len(sel) != 2 || sel[0].name != "bulk-1500" || sel[1].name != "lossy-goodput" {
		t.Fatalf("got %v, %v", sel, err)
	}
}

func TestRatio(t *testing.T) {
	for _, c := range []struct {
		t, g  float64
		lower bool
		want  float64
	}{
		{5.1, 1.5, false, 3.4},
		{2, 8, true, 4},
		{0, 0, true, 1},
		{0, 3, true, math.Inf(1)},
	} {
		if got := ratio(c.t, c.g, c.lower); math.Abs(got-c.want) > 1e-9 && got != c.want {
			t.Errorf("ratio(%v, %v, %v) = %v, want %v", c.t, c.g, c.lower, got, c.want)
		}
	}
	b, err := json.Marshal(Row{Workload: "x", Unit: "u", TCPWave: 0, GVisor: 2, Ratio: math.Inf(1)})
	if err != nil || !strings.Contains(string(b), `"ratio":null`) {
		t.Errorf("infinite ratio as JSON: %s, %v", b, err)
	}
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("median = %v", m)
	}
	if m := median([]float64{4, 1, 2, 3}); m != 2.5 {
		t.Errorf("median = %v", m)
	}
}

// TestCheckOffload: the offload row's check passes only for runs whose
// client sent super-packets, over 4 segments a packet.
func TestCheckOffload(t *testing.T) {
	for _, tt := range []struct {
		st interop.LinkStats
		ok bool
	}{
		{interop.LinkStats{Packets: 200, Super: 190, Segments: 5800}, true},
		{interop.LinkStats{Packets: 5800, Segments: 5800}, false},            // no offload
		{interop.LinkStats{Packets: 1000, Super: 10, Segments: 1400}, false}, // a few
	} {
		if err := tt.st.CheckOffload(); (err == nil) != tt.ok {
			t.Errorf("CheckOffload(%+v) = %v, want ok %v", tt.st, err, tt.ok)
		}
	}
}
