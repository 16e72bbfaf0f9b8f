package tests

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/slacker-lua/slacker-lua/internal/testutil"
	"github.com/slacker-lua/slacker-lua/internal/zktest"
)

// TestCLIClusterRegistration runs `slacker-lua serve --zk` against a real
// ZooKeeper and reads the znodes back with a plain client: the namespaces
// served are registered, a file added is registered once served, a file
// removed is unregistered, and SIGTERM takes the server out.
func TestCLIClusterRegistration(t *testing.T) {
	zks := zktest.Start(t)
	c, _, err := zk.Connect([]string{zks.Addr}, 2*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dir := testutil.WriteFiles(t, map[string]string{
		"a.lua":         "function v() return 1 end",
		"b/c.lua":       "function v() return 2 end",
		"_lib/util.lua": "return {}",
	})
	s := startCLI(t, "--zk", zks.Addr, "--cluster", "test", "--leave-delay", "500ms", dir)
	// kids lists the children of p, sorted: none if p is missing, nil if
	// ZooKeeper could not be asked.
	kids := func(p string) []string {
		k, _, err := c.Children(p)
		switch {
		case errors.Is(err, zk.ErrNoNode):
			return []string{}
		case err != nil:
			return nil
		}
		slices.Sort(k)
		return k
	}
	nodes := func(p string, want ...string) func() bool {
		return func() bool { k := kids(p); return k != nil && slices.Equal(k, want) }
	}
	const ns = "/slacker/test/namespaces"
	// A namespace's node is made before its server's node under it: wait
	// for both.
	testutil.WaitFor(t, 10*time.Second, func() bool {
		return nodes(ns, "a", "b.c")() && nodes(ns+"/a", s.addr)() && nodes(ns+"/b.c", s.addr)()
	}, "a and b.c to be registered, with the server")
	if got := kids("/slacker/test/servers"); !slices.Equal(got, []string{s.addr}) {
		t.Fatalf("servers %v", got)
	}
	if !strings.Contains(s.log(), `msg="joining the cluster" zk=`+zks.Addr+" cluster=test root=/slacker addr="+s.addr) {
		t.Fatalf("joining is not logged:\n%s", s.log())
	}

	if err := os.WriteFile(filepath.Join(dir, "d.lua"), []byte("function v() return 4 end"), 0o644); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, nodes(ns+"/d", s.addr), "d to be registered")
	if stdout, _, _ := cli(t, "call", s.addr, "d/v"); stdout != "4\n" {
		t.Fatalf("d/v once registered = %q", stdout)
	}
	if stdout, stderr, code := cli(t, "call", "--zk", zks.Addr, "--cluster", "test", "d/v"); code != 0 || stdout != "4\n" {
		t.Fatalf("call --zk d/v: exit %d, %q %q", code, stdout, stderr)
	}
	if _, stderr, code := cli(t, "call", "--zk", zks.Addr, "--cluster", "test", "nope/v"); code != 1 || !strings.Contains(stderr, "no server serves nope") {
		t.Fatalf("call --zk nope/v: exit %d, %q", code, stderr)
	}
	if err := os.Remove(filepath.Join(dir, "a.lua")); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, nodes(ns+"/a"), "a to be unregistered")
	// Unregistered first, then drained, then dropped.
	if stdout, stderr, code := cli(t, "call", s.addr, "a/v"); code != 0 || stdout != "1\n" {
		t.Fatalf("a/v just after a was unregistered: exit %d, %q %q; want it still served for the drain", code, stdout, stderr)
	}
	testutil.WaitFor(t, 10*time.Second, func() bool {
		_, _, code := cli(t, "call", s.addr, "a/v")
		return code == 1
	}, "a to be dropped after the drain")

	s.terminate(t)
	if !nodes("/slacker/test/servers")() || !nodes(ns+"/b.c")() {
		t.Fatalf("after SIGTERM: servers %v, b.c's servers %v", kids("/slacker/test/servers"), kids(ns+"/b.c"))
	}
}

// TestCLIClusterInspect runs `slacker-lua inspect --zk`: the cluster's
// namespaces with their servers, versions and leaders, and functions.
func TestCLIClusterInspect(t *testing.T) {
	zks := zktest.Start(t)
	files := map[string]string{
		"math.lua":    "--- Adds a and b.\nfunction add(a, b) return a + b end\nfunction neg(x) return -x end",
		"counter.lua": counterFile,
	}
	a := startNode(t, zks.Addr, files)
	c := newCluster(t, zks.Addr, nil)
	waitServers(t, c, "counter", 1)
	b := startNode(t, zks.Addr, files)
	waitServers(t, c, "math", 2)
	waitServers(t, c, "counter", 2)

	stdout, stderr, code := cli(t, "inspect", "--zk", zks.Addr, "--cluster", "test")
	if code != 0 {
		t.Fatalf("inspect --zk: exit %d, %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	// a, the first to serve it, leads a stateful namespace.
	servers := func(ns string, stateful bool) *regexp.Regexp {
		addrs := []string{a.addr, b.addr}
		slices.Sort(addrs)
		var parts []string
		for _, addr := range addrs {
			p := regexp.QuoteMeta(addr) + ` [0-9a-f]{12}`
			if stateful && addr == a.addr {
				p += " leader"
			}
			parts = append(parts, p)
		}
		return regexp.MustCompile(`^# ` + regexp.QuoteMeta(ns) + `: ` + strings.Join(parts, ", ") + `$`)
	}
	want := []any{
		servers("counter", true),
		"counter/incr()",
		servers("math", false),
		"math/add(a, b)",
		"    Adds a and b.",
		"math/neg(x)",
	}
	addrs := []string{a.addr, b.addr}
	slices.Sort(addrs)
	for _, addr := range addrs {
		want = append(want, regexp.MustCompile(`^# server `+regexp.QuoteMeta(addr)+`: version \S+, weight 1, started \S+$`))
	}
	if len(lines) != len(want) {
		t.Fatalf("inspect --zk printed\n%s", stdout)
	}
	for i, w := range want {
		if re, ok := w.(*regexp.Regexp); ok && !re.MatchString(lines[i]) || !ok && lines[i] != w {
			t.Fatalf("line %d: %q, want %v; all:\n%s", i, lines[i], w, stdout)
		}
	}
	if stdout, _, code := cli(t, "inspect", "--zk", zks.Addr, "--cluster", "test", "math/a"); code != 0 || !strings.HasSuffix(stdout, "math/add(a, b)\n    Adds a and b.\n") || strings.Contains(stdout, "neg") {
		t.Fatalf("inspect --zk math/a: exit %d\n%s", code, stdout)
	}
	if _, stderr, code := cli(t, "inspect", "--cluster", "test", a.addr); code != 2 || !strings.Contains(stderr, "go with --zk") {
		t.Fatalf("inspect --cluster without --zk: exit %d, %s", code, stderr)
	}
}
