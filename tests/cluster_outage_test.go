package tests

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/slacker-lua/slacker-lua/client"
	"github.com/slacker-lua/slacker-lua/cluster"
	"github.com/slacker-lua/slacker-lua/internal/testutil"
	"github.com/slacker-lua/slacker-lua/internal/zktest"
)

// The servers' session timeout, as startNode sets it.
const outageSession = 2 * time.Second

// outageBound is how long registrations, watches and calls may take to
// come back once ZooKeeper is reachable again: generous, for a noisy
// 2-core machine with the race detector. A ZooKeeper client tries a server
// again once a second, and a session that expired is replaced at once.
const outageBound = 10 * time.Second

// TestClusterZooKeeperRestart stops ZooKeeper under three servers and a
// cluster client with 64 callers, keeps it down past the servers' session
// timeout, and starts it again, with its data and, as an ensemble that
// lost it, without. Throughout, no call fails: the servers serve on and the
// client keeps its last list of servers. Within outageBound of ZooKeeper
// answering again, every registration is back, every server gets calls,
// and the client's watches work again: a namespace it was told nobody
// serves, added since, is called, and so is a server started since.
func TestClusterZooKeeperRestart(t *testing.T) {
	testutil.CheckGoroutines(t)
	for _, tt := range []struct {
		name string
		wipe bool
	}{
		{"same data", false},
		{"data lost", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			zks := zktest.Start(t)
			var nodes []*node
			for i := range 3 {
				nodes = append(nodes, startNode(t, zks.Addr, whoFile(i)))
			}
			logsOnFailure(t, nodes...)
			addrs := nodeAddrs(nodes...)
			c := newCluster(t, zks.Addr, nil)
			testutil.WaitFor(t, 10*time.Second, clusterServes(c, "who", addrs...), "who's three servers")
			// Looked up while nobody serves it: the client watches for it.
			if _, err := c.Call(context.Background(), "later/v"); !errors.Is(err, client.ErrNotFound) {
				t.Fatalf("later/v before any server serves it: %v", err)
			}
			look, closeLook := zkLook(t, zks.Addr)
			var before map[string]int64
			testutil.WaitFor(t, 10*time.Second, func() bool {
				var ok bool
				before, ok = znodeOwners(look, registrations(addrs, "who"))
				return ok
			}, "the three servers' registrations")
			closeLook() // it would be refused by ZooKeeper with its data lost

			lc := startCallers(c, 64)
			defer lc.halt()
			testutil.WaitFor(t, 10*time.Second, callsTo(lc, 100, 0, 1, 2), "calls to every server")

			// ZooKeeper goes down for longer than the servers' session
			// timeout, while the callers call on.
			zks.Stop()
			stopped, callsAtStop := time.Now(), callTotal(lc)
			during := callsTo(lc, 100, 0, 1, 2)
			testutil.WaitFor(t, 10*time.Second, func() bool {
				return time.Since(stopped) > outageSession+time.Second && during()
			}, "calls to every server with ZooKeeper down for the session timeout and a second")
			outage := time.Since(stopped)
			callsDuring := callTotal(lc) - callsAtStop
			if errs := lc.failed(); len(errs) > 0 {
				t.Fatalf("%d calls failed with ZooKeeper down; the first: %v", len(errs), errs[0])
			}

			// With its data lost, ZooKeeper refuses the clients that saw
			// the old data's transactions (see zktest's Restart): only
			// clients that connect afresh get in.
			zks.Restart(tt.wipe)
			restarted := time.Now()
			testutil.WaitFor(t, outageBound, callsTo(lc, 100, 0, 1, 2), "calls to every server after ZooKeeper restarted")
			if errs := lc.failed(); len(errs) > 0 {
				t.Fatalf("%d calls failed as ZooKeeper restarted; the first: %v", len(errs), errs[0])
			}
			look, _ = zkLook(t, zks.Addr)
			var after map[string]int64
			testutil.WaitFor(t, outageBound, func() bool {
				_, ok := znodeOwners(look, registrations(addrs, "who"))
				return ok
			}, "every registration to be back after ZooKeeper restarted")
			back := time.Since(restarted)

			// The client's watches work again: a namespace it watched for
			// is found once a server serves it, and a server that joins
			// is called.
			if err := os.WriteFile(filepath.Join(nodes[0].dir, "later.lua"), []byte("function v() return 'later' end"), 0o644); err != nil {
				t.Fatal(err)
			}
			written := time.Now()
			testutil.WaitFor(t, outageBound, func() bool {
				got, err := client.CallAs[string](context.Background(), c, "later/v")
				return err == nil && got == "later"
			}, "later/v, added after the restart, through the cluster client")
			found := time.Since(written)
			nodes = append(nodes, startNode(t, zks.Addr, whoFile(3)))
			testutil.WaitFor(t, outageBound, clusterServes(c, "who", nodeAddrs(nodes...)...), "who's four servers in the client, with one started after the restart")
			testutil.WaitFor(t, outageBound, callsTo(lc, 100, 0, 1, 2, 3), "calls to every server, with the one started after the restart")
			// ZooKeeper brings back with its data the sessions it had, and
			// their nodes, and expires those whose clients don't come back
			// to them a session timeout and a tick after it starts. Past
			// that, with time to delete their nodes, the registrations
			// are those of live sessions.
			testutil.WaitFor(t, outageBound, func() bool {
				var ok bool
				after, ok = znodeOwners(look, registrations(addrs, "who"))
				return ok && time.Since(restarted) > 2*outageSession
			}, "every registration to be there, in live sessions, once those ZooKeeper brought back unclaimed have expired")

			lc.halt()
			if errs := lc.failed(); len(errs) > 0 {
				t.Fatalf("%d calls failed after ZooKeeper restarted; the first: %v", len(errs), errs[0])
			}
			t.Logf("ZooKeeper down %v, %d calls meanwhile; registrations back %v after it answered again, in the sessions they had before: %v; later/v, added after, called through the client %v after its file was written; %d calls in all, none failed (by server %v)",
				outage.Round(time.Millisecond), callsDuring, back.Round(time.Millisecond), sameOwners(before, after),
				found.Round(time.Millisecond), callTotal(lc), callsByServer(lc))
		})
	}
}

