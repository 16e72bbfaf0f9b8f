package tests

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/internal/testutil"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds the slacker-lua command once per test run.
func binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "slacker-lua-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "slacker-lua")
		out, err := exec.Command("go", "build", "-o", binPath, "../cmd/slacker-lua").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// cliServer is `slacker-lua serve` running as a process.
type cliServer struct {
	cmd  *exec.Cmd
	addr string
	mu   sync.Mutex
	logs bytes.Buffer
	done chan error
}

var servingRE = regexp.MustCompile(`msg=serving addr=(\S+)`)

// serveCommand is the command of a server started by a test: killed
// with the test binary, should the binary be killed before it cleans up.
func serveCommand(bin string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// startCLI runs `slacker-lua serve` on a free port and waits until it
// listens. The process is stopped when the test ends.
func startCLI(t testing.TB, args ...string) *cliServer {
	t.Helper()
	s, err := tryCLI(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// tryCLI is startCLI returning the error of a server that did not start.
func tryCLI(t testing.TB, args ...string) (*cliServer, error) {
	t.Helper()
	args = append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)
	s := &cliServer{cmd: serveCommand(binary(t), args...), done: make(chan error, 1)}
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.logs.WriteString(line + "\n")
			s.mu.Unlock()
			if m := servingRE.FindStringSubmatch(line); m != nil {
				addr <- m[1]
			}
		}
		s.done <- s.cmd.Wait()
	}()
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		<-s.done
	})
	select {
	case s.addr = <-addr:
	case err := <-s.done:
		s.done <- err
		return nil, fmt.Errorf("serve exited: %v\n%s", err, s.log())
	case <-time.After(20 * time.Second):
		s.cmd.Process.Kill()
		err := <-s.done
		s.done <- err
		return nil, fmt.Errorf("serve did not start\n%s", s.log())
	}
	return s, nil
}

// terminate stops the server with SIGTERM, and fails the test unless it
// exits cleanly within 10s.
func (s *cliServer) terminate(t *testing.T) {
	t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		s.done <- err
		if err != nil {
			t.Fatalf("serve exited with %v\n%s", err, s.log())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("serve did not stop on SIGTERM\n%s", s.log())
	}
}

func (s *cliServer) log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.String()
}

// cli runs the command and returns its stdout, stderr and exit code.
func cli(t testing.TB, args ...string) (string, string, int) {
	t.Helper()
	return cliWith(t, nil, "", args...)
}

func TestCLIServeAndCall(t *testing.T) {
	s := startCLI(t, "../examples/lua")
	tests := []struct {
		args   []string
		stdout string // a regexp
		stderr string // a regexp
		code   int
	}{
		{[]string{"slacker.example.api/echo", "hello"}, `^"hello"\n$`, `^$`, 0},
		{[]string{"slacker.example.api/echo", `{"a":[1,2.5,null,"x"]}`}, `^\{"a":\[1,2.5,null,"x"\]\}\n$`, `^$`, 0},
		{[]string{"slacker.example.api/echo", "1", "2"}, `^\[1,2\]\n$`, `^$`, 0},
		{[]string{"slacker.example.api/timestamp"}, `^1[0-9]{12}\n$`, `^$`, 0},
		{[]string{"--content-type", "msgpack", "slacker.example.api/rand-ints", "3"}, `^\[[0-9]+,[0-9]+,[0-9]+\]\n$`, `^$`, 0},
		{[]string{"slacker.example.math/add", "1", "2"}, `^3\n$`, `^$`, 0},
		{[]string{"--content-type", "clj", "slacker.example.api/echo", `{"a":[1,2.5,null,"x"],"b":{"c":null}}`}, `^\{"a":\[1,2.5,null,"x"\],"b":\{\}\}\n$`, `^$`, 0},
		{[]string{"--content-type", "edn", "slacker.example.math/add", "1", "2"}, `^3\n$`, `^$`, 0},
		{[]string{"--content-type", "nippy", "slacker.example.api/echo", `{"a":[1,2.5,null,"x"],"b":{"c":null}}`}, `^\{"a":\[1,2.5,null,"x"\],"b":\{\}\}\n$`, `^$`, 0},
		{[]string{"slacker.example.math/wordcount", "a b c"}, `^3\n$`, `^$`, 0},
		{[]string{"slacker.example.counter/inc", "5"}, `^5\n$`, `^$`, 0},
		{[]string{"slacker.example.counter/stamp"}, `^\{"at":1[0-9]{12},"count":6\}\n$`, `^$`, 0},
		{[]string{"slacker.example.api/make-error"}, `^$`, `slacker.example.api/make-error: exception: .*api.lua:\d+: Expected exception.`, 1},
		{[]string{"slacker.example.api/nope"}, `^$`, `slacker.example.api/nope: not found`, 1},
		{[]string{"--timeout", "300ms", "slacker.example.api/long-running"}, `^$`, `deadline exceeded`, 1},
		{[]string{"slacker.example.api/return-nil"}, `^null\n$`, `^$`, 0},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			flags, rest := splitFlags(tt.args)
			args := append(append(append([]string{"call"}, flags...), s.addr), rest...)
			stdout, stderr, code := cli(t, args...)
			if code != tt.code || !regexp.MustCompile(tt.stdout).MatchString(stdout) || !regexp.MustCompile(tt.stderr).MatchString(stderr) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d, stdout %s, stderr %s", code, stdout, stderr, tt.code, tt.stdout, tt.stderr)
			}
		})
	}

	stdout, _, code := cli(t, "inspect", s.addr, "slacker.example.math/")
	want := "slacker.example.math/add(a, b)\n    Returns a + b.\n"
	if code != 0 || !strings.Contains(stdout, want) || !strings.Contains(stdout, "slacker.example.math/sum(...)") {
		t.Fatalf("inspect: exit %d\n%s\nwant it to contain %q", code, stdout, want)
	}

	// SIGTERM stops the server cleanly.
	s.terminate(t)
	if !strings.Contains(s.log(), "msg=stopped") {
		t.Fatalf("no stop logged:\n%s", s.log())
	}
}

