package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/slacker-lua/slacker-lua/client"
	"github.com/slacker-lua/slacker-lua/engine"
	"github.com/slacker-lua/slacker-lua/luatest"
	"github.com/slacker-lua/slacker-lua/namespaces"
)

func runTest(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var f testFlags
	fs := f.register(stderr)
	if code, done := parseCommandLine(fs, args, stdout, anyArgs); done {
		return code
	}
	fail := func(format string, args ...any) int {
		fmt.Fprintf(stderr, "slacker-lua test: "+format+"\n", args...)
		return exitUsage
	}
	if err := f.check(fs); err != nil {
		return usageError(stderr, "test", "%v", err)
	}
	paths := fs.Args()
	if len(paths) == 0 {
		paths = []string{"."}
	}
	files, err := luatest.Find(paths)
	if err != nil {
		return fail("%v", err)
	}
	if len(files) == 0 {
		return fail("no *_test.lua files in %s", strings.Join(paths, " "))
	}

	level := slog.LevelWarn
	if f.verbose {
		level = slog.LevelInfo // print and slacker.log of the tests
	}
	cfg := luatest.Config{Run: f.run, Timeout: f.timeout, Out: stdout, Verbose: f.verbose}
	cfg.Engine.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	closeCaller, broken, err := f.connect(ctx, &cfg, paths, stdout)
	if err != nil {
		return fail("%v", err) // nothing was tested
	}
	defer closeCaller()

	rep, err := luatest.Run(ctx, cfg, files)
	if err != nil && rep == nil {
		return fail("%v", err)
	}
	if f.junit != "" {
		if werr := writeJUnit(f.junit, rep); werr != nil {
			fmt.Fprintln(stderr, "slacker-lua test:", werr)
			return exitError
		}
	}
	fmt.Fprintln(stdout, rep.Summary())
	passed, failed, skipped := rep.Count()
	switch {
	case errors.Is(err, context.Canceled):
		return exitError
	case broken > 0 || len(rep.Broken) > 0:
		return exitUsage
	case failed > 0:
		return exitError
	case passed+skipped == 0:
		return fail("no tests to run in %s", strings.Join(paths, " "))
	}
	return exitOK
}

// testFlags are the flags of slacker-lua test.
type testFlags struct {
	nsDir, addr string // --ns, --addr
	cluster     clusterTarget
	conn        clientFlags // but --timeout, which is timeout's
	runPattern  string
	run         *regexp.Regexp // runPattern compiled, by check
	verbose     bool
	timeout     time.Duration
	junit       string
}

// register returns the flag set of the command, whose flags set f.
func (f *testFlags) register(stderr io.Writer) *flag.FlagSet {
	fs := newFlags("test", "[flags] [PATH...]",
		"Runs the Lua tests (test_... functions) of the *_test.lua files found in each\n"+
			"PATH, a file or a folder searched with its subfolders (default: the current\n"+
			"folder). Each test runs in a fresh VM of the server's sandbox, gets t, the\n"+
			"assertion API, and calls namespaces with slacker.call, which reaches:\n"+
			"  the namespaces of --ns DIR, loaded in-process (the default: the one folder\n"+
			"  PATH given; for one file, the nearest folder above it with a _lib folder,\n"+
			"  else its own; else the current folder);\n"+
			"  or a running server, with --addr;\n"+
			"  or a cluster, with --zk and --cluster.\n"+
			"With --addr or --zk, the connection flags are call's: --content-type, --tls-ca,\n"+
			"--tls-cert, --tls-key, --token-file. $SLACKER_CLUSTER stands for a missing\n"+
			"--cluster; test uses no other environment: without --addr or --zk it loads\n"+
			"the namespaces in-process.\n"+
			"Prints a line per failure (per test with -v) and then \"N passed, N failed\".\n"+
			"print in a test is a log line of the test's, shown with -v and under a failure.\n"+
			"Exits 1 when a test failed; 2 on a usage error, a file that can't load, a\n"+
			"server that can't be reached, or no test to run. See `go doc github.com/slacker-lua/slacker-lua/luatest` for t.", stderr)
	fs.StringVar(&f.nsDir, "ns", "", "load the namespaces of this `folder` in-process")
	fs.StringVar(&f.addr, "addr", "", "call the server at `host:port` instead")
	f.cluster.register(fs, "call the --cluster found there instead")
	fs.StringVar(&f.runPattern, "run", "", "run only the tests whose names match this `regexp`")
	fs.BoolVar(&f.verbose, "v", false, "print a line per test, and t:log lines")
	fs.DurationVar(&f.timeout, "timeout", luatest.DefaultTimeout, "stop a test that runs longer, loading its file included")
	fs.StringVar(&f.junit, "junit", "", "write JUnit XML of the results to this `file`")
	f.conn.registerConn(fs) // with --addr or --zk
	return fs
}

