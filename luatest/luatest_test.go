package luatest

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// caller is a fake of the namespaces tests call: m/add adds, m/fail
// fails, and m/echo returns its argument.
type caller struct{}

func (caller) Call(_ context.Context, name string, args []any) (any, error) {
	switch name {
	case "m/add":
		return args[0].(int64) + args[1].(int64), nil
	case "m/echo":
		return args[0], nil
	case "m/fail":
		return nil, errors.New("m/fail: it fails")
	}
	return nil, fmt.Errorf("%s: not found", name)
}

// writeTests writes the test files to a new folder and returns their paths,
// sorted.
func writeTests(t *testing.T, files map[string]string) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	found, err := Find([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	return dir, found
}

// runFiles runs the files with cfg, Caller set, and returns the report and
// what Run wrote.
func runFiles(t *testing.T, cfg Config, files map[string]string) (*Report, string) {
	t.Helper()
	_, found := writeTests(t, files)
	var out bytes.Buffer
	cfg.Caller, cfg.Out = caller{}, &out
	rep, err := Run(context.Background(), cfg, found)
	if err != nil {
		t.Fatal(err)
	}
	return rep, out.String()
}

// outcome returns the status and message of the test name.
func outcome(t *testing.T, rep *Report, name string) Result {
	t.Helper()
	for _, r := range rep.Results {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no result for %s in %+v", name, rep.Results)
	return Result{}
}

func TestAssertions(t *testing.T) {
	src := `
function test_eq(t)
  t:eq(slacker.call("m/add", 1, 2), 3)
  t:eq({1, 2, {a = "x", b = {true}}}, {1, 2, {b = {true}, a = "x"}})
  t.eq("same", "same")
  t:eq(nil, nil)
  local cyc = {}; cyc.self = cyc
  local cyc2 = {}; cyc2.self = cyc2
  t:eq(cyc, cyc2)
end
function test_eq_fails(t) t:eq({1, {a = "b"}}, {1, {a = "c"}}) end
function test_eq_extra_key(t) t:eq({a = 1, b = 2}, {a = 1}, "the map") end
function test_eq_types(t) t:eq("1", 1) end
function test_ne(t) t:ne(1, 2); t:ne({1}, {2}) end
function test_ne_fails(t) t:ne({1}, {1}) end
function test_ok(t) t:ok(0); t:ok("") end
function test_ok_fails(t) t:ok(false, "flag") end
function test_near(t) t:near(0.1 + 0.2, 0.3, 1e-9) end
function test_near_fails(t) t:near(1, 1.5, 0.1) end
function test_errors(t)
  local msg = t:errors("it fails", slacker.call, "m/fail")
  t:ok(msg:find("m/fail"), msg)
  t:errors("boom %d+", function(n) error("boom " .. n) end, 42)
end
function test_errors_none(t) t:errors("x", function() end) end
function test_errors_mismatch(t) t:errors("^nope", error, "something else") end
function test_fail(t) t:fail("on purpose") end
function test_skip(t) t:skip("not here") end
function test_error(t) local x; return x.y end
function test_pcall_does_not_hide(t)
  pcall(function() t:eq(1, 2) end)
end
function test_log(t) t:log("a", 1, {}) t:eq(1, 2) end
function test_name(t) t:eq(t.name, "test_name") end
`
	rep, _ := runFiles(t, Config{}, map[string]string{"a_test.lua": src})
	for _, tt := range []struct {
		name   string
		status Status
		msg    string // a regexp of Where + ": " + Message
	}{
		{"test_eq", Passed, ""},
		{"test_eq_fails", Failed, `a_test.lua:11: got \{1, \{a = "b"\}\}, want \{1, \{a = "c"\}\}$`},
		{"test_eq_extra_key", Failed, `a_test.lua:12: the map: got \{a = 1, b = 2\}, want \{a = 1\}$`},
		{"test_eq_types", Failed, `got "1", want 1$`},
		{"test_ne", Passed, ""},
		{"test_ne_fails", Failed, `got \{1\}, want anything else`},
		{"test_ok", Passed, ""},
		{"test_ok_fails", Failed, `:17: flag: got false, want a true value$`},
		{"test_near", Passed, ""},
		{"test_near_fails", Failed, `got 1, want 1.5 ± 0.1$`},
		{"test_errors", Passed, ""},
		{"test_errors_none", Failed, `:25: no error, want one matching "x"$`},
		{"test_errors_mismatch", Failed, `error ".*:26: something else", want one matching "\^nope"$`},
		{"test_fail", Failed, `:27: on purpose$`},
		{"test_skip", Skipped, `:28: not here$`},
		{"test_error", Errored, `a_test.lua:29: attempt to index a non-table object\(nil\)`},
		{"test_pcall_does_not_hide", Failed, `:31: got 1, want 2$`},
		{"test_log", Failed, `:33: got 1, want 2$`},
		{"test_name", Passed, ""},
	} {
		r := outcome(t, rep, tt.name)
		if r.Status != tt.status {
			t.Errorf("%s: %v (%s: %s), want %v", tt.name, r.Status, r.Where, r.Message, tt.status)
			continue
		}
		if tt.msg != "" && !regexp.MustCompile(tt.msg).MatchString(r.Where+": "+r.Message) {
			t.Errorf("%s: %q, want it to match %q", tt.name, r.Where+": "+r.Message, tt.msg)
		}
	}
	if r := outcome(t, rep, "test_log"); len(r.Logs) != 1 || !regexp.MustCompile(`a_test.lua:33: a 1 table: 0x`).MatchString(r.Logs[0]) {
		t.Errorf("test_log's logs: %q", r.Logs)
	}
	if p, f, s := rep.Count(); p != 6 || f != 12 || s != 1 {
		t.Errorf("counts %d passed, %d failed, %d skipped", p, f, s)
	}
}

// TestFreshVM checks that each test gets a VM of its own: state left by
// one is not seen by the next.
func TestFreshVM(t *testing.T) {
	rep, _ := runFiles(t, Config{}, map[string]string{"a_test.lua": `
count = 0
function test_one(t) count = count + 1; t:eq(count, 1) end
function test_two(t) count = count + 1; t:eq(count, 1) end
`})
	if p, f, _ := rep.Count(); p != 2 || f != 0 {
		t.Fatalf("%+v", rep.Results)
	}
}

func TestOutputAndRun(t *testing.T) {
	files := map[string]string{
		"a_test.lua":      "function test_b(t) t:eq(1, 2) end\nfunction test_a(t) end\nfunction helper() end",
		"sub/b_test.lua":  "function test_skip(t) t:skip('later') end\nfunction test_c(t) end",
		"sub/notes.lua":   "function test_never(t) t:fail() end",
		".hid/x_test.lua": "function test_hidden(t) t:fail() end",
	}
	rep, out := runFiles(t, Config{}, files)
	if !regexp.MustCompile(`^FAIL /\S+/a_test.lua:1: test_b: got 1, want 2\n$`).MatchString(out) {
		t.Errorf("output without -v:\n%s", out)
	}
	if got := rep.Summary(); got != "2 passed, 1 failed, 1 skipped" {
		t.Errorf("summary %q", got)
	}

	rep, out = runFiles(t, Config{Verbose: true}, files)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	wantRE := []string{`^FAIL .*a_test.lua:1: test_b: got 1, want 2$`, `^ok   .*a_test.lua:2: test_a \(`, `^SKIP .*b_test.lua:1: test_skip: later$`, `^ok   .*b_test.lua:2: test_c \(`}
	if len(lines) != len(wantRE) {
		t.Fatalf("-v output:\n%s", out)
	}
	for i, re := range wantRE {
		if !regexp.MustCompile(re).MatchString(lines[i]) {
			t.Errorf("-v line %d: %q, want %q", i, lines[i], re)
		}
	}

	rep, _ = runFiles(t, Config{Run: regexp.MustCompile("^test_[ac]$")}, files)
	if got := rep.Summary(); got != "2 passed, 0 failed" {
		t.Errorf("-run: summary %q, results %+v", got, rep.Results)
	}
}

func TestTimeout(t *testing.T) {
	start := time.Now()
	rep, _ := runFiles(t, Config{Timeout: 200 * time.Millisecond}, map[string]string{"a_test.lua": `
function test_spin(t) while true do end end
function test_after(t) t:eq(slacker.call("m/add", 2, 2), 4) end
`})
	if r := outcome(t, rep, "test_spin"); r.Status != Errored || r.Message != "timed out after 200ms" || !strings.HasSuffix(r.Where, "a_test.lua:2") {
		t.Errorf("test_spin: %v %s: %s", r.Status, r.Where, r.Message)
	}
	if r := outcome(t, rep, "test_after"); r.Status != Passed {
		t.Errorf("the test after a runaway one: %v %s", r.Status, r.Message)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %v", took)
	}
}

func TestBrokenFiles(t *testing.T) {
	rep, out := runFiles(t, Config{}, map[string]string{
		"a_test.lua": "function test_a(t\n",
		"b_test.lua": "error('at load')\nfunction test_b(t) end",
		"c_test.lua": "function test_c(t) end",
	})
	if len(rep.Broken) != 2 || !strings.Contains(out, "a_test.lua:1: syntax error") || !strings.Contains(out, "b_test.lua:1: at load") {
		t.Fatalf("broken %v, output:\n%s", rep.Broken, out)
	}
	if got := rep.Summary(); got != "1 passed, 0 failed, 2 files not run" {
		t.Errorf("summary %q", got)
	}
}

func TestJUnit(t *testing.T) {
	rep, _ := runFiles(t, Config{}, map[string]string{
		"a_test.lua": "function test_ok(t) t:log('hi') end\nfunction test_fail(t) t:eq(1, 2) end\nfunction test_err(t) error('x') end\nfunction test_skip(t) t:skip('s') end",
		"b_test.lua": "function test_b(t",
	})
	var buf bytes.Buffer
	if err := rep.WriteJUnit(&buf); err != nil {
		t.Fatal(err)
	}
	var got junitSuites
	if err := xml.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	if got.Tests != 5 || got.Failures != 1 || got.Errors != 2 || got.Skipped != 1 || len(got.Suites) != 2 {
		t.Fatalf("totals %+v\n%s", got, buf.String())
	}
	a := got.Suites[0]
	if !strings.HasSuffix(a.Name, "a_test.lua") || a.Tests != 4 || len(a.Cases) != 4 {
		t.Fatalf("suite %+v", a)
	}
	byName := map[string]junitCase{}
	for _, c := range a.Cases {
		byName[c.Name] = c
	}
	if c := byName["test_ok"]; c.Failure != nil || c.Error != nil || c.Skipped != nil || !strings.Contains(c.SystemOut, "hi") {
		t.Errorf("test_ok: %+v", c)
	}
	if c := byName["test_fail"]; c.Failure == nil || c.Failure.Message != "got 1, want 2" || !strings.Contains(c.Failure.Text, "a_test.lua:2") {
		t.Errorf("test_fail: %+v", c)
	}
	if c := byName["test_err"]; c.Error == nil || !strings.Contains(c.Error.Message, "x") {
		t.Errorf("test_err: %+v", c)
	}
	if c := byName["test_skip"]; c.Skipped == nil || c.Skipped.Message != "s" {
		t.Errorf("test_skip: %+v", c)
	}
	if b := got.Suites[1]; b.Errors != 1 || len(b.Cases) != 1 || b.Cases[0].Error == nil || !strings.Contains(b.Cases[0].Error.Message, "syntax error") {
		t.Errorf("broken file's suite: %+v", b)
	}
}

func TestFind(t *testing.T) {
	dir, found := writeTests(t, map[string]string{"x_test.lua": "", "a/y_test.lua": "", "a/z.lua": "", ".git/w_test.lua": ""})
	want := []string{filepath.Join(dir, "a", "y_test.lua"), filepath.Join(dir, "x_test.lua")}
	if strings.Join(found, " ") != strings.Join(want, " ") {
		t.Errorf("Find = %q, want %q", found, want)
	}
	explicit, err := Find([]string{filepath.Join(dir, "a", "z.lua"), dir})
	if err != nil || len(explicit) != 3 {
		t.Errorf("Find with a file named: %q, %v", explicit, err)
	}
	if _, err := Find([]string{filepath.Join(dir, "missing")}); err == nil {
		t.Error("Find of a missing path succeeded")
	}
}

// TestAssertionEdges checks odd uses of t: deep tables, NaN, a skip or a
// failure inside t:errors, pcall around t.fail, print, and keys shown.
func TestAssertionEdges(t *testing.T) {
	src := `
local function deep()
  local a = {}; local x = a
  for i = 1, 100000 do x.x = {}; x = x.x end
  return a
end
function test_deep(t) t:eq(deep(), deep()) end
function test_nan_want(t) t:near(5, 0/0, 1) end
function test_nan_eps(t) t:near(5, 1, 0/0) end
function test_skip_in_errors(t) t:errors("boom", function() t:skip("not yet") end) end
function test_fail_in_errors(t) t:errors("boom", function() t:eq(1, 2) end) end
function test_pcall_fail(t)
  pcall(t.fail, t, "x")
end
function test_print(t) print("hello", 1) t:fail("see the log") end
function test_keys(t) t:eq({["a b"] = 1, ok = 2}, {}) end
function test_multiline(t) error("a\nb", 0) end
`
	rep, out := runFiles(t, Config{}, map[string]string{"e_test.lua": src})
	for _, tt := range []struct {
		name   string
		status Status
		msg    string
	}{
		{"test_deep", Failed, `:7: tables nested deeper than 200 to compare$`},
		{"test_nan_want", Failed, `want NaN ± 1$`},
		{"test_nan_eps", Failed, `want 1 ± NaN$`},
		{"test_skip_in_errors", Skipped, `:10: not yet$`},
		{"test_fail_in_errors", Failed, `:11: got 1, want 2$`},
		{"test_pcall_fail", Failed, `e_test.lua:13: x$`},
		{"test_print", Failed, `:15: see the log$`},
		{"test_keys", Failed, `got \{\["a b"\] = 1, ok = 2\}, want \{\}$`},
		{"test_multiline", Errored, "a\nb"},
	} {
		r := outcome(t, rep, tt.name)
		if r.Status != tt.status || !regexp.MustCompile(tt.msg).MatchString(r.Where+": "+r.Message) {
			t.Errorf("%s: %v %q, want %v matching %q", tt.name, r.Status, r.Where+": "+r.Message, tt.status, tt.msg)
		}
	}
	if r := outcome(t, rep, "test_print"); len(r.Logs) != 1 || !strings.HasSuffix(r.Logs[0], "e_test.lua:15: hello 1") {
		t.Errorf("print's log: %q", r.Logs)
	}
	if !strings.Contains(out, "test_multiline: a\n    b\n") {
		t.Errorf("a message of two lines:\n%s", out)
	}
}

// startedCaller closes its channel at the first call.
type startedCaller chan struct{}

func (c startedCaller) Call(context.Context, string, []any) (any, error) {
	close(c)
	return nil, nil
}

// TestRunStopsWhileLoading checks that Run, its ctx cancelled while a
// file's top level spins, returns ctx's error at once and does not count
// the file as broken.
func TestRunStopsWhileLoading(t *testing.T) {
	_, found := writeTests(t, map[string]string{"spin_test.lua": `slacker.call("x/started") while true do end function test_x(t) end`})
	started := make(startedCaller)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-started; cancel() }()
	rep, err := Run(ctx, Config{Caller: started, Timeout: time.Hour}, found)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v, want context.Canceled", err)
	}
	if len(rep.Broken) != 0 || len(rep.Results) != 0 {
		t.Fatalf("broken %v, results %v", rep.Broken, rep.Results)
	}
}
