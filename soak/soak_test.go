package soak

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/sim"
	"github.com/tcpwave/tcpwave/trace"
	"github.com/tcpwave/tcpwave/wire"
)

var (
	soakSeeds   = flag.Int("soak.seeds", 0, "also run this many seeds at the default size (TestSoakLong)")
	soakFrom    = flag.Uint64("soak.from", 1000, "first seed of TestSoakLong")
	soakClients = flag.Int("soak.clients", 0, "clients per seed in TestSoakLong (0: the default)")
)

// testConfig is a small run: 30 connections, so that many seeds fit in a
// test, with every kind of fault still drawn.
func testConfig() Config {
	cfg := DefaultConfig()
	cfg.Clients = 30
	return cfg
}

// ciSeeds is how many seeds TestSeeds runs: CI runs them all under the
// race detector (about 40 s on two idle cores; -short runs 160).
const ciSeeds = 1000

// TestSeeds runs a range of seeds, in parallel batches: every invariant
// must hold on each.
func TestSeeds(t *testing.T) {
	const batch = 50
	seeds := uint64(ciSeeds)
	if testing.Short() {
		seeds = 160
	}
	var mu sync.Mutex
	var crashes, partitions, errs, quit, complete int
	t.Run("batches", func(t *testing.T) {
		for from := uint64(1); from <= seeds; from += batch {
			t.Run(fmt.Sprint(from), func(t *testing.T) {
				t.Parallel()
				for seed := from; seed < from+batch; seed++ {
					r := Run(seed, testConfig())
					if r.Err != nil {
						t.Errorf("%v", r.Err)
					}
					mu.Lock()
					crashes += r.Crashes
					partitions += r.Partitions
					errs += r.Errors
					quit += r.Quit
					complete += r.Complete
					mu.Unlock()
				}
			})
		}
	})
	// The faults must actually have happened for the seeds to mean
	// anything.
	if crashes == 0 || partitions == 0 || errs == 0 || quit == 0 || complete == 0 {
		t.Errorf("over %d seeds: %d crashes, %d partitions, %d errors told, %d early ends, %d complete connections; want each > 0",
			seeds, crashes, partitions, errs, quit, complete)
	}
}

// TestSoakLong runs -soak.seeds seeds of the default size (200 clients);
// without the flag it runs one.
func TestSoakLong(t *testing.T) {
	n := max(*soakSeeds, 1)
	cfg := DefaultConfig()
	if *soakClients > 0 {
		cfg.Clients = *soakClients
	}
	for seed := *soakFrom; seed < *soakFrom+uint64(n); seed++ {
		if r := Run(seed, cfg); r.Err != nil {
			t.Errorf("%v", r.Err)
		}
	}
}

// TestDeterministic runs seeds twice with a trace each time: the JSON
// Lines must be the same bytes. The seeds are the first without a crash
// and the first with one, whose fresh stack traces through soak's own
// observer.
func TestDeterministic(t *testing.T) {
	var seeds []uint64
	for _, crash := range []bool{false, true} {
		seed := uint64(1)
		for ; seed <= 50 && (Run(seed, testConfig()).Crashes > 0) != crash; seed++ {
		}
		if seed > 50 {
			t.Fatalf("no seed in 1..50 with crash=%v", crash)
		}
		seeds = append(seeds, seed)
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			a, ra := tracedRun(t, seed)
			b, rb := tracedRun(t, seed)
			if ra.Err != nil {
				t.Fatal(ra.Err)
			}
			if !bytes.Equal(a, b) {
				i := 0
				for i < min(len(a), len(b)) && a[i] == b[i] {
					i++
				}
				t.Fatalf("two runs of seed %d differ at byte %d of %d/%d:\n%s\n%s", seed, i, len(a), len(b), excerpt(a, i), excerpt(b, i))
			}
			if ra != rb {
				t.Fatalf("results differ:\n%+v\n%+v", ra, rb)
			}
			if n := bytes.Count(a, []byte("\n")); n < 1000 {
				t.Fatalf("only %d events traced", n)
			}
			if ra.Crashes > 0 && !bytes.Contains(a, []byte(`"call":"crash"`)) {
				t.Fatal("the crash is not in the trace")
			}
		})
	}
}

func tracedRun(t *testing.T, seed uint64) ([]byte, Result) {
	t.Helper()
	cfg := testConfig()
	cfg.Trace = &trace.Recorder{}
	r := Run(seed, cfg)
	var b bytes.Buffer
	if err := trace.WriteJSONL(&b, cfg.Trace.Events()); err != nil {
		t.Fatal(err)
	}
	return b.Bytes(), r
}

func excerpt(b []byte, i int) string {
	lo := bytes.LastIndexByte(b[:i], '\n') + 1
	hi := bytes.IndexByte(b[i:], '\n')
	if hi < 0 {
		return string(b[lo:])
	}
	return string(b[lo : i+hi])
}

