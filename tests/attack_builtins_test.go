package tests

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/client"
	"github.com/slacker-lua/slacker-lua/internal/testutil"
)

// builtinsFile is a namespace whose functions each spend far longer than
// any deadline inside one library call, as an attacker's arguments make
// them (the n^4 patterns), or inside library calls that call back into
// Lua (a slow comparator).
const builtinsFile = `
local M = {}
function M.find(n) return string.find(("a"):rep(n), "(.-)(.-)(.-)b") end
function M.match(n) return string.match(("a"):rep(n), "(.*)(.*)(.*)b") end
function M.gmatch(n) for x in string.gmatch(("a"):rep(n), "(.-)(.-)(.-)b") do end end
function M.gsub(n) return string.gsub(("a"):rep(n), "(.-)(.-)(.-)b", "") end
function M.sort(n)
	local t = {}
	for i = 1, n do t[i] = (i * 7919) % 1000003 end
	table.sort(t, function(a, b) for _ = 1, 200 do end return a < b end)
end
function M.date(n) return os.date(("%c"):rep(n)) end
function M.announce(n) print("attack started") return string.find(("a"):rep(n), "(.-)(.-)(.-)b") end
return M
`

// builtinDeadline is the server's --timeout in these attacks, and
// builtinSlack what a call may take past it: the matcher and the sorter
// check the deadline every few thousand steps (well under a millisecond),
// the rest is the server answering on a loaded machine. builtinRSS bounds
// the server's peak memory (about 45 MiB measured).
const (
	builtinDeadline = 2 * time.Second
	builtinSlack    = 500 * time.Millisecond
	builtinRSS      = 128 << 20
)

// TestAttackBuiltinsStopAtDeadline: one library call whose cost grows as
// n^4 (minutes of CPU), or a sort whose comparator is slow, ends canceled at
// the server's deadline; other callers are served meanwhile.
func TestAttackBuiltinsStopAtDeadline(t *testing.T) {
	a := startTarget(t, map[string]string{"attack/builtins.lua": builtinsFile}, "--timeout", builtinDeadline.String())
	c := dial(t, a.addr, client.Config{})
	for _, tc := range []struct {
		fn string
		n  int
	}{{"find", 2000}, {"match", 2000}, {"gmatch", 2000}, {"gsub", 2000}, {"sort", 200000}} {
		t.Run(tc.fn, func(t *testing.T) {
			a.probeDuring(t, func() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				start := time.Now()
				_, err := c.Call(ctx, "attack.builtins/"+tc.fn, tc.n)
				took := time.Since(start)
				if !errors.Is(err, client.ErrCanceled) {
					t.Fatalf("err %v after %v, want canceled", err, took)
				}
				t.Logf("canceled after %v (deadline %v)", took, builtinDeadline)
				if took > builtinDeadline+builtinSlack {
					t.Fatalf("canceled after %v, want within %v + %v", took, builtinDeadline, builtinSlack)
				}
			})
			a.alive(t)
		})
	}
	a.maxRSS(t, builtinRSS)
}

// TestAttackDateFormat: os.date with a long format is refused before
// anything is built.
func TestAttackDateFormat(t *testing.T) {
	a := startTarget(t, map[string]string{"attack/builtins.lua": builtinsFile}, "--timeout", builtinDeadline.String())
	c := dial(t, a.addr, client.Config{})
	a.probeDuring(t, func() {
		timed(t, builtinSlack, "os.date with a long format", func() {
			_, err := c.Call(context.Background(), "attack.builtins/date", 1<<20)
			var rerr *client.RemoteError
			if !errors.As(err, &rerr) || !strings.Contains(rerr.Error(), "date format too long") {
				t.Fatalf("err %v, want the Lua error \"date format too long\"", err)
			}
		})
	})
	a.alive(t)
	a.maxRSS(t, builtinRSS)
}

// TestAttackBuiltinsShutdown: a server whose call is inside an n^4 find
// stops within --shutdown-timeout of SIGTERM, though the call's own
// deadline is a minute away.
func TestAttackBuiltinsShutdown(t *testing.T) {
	const shutdown = time.Second
	a := startTarget(t, map[string]string{"attack/builtins.lua": builtinsFile},
		"--timeout", "60s", "--shutdown-timeout", shutdown.String())
	c := dial(t, a.addr, client.Config{})
	called := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := c.Call(ctx, "attack.builtins/announce", 2000)
		called <- err
	}()
	testutil.WaitFor(t, 10*time.Second, func() bool { return strings.Contains(a.log(), "attack started") }, "the call to start")
	a.probe(t)
	start := time.Now()
	a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
	case <-time.After(shutdown + 5*time.Second):
		t.Fatalf("the server did not stop within %v of SIGTERM\n%s", shutdown+5*time.Second, a.log())
	}
	took := time.Since(start)
	a.done <- nil // for the cleanup
	t.Logf("stopped %v after SIGTERM (--shutdown-timeout %v)", took, shutdown)
	if took > shutdown+builtinSlack {
		t.Fatalf("stopped %v after SIGTERM, want within %v + %v", took, shutdown, builtinSlack)
	}
	if err := <-called; err == nil {
		t.Fatal("the call succeeded")
	}
}
