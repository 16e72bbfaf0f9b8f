package tests

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/slacker-lua/slacker-lua/client"
	"github.com/slacker-lua/slacker-lua/cluster"
	"github.com/slacker-lua/slacker-lua/internal/testutil"
	"github.com/slacker-lua/slacker-lua/internal/zktest"
)

// TestAdmin takes a running server's namespace, then the whole server,
// out of the cluster and back with `slacker-lua admin`, and changes its
// weight, while it goes on serving.
func TestAdmin(t *testing.T) {
	zks := zktest.Start(t)
	tokens := filepath.Join(t.TempDir(), "admin-tokens")
	if err := os.WriteFile(tokens, []byte("op3rator\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n := startNode(t, zks.Addr, map[string]string{
		"who.lua":   "function am_i() return 1 end",
		"other.lua": "function v() return 2 end",
	}, "--http", "127.0.0.1:0", "--admin-token-file", tokens)
	url := httpURL(t, n.cliServer)
	c := newCluster(t, zks.Addr, nil)
	servers := func(ns string) int {
		s, err := c.Servers(context.Background(), ns)
		if err != nil {
			return 0
		}
		return len(s)
	}
	registered := func(who, other int) func() bool {
		return func() bool { return servers("who") == who && servers("other") == other }
	}
	admin := func(args ...string) string {
		t.Helper()
		out, errOut, code := cli(t, append([]string{"admin", "--token-file", tokens, url}, args...)...)
		if code != 0 {
			t.Fatalf("admin %v: exit %d: %s", args, code, errOut)
		}
		return out
	}
	conn, _, err := zk.Connect([]string{zks.Addr}, 2*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// announced waits for the server's node to say what ok accepts.
	announced := func(what string, ok func(cluster.ServerData) bool) {
		t.Helper()
		var d cluster.ServerData
		testutil.WaitFor(t, 10*time.Second, func() bool {
			b, _, err := conn.Get(testLayout.Server(n.addr))
			d = cluster.ServerData{}
			return err == nil && json.Unmarshal(b, &d) == nil && ok(d)
		}, what+" in the server's node")
	}
	testutil.WaitFor(t, 10*time.Second, registered(1, 1), "both namespaces registered")
	announced("the HTTP address", func(d cluster.ServerData) bool { return d.HTTP == url && !d.Offline && d.OfflineNamespaces == nil })

	if out := admin("offline", "who"); !strings.Contains(out, `"offline_namespaces":["who"]`) {
		t.Fatalf("offline who: %s", out)
	}
	testutil.WaitFor(t, 10*time.Second, registered(0, 1), "who out of the cluster, other in")
	announced("who offline", func(d cluster.ServerData) bool {
		return slices.Equal(d.OfflineNamespaces, []string{"who"}) && !d.Offline
	})
	direct := dial(t, n.addr, client.Config{})
	if got := callAs[int](t, direct, "who/am_i"); got != 1 {
		t.Fatalf("who/am_i served directly: %d", got)
	}
	admin("online", "who")
	testutil.WaitFor(t, 10*time.Second, registered(1, 1), "who back")

	if out := admin("offline"); !strings.Contains(out, `"offline":true`) {
		t.Fatalf("offline: %s", out)
	}
	testutil.WaitFor(t, 10*time.Second, registered(0, 0), "the server out of the cluster")
	announced("the server offline", func(d cluster.ServerData) bool { return d.Offline })
	admin("online")
	testutil.WaitFor(t, 10*time.Second, registered(1, 1), "the server back")
	announced("nothing offline", func(d cluster.ServerData) bool { return !d.Offline && d.OfflineNamespaces == nil })

	if out := admin("weight", "5"); !strings.Contains(out, `"weight":5`) {
		t.Fatalf("weight: %s", out)
	}
	announced("the weight", func(d cluster.ServerData) bool { return d.Weight == 5 })

	for _, args := range [][]string{{"offline", "nope"}, {"weight", "-1"}} {
		if _, _, code := cli(t, append([]string{"admin", "--token-file", tokens, url}, args...)...); code == 0 {
			t.Errorf("admin %v succeeded", args)
		}
	}
	if _, errOut, code := cli(t, "admin", url, "state"); code == 0 || !strings.Contains(errOut, "401") {
		t.Errorf("admin without a token: exit %d, %q", code, errOut)
	}
}
