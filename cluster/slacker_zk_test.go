package cluster

import (
	"bytes"
	"errors"
	"maps"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/slacker-lua/slacker-lua/internal/clojuretest"
	"github.com/slacker-lua/slacker-lua/internal/testutil"
	"github.com/slacker-lua/slacker-lua/internal/zktest"
	"github.com/slacker-lua/slacker-lua/transport"
)

var sl = Layout{Root: SlackerRoot, Cluster: "test"}

// joinSlacker makes a member of the cluster "test" under SlackerRoot,
// which writes slacker cluster's layout.
func joinSlacker(t *testing.T, zkAddr, addr string) *Member {
	t.Helper()
	return joinIn(t, sl, zkAddr, addr)
}

// slackerNode is a node that slacker cluster's client reads, as its
// source (src/slacker/discovery/zk/client.clj, and client/cluster.clj in
// 0.16) reads it.
type slackerNode struct {
	path      string
	ephemeral bool
	kids      []string // the children it lists, those starting with _ left out; nil: not listed
	data      string   // what of the data is checked: "leader" (host:port), "server", "function" (EDN), "" none
}

// slackerNodes is the table of the nodes slacker cluster's client reads
// in the cluster, for the servers and namespaces given.
//
//	servers                    children (fetch-all-servers!)
//	servers/<addr>             data, EDN (fetch-server-data: deserialize-clj-from-bytes)
//	namespaces/<ns>            children, minus meta-path? ones (fetch-ns-servers!)
//	namespaces/<ns>/_leader    data, as a UTF-8 string, read when ns has servers
//	functions/<ns>             children (fetch-ns-functions: functions-remote, use-remote)
//	functions/<ns>/<fn>        data, EDN (0.16's meta-data-from-zk: meta-remote)
func slackerNodes(servers []string, nss map[string][]string, fns map[string][]string) []slackerNode {
	nodes := []slackerNode{{path: sl.Servers(), kids: servers}}
	for _, s := range servers {
		nodes = append(nodes, slackerNode{path: sl.Server(s), ephemeral: true, data: "server"})
	}
	for _, ns := range slices.Sorted(maps.Keys(nss)) {
		nodes = append(nodes, slackerNode{path: sl.Namespace(ns), kids: nss[ns]})
		if len(nss[ns]) > 0 {
			nodes = append(nodes, slackerNode{path: sl.Leader(ns), data: "leader"})
		}
	}
	for _, ns := range slices.Sorted(maps.Keys(fns)) {
		nodes = append(nodes, slackerNode{path: sl.NamespaceFunctions(ns), kids: fns[ns]})
		for _, fn := range fns[ns] {
			nodes = append(nodes, slackerNode{path: sl.Function(ns, fn), data: "function"})
		}
	}
	return nodes
}

// readSlacker reads the nodes back with a plain client, checks their
// kinds and children, and returns the data of those whose data is
// checked, by path; ok false while they are not all as the table says.
func readSlacker(c *zk.Conn, nodes []slackerNode) (map[string][]byte, string) {
	data := make(map[string][]byte)
	for _, n := range nodes {
		b, st, err := c.Get(n.path)
		if err != nil {
			return nil, n.path + ": " + err.Error()
		}
		if got := st.EphemeralOwner != 0; got != n.ephemeral {
			return nil, n.path + ": wrong kind of node"
		}
		if n.kids != nil {
			kids, _, err := c.Children(n.path)
			if err != nil {
				return nil, n.path + ": " + err.Error()
			}
			kids = slices.DeleteFunc(kids, func(k string) bool { return strings.HasPrefix(k, "_") })
			slices.Sort(kids)
			if !slices.Equal(kids, n.kids) {
				return nil, n.path + ": children " + strings.Join(kids, ",") + ", want " + strings.Join(n.kids, ",")
			}
		}
		if n.data != "" {
			if b == nil {
				return nil, n.path + ": no data" // a NullPointerException in slacker cluster's client
			}
			data[n.path] = b
		}
	}
	return data, ""
}

