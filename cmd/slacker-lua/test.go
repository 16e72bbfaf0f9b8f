package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/slacker-lua/slacker-lua/client"
	"github.com/slacker-lua/slacker-lua/cluster"
	"github.com/slacker-lua/slacker-lua/engine"
	"github.com/slacker-lua/slacker-lua/luatest"
	"github.com/slacker-lua/slacker-lua/namespaces"
)

func runTest(ctx context.Context, args []string, stdout, stderr io.Writer) int {
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
			"Prints a line per failure (per test with -v) and then \"N passed, N failed\".\n"+
			"print in a test is a log line of the test's, shown with -v and under a failure.\n"+
			"Exits 1 when a test failed; 2 on a usage error, a file that can't load, a\n"+
			"server that can't be reached, or no test to run. See `go doc github.com/slacker-lua/slacker-lua/luatest` for t.", stderr)
	nsDir := fs.String("ns", "", "load the namespaces of this `folder` in-process")
	addr := fs.String("addr", "", "call the server at `host:port` instead")
	zkServers := fs.String("zk", "", "call the --cluster found in ZooKeeper at `host:port,...` instead")
	clusterName := fs.String("cluster", "", "the cluster's `name`, with --zk")
	zkRoot := fs.String("zk-root", cluster.DefaultRoot, "the znode the clusters are registered under, with --zk")
	runPattern := fs.String("run", "", "run only the tests whose names match this `regexp`")
	verbose := fs.Bool("v", false, "print a line per test, and t:log lines")
	timeout := fs.Duration("timeout", luatest.DefaultTimeout, "stop a test that runs longer, loading its file included")
	junit := fs.String("junit", "", "write JUnit XML of the results to this `file`")
	contentType := fs.String("content-type", "json", "serialization on the wire with --addr or --zk: json or msgpack")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	fail := func(format string, args ...any) int {
		fmt.Fprintf(stderr, "slacker-lua test: "+format+"\n", args...)
		return exitUsage
	}
	targets := 0
	for _, set := range []bool{*nsDir != "", *addr != "", *zkServers != ""} {
		if set {
			targets++
		}
	}
	switch {
	case targets > 1:
		return fail("--ns, --addr and --zk are three ways to reach namespaces: give one")
	case *zkServers != "" && *clusterName == "":
		return fail("--zk needs --cluster")
	case *zkServers == "" && (*clusterName != "" || isSet(fs, "zk-root")):
		return fail("--cluster and --zk-root go with --zk")
	case *timeout <= 0:
		return fail("bad --timeout %v: want a positive duration", *timeout)
	}
	var run *regexp.Regexp
	if *runPattern != "" {
		var err error
		if run, err = regexp.Compile(*runPattern); err != nil {
			return fail("bad -run: %v", err)
		}
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
	if *verbose {
		level = slog.LevelInfo // print and slacker.log of the tests
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	cfg := luatest.Config{Run: run, Timeout: *timeout, Out: stdout, Verbose: *verbose}
	cfg.Engine.Logger = log
	broken := 0
	switch {
	case *addr != "" || *zkServers != "":
		ccfg, err := (&clientFlags{contentType: *contentType, timeout: *timeout}).config()
		if err != nil {
			return fail("%v", err)
		}
		var c interface {
			client.Caller
			Close() error
		}
		if *addr != "" {
			c, err = dial(ctx, *addr, ccfg)
		} else {
			cctx, cancel := context.WithTimeout(ctx, *timeout)
			c, err = client.NewCluster(cctx, client.ClusterConfig{
				ZooKeeper: strings.Split(*zkServers, ","),
				Layout:    cluster.Layout{Root: *zkRoot, Cluster: *clusterName},
				Client:    ccfg,
			})
			cancel()
		}
		if err != nil {
			fmt.Fprintln(stderr, "slacker-lua test:", err)
			return exitUsage // nothing was tested
		}
		defer c.Close()
		cfg.Caller = remote{c}
		// Test files may require modules of the folder they test.
		cfg.Engine.LibPath = filepath.Join(defaultNS(paths), namespaces.LibDir)
	default:
		dir := *nsDir
		if dir == "" {
			dir = defaultNS(paths)
		}
		reg, err := namespaces.Open(ctx, dir, namespaces.Config{Engine: engine.Config{Timeout: *timeout}, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			return fail("%v", err)
		}
		defer reg.Close()
		for _, f := range reg.Failures() {
			fmt.Fprintf(stdout, "FAIL %s: %v\n", filepath.Join(dir, f.Path), f.Err)
			broken++
		}
		cfg.Caller = reg
		cfg.Engine.LibPath = filepath.Join(dir, namespaces.LibDir)
	}

	rep, err := luatest.Run(ctx, cfg, files)
	if err != nil && rep == nil {
		return fail("%v", err)
	}
	if *junit != "" {
		if werr := writeJUnit(*junit, rep); werr != nil {
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
