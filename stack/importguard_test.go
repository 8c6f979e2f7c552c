package stack

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Packages tcp and stack are sans-IO: time comes in as an argument, and
// they never read a clock, sleep, start a goroutine, take a lock, draw
// randomness of their own or touch a file or the network. The import
// guard keeps them so by reading their source (tests excepted, which may
// do what they like).

// guardedImports are the packages tcp and stack must not import, with why.
var guardedImports = map[string]string{
	"sync":         "locks: the driver serializes calls",
	"sync/atomic":  "locks: the driver serializes calls",
	"os":           "I/O",
	"os/exec":      "I/O",
	"os/signal":    "I/O",
	"io/fs":        "I/O",
	"io/ioutil":    "I/O",
	"bufio":        "I/O",
	"log":          "I/O (the Observer hears everything)",
	"log/slog":     "I/O (the Observer hears everything)",
	"net":          "the real network (net/netip is fine)",
	"net/http":     "the real network",
	"math/rand":    "randomness of its own: keys and ISNs come from Options",
	"math/rand/v2": "randomness of its own: keys and ISNs come from Options",
	"crypto/rand":  "randomness of its own: keys and ISNs come from Options",
	"runtime":      "the scheduler",
	"unsafe":       "memory tricks",
}

// guardedTime are the functions of package time that read the clock or
// wait: time comes in as a clock.Instant.
var guardedTime = map[string]bool{
	"Now": true, "Since": true, "Until": true, "Sleep": true, "After": true, "AfterFunc": true,
	"Tick": true, "NewTimer": true, "NewTicker": true,
}

// errnoName matches syscall's error numbers (ECONNRESET, ...), the only
// names of package syscall tcp and stack may use.
var errnoName = regexp.MustCompile(`^(E[A-Z0-9]+|Errno)$`)

// guardSource returns what the source of one file breaks of the guard.
func guardSource(name string, src []byte) ([]string, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", name, err)
	}
	var bad []string
	report := func(n ast.Node, format string, args ...any) {
		bad = append(bad, fmt.Sprintf("%v: %s", fset.Position(n.Pos()), fmt.Sprintf(format, args...)))
	}
	watched := map[string]string{} // local name -> "time" or "syscall"
	for _, imp := range f.Imports {
		path, err := strconv.Unquote(imp.Path.Value)
		if err != nil {
			return nil, fmt.Errorf("%s: import %s: %w", name, imp.Path.Value, err)
		}
		if why, ok := guardedImports[path]; ok {
			report(imp, "imports %q: %s", path, why)
			continue
		}
		if path != "time" && path != "syscall" {
			continue
		}
		local := path
		if imp.Name != nil {
			local = imp.Name.Name
		}
		if local == "." || local == "_" {
			report(imp, "imports %q as %s: its names cannot be checked", path, local)
			continue
		}
		watched[local] = path
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.GoStmt:
			report(n, "starts a goroutine")
		case *ast.SelectorExpr:
			id, ok := n.X.(*ast.Ident)
			if !ok {
				return true
			}
			switch watched[id.Name] {
			case "time":
				if guardedTime[n.Sel.Name] {
					report(n, "calls time.%s: time comes in as an argument", n.Sel.Name)
				}
			case "syscall":
				if !errnoName.MatchString(n.Sel.Name) {
					report(n, "uses syscall.%s: only error numbers are allowed", n.Sel.Name)
				}
			}
		}
		return true
	})
	return bad, nil
}

// TestImportGuard reads every non-test Go file of packages tcp and stack
// and fails on anything the guard forbids.
func TestImportGuard(t *testing.T) {
	for _, dir := range []string{"../tcp", "."} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		checked := 0
		for _, path := range files {
			if strings.HasSuffix(path, "_test.go") {
				continue
			}
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			bad, err := guardSource(path, src)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range bad {
				t.Error(b)
			}
			checked++
		}
		if checked < 5 {
			t.Fatalf("%s: only %d source files found", dir, checked)
		}
	}
}

// TestImportGuardCatches runs the guard on small sources, each with one
// thing it must catch or let through.
func TestImportGuardCatches(t *testing.T) {
	tests := []struct {
		name, body string
		want       string // a part of the one violation expected; "" for none
	}{
		{"clean", `import ("net/netip"; "time"; "syscall"; "io")
var _ = netip.Addr{}; var d = time.Second; var e error = syscall.ECONNRESET; var _ = io.EOF`, ""},
		{"sync", `import "sync"
var mu sync.Mutex`, `imports "sync"`},
		{"atomic", `import "sync/atomic"
var n atomic.Int64`, `imports "sync/atomic"`},
		{"os", `import "os"
var _ = os.Args`, `imports "os"`},
		{"net", `import "net"
var _ net.Conn`, `imports "net"`},
		{"math/rand", `import "math/rand/v2"
var _ = rand.Int`, `imports "math/rand/v2"`},
		{"time.Now", `import "time"
func f() time.Time { return time.Now() }`, "calls time.Now"},
		{"time.Sleep", `import "time"
func f() { time.Sleep(time.Second) }`, "calls time.Sleep"},
		{"time.After", `import "time"
func f() { <-time.After(time.Second) }`, "calls time.After"},
		{"time renamed", `import tm "time"
func f() tm.Time { return tm.Now() }`, "calls time.Now"},
		{"time dot-imported", `import . "time"
var d = Second`, "its names cannot be checked"},
		{"syscall I/O", `import "syscall"
func f() { syscall.Write(1, nil) }`, "uses syscall.Write"},
		{"goroutine", `func f() { go func() {}() }`, "starts a goroutine"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad, err := guardSource(tt.name+".go", []byte("package x\n"+tt.body+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tt.want == "" && len(bad) != 0:
				t.Fatalf("violations %q, want none", bad)
			case tt.want != "" && (len(bad) != 1 || !strings.Contains(bad[0], tt.want)):
				t.Fatalf("violations %q, want one with %q", bad, tt.want)
			}
		})
	}
}
