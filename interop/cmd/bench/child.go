package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/tcpwave/tcpwave/interop"
)

// Each run executes in a child process of its own (the bench binary
// again, told what to do by childEnv), so that no run measures what an
// earlier one left behind: a gVisor stack that had 50,000 endpoints in
// TIME_WAIT keeps about 100 MB of heap reachable for half a minute after
// Stack.Destroy, and its CPU time and garbage would land on the next
// run. -inprocess runs everything in one process instead.

// childEnv names the environment variable that carries a childSpec.
const childEnv = "TCPWAVE_BENCH_CHILD"

// childSpec is the one run a child process makes.
type childSpec struct {
	Workload   string `json:"workload"`
	Kind       string `json:"kind"`
	Run        int    `json:"run"`
	Quick      bool   `json:"quick"`
	CPUProfile string `json:"cpuprofile,omitempty"`
	MemProfile string `json:"memprofile,omitempty"`
}

// childResult is what a child writes on its stdout.
type childResult struct {
	Values []float64 `json:"values,omitempty"`
	Error  string    `json:"error,omitempty"`
}

// childTimeout bounds a child process: its run, its start and its exit.
const childTimeout = runTimeout + 30*time.Second

// runChild makes one run in a child process and returns its values.
func runChild(w *workload, k interop.Kind, i int, o options) ([]float64, error) {
	spec := childSpec{Workload: w.name, Kind: string(k), Run: i, Quick: o.quick}
	if o.cpuprofile != "" {
		spec.CPUProfile = fmt.Sprintf("%s.%s-%s-%d", o.cpuprofile, w.name, k, i+1)
	}
	if o.memprofile != "" {
		spec.MemProfile = fmt.Sprintf("%s.%s-%s-%d", o.memprofile, w.name, k, i+1)
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding the bench binary: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), childEnv+"="+string(b))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var res childResult
	out := bytes.TrimSpace(stdout.Bytes())
	if i := bytes.LastIndexByte(out, '\n'); i >= 0 {
		out = out[i+1:] // the result is the last line
	}
	if err := json.Unmarshal(out, &res); err != nil {
		if runErr == nil {
			runErr = err
		}
		return nil, fmt.Errorf("child process: %w; its stderr: %s", runErr, tail(stderr.String(), 2000))
	}
	if res.Error != "" {
		return nil, errors.New(res.Error)
	}
	if runErr != nil {
		return nil, fmt.Errorf("child process: %w; its stderr: %s", runErr, tail(stderr.String(), 2000))
	}
	return res.Values, nil
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// child is the whole of a child process: it makes the run spec (a JSON
// childSpec) describes, writes a childResult on stdout and returns the
// exit status.
func child(spec string, stdout, stderr io.Writer) int {
	res := childRun(spec)
	if err := json.NewEncoder(stdout).Encode(res); err != nil {
		fmt.Fprintf(stderr, "bench child: %v\n", err)
		return 1
	}
	if res.Error != "" {
		return 1
	}
	return 0
}

func childRun(spec string) (res childResult) {
	var cs childSpec
	if err := json.Unmarshal([]byte(spec), &cs); err != nil {
		return childResult{Error: fmt.Sprintf("bad %s: %v", childEnv, err)}
	}
	var w *workload
	for _, x := range workloads {
		if x.name == cs.Workload {
			w = x
		}
	}
	if w == nil {
		return childResult{Error: fmt.Sprintf("unknown workload %q", cs.Workload)}
	}
	k := interop.Kind(cs.Kind)
	if k != interop.TCPWave && k != interop.GVisor {
		return childResult{Error: fmt.Sprintf("unknown stack %q", cs.Kind)}
	}
	sz := defaultSizes
	if cs.Quick {
		sz = quickSizes
	}
	if cs.MemProfile != "" {
		runtime.MemProfileRate = 64 << 10
		defer func() {
			if err := writeHeapProfile(cs.MemProfile); err != nil && res.Error == "" {
				res = childResult{Error: err.Error()}
			}
		}()
	}
	if cs.CPUProfile != "" {
		f, err := os.Create(cs.CPUProfile)
		if err != nil {
			return childResult{Error: err.Error()}
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return childResult{Error: err.Error()}
		}
		defer pprof.StopCPUProfile()
	}
	v, err := runOnce(w, k, sz, cs.Run)
	if err != nil {
		return childResult{Error: err.Error()}
	}
	for _, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return childResult{Error: fmt.Sprintf("measured %v", v)}
		}
	}
	return childResult{Values: v}
}