// splitFlags separates leading --flag value pairs from the arguments.
func splitFlags(args []string) (flags, rest []string) {
	for len(args) >= 2 && strings.HasPrefix(args[0], "--") {
		flags = append(flags, args[0], args[1])
		args = args[2:]
	}
	return flags, args
}

func TestCLIUsage(t *testing.T) {
	// The cases of serve with a folder listen on 127.0.0.1:0: whichever
	// check comes first, none binds the default port.
	tests := []struct {
		args   []string
		code   int
		output string
	}{
		{nil, 2, "Commands:"},
		{[]string{"help"}, 0, "serve"},
		{[]string{"help", "serve"}, 0, "-listen"},
		{[]string{"serve", "-h"}, 0, "-pool-size"},
		{[]string{"bogus"}, 2, `unknown command "bogus"`},
		{[]string{"serve"}, 2, "want exactly one folder"},
		{[]string{"serve", "--listen", "127.0.0.1:0", "--log-format", "xml", "."}, 2, "bad --log-format"},
		{[]string{"serve", "--listen", "127.0.0.1:0", "--watch", "inotify", "."}, 2, "bad --watch"},
		{[]string{"serve", "--listen", "127.0.0.1:0", "--watch", "poll", "--poll-interval", "0s", "."}, 2, "bad --poll-interval"},
		{[]string{"serve", "--listen", "127.0.0.1:0", "--poll-interval", "1s", "."}, 2, "--poll-interval goes with --watch poll"},
		{[]string{"serve", "--listen", "127.0.0.1:0", "--cluster", "c", "."}, 2, "--cluster goes with --zk"},
		{[]string{"serve", "--listen", "127.0.0.1:0", "--zk", "127.0.0.1:1", "."}, 2, "--zk needs --cluster"},
		{[]string{"serve", "--listen", "127.0.0.1:0", "--advertise", "10.0.0.1:1", "."}, 2, "--advertise goes with --zk"},
		{[]string{"serve", "--listen", "127.0.0.1:0", "--zk", "127.0.0.1:1", "--cluster", "c", "--advertise", "0.0.0.0:2104", "."}, 2, "not a wildcard"},
		{[]string{"status"}, 2, "want ADDR"},
		{[]string{"status", "127.0.0.1:1"}, 1, "connection refused"},
		{[]string{"call", "127.0.0.1:1"}, 2, "want NAMESPACE/FUNCTION"},
		{[]string{"call", "127.0.0.1:1", "a/b"}, 1, "connection refused"},
		{[]string{"call", "--zk", "127.0.0.1:1", "a/b"}, 2, "--zk needs --cluster"},
		{[]string{"call", "--cluster", "c", "127.0.0.1:1", "a/b"}, 2, "--cluster and --zk-root go with --zk"},
		{[]string{"version"}, 0, "slacker-lua "},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			stdout, stderr, code := cli(t, tt.args...)
			if code != tt.code || !strings.Contains(stdout+stderr, tt.output) {
				t.Fatalf("exit %d, output:\n%s%s\nwant exit %d and %q", code, stdout, stderr, tt.code, tt.output)
			}
		})
	}
}