// waitSlacker waits for the nodes to be as the table says, and for the
// leader of each namespace to be what leaders says, and returns their
// data.
func waitSlacker(t *testing.T, c *zk.Conn, nodes []slackerNode, leaders map[string]string) map[string][]byte {
	t.Helper()
	var data map[string][]byte
	var why string
	testutil.WaitFor(t, wait, func() bool {
		data, why = readSlacker(c, nodes)
		for ns, want := range leaders {
			if why == "" && string(data[sl.Leader(ns)]) != want {
				why = "the leader of " + ns + " is " + string(data[sl.Leader(ns)]) + ", want " + want
			}
		}
		return why == ""
	}, "slacker cluster's nodes")
	if why != "" {
		t.Fatal(why)
	}
	return data
}

// clojureReads is what slacker cluster's client makes of the data of the
// nodes: it reads each with clojure.edn, as deserialize-clj-from-bytes
// does, and prints what the client uses: a server's weight (:weight, 1 by
// default) and data; a function's metadata, with the types of its parts.
const clojureReads = `
(require 'clojure.edn)
(doseq [[kind s] (clojure.edn/read-string (slurp *in*))]
  (println
    (case kind
      "server" (let [d (clojure.edn/read-string s)]
                 (pr-str [(:weight d 1) (:version d) (class (:started-at d)) (:zone d)]))
      "function" (let [m (clojure.edn/read-string s)]
                   (pr-str [(:name m) (class (:name m)) (:doc m) (:arglists m) (class (:arglists m))]))
      )))
`

// TestMemberSlackerLayout checks that members under /slacker/cluster
// write the nodes slacker cluster's client reads, node by node against
// the table of its source, with data Clojure's EDN reader reads as it
// must be, and keep them so as namespaces change, leaders change and a
// session expires.
func TestMemberSlackerLayout(t *testing.T) {
	testutil.CheckGoroutines(t)
	zks := zktest.Start(t)
	proxy := zktest.NewProxy(t, zks.Addr)
	c := look(t, zks)
	const a, b = "127.0.0.1:1", "127.0.0.1:2"
	ma, mb := joinSlacker(t, zks.Addr, a), joinSlacker(t, proxy.Addr, b)
	v1 := NamespaceData{Version: "v1", Functions: []Function{
		{Name: "add", Doc: "Adds a and b.", Params: []string{"a", "b"}},
		{Name: "sum", Params: []string{"first", "..."}},
	}}
	counter := NamespaceData{Version: "c1", Stateful: true, Functions: []Function{{Name: "incr", Params: []string{}}}}
	for _, m := range []*Member{ma, mb} {
		for ns, d := range map[string]NamespaceData{"math": v1, "counter": counter} {
			if err := m.Register(ns, d); err != nil {
				t.Fatal(err)
			}
		}
		settle(t, m) // a first: it leads
	}
	both := []string{a, b}
	nodes := slackerNodes(both, map[string][]string{"math": both, "counter": both},
		map[string][]string{"math": {"add", "sum"}, "counter": {"incr"}})
	data := waitSlacker(t, c, nodes, map[string]string{"math": a, "counter": a})

	// What Clojure reads.
	var input []any
	for _, n := range nodes {
		if n.data == "server" || n.data == "function" {
			input = append(input, []any{n.data, string(data[n.path])})
		}
	}
	in, err := transport.AppendEDN(nil, input)
	if err != nil {
		t.Fatal(err)
	}
	out := string(clojuretest.Run(t, clojureReads, in))
	want := strings.Join([]string{
		`[1 "0.1.0" java.util.Date "a"]`,
		`[1 "0.1.0" java.util.Date "a"]`,
		`[incr clojure.lang.Symbol nil ([]) clojure.lang.PersistentList]`,
		`[add clojure.lang.Symbol "Adds a and b." ([a b]) clojure.lang.PersistentList]`,
		`[sum clojure.lang.Symbol nil ([first & more]) clojure.lang.PersistentList]`,
	}, "\n") + "\n"
	if out != want {
		t.Fatalf("Clojure reads:\n%s\nwant:\n%s", out, want)
	}

	// A new version on a: sum stays while b serves it; then b's too.
	v2 := NamespaceData{Version: "v2", Functions: []Function{{Name: "add", Doc: "Adds.", Params: []string{"a", "b"}}, {Name: "mul", Params: []string{"a", "b"}}}}
	if err := ma.Register("math", v2); err != nil {
		t.Fatal(err)
	}
	settle(t, ma)
	fns := map[string][]string{"math": {"add", "mul", "sum"}, "counter": {"incr"}}
	data = waitSlacker(t, c, slackerNodes(both, map[string][]string{"math": both, "counter": both}, fns), nil)
	if got, _ := parseFunctionEDN("add", data[sl.Function("math", "add")]); got.Doc != "Adds." {
		t.Fatalf("add's node after the new version: %s", data[sl.Function("math", "add")])
	}
	if err := mb.Register("math", v2); err != nil {
		t.Fatal(err)
	}
	settle(t, mb)
	fns["math"] = []string{"add", "mul"}
	waitSlacker(t, c, slackerNodes(both, map[string][]string{"math": both, "counter": both}, fns), nil)

	// a stops serving counter: b leads it; a's leadership of math stays.
	ma.Unregister("counter")
	settle(t, ma)
	waitSlacker(t, c, slackerNodes(both, map[string][]string{"math": both, "counter": {b}}, fns), map[string]string{"math": a, "counter": b})

	// b's session expires: a leads both, and b stands again.
	proxy.Block()
	testutil.WaitFor(t, wait, has(c, sl.Servers(), a), "b's session to expire")
	waitSlacker(t, c, slackerNodes([]string{a}, map[string][]string{"math": {a}, "counter": {}}, fns), map[string]string{"math": a})
	proxy.Unblock()
	waitSlacker(t, c, slackerNodes(both, map[string][]string{"math": both, "counter": {b}}, fns), map[string]string{"math": a, "counter": b})

	// a leaves: b leads math.
	ma.Close()
	waitSlacker(t, c, slackerNodes([]string{b}, map[string][]string{"math": {b}, "counter": {b}}, fns), map[string]string{"math": b, "counter": b})

	// b stops serving counter, the last server of it: its functions' nodes
	// go, functions/counter stays, listing none.
	mb.Unregister("counter")
	settle(t, mb)
	fns["counter"] = []string{}
	waitSlacker(t, c, slackerNodes([]string{b}, map[string][]string{"math": {b}, "counter": {}}, fns), map[string]string{"math": b})

	// The candidates are Curator's lock nodes, which slacker cluster's
	// servers order with theirs, with the server's address as data.
	kids, _, err := c.Children(sl.Mutex("math"))
	if err != nil || len(kids) != 1 || !strings.HasPrefix(kids[0], "_c_") || !strings.Contains(kids[0], "-lock-") {
		t.Fatalf("math's candidates: %v, %v", kids, err)
	}
	if got, _, _ := c.Get(path.Join(sl.Mutex("math"), kids[0])); string(got) != b {
		t.Fatalf("the candidate's data: %q", got)
	}
}

