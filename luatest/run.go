package luatest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/slacker-lua/slacker-lua/engine"
)

// Prefix starts the names of test functions.
const Prefix = "test_"

// DefaultTimeout is Config.Timeout's default.
const DefaultTimeout = 10 * time.Second

// Config configures Run. Caller is required; the other fields' zero values
// work.
type Config struct {
	// Caller is what slacker.call reaches in a test: namespaces loaded
	// in-process, or a client of a server or a cluster.
	Caller engine.Caller
	// Engine configures the VMs of test files: the sandbox of a server.
	// Its Caller, Setup and PoolSize are Run's.
	Engine engine.Config
	// Timeout bounds each test, loading its file included. 0 means
	// DefaultTimeout.
	Timeout time.Duration
	// Run selects the tests whose function names it matches; nil runs all.
	Run *regexp.Regexp
	// Out receives a line per failure, and with Verbose per test, as
	// they end. nil discards them.
	Out     io.Writer
	Verbose bool
}

// Status is how a test ended.
type Status int

const (
	Passed  Status = iota
	Failed         // an assertion failed
	Errored        // the test raised an error, or ran out of time
	Skipped
)

func (s Status) String() string {
	return [...]string{"ok", "FAIL", "FAIL", "SKIP"}[s]
}

// Result is one test's outcome.
type Result struct {
	File    string // as found
	Name    string // the test function
	Line    int    // where the function is defined
	Status  Status
	Where   string // "file:line" where it failed or was skipped
	Message string // why
	Logs    []string
	Elapsed time.Duration
}

// LoadError is a test file that could not run: it does not compile, or
// fails while loading.
type LoadError struct {
	File string
	Err  error
}

func (e *LoadError) Error() string { return e.Err.Error() }

// Report is the outcome of Run.
type Report struct {
	Results []Result
	Broken  []*LoadError // test files that could not run
}

// Count returns how many tests passed, failed (errors included) and were
// skipped.
func (r *Report) Count() (passed, failed, skipped int) {
	for _, res := range r.Results {
		switch res.Status {
		case Passed:
			passed++
		case Failed, Errored:
			failed++
		case Skipped:
			skipped++
		}
	}
	return passed, failed, skipped
}

// Summary is the report's last line: "N passed, N failed", and ", N
// skipped" when some were.
func (r *Report) Summary() string {
	p, f, s := r.Count()
	line := fmt.Sprintf("%d passed, %d failed", p, f)
	if s > 0 {
		line += fmt.Sprintf(", %d skipped", s)
	}
	switch n := len(r.Broken); {
	case n == 1:
		line += ", 1 file not run"
	case n > 1:
		line += fmt.Sprintf(", %d files not run", n)
	}
	return line
}