// TestCLIBrokenFile checks that a broken file is reported with its line and
// the rest of the folder is served.
func TestCLIBrokenFile(t *testing.T) {
	dir := testutil.WriteFiles(t, map[string]string{
		"good.lua":   "function hi() return 'hi' end",
		"broken.lua": "function oops(\n  return 1\nend",
	})
	s := startCLI(t, dir)
	stdout, stderr, code := cli(t, "call", s.addr, "good/hi")
	if code != 0 || stdout != "\"hi\"\n" {
		t.Fatalf("good/hi: exit %d %q %q", code, stdout, stderr)
	}
	if !regexp.MustCompile(`broken.lua:\d`).MatchString(s.log()) {
		t.Fatalf("the broken file is not reported with its line:\n%s", s.log())
	}
	if _, _, code := cli(t, "call", s.addr, "broken/oops"); code != 1 {
		t.Fatalf("broken/oops: exit %d", code)
	}
}

// TestCLIReload follows a file through a running `slacker-lua serve`: its
// reloads are logged with the version and the time they took, a broken
// version is reported by status and inspect while the old one serves, and
// SIGHUP rescans. It runs once with file events and once polling.
func TestCLIReload(t *testing.T) {
	for _, watch := range [][]string{{"--watch", "events"}, {"--watch", "poll", "--poll-interval", "50ms"}} {
		t.Run(watch[1], func(t *testing.T) {
			dir := testutil.WriteFiles(t, map[string]string{"r.lua": "function v() return 1 end"})
			s := startCLI(t, append(watch, dir)...)
			callIs := func(name, want string) func() bool {
				return func() bool {
					stdout, _, code := cli(t, "call", s.addr, name)
					return code == 0 && stdout == want+"\n"
				}
			}
			path := filepath.Join(dir, "r.lua")
			if err := os.WriteFile(path, []byte("function v() return 2 end"), 0o644); err != nil {
				t.Fatal(err)
			}
			testutil.WaitFor(t, 10*time.Second, callIs("r/v", "2"), "r/v to answer 2")
			if !regexp.MustCompile(`msg="namespace reloaded" namespace=r file=r.lua version=[0-9a-f]{12} functions=1 took=\S+`).MatchString(s.log()) {
				t.Fatalf("the reload is not logged with its version and time:\n%s", s.log())
			}

			if err := os.WriteFile(path, []byte("function v()\n  return 3 +\nend"), 0o644); err != nil {
				t.Fatal(err)
			}
			testutil.WaitFor(t, 10*time.Second, func() bool {
				stdout, _, _ := cli(t, "status", s.addr)
				return regexp.MustCompile(`1 file\(s\) failed to load:\n  r.lua \(version [0-9a-f]{12}\): r.lua:3:`).MatchString(stdout)
			}, "status to report the broken file")
			if stdout, _, _ := cli(t, "call", s.addr, "r/v"); stdout != "2\n" {
				t.Fatalf("r/v with a broken file = %q, want the old version's 2", stdout)
			}
			if stdout, _, _ := cli(t, "inspect", s.addr, "r/"); !regexp.MustCompile(`r/v\(\)\n\n1 file\(s\) failed to load:\n  r.lua \(version [0-9a-f]{12}\): r.lua:3:`).MatchString(stdout) {
				t.Fatalf("inspect does not report the broken file:\n%s", stdout)
			}
			stdout, _, _ := cli(t, "status", s.addr)
			if !regexp.MustCompile(`(?m)^r +[0-9a-f]{12} +1 +r.lua$`).MatchString(stdout) {
				t.Fatalf("status does not list r with its version:\n%s", stdout)
			}

			if err := os.WriteFile(path, []byte("function v() return 4 end"), 0o644); err != nil {
				t.Fatal(err)
			}
			testutil.WaitFor(t, 10*time.Second, callIs("r/v", "4"), "r/v to answer 4")
			if stdout, _, _ := cli(t, "status", s.addr); strings.Contains(stdout, "failed") {
				t.Fatalf("status still reports a failure:\n%s", stdout)
			}

			s.cmd.Process.Signal(syscall.SIGHUP)
			testutil.WaitFor(t, 10*time.Second, func() bool { return strings.Contains(s.log(), "msg=rescanned") }, "SIGHUP to rescan")
		})
	}
}

