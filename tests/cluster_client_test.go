package tests

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/client"
	"github.com/slacker-lua/slacker-lua/cluster"
	"github.com/slacker-lua/slacker-lua/internal/testutil"
	"github.com/slacker-lua/slacker-lua/internal/zktest"
)

var testLayout = cluster.Layout{Cluster: "test"}

// node is `slacker-lua serve` on a folder of its own, a server of the
// cluster "test".
type node struct {
	*cliServer
	dir string
}

// startNode serves files as a server of the cluster "test" whose
// ZooKeeper is at zkAddr, with a session timeout of 2s and a leave delay
// of 300ms, and the serve flags given, until it is stopped or the test
// ends.
func startNode(t *testing.T, zkAddr string, files map[string]string, flags ...string) *node {
	t.Helper()
	dir := testutil.WriteFiles(t, files)
	args := append([]string{"--zk", zkAddr, "--cluster", testLayout.Cluster, "--zk-session-timeout", "2s", "--leave-delay", "300ms"}, flags...)
	s := startCLI(t, append(args, dir)...)
	return &node{cliServer: s, dir: dir}
}

// newCluster is a cluster client of the cluster "test", closed when the
// test ends.
func newCluster(t *testing.T, zkAddr string, picker cluster.Picker) *cluster.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := cluster.NewClient(ctx, cluster.ClientConfig{ZooKeeper: strings.Split(zkAddr, ","), Layout: testLayout, Picker: picker, SessionTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func whoFile(i int) map[string]string {
	return map[string]string{"who.lua": fmt.Sprintf("function am_i() return %d end", i)}
}

// TestClusterSpreads checks that a cluster client finds the servers of a
// namespace in ZooKeeper and spreads calls over all three, in turn with
// RoundRobin.
func TestClusterSpreads(t *testing.T) {
	testutil.CheckGoroutines(t)
	zks := zktest.Start(t)
	for i := range 3 {
		startNode(t, zks.Addr, whoFile(i))
	}
	for _, picker := range []cluster.Picker{cluster.Random{}, &cluster.RoundRobin{}} {
		c := newCluster(t, zks.Addr, picker)
		testutil.WaitFor(t, 10*time.Second, func() bool {
			servers, err := c.Servers(context.Background(), "who")
			return err == nil && len(servers) == 3
		}, "who's three servers")
		counts := make([]int, 3)
		for range 300 {
			counts[callAs[int](t, c, "who/am_i")]++
		}
		if slices.Contains(counts, 0) {
			t.Fatalf("%T: calls by server %v", picker, counts)
		}
		if _, ok := picker.(*cluster.RoundRobin); ok && !slices.Equal(counts, []int{100, 100, 100}) {
			t.Fatalf("round robin: calls by server %v", counts)
		}
	}
}

// TestClusterFollows checks that a cluster client follows the namespaces
// as files come and go on the servers, without restarting, that a
// namespace no server serves is not-found at once, and that calls move
// off a server that leaves.
func TestClusterFollows(t *testing.T) {
	testutil.CheckGoroutines(t)
	zks := zktest.Start(t)
	a := startNode(t, zks.Addr, whoFile(0))
	b := startNode(t, zks.Addr, whoFile(1))
	c := newCluster(t, zks.Addr, nil)

	start := time.Now()
	if _, err := c.Call(context.Background(), "later/v"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("a namespace nobody serves: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("not-found took %v", took)
	}
	if err := os.WriteFile(filepath.Join(a.dir, "later.lua"), []byte("function v() return 'later' end"), 0o644); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, func() bool {
		got, err := client.CallAs[string](context.Background(), c, "later/v")
		return err == nil && got == "later"
	}, "later/v through the cluster client")

	for _, n := range []*node{a, b} {
		if err := os.Remove(filepath.Join(n.dir, "who.lua")); err != nil {
			t.Fatal(err)
		}
	}
	testutil.WaitFor(t, 10*time.Second, func() bool {
		_, err := c.Call(context.Background(), "who/am_i")
		return errors.Is(err, client.ErrNotFound)
	}, "who to be not-found once no server serves it")

	if err := os.WriteFile(filepath.Join(b.dir, "later.lua"), []byte("function v() return 'later' end"), 0o644); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, func() bool {
		s, _ := c.Servers(context.Background(), "later")
		return len(s) == 2
	}, "later to be served by both")
	// a leaves: unregistered first, it serves on while the client sees
	// it go.
	a.terminate(t)
	testutil.WaitFor(t, 5*time.Second, func() bool {
		s, _ := c.Servers(context.Background(), "later")
		return len(s) == 1 && s[0].Addr == b.addr
	}, "a to be gone from later's servers")
	for i := range 50 {
		if got, err := client.CallAs[string](context.Background(), c, "later/v"); err != nil || got != "later" {
			t.Fatalf("call %d after a left: %v, %v", i, got, err)
		}
	}
}

// TestClusterLookupBounds checks that a namespace no znode can name is
// not-found at once, and that a first look-up ZooKeeper doesn't answer
// ends at the client's timeout.
func TestClusterLookupBounds(t *testing.T) {
	testutil.CheckGoroutines(t)
	zks := zktest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := cluster.NewClient(ctx, cluster.ClientConfig{
		ZooKeeper: []string{zks.Addr}, Layout: testLayout, SessionTimeout: 2 * time.Second,
		Client: client.Config{Timeout: 300 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, name := range []string{"a\x01b/f", "./f", "../f", "_leader/f"} {
		if _, err := c.Call(context.Background(), name); !errors.Is(err, client.ErrNotFound) {
			t.Errorf("%q: %v, want not-found", name, err)
		}
	}
	zks.Stop()
	start := time.Now()
	if _, err := c.Call(context.Background(), "who/am_i"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a first look-up with ZooKeeper down: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("it took %v", took)
	}
}

// TestClusterDialBound checks that a call to a server that never accepts
// the connection ends at the call's deadline, not the dial timeout.
func TestClusterDialBound(t *testing.T) {
	testutil.CheckGoroutines(t)
	zks := zktest.Start(t)
	// A server that registers but whose address takes no connection: a
	// listener that is never accepted from, with its backlog full.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var fill []net.Conn
	defer func() {
		for _, c := range fill {
			c.Close()
		}
	}()
	full := false
	for range 70000 {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 50*time.Millisecond)
		if err != nil {
			full = true
			break
		}
		fill = append(fill, c)
	}
	if !full {
		t.Fatalf("%d connections and the listener's backlog is not full", len(fill))
	}
	m, err := cluster.Join(cluster.MemberConfig{ZooKeeper: []string{zks.Addr}, Layout: testLayout, Addr: ln.Addr().String(), SessionTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Register("stuck", cluster.NamespaceData{}); err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, zks.Addr, nil)
	testutil.WaitFor(t, 10*time.Second, func() bool {
		s, _ := c.Servers(context.Background(), "stuck")
		return len(s) == 1
	}, "stuck's server")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := c.Call(ctx, "stuck/f"); err == nil {
		t.Fatal("a call to a server that takes no connection succeeded")
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("the call took %v, past its deadline of 200ms", took)
	}
	closed := time.Now()
	c.Close()
	if took := time.Since(closed); took > 2*time.Second {
		t.Fatalf("Close took %v", took)
	}
}

// TestClusterSlackerCall checks that slacker.call in a server of a
// cluster reaches namespaces served by other servers, and those served
// here without leaving the server.
func TestClusterSlackerCall(t *testing.T) {
	testutil.CheckGoroutines(t)
	zks := zktest.Start(t)
	front := startNode(t, zks.Addr, map[string]string{
		"front.lua": `function far(x) return slacker.call("back/double", x) end
function near(x) return slacker.call("here/id", x) end
function nowhere() return slacker.call("nobody/f") end`,
		"here.lua": `function id(x) return {x = x, at = "front"} end`,
	})
	startNode(t, zks.Addr, map[string]string{"back.lua": `function double(x) return {x = 2 * x, at = "back"} end`})
	c := newCluster(t, zks.Addr, nil)
	waitServers(t, c, "back", 1)
	direct, err := client.Dial(context.Background(), front.addr, client.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	type answer struct {
		X  int
		At string
	}
	testutil.WaitFor(t, 10*time.Second, func() bool {
		got, err := client.CallAs[answer](context.Background(), direct, "front/far", 21)
		return err == nil && got == answer{42, "back"}
	}, "front/far to reach back through the cluster")
	if got, err := client.CallAs[answer](context.Background(), direct, "front/near", 7); err != nil || got != (answer{7, "front"}) {
		t.Errorf("front/near: %+v, %v", got, err)
	}
	if _, err := direct.Call(context.Background(), "front/nowhere"); !errors.Is(err, client.ErrException) || !strings.Contains(err.Error(), "nobody") {
		t.Errorf("a slacker.call of a namespace nobody serves: %v", err)
	}
}
