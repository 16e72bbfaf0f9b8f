package cluster

import (
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/internal/testutil"
	"github.com/slacker-lua/slacker-lua/internal/zktest"
)

// TestLeaderStickyZooKeeperRestart checks that the leader of a stateful
// namespace leads still after ZooKeeper was stopped for longer than the
// session timeout and started again: the members resume their sessions,
// which ZooKeeper kept, with their candidates.
func TestLeaderStickyZooKeeperRestart(t *testing.T) {
	testutil.CheckGoroutines(t)
	zks := zktest.Start(t)
	a, b := standTwo(t, zks.Addr)
	c := look(t, zks)
	before := candidates(t, c, "counter")
	if got := Leader(before, nil); got != "127.0.0.1:1" {
		t.Fatalf("leader %q of %v", got, before)
	}
	c.Close()

	zks.Stop()
	stopped := time.Now()
	testutil.WaitFor(t, wait, func() bool { return time.Since(stopped) > 3*time.Second && !a.Connected() && !b.Connected() }, "ZooKeeper to be down past the session timeout")
	zks.Restart(false)
	settle(t, a)
	settle(t, b)
	c = look(t, zks)
	after := candidates(t, c, "counter")
	if got := Leader(after, nil); got != "127.0.0.1:1" {
		t.Fatalf("after the restart: leader %q of %v, before %v", got, after, before)
	}
	if len(after) != 2 {
		t.Fatalf("after the restart: candidates %v", after)
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			t.Errorf("candidate %s is new; before: %v", k, before)
		}
	}
}

// TestLeaderStickySessionsExpired checks that the leader of a stateful
// namespace leads again after both its servers were cut off from
// ZooKeeper until their sessions expired, though the other server is
// back first: the one that did not lead waits before it stands.
func TestLeaderStickySessionsExpired(t *testing.T) {
	testutil.CheckGoroutines(t)
	zks := zktest.Start(t)
	pa, pb := zktest.NewProxy(t, zks.Addr), zktest.NewProxy(t, zks.Addr)
	state := NamespaceData{Stateful: true}
	a := join(t, pa.Addr, "127.0.0.1:1")
	if err := a.Register("counter", state); err != nil {
		t.Fatal(err)
	}
	settle(t, a)
	b := join(t, pb.Addr, "127.0.0.1:2")
	if err := b.Register("counter", state); err != nil {
		t.Fatal(err)
	}
	settle(t, b)
	c := look(t, zks)
	leader := func() string { return Leader(candidates(t, c, "counter"), nil) }
	testutil.WaitFor(t, wait, func() bool { return leader() == "127.0.0.1:1" }, "a to lead")

	pa.Block()
	pb.Block()
	testutil.WaitFor(t, wait, func() bool { return len(candidates(t, c, "counter")) == 0 }, "both sessions to expire")
	pb.Unblock()
	testutil.WaitFor(t, wait, func() bool { return b.Connected() && b.Sessions() == 2 }, "b's new session")
	pa.Unblock()
	settle(t, a)
	settle(t, b)
	if got, cands := leader(), candidates(t, c, "counter"); got != "127.0.0.1:1" || len(cands) != 2 {
		t.Fatalf("after the expiry: leader %q of %v, want a", got, cands)
	}
}
