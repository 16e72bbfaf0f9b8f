package tests

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/client"
	"github.com/slacker-lua/slacker-lua/internal/testutil"
)

// The attack tests run a real `slacker-lua serve` process, attack it as an
// untrusted caller (or a namespace file) would, and check four things of
// every attack: the process still runs, the attacking call got its
// documented error within its deadline and a stated slack, another
// connection's call was answered meanwhile, and the server's peak resident
// memory stayed under a stated bound.

// probeFile is served beside every attack: probe.ok/ping answers at once.
const probeFile = "return { ping = function() return 'pong' end }\n"

// attackTarget is a served folder and the server process serving it.
type attackTarget struct {
	*cliServer
	dir string
}

// startTarget writes files (and probe.ok) into a fresh folder and serves
// it with flags.
func startTarget(t *testing.T, files map[string]string, flags ...string) *attackTarget {
	t.Helper()
	all := map[string]string{"probe/ok.lua": probeFile}
	for k, v := range files {
		all[k] = v
	}
	dir := testutil.WriteFiles(t, all)
	s := startCLI(t, append(flags, dir)...)
	return &attackTarget{cliServer: s, dir: dir}
}

// pid is the server's process id.
func (a *attackTarget) pid() int { return a.cmd.Process.Pid }

// alive fails the test if the server process has exited.
func (a *attackTarget) alive(t *testing.T) {
	t.Helper()
	select {
	case err := <-a.done:
		a.done <- err
		t.Fatalf("the server died: %v\n%s", err, a.log())
	default:
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", a.pid())); err != nil {
		t.Fatalf("the server died: %v\n%s", err, a.log())
	}
}

// probe calls probe.ok/ping on a connection of its own and fails the test
// unless it is answered within 2 s.
func (a *attackTarget) probe(t *testing.T) {
	t.Helper()
	if err := a.tryProbe(2 * time.Second); err != nil {
		t.Fatalf("another caller was not served: %v\n%s", err, a.log())
	}
}

// tryProbe is probe returning its error; it may be called from any goroutine.
func (a *attackTarget) tryProbe(within time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	c, err := client.Dial(ctx, a.addr, client.Config{})
	if err != nil {
		return err
	}
	defer c.Close()
	got, err := client.CallAs[string](ctx, c, "probe.ok/ping")
	if err != nil {
		return err
	}
	if got != "pong" {
		return fmt.Errorf("probe.ok/ping = %q, want pong", got)
	}
	return nil
}

// probeDuring probes the server every 50 ms while attack runs, from another
// goroutine, and fails the test if a probe was not answered.
func (a *attackTarget) probeDuring(t *testing.T, attack func()) {
	t.Helper()
	a.probeDuringWith(t, func() error { return a.tryProbe(2 * time.Second) }, attack)
}

// probeDuringWith is probeDuring with a probe of the caller's.
func (a *attackTarget) probeDuringWith(t *testing.T, probe func() error, attack func()) {
	t.Helper()
	stop := make(chan struct{})
	result := make(chan error, 1)
	go func() {
		for {
			if err := probe(); err != nil {
				result <- err
				return
			}
			select {
			case <-stop:
				result <- nil
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	attack()
	close(stop)
	if err := <-result; err != nil {
		t.Fatalf("another caller was not served during the attack: %v\n%s", err, a.log())
	}
}

// peakRSS returns the server's peak resident memory (VmHWM), in bytes.
func (a *attackTarget) peakRSS(t *testing.T) int64 {
	t.Helper()
	return procStatus(t, a.pid(), "VmHWM")
}

// rss returns the server's resident memory now (VmRSS), in bytes.
func (a *attackTarget) rss(t *testing.T) int64 {
	t.Helper()
	return procStatus(t, a.pid(), "VmRSS")
}

// maxRSS fails the test if the server's peak resident memory passed limit
// bytes.
func (a *attackTarget) maxRSS(t *testing.T, limit int64) {
	t.Helper()
	if peak := a.peakRSS(t); peak > limit {
		t.Fatalf("peak RSS %d MiB, want at most %d MiB\n%s", peak>>20, limit>>20, a.log())
	} else {
		t.Logf("peak RSS %d MiB (bound %d MiB)", peak>>20, limit>>20)
	}
}

// procStatus reads a "kB" field of /proc/PID/status, in bytes.
func procStatus(t testing.TB, pid int, field string) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			t.Fatalf("%s: %v", field, err)
		}
		return kb << 10
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// timed runs f and fails the test if it took longer than limit.
func timed(t *testing.T, limit time.Duration, what string, f func()) {
	t.Helper()
	start := time.Now()
	f()
	if took := time.Since(start); took > limit {
		t.Fatalf("%s took %v, want at most %v", what, took, limit)
	}
}

// TestAttackHarness checks the harness itself on a call that is no attack.
func TestAttackHarness(t *testing.T) {
	a := startTarget(t, nil)
	a.probeDuring(t, func() {
		timed(t, 2*time.Second, "a probe", func() { a.probe(t) })
	})
	a.alive(t)
	// The peak is read after the RSS, which may grow in between.
	rss := a.rss(t)
	if peak := a.peakRSS(t); rss <= 0 || peak < rss {
		t.Fatalf("RSS %d, peak %d", rss, peak)
	}
	a.maxRSS(t, 200<<20)
}
