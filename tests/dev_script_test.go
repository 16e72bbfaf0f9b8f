package tests

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/slacker-lua/slacker-lua/internal/testutil"
)

// The script commands of `slacker-lua dev` and of ZooKeeper outages,
// which TestScripts registers:
//
//	dev NAME [FLAG...] DIR     start `slacker-lua dev FLAG... DIR` in the background, wait
//	                           until it prints what to try, and set $NAME_ZK (ZooKeeper's
//	                           address), $NAME_ZKPID (its process), $NAME_DATA (its data
//	                           folder) and $NAME_ADDR1... (the servers')
//	devstop NAME               SIGINT it; fail unless it exits 0 within 20s; print its
//	                           stdout to stdout
//	alive PID                  succeed if the process PID is running
//	zkstop                     stop the script's ZooKeeper, as a crash would
//	zkstart [-after D]         start it again, with its data, on the same port, once it
//	                           has been down for D (0)
//
// and retry runs serverlog NAME as a probe, to wait for a line of a log.

// devRun is a `slacker-lua dev` started by a script.
type devRun struct {
	scriptServer
	stdout testutil.Buffer
}

var (
	devZKRE     = regexp.MustCompile(`(?m)^zookeeper (\S+) \(pid (\d+)\), data in (\S+)$`)
	devServerRE = regexp.MustCompile(`(?m)^server (\S+)$`)
	devReadyRE  = regexp.MustCompile(`(?m)^Ctrl-C stops`)
)

func cmdDev(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: dev NAME [FLAG...] DIR")
	}
	st, name := state(ts), args[0]
	if st.devs == nil {
		st.devs = make(map[string]*devRun)
	}
	if _, ok := st.devs[name]; ok {
		ts.Fatalf("dev: there already is a dev cluster %s", name)
	}
	d := &devRun{scriptServer: scriptServer{done: make(chan struct{})}}
	d.cmd = serveCommand(st.bin, append([]string{"dev"}, args[1:]...)...)
	d.cmd.Dir = ts.MkAbs(".")
	d.cmd.Stdout, d.cmd.Stderr = &d.stdout, &d.log
	ts.Check(d.cmd.Start())
	st.devs[name] = d
	go func() {
		d.err = d.cmd.Wait()
		close(d.done)
	}()
	ts.Defer(func() {
		d.cmd.Process.Kill()
		<-d.done
		if st.tb.Failed() {
			ts.Logf("[dev %s: stdout]\n%s\n[dev %s: stderr]\n%s", name, d.stdout.String(), name, d.log.String())
		}
	})
	deadline := time.After(2 * startTimeout)
	for !devReadyRE.MatchString(d.stdout.String()) {
		select {
		case <-d.done:
			ts.Fatalf("dev %s exited before it was ready (%v):\n%s\n%s", name, d.err, d.stdout.String(), d.log.String())
		case <-deadline:
			ts.Fatalf("dev %s was not ready within %v:\n%s\n%s", name, 2*startTimeout, d.stdout.String(), d.log.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	out := d.stdout.String()
	m := devZKRE.FindStringSubmatch(out)
	if m == nil {
		ts.Fatalf("dev %s printed no zookeeper line:\n%s", name, out)
	}
	ts.Setenv(name+"_ZK", m[1])
	ts.Setenv(name+"_ZKPID", m[2])
	ts.Setenv(name+"_DATA", m[3])
	for i, s := range devServerRE.FindAllStringSubmatch(out, -1) {
		ts.Setenv(fmt.Sprintf("%s_ADDR%d", name, i+1), s[1])
	}
}

func cmdDevStop(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: devstop NAME")
	}
	d, ok := state(ts).devs[args[0]]
	if !ok {
		ts.Fatalf("devstop: no dev cluster %s: start it with dev", args[0])
	}
	ts.Check(d.cmd.Process.Signal(syscall.SIGINT))
	select {
	case <-d.done:
	case <-time.After(20 * time.Second):
		ts.Fatalf("dev %s did not exit within 20s of SIGINT:\n%s\n%s", args[0], d.stdout.String(), d.log.String())
	}
	if d.err != nil {
		ts.Fatalf("dev %s exited with %v:\n%s\n%s", args[0], d.err, d.stdout.String(), d.log.String())
	}
	ts.Stdout().Write([]byte(d.stdout.String()))
}

func cmdAlive(ts *testscript.TestScript, neg bool, args []string) {
	var pid int
	if len(args) != 1 {
		ts.Fatalf("usage: alive PID")
	}
	if _, err := fmt.Sscan(args[0], &pid); err != nil || pid <= 0 {
		ts.Fatalf("alive: bad PID %q", args[0])
	}
	err := syscall.Kill(pid, 0)
	switch {
	case err == nil && neg:
		status := "running"
		if b, rerr := readProcStatus(pid); rerr == nil {
			status = b
		}
		ts.Fatalf("process %d is alive: %s", pid, status)
	case err != nil && !errors.Is(err, syscall.ESRCH):
		ts.Fatalf("alive: %v", err)
	case err != nil && !neg:
		ts.Fatalf("process %d is not running", pid)
	}
}

// readProcStatus returns the State line of a process's /proc status.
func readProcStatus(pid int) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "State:") {
			return line, nil
		}
	}
	return "", errors.New("no State")
}

func cmdZkStop(ts *testscript.TestScript, neg bool, args []string) {
	st := state(ts)
	if neg || len(args) != 0 || st.zk == nil {
		ts.Fatalf("usage: zkstop, after zookeeper")
	}
	st.zk.Stop()
	st.zkDown = time.Now()
}

func cmdZkStart(ts *testscript.TestScript, neg bool, args []string) {
	st := state(ts)
	fs := flag.NewFlagSet("zkstart", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	after := fs.Duration("after", 0, "")
	if neg || fs.Parse(args) != nil || fs.NArg() != 0 || st.zk == nil || st.zkDown.IsZero() {
		ts.Fatalf("usage: zkstart [-after D], after zookeeper and zkstop")
	}
	// The outage's length is what the script is about: wait it out.
	time.Sleep(time.Until(st.zkDown.Add(*after)))
	st.zk.Restart(false)
}

// probeServerLog is serverlog as a probe of retry's.
func probeServerLog(ctx context.Context, ts *testscript.TestScript, args []string) (string, string, int) {
	if len(args) != 1 {
		ts.Fatalf("usage: serverlog NAME")
	}
	return serverOf(ts, args[0]).log.String(), "", 0
}
