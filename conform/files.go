package conform

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// ScriptExt is the extension of script files in a directory.
const ScriptExt = ".pkt"

// Files expands the arguments into script paths: a regular file as it is,
// a directory into its *.pkt files in name order. Anything else (a FIFO, a
// device such as /dev/zero) is refused: it might never end.
func Files(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, fmt.Errorf("conform: %w", err)
		}
		if st.Mode().IsRegular() {
			out = append(out, a)
			continue
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("conform: %s: not a regular file or a directory (%v)", a, st.Mode().Type())
		}
		m, err := filepath.Glob(filepath.Join(a, "*"+ScriptExt))
		if err != nil {
			return nil, fmt.Errorf("conform: list %s: %w", a, err)
		}
		if len(m) == 0 {
			return nil, fmt.Errorf("conform: no *%s scripts in %s", ScriptExt, a)
		}
		sort.Strings(m)
		out = append(out, m...)
	}
	return out, nil
}

// knownRow matches a table row of KNOWN-DIFFERENCES.md that names a
// script in its first cell: "| `name.pkt` | ...".
var knownRow = regexp.MustCompile("^\\|\\s*`([^`]+\\" + ScriptExt + ")`\\s*\\|")

// LoadKnown reads the scripts a KNOWN-DIFFERENCES.md file lists: scripts
// that pass on the kernel and are known to fail on tcpwave.
func LoadKnown(path string) (map[string]bool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("conform: known differences: %w", err)
	}
	known := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if m := knownRow.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
			known[m[1]] = true
		}
	}
	return known, nil
}