// TestClusterSessionExpiry cuts two of three servers off from ZooKeeper,
// through a proxy, for longer than their session timeout, so that their
// sessions expire and their registrations go, while a cluster client with
// 64 callers calls on. The third server keeps its session, so the
// namespace is never without a server and no call fails. Once the proxy
// lets them through again, the two register everything again, in new
// sessions, with the namespace added while they were cut off, and get
// calls again. It runs on a standalone ZooKeeper and on a 3-member
// ensemble, where the two are cut off from every member (a proxy each)
// while clients reach them.
func TestClusterSessionExpiry(t *testing.T) {
	t.Run("standalone", func(t *testing.T) {
		zks := zktest.Start(t)
		testSessionExpiry(t, zks.Addr, []*zktest.Proxy{zktest.NewProxy(t, zks.Addr)})
	})
	t.Run("ensemble", func(t *testing.T) {
		e := zktest.StartEnsemble(t, 3)
		var ps []*zktest.Proxy
		for _, s := range e.Servers {
			ps = append(ps, zktest.NewProxy(t, s.Addr))
		}
		testSessionExpiry(t, e.Addr(), ps)
	})
}

// testSessionExpiry is TestClusterSessionExpiry on the ZooKeeper at
// zkAddr, with proxies, one to each of its members, the way to it of the
// servers cut off.
func testSessionExpiry(t *testing.T, zkAddr string, proxies []*zktest.Proxy) {
	testutil.CheckGoroutines(t)
	files := func(i int) map[string]string {
		f := whoFile(i)
		f["more.lua"] = "function v() return 'more' end"
		return f
	}
	var through []string
	for _, p := range proxies {
		through = append(through, p.Addr)
	}
	cutZK := strings.Join(through, ",")
	nodes := []*node{startNode(t, cutZK, files(0)), startNode(t, cutZK, files(1)), startNode(t, zkAddr, files(2))}
	logsOnFailure(t, nodes...)
	addrs := nodeAddrs(nodes...)
	cut, kept := addrs[:2], addrs[2:]
	c := newCluster(t, zkAddr, nil)
	testutil.WaitFor(t, 10*time.Second, clusterServes(c, "who", addrs...), "who's three servers")
	look, _ := zkLook(t, zkAddr)
	var before map[string]int64
	testutil.WaitFor(t, 10*time.Second, func() bool {
		var ok bool
		before, ok = znodeOwners(look, registrations(addrs, "who", "more"))
		return ok
	}, "the three servers' registrations")

	lc := startCallers(c, 64)
	defer lc.halt()
	testutil.WaitFor(t, 10*time.Second, callsTo(lc, 100, 0, 1, 2), "calls to every server")

	for _, p := range proxies {
		p.Block()
	}
	blocked := time.Now()
	// A namespace added while its server can't reach ZooKeeper.
	if err := os.WriteFile(filepath.Join(nodes[0].dir, "late.lua"), []byte("function v() return 'late' end"), 0o644); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, outageBound, func() bool { return znodesGone(look, registrations(cut, "who", "more")) },
		"the sessions of the servers cut off to expire, and their registrations to go")
	expired := time.Since(blocked)
	testutil.WaitFor(t, outageBound, clusterServes(c, "who", kept...), "the client to drop the servers cut off")
	testutil.WaitFor(t, outageBound, callsTo(lc, 100, 2), "calls to the server left")

	for _, p := range proxies {
		p.Unblock()
	}
	unblocked := time.Now()
	var after map[string]int64
	testutil.WaitFor(t, outageBound, func() bool {
		var ok bool
		after, ok = znodeOwners(look, append(registrations(addrs, "who", "more"), registrations(cut[:1], "late")...))
		return ok
	}, "every registration of the servers cut off to be back, with the one added meanwhile")
	back := time.Since(unblocked)
	for _, p := range registrations(cut, "who", "more") {
		if after[p] == before[p] {
			t.Errorf("%s is still in the session %#x, which expired", p, after[p])
		}
	}
	for _, p := range registrations(kept, "who", "more") {
		if after[p] != before[p] {
			t.Errorf("%s moved from session %#x to %#x, though its server was never cut off", p, before[p], after[p])
		}
	}
	for _, addr := range cut {
		ps := registrations([]string{addr}, "who", "more", "late")
		for _, p := range ps {
			if _, ok := after[p]; ok && after[p] != after[ps[0]] {
				t.Errorf("%s is in session %#x, and its server's node in %#x", p, after[p], after[ps[0]])
			}
		}
	}
	testutil.WaitFor(t, outageBound, clusterServes(c, "who", addrs...), "the client to see who's three servers again")
	testutil.WaitFor(t, outageBound, callsTo(lc, 100, 0, 1), "calls to the servers cut off, once registered again")
	if got, err := client.CallAs[string](context.Background(), c, "late/v"); err != nil || got != "late" {
		t.Fatalf("late/v through the cluster client: %q, %v", got, err)
	}

	lc.halt()
	if errs := lc.failed(); len(errs) > 0 {
		t.Fatalf("%d calls failed; the first: %v", len(errs), errs[0])
	}
	t.Logf("cut off at %v: registrations gone %v after (session timeout %v), back in new sessions %v after the cut ended; %d calls, none failed (by server %v)",
		blocked.Format("15:04:05.000"), expired.Round(time.Millisecond), outageSession, back.Round(time.Millisecond), callTotal(lc), callsByServer(lc))
}

