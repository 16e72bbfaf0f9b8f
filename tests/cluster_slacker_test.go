package tests

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path"
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
	"github.com/slacker-lua/slacker-lua/transport"
	"github.com/slacker-lua/slacker-lua/transport/transporttest"
)

// slackerLayout is the cluster "test" under slacker cluster's root.
var slackerLayout = cluster.Layout{Root: cluster.SlackerRoot, Cluster: "test"}

// plainZK is a plain ZooKeeper client, closed when the test ends.
func plainZK(t *testing.T, addr string) *zk.Conn {
	t.Helper()
	c, _, err := zk.Connect([]string{addr}, 2*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// createAll creates the node p with data, and its missing parents with
// empty data, as Curator's creatingParentsIfNeeded does; an existing p is
// left as it is.
func createAll(t *testing.T, c *zk.Conn, p string, data []byte, flags int32) string {
	t.Helper()
	for dir, parents := path.Dir(p), []string{}; ; dir = path.Dir(dir) {
		if ok, _, err := c.Exists(dir); err != nil {
			t.Fatal(err)
		} else if ok || dir == "/" {
			for _, d := range slices.Backward(parents) {
				if _, err := c.Create(d, []byte{}, 0, zk.WorldACL(zk.PermAll)); err != nil && !errors.Is(err, zk.ErrNodeExists) {
					t.Fatal(err)
				}
			}
			break
		}
		parents = append(parents, dir)
	}
	made, err := c.Create(p, data, flags, zk.WorldACL(zk.PermAll))
	if err != nil && !errors.Is(err, zk.ErrNodeExists) {
		t.Fatalf("creating %s: %v", p, err)
	}
	return made
}

// foreign is a server that registers as slacker cluster's servers do
// (src/slacker/discovery/zk/server.clj, publish-cluster): the persistent
// nodes of its namespaces and of their functions, with EDN metadata; its
// server node with EDN server data; its namespace nodes, with no data;
// and a candidate in the leader election of each namespace, one of
// Curator's lock nodes under _leader/mutex. It speaks slacker's protocol
// with a transport.Server.
type foreign struct {
	addr string
	zk   *zk.Conn // its session: its ephemeral nodes go with it
}

// foreignFunc is a function of a foreign server: its EDN metadata, as
// the server writes select-keys of its var's meta, and what it does.
type foreignFunc struct {
	meta string
	call func(ctx context.Context, args []any) (any, error)
}

func startForeign(t *testing.T, zkAddr string, serverData string, funcs map[string]foreignFunc) *foreign {
	t.Helper()
	handler := transporttest.Funcs{}
	for name, f := range funcs {
		handler[name] = f.call
	}
	_, addr := transporttest.StartServer(t, handler, transport.ServerConfig{})
	f := &foreign{addr: addr, zk: plainZK(t, zkAddr)}
	l := slackerLayout
	createAll(t, f.zk, l.Servers(), nil, 0)
	nss := map[string]bool{}
	for name := range funcs {
		ns, _, _ := strings.Cut(name, "/")
		nss[ns] = true
	}
	for ns := range nss {
		createAll(t, f.zk, l.Namespace(ns), nil, 0)
	}
	for name, fn := range funcs {
		ns, fname, _ := strings.Cut(name, "/")
		createAll(t, f.zk, l.Function(ns, fname), []byte(fn.meta), 0)
	}
	createAll(t, f.zk, l.Server(addr), []byte(serverData), zk.FlagEphemeral)
	for ns := range nss {
		createAll(t, f.zk, l.NamespaceServer(ns, addr), []byte{}, zk.FlagEphemeral)
	}
	for ns := range nss {
		var id [16]byte
		rand.Read(id[:])
		lock := fmt.Sprintf("%s/_c_%x-%x-%x-%x-%x-lock-", l.Mutex(ns), id[0:4], id[4:6], id[6:8], id[8:10], id[10:])
		createAll(t, f.zk, lock, []byte("127.0.0.1"), zk.FlagEphemeral|zk.FlagSequence) // Curator's default data: the host's address
	}
	return f
}

// lead makes f the leader of ns, as a slacker cluster server does once it
// takes the leadership: it writes its address as the data of _leader.
func (f *foreign) lead(t *testing.T, ns string) {
	t.Helper()
	if _, err := f.zk.Set(slackerLayout.Leader(ns), []byte(f.addr), -1); err != nil {
		t.Fatal(err)
	}
}

// TestClusterMixed checks a cluster of slacker-lua servers and servers
// that register as slacker cluster's do, through the Go cluster client:
// calls spread over all of them, the leader named by _leader's data is
// followed, the foreign servers' functions and EDN server data are read,
// and inspect --zk shows them.
func TestClusterMixed(t *testing.T) {
	zks := zktest.Start(t)
	files := map[string]string{"math.lua": "--- Adds a and b.\nfunction add(a, b) return a + b end\nfunction who() return 'lua' end"}
	for range 2 {
		startNode(t, zks.Addr, files, "--zk-root", cluster.SlackerRoot)
	}
	add := func(_ context.Context, args []any) (any, error) {
		a, _ := args[0].(int64)
		b, _ := args[1].(int64)
		return a + b, nil
	}
	var fs []*foreign
	for i := range 2 {
		name := fmt.Sprintf("clj%d", i+1)
		fs = append(fs, startForeign(t, zks.Addr, fmt.Sprintf(`{:zone "%s"}`, name), map[string]foreignFunc{
			"math/add": {`{:name add, :doc "Adds a and b.", :arglists ([a b])}`, add},
			"math/who": {`{:name who, :arglists ([])}`, func(context.Context, []any) (any, error) { return name, nil }},
			"clj/hello": {`{:name hello, :doc "Says hello.", :arglists ([name])}`, func(_ context.Context, args []any) (any, error) {
				return fmt.Sprintf("hello %v from %s", args[0], name), nil
			}},
		}))
	}
	fs[0].lead(t, "clj")

	log, logs := testutil.NewLogger()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := cluster.NewClient(ctx, cluster.ClientConfig{ZooKeeper: []string{zks.Addr}, Layout: slackerLayout, Picker: &cluster.RoundRobin{}, SessionTimeout: 2 * time.Second, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// Balanced: each of the four servers takes a quarter of the calls.
	servers := waitServers(t, c, "math", 4)
	counts := map[string]int{}
	for range 40 {
		counts[callAs[string](t, c, "math/who")]++
	}
	if want := map[string]int{"lua": 20, "clj1": 10, "clj2": 10}; fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Fatalf("calls answered by %v, want %v", counts, want)
	}
	for range 8 {
		if got := callAs[int64](t, c, "math/add", 1, 2); got != 3 {
			t.Fatalf("math/add: %d", got)
		}
	}

	// math's leader is a slacker-lua server, elected with the foreign ones.
	c2 := plainZK(t, zks.Addr)
	var leader string
	testutil.WaitFor(t, 10*time.Second, func() bool {
		b, _, err := c2.Get(slackerLayout.Leader("math"))
		leader = string(b)
		servers, _ = c.Servers(ctx, "math")
		for _, s := range servers {
			if s.Leader {
				return err == nil && s.Addr == leader && s.Namespace.Version != ""
			}
		}
		return false
	}, "the client to know math's leader, a slacker-lua server")

	// clj: the foreign servers' functions, from functions/clj; their leader
	// from _leader's data, followed when it changes.
	cljServers := waitServers(t, c, "clj", 2)
	for _, s := range cljServers {
		want := []cluster.Function{{Name: "hello", Doc: "Says hello.", Params: []string{"name"}}}
		if fmt.Sprint(s.Namespace.Functions) != fmt.Sprint(want) {
			t.Fatalf("%s's functions of clj: %+v", s.Addr, s.Namespace.Functions)
		}
	}
	toLeader := c.With(cluster.ToLeader{})
	if got := callAs[string](t, toLeader, "clj/hello", "x"); got != "hello x from clj1" {
		t.Fatalf("clj/hello on the leader: %q", got)
	}
	fs[1].lead(t, "clj")
	testutil.WaitFor(t, 10*time.Second, func() bool {
		return callAs[string](t, toLeader, "clj/hello", "x") == "hello x from clj2"
	}, "the calls to follow the new leader")
	if _, err := c.Call(ctx, "clj/nope"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("clj/nope: %v, want not found", err)
	}

	// Their server data, from EDN.
	for i, f := range fs {
		d, ok, err := c.ServerData(ctx, f.addr)
		if err != nil || !ok || fmt.Sprint(d.Data) != fmt.Sprintf("map[zone:clj%d]", i+1) {
			t.Fatalf("%s's data: %+v, %v, %v", f.addr, d, ok, err)
		}
	}
	testutil.WaitFor(t, 10*time.Second, func() bool {
		for _, s := range waitServers(t, c, "clj", 2) {
			if s.Data().Data["zone"] == nil {
				return false
			}
		}
		return true
	}, "the client to read the foreign servers' data")
	if strings.Contains(logs.String(), "bad server data") || strings.Contains(logs.String(), "bad function data") {
		t.Fatalf("the client logged bad data:\n%s", logs.String())
	}

	// inspect --zk shows them.
	stdout, stderr, code := cli(t, "inspect", "--zk", zks.Addr, "--zk-root", cluster.SlackerRoot, "--cluster", "test")
	if code != 0 {
		t.Fatalf("inspect --zk: exit %d, %s", code, stderr)
	}
	addrs := []string{fs[0].addr, fs[1].addr}
	slices.Sort(addrs)
	cljLine := "# clj: " + addrs[0]
	if addrs[0] == fs[1].addr {
		cljLine += " leader, " + addrs[1]
	} else {
		cljLine += ", " + addrs[1] + " leader"
	}
	for _, want := range []string{
		cljLine + "\n",
		"\nclj/hello(name)\n    Says hello.\n",
		"\nmath/add(a, b)\n    Adds a and b.\n",
		"# server " + fs[0].addr + `: data {"zone":"clj1"}` + "\n",
		"# server " + fs[1].addr + `: data {"zone":"clj2"}` + "\n",
		"# server " + leader + ": version ",
	} {
		if !strings.Contains(stdout, want) {
			t.Fatalf("inspect --zk printed no %q:\n%s", want, stdout)
		}
	}
}

// TestCLISlackerLayoutReload checks the nodes slacker cluster's client
// reads as a server under /slacker/cluster follows its folder: a file
// added is registered with its functions and a leader, a new version's
// functions replace the old ones', and a file removed takes its
// functions' nodes with it; and that --zk-layout slacker-lua writes none
// of them.
func TestCLISlackerLayoutReload(t *testing.T) {
	zks := zktest.Start(t)
	c := plainZK(t, zks.Addr)
	n := startNode(t, zks.Addr, map[string]string{"a.lua": "function f(x) return x end\nfunction g() end"}, "--zk-root", cluster.SlackerRoot)
	l := slackerLayout
	kids := func(p string) []string {
		k, _, err := c.Children(p)
		if err != nil {
			return nil
		}
		slices.Sort(k)
		return k
	}
	data := func(p string) string {
		b, _, err := c.Get(p)
		if err != nil || b == nil {
			return "<none>"
		}
		return string(b)
	}
	wait := func(what string, cond func() bool) {
		t.Helper()
		testutil.WaitFor(t, 10*time.Second, cond, what)
	}
	wait("a's nodes", func() bool {
		return slices.Equal(kids(l.Namespace("a")), []string{n.addr, "_leader"}) && data(l.Leader("a")) == n.addr &&
			slices.Equal(kids(l.NamespaceFunctions("a")), []string{"f", "g"}) && strings.HasPrefix(data(l.Server(n.addr)), "{:")
	})
	if got := data(l.Function("a", "f")); got != "{:arglists ([x]) :name f}" {
		t.Fatalf("f's node: %s", got)
	}

	if err := os.WriteFile(filepath.Join(n.dir, "b.lua"), []byte("--- Says h.\nfunction h(...) end"), 0o644); err != nil {
		t.Fatal(err)
	}
	wait("b's nodes", func() bool {
		return slices.Equal(kids(l.Namespace("b")), []string{n.addr, "_leader"}) && data(l.Leader("b")) == n.addr &&
			data(l.Function("b", "h")) == `{:arglists ([& more]) :doc "Says h." :name h}`
	})
	if err := os.WriteFile(filepath.Join(n.dir, "a.lua"), []byte("function f(x, y) return x end"), 0o644); err != nil {
		t.Fatal(err)
	}
	wait("a's new version's functions", func() bool {
		return slices.Equal(kids(l.NamespaceFunctions("a")), []string{"f"}) && data(l.Function("a", "f")) == "{:arglists ([x y]) :name f}"
	})
	if err := os.Remove(filepath.Join(n.dir, "b.lua")); err != nil {
		t.Fatal(err)
	}
	wait("b's nodes to go", func() bool {
		return slices.Equal(kids(l.Namespace("b")), []string{"_leader"}) && kids(l.NamespaceFunctions("b")) != nil && len(kids(l.NamespaceFunctions("b"))) == 0
	})

	// slacker-lua's layout alone, under the same root.
	lua := cluster.Layout{Root: cluster.SlackerRoot, Cluster: "lua"}
	m := startCLI(t, "--zk", zks.Addr, "--cluster", "lua", "--zk-root", cluster.SlackerRoot, "--zk-layout", "slacker-lua", testutil.WriteFiles(t, map[string]string{"a.lua": "function f() end"}))
	wait("the slacker-lua layout", func() bool { return slices.Equal(kids(lua.Namespace("a")), []string{m.addr}) })
	if !strings.HasPrefix(data(lua.Server(m.addr)), `{"`) || kids(lua.Functions()) != nil {
		t.Fatalf("--zk-layout slacker-lua: server data %s, functions %v", data(lua.Server(m.addr)), kids(lua.Functions()))
	}
}