// TestMemberFormats checks which layout a member writes, by its Layout.
func TestMemberFormats(t *testing.T) {
	zks := zktest.Start(t)
	c := look(t, zks)
	for _, tc := range []struct {
		layout  Layout
		slacker bool
	}{
		{Layout{Root: SlackerRoot, Cluster: "auto"}, true},
		{Layout{Root: SlackerRoot, Cluster: "lua", Format: FormatSlackerLua}, false},
		{Layout{Cluster: "slacker", Format: FormatSlacker}, true},
		{Layout{Cluster: "default"}, false},
	} {
		m, err := Join(MemberConfig{ZooKeeper: []string{zks.Addr}, Layout: tc.layout, Addr: "127.0.0.1:1", SessionTimeout: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Register("ns", NamespaceData{Functions: []Function{{Name: "f"}}}); err != nil {
			t.Fatal(err)
		}
		settle(t, m)
		b, _, err := c.Get(tc.layout.Server("127.0.0.1:1"))
		if err != nil {
			t.Fatal(err)
		}
		if got := bytes.HasPrefix(b, []byte("{:")); got != tc.slacker {
			t.Errorf("%v: server data %s", tc.layout, b)
		}
		ok, _, err := c.Exists(tc.layout.Function("ns", "f"))
		if err != nil || ok != tc.slacker {
			t.Errorf("%v: function node there: %v, %v", tc.layout, ok, err)
		}
		_, _, err = c.Get(tc.layout.Leader("ns"))
		if got := !errors.Is(err, zk.ErrNoNode); got != tc.slacker {
			t.Errorf("%v: _leader there: %v", tc.layout, got)
		}
		m.Close()
	}
}
