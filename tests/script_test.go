package tests

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/slacker-lua/slacker-lua/cluster"
	"github.com/slacker-lua/slacker-lua/internal/testutil"
	"github.com/slacker-lua/slacker-lua/internal/zktest"
)

// TestScripts runs the stories in testdata/script, one txtar file each:
// scripts that run the built slacker-lua, which is on their PATH, as a
// user would, with the Lua files they serve inline. Besides testscript's
// own commands they have these:
//
//	serve NAME [FLAG...] DIR   start `slacker-lua serve --listen 127.0.0.1:0 FLAG... DIR`,
//	                           wait until it serves, and set $NAME_ADDR to its address
//	stopserver NAME            SIGTERM it; fail unless it exits cleanly
//	killserver NAME            SIGKILL it, and wait until it is gone
//	serverlog NAME             print its log so far to stdout
//	zookeeper                  start a ZooKeeper and set $ZK to its address
//	zkls PATH                  print the children of a znode, sorted, one a line
//	clusterclient NAME --zk ADDRS --cluster CLUSTER
//	                           open a cluster client that lives until the script ends
//	ccall NAME NS/FN [ARG...]  call through it: the result as JSON on stdout
//	retry [-timeout D] [-exit N] [-stdout RE]... [-stderr RE]... COMMAND [ARG...]
//	                           run COMMAND until it exits N with matching output
//
// (testscript's own stop, kill and wait come before commands of the same
// name, hence stopserver and killserver.) Every process and client a script
// starts is stopped when it ends; a failed script's log ends with the logs
// of its servers.
func TestScripts(t *testing.T) {
	bin := binary(t)
	testscript.Run(t, testscript.Params{
		Dir:                "testdata/script",
		RequireUniqueNames: true,
		Setup: func(env *testscript.Env) error {
			// Run makes each script's T a testing.TB, for zktest.
			tb, ok := env.T().(testing.TB)
			if !ok {
				return errors.New("the script's T is no testing.TB: run it with testscript.Run")
			}
			env.Setenv("PATH", filepath.Dir(bin)+string(filepath.ListSeparator)+env.Getenv("PATH"))
			env.Values[scriptKey{}] = &scriptState{
				tb:      tb,
				bin:     bin,
				servers: make(map[string]*scriptServer),
				clients: make(map[string]*cluster.Client),
			}
			return nil
		},
		Cmds: map[string]func(*testscript.TestScript, bool, []string){
			"serve":         cmdServe,
			"stopserver":    cmdStopServer,
			"killserver":    cmdKillServer,
			"serverlog":     cmdServerLog,
			"zookeeper":     cmdZooKeeper,
			"zkls":          probeCmd("zkls", probeZkls),
			"clusterclient": cmdClusterClient,
			"ccall":         probeCmd("ccall", probeCcall),
			"retry":         cmdRetry,
			// dev_script_test.go's:
			"dev":     cmdDev,
			"devstop": cmdDevStop,
			"alive":   cmdAlive,
			"zkstop":  cmdZkStop,
			"zkstart": cmdZkStart,
		},
	})
}

type scriptKey struct{}

// scriptState is what the commands of one script share. Commands run one
// at a time, on the script's goroutine.
type scriptState struct {
	tb      testing.TB // the script's own test
	bin     string     // the slacker-lua binary
	zk      *zktest.Server
	servers map[string]*scriptServer
	clients map[string]*cluster.Client
	devs    map[string]*devRun // see dev_script_test.go
	zkDown  time.Time          // when zkstop stopped ZooKeeper
}

func state(ts *testscript.TestScript) *scriptState {
	return ts.Value(scriptKey{}).(*scriptState)
}

// scriptServer is a `slacker-lua serve` started by a script.
type scriptServer struct {
	cmd  *exec.Cmd
	log  testutil.Buffer // its stdout and stderr
	done chan struct{}   // closed once it has exited, with err set
	err  error
}

// How long the commands wait for what should take a moment.
const (
	startTimeout = 20 * time.Second // for a server to serve
	stopTimeout  = 15 * time.Second // for a server to exit: leave delay, then drain
	retryTimeout = 10 * time.Second // retry's default
	callTimeout  = 10 * time.Second // for a ccall or zkls
)