// check checks the flags of fs, once parsed, and compiles -run.
func (f *testFlags) check(fs *flag.FlagSet) error {
	targets := 0
	for _, set := range []bool{f.nsDir != "", f.addr != "", f.cluster.zk != ""} {
		if set {
			targets++
		}
	}
	switch {
	case targets > 1:
		return errors.New("--ns, --addr and --zk are three ways to reach namespaces: give one")
	case f.addr == "" && f.cluster.zk == "" && (isSet(fs, "tls-ca") || isSet(fs, "tls-cert") || isSet(fs, "token-file") || isSet(fs, "content-type")):
		return errors.New("--content-type, --tls-ca, --tls-cert and --token-file go with --addr or --zk")
	case f.timeout <= 0:
		return fmt.Errorf("bad --timeout %v: want a positive duration", f.timeout)
	}
	if err := f.cluster.check(fs); err != nil {
		return err
	}
	if f.runPattern != "" {
		var err error
		if f.run, err = regexp.Compile(f.runPattern); err != nil {
			return fmt.Errorf("bad -run: %v", err)
		}
	}
	return nil
}

// connect points cfg.Caller at what the flags name: a server, a cluster,
// or the namespaces of a folder (--ns, else defaultNS of paths) loaded
// in-process, and cfg.Engine.LibPath at the modules the test files may
// require. For a folder, it prints the files that failed to load to
// stdout and returns how many in broken. It returns the function that
// closes the caller.
func (f *testFlags) connect(ctx context.Context, cfg *luatest.Config, paths []string, stdout io.Writer) (closeCaller func(), broken int, err error) {
	if f.addr == "" && f.cluster.zk == "" {
		dir := f.nsDir
		if dir == "" {
			dir = defaultNS(paths)
		}
		reg, err := namespaces.Open(ctx, dir, namespaces.Config{Engine: engine.Config{Timeout: f.timeout}, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			return nil, 0, err
		}
		for _, fl := range reg.Failures() {
			fmt.Fprintf(stdout, "FAIL %s: %v\n", filepath.Join(dir, fl.Path), fl.Err)
			broken++
		}
		cfg.Caller = reg
		cfg.Engine.LibPath = filepath.Join(dir, namespaces.LibDir)
		return reg.Close, broken, nil
	}
	c, err := f.dial(ctx)
	if err != nil {
		return nil, 0, err
	}
	cfg.Caller = client.Decoding{Caller: c}
	// Test files may require modules of the folder they test.
	cfg.Engine.LibPath = filepath.Join(defaultNS(paths), namespaces.LibDir)
	return func() { c.Close() }, 0, nil
}

// dial connects to the server of --addr or the cluster of --zk.
func (f *testFlags) dial(ctx context.Context) (target, error) {
	f.conn.timeout = f.timeout
	ccfg, err := f.conn.config()
	if err != nil {
		return nil, err
	}
	if f.addr != "" {
		c, err := dial(ctx, f.addr, ccfg)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	c, err := dialCluster(ctx, f.cluster.zk, f.cluster.layout(), ccfg)
	if err != nil {
		return nil, err // not a nil *cluster.Client in a target
	}
	return c, nil
}

// defaultNS is the folder whose namespaces the tests of paths call when
// --ns is not given: the one folder among paths; for one file, the
// nearest folder above it that has a _lib folder, else its own; else the
// current folder.
func defaultNS(paths []string) string {
	if len(paths) != 1 {
		return "."
	}
	info, err := os.Stat(paths[0])
	switch {
	case err != nil:
		return "."
	case info.IsDir():
		return paths[0]
	}
	dir := filepath.Dir(paths[0])
	for d := dir; ; d = filepath.Dir(d) {
		if fi, err := os.Stat(filepath.Join(d, namespaces.LibDir)); err == nil && fi.IsDir() {
			return d
		}
		if parent := filepath.Dir(d); parent == d || d == "." {
			return dir
		}
	}
}

func writeJUnit(path string, rep *luatest.Report) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := rep.WriteJUnit(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
