package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/internal/testutil"
)

// TestServeInProcess runs serve, call and inspect through run, and stops
// the server by cancelling its context, as SIGTERM does.
func TestServeInProcess(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs testutil.Buffer
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--log-format", "json", "../../examples/lua"}, &logs, &logs)
	}()
	addrRE := regexp.MustCompile(`"msg":"serving","addr":"([^"]+)"`)
	var addr string
	deadline := time.Now().Add(10 * time.Second)
	for addr == "" {
		if m := addrRE.FindStringSubmatch(logs.String()); m != nil {
			addr = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("serve did not start:\n%s", logs.String())
		} else {
			time.Sleep(5 * time.Millisecond)
		}
	}

	var out, errs bytes.Buffer
	if code := run(ctx, []string{"call", addr, "slacker.example.math/sum", "1", "2", "3.5"}, &out, &errs); code != 0 || out.String() != "6.5\n" {
		t.Fatalf("call: exit %d, stdout %q, stderr %q", code, out.String(), errs.String())
	}
	out.Reset()
	if code := run(ctx, []string{"inspect", addr, "slacker.example.counter/"}, &out, &errs); code != 0 || !strings.Contains(out.String(), "slacker.example.counter/inc(amount)\n    Adds amount") {
		t.Fatalf("inspect: exit %d, stdout %q, stderr %q", code, out.String(), errs.String())
	}

	cancel()
	select {
	case code := <-exited:
		if code != 0 {
			t.Fatalf("serve exited %d:\n%s", code, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop when its context ended")
	}
}

func TestRunUsage(t *testing.T) {
	var out, errs bytes.Buffer
	if code := run(context.Background(), nil, &out, &errs); code != exitUsage || !strings.Contains(errs.String(), "Commands:") {
		t.Errorf("no arguments: exit %d, stderr %q", code, errs.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"version"}, &out, &errs); code != exitOK || !strings.HasPrefix(out.String(), "slacker-lua ") {
		t.Errorf("version: exit %d, stdout %q", code, out.String())
	}
	errs.Reset()
	if code := run(context.Background(), []string{"call", "--content-type", "xml", "127.0.0.1:1", "a/b"}, &out, &errs); code != exitUsage || !strings.Contains(errs.String(), "bad --content-type") {
		t.Errorf("bad content type: exit %d, stderr %q", code, errs.String())
	}
	errs.Reset()
	if code := run(context.Background(), []string{"call", "--timeout", "0s", "127.0.0.1:1", "a/b"}, &out, &errs); code != exitUsage || !strings.Contains(errs.String(), "bad --timeout") {
		t.Errorf("zero timeout: exit %d, stderr %q", code, errs.String())
	}
}

// TestTestCommand runs slacker-lua test on folders of its own: the exit
// codes, the summary, -run, --junit and the usage errors.
func TestTestCommand(t *testing.T) {
	dir := testutil.WriteFiles(t, map[string]string{
		"m.lua":         "function add(a, b) return a + b end",
		"pass_test.lua": "function test_add(t) t:eq(slacker.call('m/add', 1, 2), 3) end",
		"fail_test.lua": "function test_wrong(t) t:eq(slacker.call('m/add', 1, 2), 4) end\nfunction test_right(t) t:eq(slacker.call('m/add', 2, 2), 4) end",
	})
	test := func(args ...string) (int, string, string) {
		var out, errs bytes.Buffer
		code := run(context.Background(), append([]string{"test"}, args...), &out, &errs)
		return code, out.String(), errs.String()
	}
	code, out, errs := test(dir)
	if code != exitError || !strings.HasSuffix(out, "2 passed, 1 failed\n") || !strings.Contains(out, "fail_test.lua:1: test_wrong: got 3, want 4\n") {
		t.Fatalf("a failing test: exit %d\n%s%s", code, out, errs)
	}
	if code, out, errs := test("-run", "add|right", dir); code != exitOK || out != "2 passed, 0 failed\n" {
		t.Fatalf("-run: exit %d\n%s%s", code, out, errs)
	}
	if code, out, _ := test("--ns", dir, dir+"/pass_test.lua"); code != exitOK || out != "1 passed, 0 failed\n" {
		t.Fatalf("--ns and a file: exit %d\n%s", code, out)
	}
	junit := dir + "/junit.xml"
	if code, _, _ := test("--junit", junit, dir); code != exitError {
		t.Fatalf("--junit: exit %d", code)
	} else if b, err := os.ReadFile(junit); err != nil || !strings.Contains(string(b), `<testsuites tests="3" failures="1"`) {
		t.Fatalf("--junit wrote %q, %v", b, err)
	}

	broken := testutil.WriteFiles(t, map[string]string{"bad_test.lua": "function test_x(t", "ok_test.lua": "function test_ok(t) end"})
	if code, out, _ := test(broken); code != exitUsage || !strings.Contains(out, "bad_test.lua:1: syntax error") || !strings.HasSuffix(out, "1 passed, 0 failed, 1 file not run\n") {
		t.Fatalf("a test file that does not load: exit %d\n%s", code, out)
	}
	badNS := testutil.WriteFiles(t, map[string]string{"m.lua": "function f(", "ok_test.lua": "function test_ok(t) end"})
	if code, out, _ := test(badNS); code != exitUsage || !strings.Contains(out, "m.lua:1: syntax error") {
		t.Fatalf("a namespace that does not load: exit %d\n%s", code, out)
	}
	for _, args := range [][]string{
		{"--ns", dir, "--addr", "127.0.0.1:1", dir},
		{"--zk", "127.0.0.1:1", dir},
		{"--cluster", "c", dir},
		{"-run", "(", dir},
		{"--timeout", "0s", dir},
		{t.TempDir()},
		{dir + "/missing"},
	} {
		if code, _, errs := test(args...); code != exitUsage || !strings.HasPrefix(errs, "slacker-lua test: ") {
			t.Errorf("%q: exit %d, stderr %q", args, code, errs)
		}
	}
	if code, _, errs := test("--addr", "127.0.0.1:1", dir); code != exitUsage || !strings.Contains(errs, "127.0.0.1:1") {
		t.Errorf("--addr of no server: exit %d, %q", code, errs)
	}
}

// TestTestCommandDefaults checks where the namespaces tested are found
// without --ns, and that no test to run is an error.
func TestTestCommandDefaults(t *testing.T) {
	dir := testutil.WriteFiles(t, map[string]string{
		"_lib/util.lua":        "return { twice = function(x) return 2 * x end }",
		"a/b/m.lua":            "local u = require('util')\nfunction f(x) return u.twice(x) end",
		"a/b/m_test.lua":       "local u = require('util')\nfunction test_f(t) t:eq(slacker.call('a.b.m/f', 2), u.twice(2)) end",
		"a/b/nothing_test.lua": "local function test_hidden(t) end",
	})
	var out, errs bytes.Buffer
	// One file: its namespaces are those of the folder above it with _lib.
	if code := run(context.Background(), []string{"test", dir + "/a/b/m_test.lua"}, &out, &errs); code != exitOK || out.String() != "1 passed, 0 failed\n" {
		t.Fatalf("a file alone: exit %d\n%s%s", code, out.String(), errs.String())
	}
	out.Reset()
	errs.Reset()
	if code := run(context.Background(), []string{"test", dir + "/a/b/nothing_test.lua"}, &out, &errs); code != exitUsage || !strings.Contains(errs.String(), "no tests to run") {
		t.Fatalf("no test: exit %d\n%s%s", code, out.String(), errs.String())
	}
}