// serve NAME [FLAG...] DIR runs `slacker-lua serve --listen 127.0.0.1:0
// FLAG... DIR` in the script's folder, waits until it logs
// "msg=serving addr=", and sets $NAME_ADDR to that address. A server still
// running when the script ends is killed.
func cmdServe(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: serve NAME [FLAG...] DIR")
	}
	st, name := state(ts), args[0]
	if _, ok := st.servers[name]; ok {
		ts.Fatalf("serve: there already is a server %s", name)
	}
	s := &scriptServer{done: make(chan struct{})}
	s.cmd = serveCommand(st.bin, append([]string{"serve", "--listen", "127.0.0.1:0"}, args[1:]...)...)
	s.cmd.Dir = ts.MkAbs(".")
	s.cmd.Stdout, s.cmd.Stderr = &s.log, &s.log
	ts.Check(s.cmd.Start())
	st.servers[name] = s
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	ts.Defer(func() {
		s.cmd.Process.Kill()
		<-s.done
		if st.tb.Failed() {
			ts.Logf("[log of server %s]\n%s", name, s.log.String())
		}
	})
	deadline := time.After(startTimeout)
	for {
		if m := servingRE.FindStringSubmatch(s.log.String()); m != nil {
			ts.Setenv(name+"_ADDR", m[1])
			return
		}
		select {
		case <-s.done:
			ts.Fatalf("serve %s exited before serving (%v):\n%s", name, s.err, s.log.String())
		case <-deadline:
			ts.Fatalf("serve %s did not serve within %v:\n%s", name, startTimeout, s.log.String())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// serverOf returns the server the script started as name.
func serverOf(ts *testscript.TestScript, name string) *scriptServer {
	s, ok := state(ts).servers[name]
	if !ok {
		ts.Fatalf("no server %s: start it with serve", name)
	}
	return s
}

// stopserver NAME sends the server SIGTERM and waits for it to exit,
// failing unless it exits with status 0 within 15s.
func cmdStopServer(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: stopserver NAME")
	}
	s := serverOf(ts, args[0])
	ts.Check(s.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-s.done:
	case <-time.After(stopTimeout):
		ts.Fatalf("server %s did not exit within %v of SIGTERM:\n%s", args[0], stopTimeout, s.log.String())
	}
	if s.err != nil {
		ts.Fatalf("server %s exited with %v:\n%s", args[0], s.err, s.log.String())
	}
}

// killserver NAME kills the server with SIGKILL, as a crash would, and
// waits until it is gone.
func cmdKillServer(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: killserver NAME")
	}
	s := serverOf(ts, args[0])
	ts.Check(s.cmd.Process.Kill())
	<-s.done
}

// serverlog NAME prints what the server has logged so far to stdout, for
// stdout (or cp stdout FILE) to check.
func cmdServerLog(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: serverlog NAME")
	}
	io.WriteString(ts.Stdout(), serverOf(ts, args[0]).log.String())
}

// zookeeper starts a real ZooKeeper on a free loopback port, stopped when
// the script ends, and sets $ZK to its address.
func cmdZooKeeper(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: zookeeper")
	}
	st := state(ts)
	if st.zk != nil {
		ts.Fatalf("zookeeper: already started")
	}
	st.zk = zktest.Start(st.tb)
	ts.Defer(st.zk.Stop)
	ts.Setenv("ZK", st.zk.Addr)
}

