package main

import (
	"bytes"
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestInterspersed checks the one rule of every command line: flags
// anywhere before --, values taken by the flags that take one, booleans
// taking none, and negative numbers as arguments.
func TestInterspersed(t *testing.T) {
	for _, tc := range []struct {
		args, want []string
	}{
		{[]string{"a", "b"}, []string{"--", "a", "b"}},
		{[]string{"a", "--ct", "msgpack", "b"}, []string{"--ct", "msgpack", "--", "a", "b"}},
		{[]string{"a", "-ct=msgpack", "b"}, []string{"-ct=msgpack", "--", "a", "b"}},
		{[]string{"a", "--raw", "b"}, []string{"--raw", "--", "a", "b"}},
		{[]string{"a", "--raw=false", "b"}, []string{"--raw=false", "--", "a", "b"}},
		{[]string{"a", "--", "--ct", "b"}, []string{"--", "a", "--ct", "b"}},
		{[]string{"--ct", "--", "a"}, []string{"--ct", "--", "--", "a"}}, // a value, whatever it is
		{[]string{"a", "-1", "-2.5", "-", "b"}, []string{"--", "a", "-1", "-2.5", "-", "b"}},
		{[]string{"a", "--bogus", "b"}, []string{"--bogus", "--", "a", "b"}},
		{[]string{"a", "--ct"}, []string{"--ct"}}, // no value: the flag package says so
		{[]string{"-h", "a"}, []string{"-h", "--", "a"}},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.String("ct", "json", "")
		fs.Bool("raw", false, "")
		if got := interspersed(fs, tc.args); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("interspersed(%q) = %q, want %q", tc.args, got, tc.want)
		}
	}
}

// TestParseCommandLine checks the outcomes of parsing: flags set after
// the arguments, the help on stdout, and one line for each usage error.
func TestParseCommandLine(t *testing.T) {
	parse := func(args ...string) (fs *flag.FlagSet, timeout *time.Duration, code int, done bool, stdout, stderr string) {
		var out, errs bytes.Buffer
		fs = newFlags("x", "[flags] A", "Does x.", &errs)
		timeout = fs.Duration("timeout", time.Second, "how long")
		code, done = parseCommandLine(fs, args, &out, nargs{1, 2, "A and at most one B"})
		return fs, timeout, code, done, out.String(), errs.String()
	}
	fs, timeout, _, done, _, _ := parse("a", "--timeout", "3s", "b")
	if done || *timeout != 3*time.Second || !reflect.DeepEqual(fs.Args(), []string{"a", "b"}) {
		t.Errorf("a --timeout 3s b: done %v, timeout %v, args %q", done, *timeout, fs.Args())
	}
	for _, help := range []string{"-h", "--help", "-help"} {
		_, _, code, done, stdout, stderr := parse("a", help)
		if code != exitOK || !done || !strings.HasPrefix(stdout, "Usage: slacker-lua x [flags] A\n") || !strings.Contains(stdout, flagRule) || !strings.Contains(stdout, "-timeout") || stderr != "" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", help, code, stdout, stderr)
		}
	}
	for args, want := range map[string]string{
		"a --bogus":         "slacker-lua x: flag provided but not defined: -bogus; see 'slacker-lua x --help'\n",
		"a --timeout":       "slacker-lua x: flag needs an argument: -timeout; see 'slacker-lua x --help'\n",
		"a --timeout never": `slacker-lua x: invalid value "never" for flag -timeout: parse error; see 'slacker-lua x --help'` + "\n",
		"":                  "slacker-lua x: want A and at most one B (got none); see 'slacker-lua x --help'\n",
		"a b c":             "slacker-lua x: want A and at most one B (got 3: a b c); see 'slacker-lua x --help'\n",
	} {
		_, _, code, done, stdout, stderr := parse(strings.Fields(args)...)
		if code != exitUsage || !done || stdout != "" || stderr != want {
			t.Errorf("%q: exit %d, stdout %q, stderr %q, want %q", args, code, stdout, stderr, want)
		}
	}
}

// TestFlagCapture checks that a command run with a flagCapture gives its
// flag set and does nothing.
func TestFlagCapture(t *testing.T) {
	c := &flagCapture{Writer: io.Discard}
	if code := runCall(t.Context(), []string{"--help"}, c, c); code != exitOK || c.fs == nil || c.fs.Lookup("content-type") == nil || c.fs.Lookup("raw") == nil {
		t.Fatalf("call: exit %d, flag set %v", code, c.fs)
	}
}
