package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// flagRule is the rule of every command's command line, told in each
// --help.
const flagRule = "Flags may come before, between or after the arguments; after --, every word\n" +
	"is an argument (`call ADDR ns/fn -- --not-a-flag` sends \"--not-a-flag\").\n" +
	"A word like -1 that names no flag is an argument."

// newFlags returns the flag set of a command. Its Usage prints the full
// help to the set's output; parseCommandLine sends it to stdout for --help and
// turns parse errors into one line on stderr.
func newFlags(name, synopsis, about string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: slacker-lua %s %s\n\n%s\n\n%s\n\nFlags:\n", name, synopsis, about, flagRule)
		fs.PrintDefaults()
	}
	return fs
}

// nargs is how many arguments a command takes after its flags, and what
// they are, for the usage error of too few or too many.
type nargs struct {
	min, max int
	want     string // such as "exactly one folder to serve"
}

// anyArgs is the nargs of a command that checks its arguments itself.
var anyArgs = nargs{0, int(^uint(0) >> 1), ""}

// parseFlags is parseCommandLine for a command that checks its
// arguments itself, with the help on fs's output.
func parseFlags(fs *flag.FlagSet, args []string) (int, bool) {
	return parseCommandLine(fs, args, fs.Output(), anyArgs)
}

// parseCommandLine parses args with fs, flags anywhere before a "--"
// (see interspersed), and checks the number of arguments left. It
// reports the exit code to return at once, if any: exitOK after printing
// the help for -h or --help to stdout, exitUsage after printing one line
// on fs's output for a bad command line.
func parseCommandLine(fs *flag.FlagSet, args []string, stdout io.Writer, n nargs) (int, bool) {
	stderr, usage := fs.Output(), fs.Usage
	fs.SetOutput(io.Discard) // the flag package's own messages
	fs.Usage = func() {}
	err := fs.Parse(interspersed(fs, args))
	fs.SetOutput(stderr)
	fs.Usage = usage
	switch {
	case errors.Is(err, flag.ErrHelp):
		for _, w := range []io.Writer{stdout, stderr} {
			if c, ok := w.(*flagCapture); ok {
				c.fs = fs
				return exitOK, true
			}
		}
		fs.SetOutput(stdout)
		fs.Usage()
		fs.SetOutput(stderr)
		return exitOK, true
	case err != nil:
		return usageError(stderr, fs.Name(), "%v", err), true
	case fs.NArg() < n.min || fs.NArg() > n.max:
		got := "none"
		if fs.NArg() > 0 {
			got = fmt.Sprintf("%d: %s", fs.NArg(), strings.Join(fs.Args(), " "))
		}
		return usageError(stderr, fs.Name(), "want %s (got %s)", n.want, got), true
	}
	return 0, false
}

// usageError prints the one line of a bad command line of the command
// cmd, pointing to its help, and returns exitUsage.
func usageError(stderr io.Writer, cmd, format string, args ...any) int {
	fmt.Fprintf(stderr, "slacker-lua %s: %s; see 'slacker-lua %s --help'\n", cmd, fmt.Sprintf(format, args...), cmd)
	return exitUsage
}

// interspersed reorders args so that the flag package, which stops at
// the first argument, sees every flag: the flags with their values
// first, then "--", then the arguments in their order. A flag is a word
// starting with - or -- that is not "-" itself and comes before any
// "--"; a flag that takes a value and is not written -name=value takes
// the next word as its value, whatever it is, as the flag package does
// (last, with no word after it, it is left for the flag package to say
// it needs one); boolean flags take none. A word such as -1 or -2.5 that names no flag
// is an argument, so negative numbers need no "--". Unknown flags are
// left to the flag package to report.
func interspersed(fs *flag.FlagSet, args []string) []string {
	var flags, rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			rest = append(rest, a)
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimPrefix(a[1:], "-"), "=")
		f := fs.Lookup(name)
		if f == nil && jsonNumberRE.MatchString(a) {
			rest = append(rest, a)
			continue
		}
		flags = append(flags, a)
		if f != nil && !hasValue && !isBoolFlag(f) {
			if i+1 == len(args) {
				return flags // for the flag package to say it needs a value
			}
			i++
			flags = append(flags, args[i])
		}
	}
	return append(append(flags, "--"), rest...)
}

// isSet reports whether the flag name was given on the command line.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// isBoolFlag reports whether f takes no value, as the flag package
// decides it.
func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// flagCapture is a stdout that asks a command for its flag set instead of
// its help: run with it as stdout and stderr and "--help", a command's
// parseCommandLine keeps the set in it and returns before the command
// does anything. Completion scripts are made from the sets so found.
type flagCapture struct {
	io.Writer
	fs *flag.FlagSet
}