// clusterclient NAME --zk HOST:PORT,... --cluster CLUSTER [--zk-root ROOT]
// opens a client of the cluster, as a long-running program would, for
// ccall NAME to call through. It is closed when the script ends.
func cmdClusterClient(ts *testscript.TestScript, neg bool, args []string) {
	fs := flag.NewFlagSet("clusterclient", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	zkAddrs := fs.String("zk", "", "")
	layout := cluster.Layout{}
	fs.StringVar(&layout.Cluster, "cluster", "", "")
	fs.StringVar(&layout.Root, "zk-root", "", "")
	if neg || len(args) < 1 || fs.Parse(args[1:]) != nil || fs.NArg() != 0 || *zkAddrs == "" || layout.Cluster == "" {
		ts.Fatalf("usage: clusterclient NAME --zk HOST:PORT,... --cluster CLUSTER [--zk-root ROOT]")
	}
	st, name := state(ts), args[0]
	if _, ok := st.clients[name]; ok {
		ts.Fatalf("clusterclient: there already is a client %s", name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	c, err := cluster.NewClient(ctx, cluster.ClientConfig{ZooKeeper: strings.Split(*zkAddrs, ","), Layout: layout})
	ts.Check(err)
	st.clients[name] = c
	ts.Defer(func() { c.Close() })
}

// A probe is a command that retry can run again and again, like a
// program: it returns what it printed and its exit code, 0 if it
// succeeded and 1 if not. It stops by ctx's deadline.
type probe func(ctx context.Context, ts *testscript.TestScript, args []string) (stdout, stderr string, code int)

// probes are the probes retry knows by name.
var probes = map[string]probe{
	"ccall":     probeCcall,
	"zkls":      probeZkls,
	"serverlog": probeServerLog, // dev_script_test.go's
}

// probeCmd makes p a script command that fails if p fails, or with !, if
// p succeeds.
func probeCmd(name string, p probe) func(*testscript.TestScript, bool, []string) {
	return func(ts *testscript.TestScript, neg bool, args []string) {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		stdout, stderr, code := p(ctx, ts, args)
		io.WriteString(ts.Stdout(), stdout)
		io.WriteString(ts.Stderr(), stderr)
		switch {
		case code != 0 && !neg:
			ts.Fatalf("%s failed", name)
		case code == 0 && neg:
			ts.Fatalf("%s succeeded unexpectedly", name)
		}
	}
}

// ccall NAME NS/FN [ARG...] calls NS/FN through the cluster client
// NAME, with the arguments read as `slacker-lua call` reads them (JSON,
// else a string), and prints the result as JSON, or fails with the error.
func probeCcall(ctx context.Context, ts *testscript.TestScript, args []string) (string, string, int) {
	if len(args) < 2 {
		ts.Fatalf("usage: ccall NAME NAMESPACE/FUNCTION [ARG...]")
	}
	c, ok := state(ts).clients[args[0]]
	if !ok {
		ts.Fatalf("ccall: no client %s: open it with clusterclient", args[0])
	}
	callArgs := make([]any, 0, len(args)-2)
	for _, a := range args[2:] {
		var v any
		if json.Unmarshal([]byte(a), &v) != nil {
			v = a
		}
		callArgs = append(callArgs, v)
	}
	res, err := c.Call(ctx, args[1], callArgs...)
	if err != nil {
		return "", fmt.Sprintf("ccall: %s: %v\n", args[1], err), 1
	}
	v, err := res.Value()
	if err != nil {
		return "", fmt.Sprintf("ccall: %s: decoding the result: %v\n", args[1], err), 1
	}
	out, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Sprintf("ccall: %s: printing the result: %v\n", args[1], err), 1
	}
	return string(out) + "\n", "", 0
}

// zkls PATH prints the children of the znode PATH in the script's
// ZooKeeper, sorted, one a line; it fails if there is no such znode.
func probeZkls(ctx context.Context, ts *testscript.TestScript, args []string) (string, string, int) {
	if len(args) != 1 {
		ts.Fatalf("usage: zkls PATH")
	}
	st := state(ts)
	if st.zk == nil {
		ts.Fatalf("zkls: no ZooKeeper: start it with zookeeper")
	}
	conn, _, err := zk.Connect([]string{st.zk.Addr}, callTimeout, zk.WithLogger(quietLogger{}))
	if err != nil {
		return "", fmt.Sprintf("zkls: %v\n", err), 1
	}
	defer conn.Close()
	type answer struct {
		kids []string
		err  error
	}
	done := make(chan answer, 1)
	go func() {
		kids, _, err := conn.Children(args[0])
		done <- answer{kids, err}
	}()
	var a answer
	select {
	case a = <-done:
	case <-ctx.Done():
		a.err = ctx.Err() // conn.Close ends Children
	}
	if a.err != nil {
		return "", fmt.Sprintf("zkls: %s: %v\n", args[0], a.err), 1
	}
	slices.Sort(a.kids)
	var out strings.Builder
	for _, k := range a.kids {
		out.WriteString(k + "\n")
	}
	return out.String(), "", 0
}

type quietLogger struct{}

func (quietLogger) Printf(string, ...any) {}

// retry [-timeout D] [-exit N] [-stdout RE]... [-stderr RE]... COMMAND [ARG...]
// runs COMMAND, a program on the script's PATH or the probe ccall or
// zkls, until it exits with status N (default 0) and every RE (testscript's
// multi-line regexps, as for stdout and stderr) matches its output; then
// that output is the script's stdout and stderr. It waits from 10ms to
// 200ms between tries, and fails with the last try's output once D
// (default 10s) has passed.
func cmdRetry(ts *testscript.TestScript, neg bool, args []string) {
	fs := flag.NewFlagSet("retry", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	timeout := fs.Duration("timeout", retryTimeout, "")
	exit := fs.Int("exit", 0, "")
	var stdoutREs, stderrREs regexps
	fs.Var(&stdoutREs, "stdout", "")
	fs.Var(&stderrREs, "stderr", "")
	const usage = "usage: retry [-timeout D] [-exit N] [-stdout RE]... [-stderr RE]... COMMAND [ARG...]"
	if err := fs.Parse(args); err != nil {
		ts.Fatalf("retry: %v\n%s", err, usage)
	}
	if neg || fs.NArg() == 0 {
		ts.Fatalf(usage)
	}
	run, ok := probes[fs.Arg(0)]
	if !ok {
		run = runProgram
	}
	rest := fs.Args()
	if ok {
		rest = rest[1:]
	}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	start, pause := time.Now(), 10*time.Millisecond
	for tries := 1; ; tries++ {
		stdout, stderr, code := run(ctx, ts, rest)
		if code == *exit && stdoutREs.match(stdout) && stderrREs.match(stderr) {
			ts.Logf("retry: exit %d after %d tries in %v", code, tries, time.Since(start).Round(time.Millisecond))
			io.WriteString(ts.Stdout(), stdout)
			io.WriteString(ts.Stderr(), stderr)
			return
		}
		select {
		case <-ctx.Done():
			io.WriteString(ts.Stdout(), stdout)
			io.WriteString(ts.Stderr(), stderr)
			want := fmt.Sprintf("exit %d", *exit)
			for _, re := range stdoutREs {
				want += fmt.Sprintf(", stdout matching %q", strings.TrimPrefix(re.String(), "(?m)"))
			}
			for _, re := range stderrREs {
				want += fmt.Sprintf(", stderr matching %q", strings.TrimPrefix(re.String(), "(?m)"))
			}
			ts.Fatalf("retry: gave up after %d tries in %v: the last exited %d, with the output above; want %s", tries, *timeout, code, want)
		case <-time.After(pause):
		}
		pause = min(2*pause, 200*time.Millisecond)
	}
}

// runProgram runs a program found on the script's PATH in the script's
// folder, as exec does, and returns its output and exit code.
func runProgram(ctx context.Context, ts *testscript.TestScript, args []string) (string, string, int) {
	path := lookPath(ts, args[0])
	cmd := exec.CommandContext(ctx, path, args[1:]...)
	cmd.Dir = ts.MkAbs(".")
	cmd.Env = append(os.Environ(), "PATH="+ts.Getenv("PATH"))
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		code = ee.ExitCode() // -1 if ctx killed it
	} else if err != nil {
		ts.Fatalf("retry: %v", err)
	}
	return stdout.String(), stderr.String(), code
}

// lookPath finds the program name on the script's PATH.
func lookPath(ts *testscript.TestScript, name string) string {
	if strings.Contains(name, "/") {
		return ts.MkAbs(name)
	}
	for _, dir := range filepath.SplitList(ts.Getenv("PATH")) {
		path := filepath.Join(dir, name)
		if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return path
		}
	}
	ts.Fatalf("retry: %s is neither a probe (ccall, zkls) nor a program on PATH", name)
	return ""
}

// regexps is a repeatable flag of regexps that must all match.
type regexps []*regexp.Regexp

func (r *regexps) Set(s string) error {
	re, err := regexp.Compile(`(?m)` + s)
	if err != nil {
		return err
	}
	*r = append(*r, re)
	return nil
}

func (r regexps) String() string { return fmt.Sprint([]*regexp.Regexp(r)) }

func (r regexps) match(text string) bool {
	for _, re := range r {
		if !re.MatchString(text) {
			return false
		}
	}
	return true
}
