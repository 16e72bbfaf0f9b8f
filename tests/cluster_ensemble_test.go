package tests

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/client"
	"github.com/slacker-lua/slacker-lua/internal/testutil"
	"github.com/slacker-lua/slacker-lua/internal/zktest"
)

// TestClusterEnsembleFaults runs three servers and a cluster client with
// 64 callers on a real 3-member ZooKeeper ensemble, and takes the
// ensemble's members down under them: its leader, until another is
// elected, then a follower, then two of the three at once, which leaves
// the ensemble without a quorum past the servers' session timeout; each
// comes back in turn. While there is no quorum, one of the servers is
// killed (SIGKILL). No call fails but those in flight on the killed
// server: calls go to the servers, which serve on, the client keeps its
// last list of them and fails over from the one that is gone. Once the
// quorum is back, the killed server's registration goes with its session,
// the others' are there in live sessions, and they get calls.
func TestClusterEnsembleFaults(t *testing.T) {
	testutil.CheckGoroutines(t)
	e := zktest.StartEnsemble(t, 3)
	var nodes []*node
	for i := range 3 {
		nodes = append(nodes, startNode(t, e.Addr(), whoFile(i)))
	}
	logsOnFailure(t, nodes...)
	addrs := nodeAddrs(nodes...)
	c := newCluster(t, e.Addr(), nil)
	testutil.WaitFor(t, 10*time.Second, clusterServes(c, "who", addrs...), "who's three servers")
	look, _ := zkLook(t, e.Addr())
	registered := func() bool {
		_, ok := znodeOwners(look, registrations(addrs, "who"))
		return ok
	}
	testutil.WaitFor(t, 10*time.Second, registered, "the three servers' registrations")

	lc := startCallers(c, 64)
	defer lc.halt()
	testutil.WaitFor(t, 10*time.Second, callsTo(lc, 100, 0, 1, 2), "calls to every server")
	noneFailed := func(when string) {
		t.Helper()
		if errs := lc.failed(); len(errs) > 0 {
			t.Fatalf("%d calls failed %s; the first: %v", len(errs), when, errs[0])
		}
	}

	// The leader goes, and another is elected.
	leader := e.Leader()
	if leader < 0 {
		t.Fatal("the ensemble has no leader")
	}
	e.Servers[leader].Stop()
	stopped := time.Now()
	testutil.WaitFor(t, outageBound, func() bool { l := e.Leader(); return l >= 0 && l != leader }, "another leader to be elected")
	elected := time.Since(stopped)
	testutil.WaitFor(t, outageBound, callsTo(lc, 100, 0, 1, 2), "calls to every server with the leader gone")
	noneFailed("with the ensemble's leader gone")
	e.Servers[leader].Restart(false)
	testutil.WaitFor(t, outageBound, registered, "every registration with the old leader back")

	// A follower goes, and comes back.
	follower := (e.Leader() + 1) % 3
	e.Servers[follower].Stop()
	testutil.WaitFor(t, outageBound, callsTo(lc, 100, 0, 1, 2), "calls to every server with a follower gone")
	noneFailed("with a follower gone")
	e.Servers[follower].Restart(false)

	// Two members go: no quorum, for longer than the servers' sessions.
	down := []int{(e.Leader() + 1) % 3, (e.Leader() + 2) % 3}
	for _, i := range down {
		e.Servers[i].Stop()
	}
	lost := time.Now()
	testutil.WaitFor(t, 3*outageSession, func() bool {
		return time.Since(lost) > outageSession+time.Second
	}, "the session timeout to pass with no quorum")
	testutil.WaitFor(t, outageBound, callsTo(lc, 100, 0, 1, 2), "calls to every server with no quorum")
	noneFailed("with no quorum")

	// A server dies while nobody can tell ZooKeeper: the client finds out
	// by itself. Only calls in flight on it may fail.
	nodes[2].cmd.Process.Kill()
	testutil.WaitFor(t, outageBound, callsTo(lc, 1000, 0, 1), "calls to the servers left with no quorum")
	inFlight := lc.failed()
	for _, err := range inFlight {
		// Calls the server had read and never answered; those not sent
		// the client sends to another server.
		if !errors.Is(err, client.ErrConnLost) || !strings.Contains(err.Error(), addrs[2]) {
			t.Fatalf("a call failed otherwise than in flight on the killed server: %v", err)
		}
	}

	for _, i := range down {
		e.Servers[i].Restart(false)
	}
	back := time.Now()
	live := registrations(addrs[:2], "who")
	testutil.WaitFor(t, outageBound, func() bool { return e.Leader() >= 0 }, "a leader once the quorum is back")
	testutil.WaitFor(t, outageBound, func() bool {
		_, ok := znodeOwners(look, live)
		return ok
	}, "the registrations of the live servers once the quorum is back")
	registeredAfter := time.Since(back)
	testutil.WaitFor(t, outageBound, func() bool { return znodesGone(look, registrations(addrs[2:], "who")) },
		"the killed server's registration to go with its session")
	testutil.WaitFor(t, outageBound, clusterServes(c, "who", addrs[:2]...), "the client to see who's two servers left")
	// ZooKeeper expires the sessions its clients don't come back to a
	// session timeout after the quorum is back: past that, the live
	// servers' registrations are those of live sessions.
	testutil.WaitFor(t, outageBound, func() bool {
		_, ok := znodeOwners(look, live)
		return ok && time.Since(back) > 2*outageSession
	}, "the live servers' registrations, in live sessions")
	testutil.WaitFor(t, outageBound, callsTo(lc, 100, 0, 1), "calls to the servers left once the quorum is back")

	lc.halt()
	noneFailed("once the quorum was back")
	t.Logf("a new leader elected %v after the leader stopped; %d calls in flight on the killed server failed; registrations back %v after the quorum was; %d calls (by server %v)",
		elected.Round(time.Millisecond), len(inFlight), registeredAfter.Round(time.Millisecond), callTotal(lc), callsByServer(lc))
}