// TestBrokenRunsCaught breaks a run on purpose in each way the invariants
// guard against: each must be reported as that invariant.
func TestBrokenRunsCaught(t *testing.T) {
	tests := []struct {
		name string
		cfg  func(c *Config)
		hook func(w *world)
		want string
	}{
		{"leaked listener", nil, func(w *world) {
			w.n.At(w.heal.Add(time.Second), func() { // after the crashes
				h := w.hosts[0]
				so := h.gen.st.NewSocket()
				if err := so.Bind(netip.AddrPortFrom(h.addr, 9)); err != nil {
					panic(err)
				}
				if err := so.Listen(w.now(), 1); err != nil {
					panic(err)
				}
			})
		}, "closed"},
		{"connection that the network never heals", nil, func(w *world) {
			// Client 0's connection loses every segment with data or a
			// FIN, healed or not: both applications wait for ever.
			p := w.pairs[0]
			p.plan.mode, p.plan.c.bytes, p.plan.s.bytes = halfClose, 1000, 1000
			w.n.AddRule(&sim.Rule{Nth: 1, Count: -1, Match: func(pk *wire.Packet) bool {
				port := p.key.client.Port()
				return p.c != nil && (pk.TCP.SrcPort == port || pk.TCP.DstPort == port) &&
					(len(pk.Payload) > 0 || pk.TCP.Flags&wire.FIN != 0)
			}})
		}, "liveness"},
		{"counter out of step", nil, func(w *world) { w.hosts[1].gen.accepted++ }, "counters"},
		{"stream from the wrong connection", nil, func(w *world) {
			// The first client with 100 bytes still to write goes on
			// with another connection's stream.
			var swap func()
			swap = func() {
				for _, p := range w.pairs {
					if p.c != nil && p.c.connected && p.c.running() && p.c.written < p.c.plan.bytes-100 {
						p.c.outKey++
						return
					}
				}
				w.n.After(time.Millisecond, swap)
			}
			w.n.At(0, swap)
		}, "integrity"},
		{"application that panics", nil, func(w *world) {
			w.n.At(clock.Instant(time.Second), func() { panic("boom") })
		}, "panic"},
		{"step bound", func(c *Config) { c.MaxSteps = 500 }, nil, "bound"},
		{"time bound", func(c *Config) { c.Limit = c.StartWindow + c.FaultPhase + time.Second }, nil, "bound"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Hosts = 2
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			r := run(context.Background(), 5, cfg, tc.hook)
			var v *Violation
			if !errors.As(r.Err, &v) {
				t.Fatalf("got %v, want a %s violation", r.Err, tc.want)
			}
			if v.Invariant != tc.want || v.Seed != 5 || !strings.HasPrefix(v.Error(), "seed 5: "+tc.want+" at ") {
				t.Fatalf("got %q, want a %s violation of seed 5", v.Error(), tc.want)
			}
		})
	}
}

// TestConfigValidate rejects configurations that make no sense, before
// running anything.
func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(c *Config)
	}{
		{"one host", func(c *Config) { c.Hosts = 1 }},
		{"five hosts", func(c *Config) { c.Hosts = 5 }},
		{"negative clients", func(c *Config) { c.Clients = -1 }},
		{"loss above 1", func(c *Config) { c.MaxLoss = 1.5 }},
		{"no patience", func(c *Config) { c.Patience = 0 }},
		{"limit inside the fault phase", func(c *Config) { c.Limit = c.FaultPhase }},
		{"partitions of no length", func(c *Config) { c.MaxPartition = 0 }},
		{"absurd clients", func(c *Config) { c.Clients = math.MaxInt }},
		{"one client too many", func(c *Config) { c.Clients = MaxClients + 1 }},
		{"absurd bytes", func(c *Config) { c.MaxBytes = math.MaxInt }},
		{"absurd partitions", func(c *Config) { c.MaxPartitions = math.MaxInt }},
		{"absurd crashes", func(c *Config) { c.MaxCrashes = math.MaxInt }},
	}
	for _, tc := range tests {
		cfg := DefaultConfig()
		tc.edit(&cfg)
		r := Run(1, cfg)
		var v *Violation
		if r.Err == nil || errors.As(r.Err, &v) || r.Conns != 0 {
			t.Errorf("%s: got %v after %d connections, want a configuration error", tc.name, r.Err, r.Conns)
		}
	}
	if cfg := DefaultConfig(); cfg.Validate() != nil {
		t.Errorf("DefaultConfig is invalid: %v", cfg.Validate())
	}
}

// RunContext stops a long run soon after its context ends, and says the
// context stopped it rather than an invariant.
func TestRunContextStops(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Clients = MaxClients // minutes of work
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	r := RunContext(ctx, 1, cfg)
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("the run took %v after its context ended at 100ms", took)
	}
	var v *Violation
	if !errors.Is(r.Err, context.Canceled) || errors.As(r.Err, &v) || !strings.HasPrefix(r.Err.Error(), "seed 1: stopped at ") {
		t.Errorf("Err = %v, want seed 1 stopped by context.Canceled", r.Err)
	}
}

// BenchmarkRun measures one seed at the default size (200 connections).
func BenchmarkRun(b *testing.B) {
	cfg := DefaultConfig()
	var steps int
	for i := range b.N {
		r := Run(uint64(i+1), cfg)
		if r.Err != nil {
			b.Fatal(r.Err)
		}
		steps += r.Steps
	}
	b.ReportMetric(float64(steps)/float64(b.N), "steps/seed")
}
