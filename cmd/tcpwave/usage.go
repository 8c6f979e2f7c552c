package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// The rule for every command's usage: an explicit -h or --help prints the
// usage to stdout and exits 0; bad usage prints a one-line error and the
// usage to stderr and exits 2.

// parseArgs parses args with fs. It reports ok when the command should go
// on; otherwise the command ends with code: 0 after -h or --help (the usage
// went to stdout), 2 after a bad flag (a one-line error and the usage went
// to stderr).
func parseArgs(fs *flag.FlagSet, synopsis string, args []string, stdout, stderr io.Writer) (code int, ok bool) {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	switch {
	case err == nil:
		return 0, true
	case errors.Is(err, flag.ErrHelp):
		printUsage(fs, synopsis, stdout)
		return 0, false
	}
	return usageError(fs, synopsis, stderr, "%v", err), false
}

// usageError prints "NAME: message" and the usage to stderr, and returns
// the exit status of bad usage, 2.
func usageError(fs *flag.FlagSet, synopsis string, stderr io.Writer, format string, args ...any) int {
	fmt.Fprintf(stderr, "%s: %s\n", fs.Name(), fmt.Sprintf(format, args...))
	printUsage(fs, synopsis, stderr)
	return 2
}

// printUsage writes "usage: SYNOPSIS" and the flags' defaults to w.
func printUsage(fs *flag.FlagSet, synopsis string, w io.Writer) {
	fmt.Fprintln(w, "usage:", synopsis)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--h", "--help", "help":
		return true
	}
	return false
}
