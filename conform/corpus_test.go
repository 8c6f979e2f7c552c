package conform

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tcpwave/tcpwave/internal/netns"
)

const (
	corpusDir = "../conformance"
	knownFile = "../conformance/KNOWN-DIFFERENCES.md"
	readme    = "../conformance/README.md"
	// minCorpus is the least number of scripts the corpus must hold.
	minCorpus = 60
	// kernelParallel is how many scripts run on the kernel at once, each
	// in its own namespace.
	kernelParallel = 3
	// kernelAttempts is how many times a script may run on the kernel
	// before its failure counts.
	kernelAttempts = 3
)

// corpus parses every script of the corpus.
func corpus(t *testing.T) []*Script {
	t.Helper()
	files, err := Files([]string{corpusDir})
	if err != nil {
		t.Fatal(err)
	}
	var out []*Script
	for _, f := range files {
		s, err := ParseFile(f)
		if err != nil {
			t.Fatalf("corpus script: %v", err)
		}
		out = append(out, s)
	}
	return out
}

// TestCorpusTCPWave runs every script on tcpwave: each must pass, except
// the ones KNOWN-DIFFERENCES.md lists, which must still fail (when one
// passes, the core was fixed: take it off the list).
func TestCorpusTCPWave(t *testing.T) {
	scripts := corpus(t)
	known, err := LoadKnown(knownFile)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, s := range scripts {
		names[s.Name] = true
		for _, v := range s.Families(IPAny) {
			s, _ := s.InFamily(v)
			t.Run(s.Name+"/"+v.String(), func(t *testing.T) {
				res := Run(s, "tcpwave", TCPWave, nil)
				switch {
				case known[s.Name] && res.Pass:
					t.Errorf("%s passes on tcpwave now: remove it from KNOWN-DIFFERENCES.md", s.Name)
				case known[s.Name]:
					t.Logf("known difference, fails as expected:\n%s", res.String())
				case !res.Pass:
					t.Errorf("%s", res.String())
				}
			})
		}
	}
	for k := range known {
		if !names[k] {
			t.Errorf("KNOWN-DIFFERENCES.md lists %s, which is not in %s", k, corpusDir)
		}
	}
}

// TestCorpusKernel runs every script on the Linux kernel, the oracle:
// each must pass. It needs root and /dev/net/tun (skipped without, failed
// without when CI=true).
func TestCorpusKernel(t *testing.T) {
	netns.Require(t)
	scripts := corpus(t)
	sem := make(chan struct{}, kernelParallel)
	var mu sync.Mutex
	var failed []string
	t.Run("scripts", func(t *testing.T) {
		for _, s := range familyRuns(scripts) {
			name := s.Name + "/" + s.Options.Family().String()
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				sem <- struct{}{}
				defer func() { <-sem }()
				res := Run(s, "kernel", Kernel, nil)
				// Up to kernelAttempts runs: a loaded machine can delay
				// the runner beyond the tolerance; the oracle's behaviour
				// does not change between runs, so a script that is
				// wrong fails every time.
				for i := 1; i < kernelAttempts && !res.Pass; i++ {
					t.Logf("run %d: %s", i, res.String())
					res = Run(s, "kernel", Kernel, nil)
				}
				if !res.Pass {
					mu.Lock()
					failed = append(failed, name)
					mu.Unlock()
					t.Errorf("%s", res.String())
				}
			})
		}
	})
	if len(failed) > 0 {
		t.Logf("failed on the kernel: %s", strings.Join(failed, " "))
	}
}

// familyRuns is every script in each family it runs in (both, unless
// it pins one).
func familyRuns(scripts []*Script) []*Script {
	var out []*Script
	for _, s := range scripts {
		for _, v := range s.Families(IPAny) {
			c, _ := s.InFamily(v)
			out = append(out, c)
		}
	}
	return out
}

// TestCorpusShape checks the corpus's size and that its README maps every
// script.
func TestCorpusShape(t *testing.T) {
	scripts := corpus(t)
	if len(scripts) < minCorpus {
		t.Errorf("the corpus has %d scripts, want at least %d", len(scripts), minCorpus)
	}
	b, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range scripts {
		if !strings.Contains(string(b), "`"+s.Name+"`") {
			t.Errorf("%s does not mention %s", filepath.Base(readme), s.Name)
		}
	}
}
