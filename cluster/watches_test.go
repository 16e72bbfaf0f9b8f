package cluster

import (
	"fmt"
	"testing"

	"github.com/slacker-lua/slacker-lua/internal/testutil"
	"github.com/slacker-lua/slacker-lua/internal/zktest"
)

// TestClientWatches counts, with ZooKeeper's wchs, the watches a cluster
// client sets as it looks up 1 and 10 of the 10 namespaces that 2 and then
// 20 servers serve. It watches, for each namespace it looked up, the
// namespace's node (its children and its data, which ZooKeeper counts as
// one watch) and its _leader's data, and the servers' node once: no more,
// nothing of the namespaces it did not look up, and nothing more for more
// servers.
func TestClientWatches(t *testing.T) {
	zks := zktest.Start(t)
	// servers serve namespaces ns0 to ns9 each, the first n servers.
	var members []*Member
	servers := func(n int) {
		for i := len(members); i < n; i++ {
			m := join(t, zks.Addr, fmt.Sprintf("127.0.0.1:%d", 20000+i))
			for j := range 10 {
				if err := m.Register(fmt.Sprintf("ns%d", j), NamespaceData{}); err != nil {
					t.Fatal(err)
				}
			}
			settle(t, m)
			members = append(members, m)
		}
	}
	// base is the watches of the servers themselves, with no client.
	base := 0
	// watches returns the watches of a new client that looked up k
	// namespaces, once it has found each one's servers; they are gone
	// once the client has closed.
	watches := func(k int) int {
		c := zkClient(t, zks.Addr)
		for j := range k {
			ns := fmt.Sprintf("ns%d", j)
			testutil.WaitFor(t, wait, func() bool { a, ok := addrs(c, ns); return ok && len(a) == len(members) }, "the servers of "+ns)
		}
		testutil.WaitFor(t, wait, func() bool { return zks.Watched(l.Servers()) }, "the servers' node to be watched")
		w := zks.Watches() - base
		c.Close()
		testutil.WaitFor(t, wait, func() bool { return zks.Watches() == base }, "the closed client's watches to go")
		return w
	}
	servers(2)
	base = zks.Watches()
	one, ten := watches(1), watches(10)
	servers(20)
	base = zks.Watches()
	oneOf20, tenOf20 := watches(1), watches(10)
	t.Logf("a client's watches: %d for 1 namespace and %d for 10, with 2 servers; %d and %d with 20", one, ten, oneOf20, tenOf20)
	for _, w := range []struct{ k, n, got int }{{1, 2, one}, {10, 2, ten}, {1, 20, oneOf20}, {10, 20, tenOf20}} {
		if most := 2*w.k + 1; w.got > most {
			t.Errorf("%d watches for %d namespaces of %d servers, more than %d", w.got, w.k, w.n, most)
		}
	}
	if ten <= one {
		t.Errorf("watches for 1 namespace and 10: %d and %d; want more for more", one, ten)
	}
	if oneOf20 != one || tenOf20 != ten {
		t.Errorf("watches for 1 namespace and 10: %d and %d with 2 servers, %d and %d with 20; want as many", one, ten, oneOf20, tenOf20)
	}
}
