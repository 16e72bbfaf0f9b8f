package tests

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/client"
	"github.com/slacker-lua/slacker-lua/internal/testutil"
	"github.com/slacker-lua/slacker-lua/internal/zktest"
)

// TestClusterStatefulZooKeeperOutage checks that the state callers see of
// a stateful namespace on two servers does not change through a ZooKeeper
// outage longer than the session timeout: the counter goes on counting on
// the same leader after ZooKeeper is back, through a cluster client opened
// before and one opened after.
func TestClusterStatefulZooKeeperOutage(t *testing.T) {
	testutil.CheckGoroutines(t)
	zks := zktest.Start(t)
	var nodes []*node
	for i := range 2 {
		nodes = append(nodes, startNode(t, zks.Addr, map[string]string{"counter.lua": fmt.Sprintf("WHO = %d\n%s", i, counterFile)}))
		c := newCluster(t, zks.Addr, nil) // one at a time: the first leads
		waitServers(t, c, "counter", i+1)
		c.Close()
	}
	logsOnFailure(t, nodes...)
	c := newCluster(t, zks.Addr, nil)
	servers := waitServers(t, c, "counter", 2)
	if !servers[indexOf(servers, nodes[0].addr)].Leader {
		t.Fatalf("the first server does not lead: %+v", servers)
	}
	type answer struct{ N, Who int }
	n := 0
	incr := func(c client.Caller, when string) {
		t.Helper()
		n++
		a, err := client.CallAs[answer](context.Background(), c, "counter/incr")
		if err != nil || a != (answer{n, 0}) {
			t.Fatalf("%s: call %d: %+v, %v; want %d on the first server", when, n, a, err, n)
		}
	}
	for range 5 {
		incr(c, "before the outage")
	}

	zks.Stop()
	stopped := time.Now()
	incr(c, "with ZooKeeper down")
	testutil.WaitFor(t, 10*time.Second, func() bool { return time.Since(stopped) > outageSession+time.Second }, "ZooKeeper to be down past the session timeout and a second")
	incr(c, "with ZooKeeper down past the session timeout")
	zks.Restart(false)
	restarted := time.Now()

	// Once ZooKeeper's sessions of before would have expired, had nobody
	// resumed them, the first server leads still.
	after := newCluster(t, zks.Addr, nil)
	testutil.WaitFor(t, outageBound, func() bool {
		srvs, err := after.Servers(context.Background(), "counter")
		return err == nil && len(srvs) == 2 && srvs[indexOf(srvs, nodes[0].addr)].Leader && time.Since(restarted) > 2*outageSession
	}, "the first server to lead, past the session timeout after ZooKeeper restarted")
	for range 5 {
		incr(c, "after the outage, through the client of before")
		incr(after, "after the outage, through a new client")
	}
	t.Logf("ZooKeeper down %v; the count went on to %d on the first server", restarted.Sub(stopped).Round(time.Millisecond), n)
}