// Run runs the test functions of files, one after the other, each in a
// fresh VM: the file is loaded again for each test, and its function
// test_x is called with t, the assertion API (see the package
// documentation). A test that fails or errs does not stop the others.
// Run ends early, with ctx's error, when ctx is done.
func Run(ctx context.Context, cfg Config, files []string) (*Report, error) {
	if cfg.Caller == nil {
		return nil, errors.New("luatest: Config.Caller is nil")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	rep := &Report{}
	for _, file := range files {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		results, err := runFile(ctx, cfg, file)
		if err != nil && ctx.Err() != nil {
			return rep, ctx.Err() // stopped while loading: the file is not broken
		}
		if err != nil {
			le := &LoadError{File: file, Err: err}
			rep.Broken = append(rep.Broken, le)
			fmt.Fprintf(cfg.Out, "FAIL %v\n", le)
			continue
		}
		rep.Results = append(rep.Results, results...)
	}
	return rep, ctx.Err()
}

// runFile runs the tests of one file.
func runFile(ctx context.Context, cfg Config, file string) ([]Result, error) {
	src, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	name := strings.TrimSuffix(filepath.ToSlash(file), ".lua")
	script, err := engine.Compile(name, file, src)
	if err != nil {
		return nil, err
	}
	// Loaded once to list the tests, and to report a file that can't load.
	ns, _, err := load(ctx, script, cfg, "")
	if err != nil {
		return nil, err
	}
	var tests []engine.FuncInfo
	for _, f := range ns.Functions() {
		if strings.HasPrefix(f.Name, Prefix) && (cfg.Run == nil || cfg.Run.MatchString(f.Name)) {
			tests = append(tests, f)
		}
	}
	ns.Close()
	slices.SortFunc(tests, func(a, b engine.FuncInfo) int { return a.Line - b.Line })

	var results []Result
	for _, f := range tests {
		if err := ctx.Err(); err != nil {
			return results, nil
		}
		res := runTest(ctx, cfg, script, f)
		res.File = file
		results = append(results, res)
		report(cfg, res)
	}
	return results, nil
}

// load loads script in a VM of its own, with t, the test's assertion
// API, which records in the returned record.
func load(ctx context.Context, script *engine.Script, cfg Config, test string) (*engine.Namespace, *record, error) {
	ecfg := cfg.Engine
	ecfg.PoolSize, ecfg.QueueSize = 1, 1
	ecfg.Timeout = cfg.Timeout
	ecfg.Caller = cfg.Caller
	rec := &record{}
	var t *lua.LTable
	ecfg.Setup = func(L *lua.LState) { t = newT(L, script.Path, test, rec) }
	ns, err := engine.Load(ctx, script, ecfg)
	if err != nil {
		return nil, nil, err
	}
	rec.t = t
	return ns, rec, nil
}

// runTest runs the test function f of script in a fresh VM.
func runTest(ctx context.Context, cfg Config, script *engine.Script, f engine.FuncInfo) (res Result) {
	res = Result{Name: f.Name, Line: f.Line}
	start := time.Now()
	defer func() { res.Elapsed = time.Since(start) }()
	ns, rec, err := load(ctx, script, cfg, f.Name)
	if err != nil {
		res.Status, res.Message = Errored, err.Error()
		return res
	}
	defer ns.Close()
	cctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	_, err = ns.Call(cctx, f.Name, []any{rec.t})
	res.Logs = rec.logs
	defined := fmt.Sprintf("%s:%d", script.Path, f.Line)
	switch {
	case rec.failed:
		res.Status, res.Where, res.Message = Failed, strings.TrimSuffix(rec.where, ":"), rec.msg
	case rec.skipped:
		res.Status, res.Where, res.Message = Skipped, strings.TrimSuffix(rec.where, ":"), rec.msg
	case err == nil:
		res.Status = Passed
	case cctx.Err() != nil && ctx.Err() == nil:
		res.Status, res.Where, res.Message = Errored, defined, fmt.Sprintf("timed out after %v", cfg.Timeout)
	default:
		res.Status = Errored
		res.Where, res.Message = splitWhere(errorText(err), defined)
	}
	return res
}

// errorText is the message of a test's error: a Lua error's message,
// which has its file and line, or the error.
func errorText(err error) string {
	var le *engine.LuaError
	if errors.As(err, &le) {
		return le.Message
	}
	return err.Error()
}

// position starts a Lua error message: "file:line: ".
var position = regexp.MustCompile(`^([^\s:][^:]*:\d+): `)

// splitWhere splits the position off msg; without one, the position is
// def.
func splitWhere(msg, def string) (where, rest string) {
	if m := position.FindStringSubmatch(msg); m != nil {
		return m[1], msg[len(m[0]):]
	}
	return def, msg
}

// report writes the line of res: for every test with Verbose, else for
// failures, with the test's logs under a failure.
func report(cfg Config, res Result) {
	switch {
	case res.Status == Failed || res.Status == Errored:
		// A message of several lines: the others indented under it.
		msg := strings.ReplaceAll(res.Message, "\n", "\n    ")
		fmt.Fprintf(cfg.Out, "FAIL %s: %s: %s\n", res.Where, res.Name, msg)
		for _, l := range res.Logs {
			fmt.Fprintf(cfg.Out, "    %s\n", l)
		}
	case !cfg.Verbose:
	case res.Status == Skipped:
		fmt.Fprintf(cfg.Out, "SKIP %s: %s: %s\n", res.Where, res.Name, res.Message)
	default:
		fmt.Fprintf(cfg.Out, "ok   %s:%d: %s (%v)\n", res.File, res.Line, res.Name, res.Elapsed.Round(time.Microsecond))
		for _, l := range res.Logs {
			fmt.Fprintf(cfg.Out, "    %s\n", l)
		}
	}
}