// logsOnFailure prints the servers' logs if the test fails.
func logsOnFailure(t *testing.T, nodes ...*node) {
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range nodes {
				t.Logf("server %s:\n%s", n.addr, n.log())
			}
		}
	})
}

func nodeAddrs(nodes ...*node) []string {
	var addrs []string
	for _, n := range nodes {
		addrs = append(addrs, n.addr)
	}
	return addrs
}

// clusterServes reports whether the cluster client has the servers addrs,
// and only them, for the namespace ns.
func clusterServes(c *cluster.Client, ns string, addrs ...string) func() bool {
	want := slices.Sorted(slices.Values(addrs))
	return func() bool {
		servers, err := c.Servers(context.Background(), ns)
		if err != nil {
			return false
		}
		var got []string
		for _, s := range servers {
			got = append(got, s.Addr)
		}
		slices.Sort(got)
		return slices.Equal(got, want)
	}
}

// zkLook is a plain ZooKeeper client, to read the cluster's znodes with,
// closed by the returned function or when the test ends.
func zkLook(t *testing.T, addr string) (*zk.Conn, func()) {
	t.Helper()
	c, _, err := zk.Connect(strings.Split(addr, ","), outageSession, zk.WithLogger(quietZK{}))
	if err != nil {
		t.Fatal(err)
	}
	closeConn := sync.OnceFunc(c.Close)
	t.Cleanup(closeConn)
	return c, closeConn
}

type quietZK struct{}

func (quietZK) Printf(string, ...any) {}

// registrations lists the znodes that register the servers at addrs, each
// as serving the namespaces nss: per server, its node, then one per
// namespace.
func registrations(addrs []string, nss ...string) []string {
	var paths []string
	for _, addr := range addrs {
		paths = append(paths, testLayout.Server(addr))
		for _, ns := range nss {
			paths = append(paths, testLayout.NamespaceServer(ns, addr))
		}
	}
	return paths
}

// znodeOwners returns the sessions that own the ephemeral znodes paths, if
// they are all there.
func znodeOwners(c *zk.Conn, paths []string) (map[string]int64, bool) {
	owners := make(map[string]int64)
	for _, p := range paths {
		ok, st, err := c.Exists(p)
		if err != nil || !ok {
			return nil, false
		}
		owners[p] = st.EphemeralOwner
	}
	return owners, true
}

// znodesGone reports whether ZooKeeper says none of paths is there.
func znodesGone(c *zk.Conn, paths []string) bool {
	for _, p := range paths {
		if ok, _, err := c.Exists(p); err != nil || ok {
			return false
		}
	}
	return true
}

// callsTo returns a condition that holds once each of the servers has
// answered n calls more than it had when callsTo was called.
func callsTo(lc *loadCallers, n int, servers ...int) func() bool {
	from := make(map[int]int)
	for _, s := range servers {
		from[s] = lc.count(s)
	}
	return func() bool {
		for _, s := range servers {
			if lc.count(s) < from[s]+n {
				return false
			}
		}
		return true
	}
}

// callsByServer is the calls answered so far by each server, by the
// number its who file answers, 0 to 3.
func callsByServer(lc *loadCallers) map[int]int {
	by := make(map[int]int)
	for who := range 4 {
		if n := lc.count(who); n > 0 {
			by[who] = n
		}
	}
	return by
}

func callTotal(lc *loadCallers) int {
	n := 0
	for _, c := range callsByServer(lc) {
		n += c
	}
	return n
}

// sameOwners reports whether the znodes are owned by the same sessions
// after as before.
func sameOwners(before, after map[string]int64) bool { return maps.Equal(before, after) }
