package scenario

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/tcpwave/tcpwave/clock"
	"github.com/tcpwave/tcpwave/sim"
	"github.com/tcpwave/tcpwave/trace"
)

// hostileNets are networks on which most of the catalog cannot do what it
// means to: every packet lost, corrupted, crawling at one bit per second,
// arriving 100 s late, duplicated, reordered, and mixtures of these.
var hostileNets = []struct {
	name  string
	link  sim.LinkConfig
	seeds []uint64 // instead of the usual ones
}{
	{"loss 1", sim.LinkConfig{Delay: 500 * time.Microsecond, Loss: 1}, nil},
	{"loss 0.5", sim.LinkConfig{Delay: 500 * time.Microsecond, Loss: 0.5}, nil},
	{"corrupt 1", sim.LinkConfig{Delay: 500 * time.Microsecond, Corrupt: 1}, nil},
	{"bandwidth 1", sim.LinkConfig{Delay: 500 * time.Microsecond, Bandwidth: 1}, nil},
	{"delay 100s", sim.LinkConfig{Delay: 100 * time.Second}, nil},
	{"jitter 30s", sim.LinkConfig{Delay: 500 * time.Microsecond, Jitter: 30 * time.Second}, nil},
	{"dup 1", sim.LinkConfig{Delay: 500 * time.Microsecond, Dup: 1}, nil},
	{"reorder 1", sim.LinkConfig{Delay: 500 * time.Microsecond, Reorder: 1}, nil},
	{"reorder 1 jitter 1s", sim.LinkConfig{Delay: 500 * time.Microsecond, Jitter: time.Second, Reorder: 1}, nil},
	{"dup 1 reorder 0.5 corrupt 0.2", sim.LinkConfig{Delay: 500 * time.Microsecond, Dup: 1, Reorder: 0.5, Corrupt: 0.2}, nil},
	{"loss 0.3 dup 0.3 jitter 2s", sim.LinkConfig{Delay: 10 * time.Millisecond, Loss: 0.3, Dup: 0.3, Jitter: 2 * time.Second}, nil},
	{"delay 100s bandwidth 1000", sim.LinkConfig{Delay: 100 * time.Second, Bandwidth: 1000}, nil},
	{"everything", sim.LinkConfig{Delay: time.Second, Jitter: 3 * time.Second, Bandwidth: 10000, Loss: 0.2, Dup: 0.2, Reorder: 0.2, Corrupt: 0.2}, nil},
	// Seed 6 leaves both hosts of fin-wait-2-timeout in TIME_WAIT
	// ACKing each other's reordered ACKs, each copy twice: a storm that
	// grows without bound until Params.MaxPackets cuts it short.
	{"dup 1 jitter 100s", sim.LinkConfig{Delay: 500 * time.Microsecond, Jitter: 100 * time.Second, Dup: 1}, []uint64{1, 6}},
}

// TestHostileNetworks runs every scenario of the catalog on every hostile
// network with a few seeds. A run may pass or fail (most cannot do what
// they mean to), but it must never panic, and a failure must come with a
// reason whose first line says what went wrong.
func TestHostileNetworks(t *testing.T) {
	start := time.Now()
	for _, hn := range hostileNets {
		seeds := []uint64{1, 2, 3}
		if hn.seeds != nil {
			seeds = hn.seeds
		}
		if testing.Short() {
			seeds = seeds[:1]
		}
		t.Run(hn.name, func(t *testing.T) {
			for _, s := range Catalog() {
				for _, seed := range seeds {
					p := DefaultParams()
					p.Seed, p.Link = seed, hn.link
					// A storm is cut short sooner than by default, to keep
					// the matrix fast; no run here needs a tenth of this.
					p.MaxPackets = 10_000
					r, err, panicked := executeCatching(s, p)
					where := fmt.Sprintf("%s seed %d", s.Name, seed)
					if panicked != "" {
						t.Errorf("%s: panic: %s", where, panicked)
						continue
					}
					if err == nil {
						continue
					}
					if r == nil {
						t.Errorf("%s: failed without a trace: %v", where, err)
					}
					first, _, _ := strings.Cut(err.Error(), "\n")
					reason, ok := strings.CutPrefix(first, s.Name)
					if !ok || len(strings.Trim(reason, " :")) < 10 {
						t.Errorf("%s: the failure's first line %q does not say in which scenario what went wrong", where, first)
					}
				}
			}
		})
	}
	// The simulator runs on virtual time: the whole matrix must stay cheap.
	if wall := time.Since(start); wall > 20*time.Second {
		t.Errorf("the hostile matrix took %v of wall time", wall)
	}
}