// TestCLIWatchOff checks that with --watch off the server serves the
// folder as it was until SIGHUP, which looks through it once. A server
// watching the same folder shows when a watcher would have noticed.
func TestCLIWatchOff(t *testing.T) {
	dir := testutil.WriteFiles(t, map[string]string{"r.lua": "function v() return 1 end"})
	watching := startCLI(t, dir)
	s := startCLI(t, "--watch", "off", dir)
	if err := os.WriteFile(filepath.Join(dir, "r.lua"), []byte("function v() return 2 end"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "n.lua"), []byte("function v() return 'n' end"), 0o644); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, func() bool {
		r, _, _ := cli(t, "call", watching.addr, "r/v")
		n, _, _ := cli(t, "call", watching.addr, "n/v")
		return r == "2\n" && n == "\"n\"\n"
	}, "the watching server to serve the new files")
	if stdout, _, _ := cli(t, "call", s.addr, "r/v"); stdout != "1\n" {
		t.Fatalf("r/v before SIGHUP = %q, want the version at start", stdout)
	}
	if stdout, stderr, code := cli(t, "call", s.addr, "n/v"); code != 1 || !strings.Contains(stderr, "n/v: not found") {
		t.Fatalf("n/v before SIGHUP: exit %d, %q %q, want not-found", code, stdout, stderr)
	}
	s.cmd.Process.Signal(syscall.SIGHUP)
	testutil.WaitFor(t, 10*time.Second, func() bool { return strings.Contains(s.log(), "msg=rescanned") }, "SIGHUP to rescan")
	for name, want := range map[string]string{"r/v": "2\n", "n/v": "\"n\"\n"} {
		if stdout, stderr, _ := cli(t, "call", s.addr, name); stdout != want {
			t.Errorf("%s after SIGHUP = %q %q, want %q", name, stdout, stderr, want)
		}
	}
}

// TestCLIBench runs slacker-lua bench against a server: the counts,
// latency and CPU lines, the same as JSON, a function that fails, and bad
// flags.
func TestCLIBench(t *testing.T) {
	s := startCLI(t, "../examples/lua")
	stdout, stderr, code := cli(t, "bench", "-n", "3000", "-c", "8", "--conns", "2", "--warmup", "0s", "--content-type", "msgpack", s.addr, "slacker.example.math/add", "1", "2")
	if code != 0 || !regexp.MustCompile(`(?m)^slacker.example.math/add\(1, 2\) on \S+, 2 connections: 8 callers, msgpack\n3000 calls in \S+: \d+ calls/s\nlatency p50 \S+, p99 \S+, p99.9 \S+, max \S+\nCPU \S+ a call \(bench and the client\)\n\z`).MatchString(stdout) {
		t.Fatalf("bench: exit %d\n%s%s", code, stdout, stderr)
	}
	stdout, stderr, code = cli(t, "bench", "--json", "-n", "2000", "--warmup", "0s", s.addr, "slacker.example.math/add", "1", "2")
	var res map[string]any
	if err := json.Unmarshal([]byte(stdout), &res); code != 0 || err != nil || res["calls"] != 2000.0 || res["errors"] != 0.0 {
		t.Fatalf("bench --json: exit %d, %v\n%s%s", code, err, stdout, stderr)
	}
	for _, k := range []string{"seconds", "calls_per_second", "p50_us", "p99_us", "p99.9_us", "max_us", "cpu_per_call_us"} {
		if f, ok := res[k].(float64); !ok || f <= 0 {
			t.Errorf("bench --json: %s is %v", k, res[k])
		}
	}
	if _, stderr, code := cli(t, "bench", "-n", "10", s.addr, "slacker.example.api/make-error"); code != 1 || !strings.Contains(stderr, "Expected exception") {
		t.Fatalf("bench of a failing function: exit %d, %s", code, stderr)
	}
	for _, args := range [][]string{{"-c", "0", s.addr, "a/b"}, {"--conns", "0", s.addr, "a/b"}, {s.addr}, {"--zk", "127.0.0.1:1", "--conns", "2", "--cluster", "c", "a/b"}} {
		if _, _, code := cli(t, append([]string{"bench"}, args...)...); code != 2 {
			t.Errorf("bench %q: exit %d, want 2", args, code)
		}
	}
}