// executeCatching runs s and turns a panic into a message with its stack,
// so that one crash does not hide the others in the matrix.
func executeCatching(s *Scenario, p Params) (r *Run, err error, panicked string) {
	defer func() {
		if v := recover(); v != nil {
			panicked = fmt.Sprintf("%v\n%s", v, debug.Stack())
		}
	}()
	r, err = s.Execute(p)
	return r, err, ""
}

// A run whose context is done stops at once with an error that says so.
func TestExecuteContextCancelled(t *testing.T) {
	s, err := Find("four-way-close")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r, err := s.ExecuteContext(ctx, DefaultParams())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if r == nil || r.Net.Now() != 0 {
		t.Fatalf("the run went on after its context was cancelled")
	}
}

// A run whose hosts send more packets than Params.MaxPackets is cut short:
// the network drops everything from then on and the run fails, saying so.
func TestPacketStormIsCutShort(t *testing.T) {
	tests := []struct {
		name       string
		maxPackets int
		storm      bool
	}{
		{"four-way-close", 3, true},
		{"four-way-close", 0, false}, // the default limit
		{"lost-fin-1", 12, true},
		{"lost-fin-1", 100, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %d", tt.name, tt.maxPackets), func(t *testing.T) {
			s, err := Find(tt.name)
			if err != nil {
				t.Fatal(err)
			}
			p := DefaultParams()
			p.MaxPackets = tt.maxPackets
			r, err := s.Execute(p)
			if !tt.storm {
				if err != nil {
					t.Fatalf("a run within the limit failed: %v", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.name+": cut short at ") || !strings.Contains(err.Error(), fmt.Sprintf("more than %d packets", tt.maxPackets)) {
				t.Fatalf("err = %v, want the run cut short past %d packets", err, tt.maxPackets)
			}
			dropped := 0
			for _, e := range r.Rec.Events() {
				if e.Kind == trace.KindDrop && e.Why == "rule" {
					dropped++
				}
			}
			if dropped == 0 || r.Net.Now() >= clock.Instant(p.Until) {
				t.Fatalf("%d packets dropped past the limit, run ended at %v: want drops and an early end", dropped, r.Net.Now())
			}
		})
	}
}

// TestTimeWaitAckLoopEnds: on a network that delivers every packet twice
// and reorders them by up to 100 s, both hosts end in TIME_WAIT answering
// each other's stale ACKs; without Linux's out-of-window ACK rate limit
// (tcp_timewait_check_oow_rate_limit) each answer drew two more and the
// run grew without bound. Now the run ends well within the packet limit
// (it fails, as its network does not let FIN_WAIT_2 time out as planned).
func TestTimeWaitAckLoopEnds(t *testing.T) {
	s, err := Find("fin-wait-2-timeout")
	if err != nil {
		t.Fatal(err)
	}
	p := DefaultParams()
	p.Seed = 6
	p.Link.Dup, p.Link.Jitter = 1, 100*time.Second
	p.MaxPackets = 20_000
	_, err = s.Execute(p)
	if err != nil && strings.Contains(err.Error(), "cut short") {
		t.Fatalf("the run was cut short: %v", err)
	}
}
