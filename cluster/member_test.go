package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/slacker-lua/slacker-lua/internal/testutil"
	"github.com/slacker-lua/slacker-lua/internal/zktest"
)

const wait = 10 * time.Second

// join makes a member of the cluster "test" with the ZooKeeper at zkAddr,
// closed when the test ends.
func join(t *testing.T, zkAddr, addr string) *Member {
	t.Helper()
	return joinIn(t, Layout{Cluster: "test"}, zkAddr, addr)
}

// joinIn is join with the layout l.
func joinIn(t *testing.T, l Layout, zkAddr, addr string) *Member {
	t.Helper()
	m, err := Join(MemberConfig{
		ZooKeeper:      []string{zkAddr},
		Layout:         l,
		Addr:           addr,
		Data:           map[string]any{"zone": "a"},
		Version:        "0.1.0",
		SessionTimeout: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

// look is a plain ZooKeeper client, to read back what members wrote.
func look(t *testing.T, zks *zktest.Server) *zk.Conn {
	t.Helper()
	c, _, err := zk.Connect([]string{zks.Addr}, 2*time.Second, zk.WithLogInfo(false), zk.WithLogger(zkLogger{discard}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func settle(t *testing.T, m *Member) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := m.Sync(ctx); err != nil {
		t.Fatal(err)
	}
}

// children lists the children of p, sorted; none if p is missing.
func children(c *zk.Conn, p string) []string {
	kids, _ := list(c, p)
	return kids
}

// list lists the children of p, sorted: none if p is missing, and ok false
// if ZooKeeper could not be asked.
func list(c *zk.Conn, p string) (kids []string, ok bool) {
	kids, _, err := c.Children(p)
	switch {
	case errors.Is(err, zk.ErrNoNode):
		return []string{}, true
	case err != nil:
		return nil, false
	}
	slices.Sort(kids)
	return kids, true
}

// has reports whether the children of p are want: an answer from
// ZooKeeper, not a failure to ask it.
func has(c *zk.Conn, p string, want ...string) func() bool {
	return func() bool {
		kids, ok := list(c, p)
		return ok && slices.Equal(kids, want)
	}
}

var l = Layout{Cluster: "test"}

var discard = slog.New(slog.DiscardHandler)

// TestMemberLayout checks the nodes of two members, read back with a plain
// client, as namespaces come and go and a member leaves.
func TestMemberLayout(t *testing.T) {
	testutil.CheckGoroutines(t)
	zks := zktest.Start(t)
	c := look(t, zks)
	a, b := join(t, zks.Addr, "127.0.0.1:7"), join(t, zks.Addr, "127.0.0.2:7")
	for _, ns := range []string{"slacker.example.api", "math"} {
		if err := a.Register(ns, NamespaceData{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Register("math", NamespaceData{}); err != nil {
		t.Fatal(err)
	}
	settle(t, a)
	settle(t, b)
	if got := children(c, "/slacker/test/namespaces"); !slices.Equal(got, []string{"math", "slacker.example.api"}) {
		t.Fatalf("namespaces %v", got)
	}
	if got := children(c, l.Namespace("math")); !slices.Equal(got, []string{"127.0.0.1:7", "127.0.0.2:7"}) {
		t.Fatalf("math's servers %v", got)
	}
	if got := children(c, l.Servers()); !slices.Equal(got, []string{"127.0.0.1:7", "127.0.0.2:7"}) {
		t.Fatalf("servers %v", got)
	}
	raw, st, err := c.Get(l.Server("127.0.0.1:7"))
	if err != nil {
		t.Fatal(err)
	}
	var sd ServerData
	if err := json.Unmarshal(raw, &sd); err != nil || sd.Version != "0.1.0" || sd.Weight != 1 || sd.Data["zone"] != "a" || time.Since(sd.StartedAt) > time.Minute {
		t.Fatalf("server data %s: %+v, %v", raw, sd, err)
	}
	if st.EphemeralOwner == 0 {
		t.Fatal("the server's node is not ephemeral")
	}

	a.Unregister("math")
	a.Unregister("never registered")
	settle(t, a)
	if got := children(c, l.Namespace("math")); !slices.Equal(got, []string{"127.0.0.2:7"}) {
		t.Fatalf("math's servers after a unregistered it: %v", got)
	}
	b.Close()
	b.Close()
	// At once, not after the session timeout of 2s.
	testutil.WaitFor(t, time.Second, has(c, l.Namespace("math")), "b's nodes to go with its session")
	if got := children(c, l.Servers()); !slices.Equal(got, []string{"127.0.0.1:7"}) {
		t.Fatalf("servers after b left: %v", got)
	}
	if err := b.Sync(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Sync after Close: %v", err)
	}
}

// TestMemberZooKeeperLater checks that a member made while ZooKeeper is
// down registers once it is up, and that its nodes survive a restart of
// ZooKeeper within the session timeout.
func TestMemberZooKeeperLater(t *testing.T) {
	testutil.CheckGoroutines(t)
	zks := zktest.Start(t)
	zks.Stop()
	m := join(t, zks.Addr, "127.0.0.1:7")
	if err := m.Register("a", NamespaceData{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := m.Sync(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Sync with ZooKeeper down: %v", err)
	}
	zks.Restart(false)
	settle(t, m)
	c := look(t, zks)
	if got := children(c, l.Namespace("a")); !slices.Equal(got, []string{"127.0.0.1:7"}) {
		t.Fatalf("a's servers %v", got)
	}

	zks.Restart(false)
	if err := m.Register("b", NamespaceData{}); err != nil {
		t.Fatal(err)
	}
	settle(t, m)
	c = look(t, zks)
	if !has(c, l.Namespace("a"), "127.0.0.1:7")() || !has(c, l.Namespace("b"), "127.0.0.1:7")() {
		t.Fatalf("after a restart: a %v, b %v", children(c, l.Namespace("a")), children(c, l.Namespace("b")))
	}
}

// TestMemberSessionExpired checks that a member whose session expired
// registers everything again in its new session.
func TestMemberSessionExpired(t *testing.T) {
	testutil.CheckGoroutines(t)
	zks := zktest.Start(t)
	proxy := zktest.NewProxy(t, zks.Addr)
	m := join(t, proxy.Addr, "127.0.0.1:7")
	for _, ns := range []string{"a", "b"} {
		if err := m.Register(ns, NamespaceData{}); err != nil {
			t.Fatal(err)
		}
	}
	settle(t, m)
	if n := m.Sessions(); n != 1 {
		t.Errorf("Sessions before the expiry = %d, want 1", n)
	}
	c := look(t, zks)
	proxy.Block()
	testutil.WaitFor(t, wait, has(c, l.Servers()), "the session to expire, and its nodes to go")
	proxy.Unblock()
	testutil.WaitFor(t, wait, func() bool {
		return has(c, l.Namespace("a"), "127.0.0.1:7")() && has(c, l.Namespace("b"), "127.0.0.1:7")() &&
			has(c, l.Servers(), "127.0.0.1:7")()
	}, "the nodes to be made again")
	if n := m.Sessions(); n != 2 {
		t.Errorf("Sessions after the expiry = %d, want 2", n)
	}
}

// TestMemberTakesOver checks that a node of the member's address left by
// another session is replaced by the member's own.
func TestMemberTakesOver(t *testing.T) {
	testutil.CheckGoroutines(t)
	zks := zktest.Start(t)
	c := look(t, zks)
	testutil.WaitFor(t, wait, func() bool { return c.State() == zk.StateHasSession }, "a session")
	for _, p := range []string{"/slacker", "/slacker/test", l.Namespaces(), l.Namespace("a")} {
		if _, err := c.Create(p, nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Create(l.NamespaceServer("a", "127.0.0.1:7"), nil, zk.FlagEphemeral, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	m := join(t, zks.Addr, "127.0.0.1:7")
	if err := m.Register("a", NamespaceData{}); err != nil {
		t.Fatal(err)
	}
	settle(t, m)
	_, st, err := c.Get(l.NamespaceServer("a", "127.0.0.1:7"))
	if err != nil {
		t.Fatal(err)
	}
	if st.EphemeralOwner == c.SessionID() {
		t.Fatal("the node is still the other session's")
	}
}

func TestConfig(t *testing.T) {
	ok := MemberConfig{ZooKeeper: []string{"127.0.0.1:9"}, Layout: Layout{Cluster: "c"}, Addr: "10.0.0.1:7"}
	for _, tt := range []struct {
		change func(*MemberConfig)
		msg    string
	}{
		{func(c *MemberConfig) { c.ZooKeeper = nil }, "names no server"},
		{func(c *MemberConfig) { c.Layout.Cluster = "" }, "can't name a znode"},
		{func(c *MemberConfig) { c.Layout.Cluster = "a/b" }, "can't name a znode"},
		{func(c *MemberConfig) { c.Layout.Root = "/a/../b" }, "want an absolute znode path"},
		{func(c *MemberConfig) { c.Layout.Root = "slacker" }, "want an absolute znode path"},
		{func(c *MemberConfig) { c.Layout.Root = "/slacker/" }, "want an absolute znode path"},
		{func(c *MemberConfig) { c.Addr = "0.0.0.0:7" }, "not a wildcard"},
		{func(c *MemberConfig) { c.Addr = ":7" }, "not a wildcard"},
		{func(c *MemberConfig) { c.Addr = "[::]:7" }, "not a wildcard"},
		{func(c *MemberConfig) { c.Addr = "10.0.0.1:0" }, "not a wildcard"},
		{func(c *MemberConfig) { c.Addr = "10.0.0.1" }, "missing port"},
		{func(c *MemberConfig) { c.Weight = -1 }, "is negative"},
		{func(c *MemberConfig) { c.SessionTimeout = -1 }, "is negative"},
		{func(c *MemberConfig) { c.Auth = Auth{User: "u"} }, "no password"},
		{func(c *MemberConfig) { c.Auth = Auth{User: "u:v", Password: "p"} }, "holds ':'"},
	} {
		cfg := ok
		tt.change(&cfg)
		if _, err := Join(cfg); err == nil || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%+v: %v, want %q", cfg, err, tt.msg)
		}
	}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := ok.withDefaults(); got.Weight != 1 || got.SessionTimeout != DefaultSessionTimeout || got.Logger == nil {
		t.Fatalf("defaults %+v", got)
	}
	if got := (Layout{Root: "/slacker/cluster", Cluster: "c"}).NamespaceServer("a.b", "h:1"); got != "/slacker/cluster/c/namespaces/a.b/h:1" {
		t.Fatalf("the original layout: %s", got)
	}
	for _, ns := range []string{"", "_leader", "a/b", ".", "..", "a\x01b", "a\u007fb"} {
		m := &Member{}
		if err := m.Register(ns, NamespaceData{}); err == nil {
			t.Errorf("Register(%q) succeeded", ns)
		}
	}
}

// TestMemberSync checks that Sync waits for the server's node even with
// no namespaces.
func TestMemberSync(t *testing.T) {
	testutil.CheckGoroutines(t)
	zks := zktest.Start(t)
	zks.Stop()
	m := join(t, zks.Addr, "127.0.0.1:7")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := m.Sync(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Sync with ZooKeeper down and no namespaces: %v", err)
	}
	zks.Restart(false)
	settle(t, m)
	c := look(t, zks)
	if !has(c, l.Servers(), "127.0.0.1:7")() {
		t.Fatalf("servers %v", children(c, l.Servers()))
	}
}

// candidates returns the leader election of ns: each candidate's data
// by its name.
func candidates(t *testing.T, c *zk.Conn, ns string) map[string]string {
	t.Helper()
	out := make(map[string]string)
	for _, k := range children(c, l.Leader(ns)) {
		data, _, err := c.Get(l.Leader(ns) + "/" + k)
		if err == nil {
			out[k] = string(data)
		}
	}
	return out
}

// TestMemberNamespaceData checks the data of a namespace's node: written
// on registering, updated in place by a new version, and gone with the
// node.
func TestMemberNamespaceData(t *testing.T) {
	testutil.CheckGoroutines(t)
	zks := zktest.Start(t)
	c := look(t, zks)
	m := join(t, zks.Addr, "127.0.0.1:7")
	v1 := NamespaceData{Version: "v1", Idempotent: true, Functions: []Function{{Name: "add", Doc: "Adds.", Params: []string{"a", "b"}}}}
	if err := m.Register("math", v1); err != nil {
		t.Fatal(err)
	}
	settle(t, m)
	node := l.NamespaceServer("math", "127.0.0.1:7")
	read := func() (NamespaceData, *zk.Stat) {
		t.Helper()
		b, st, err := c.Get(node)
		if err != nil {
			t.Fatal(err)
		}
		d, err := ParseNamespaceData(b)
		if err != nil {
			t.Fatal(err)
		}
		return d, st
	}
	got, st1 := read()
	if got.Version != "v1" || !got.Idempotent || got.Stateful || len(got.Functions) != 1 || got.Functions[0].Doc != "Adds." || !slices.Equal(got.Functions[0].Params, []string{"a", "b"}) {
		t.Fatalf("data %+v", got)
	}
	v2 := NamespaceData{Version: "v2", Functions: []Function{{Name: "sub", Params: []string{}}}}
	if err := m.Register("math", v2); err != nil {
		t.Fatal(err)
	}
	settle(t, m)
	got, st2 := read()
	if got.Version != "v2" || got.Idempotent || len(got.Functions) != 1 || got.Functions[0].Name != "sub" {
		t.Fatalf("data after the update %+v", got)
	}
	if st2.Czxid != st1.Czxid {
		t.Fatal("the update made the node again")
	}

	// Too much to publish: the docs go, then the functions.
	big := NamespaceData{Version: "v3"}
	for i := range 2000 {
		big.Functions = append(big.Functions, Function{Name: fmt.Sprintf("f%d", i), Doc: strings.Repeat("d", 200), Params: []string{}})
	}
	if err := m.Register("math", big); err != nil {
		t.Fatal(err)
	}
	settle(t, m)
	got, _ = read()
	if !got.Truncated || len(got.Functions) != 2000 || got.Functions[0].Doc != "" {
		t.Fatalf("big data: truncated %v, %d functions, doc %q", got.Truncated, len(got.Functions), got.Functions[0].Doc)
	}
	m.Unregister("math")
	settle(t, m)
	if ok, _, _ := c.Exists(node); ok {
		t.Fatal("the node is still there")
	}
}

// TestMemberLeaderElection checks the leader election of a stateful
// namespace: the first candidate leads, a leader that unregisters or
// leaves hands over to the next, a namespace no longer stateful leaves
// the election, and a new session stands again.
func TestMemberLeaderElection(t *testing.T) {
	testutil.CheckGoroutines(t)
	zks := zktest.Start(t)
	proxy := zktest.NewProxy(t, zks.Addr)
	c := look(t, zks)
	state := NamespaceData{Stateful: true}
	a, b := standTwo(t, zks.Addr)
	cx := join(t, proxy.Addr, "127.0.0.1:3")
	if err := cx.Register("counter", state); err != nil {
		t.Fatal(err)
	}
	settle(t, cx)
	leader := func() string { return Leader(candidates(t, c, "counter"), nil) }
	if got := leader(); got != "127.0.0.1:1" || len(candidates(t, c, "counter")) != 3 {
		t.Fatalf("leader %q of %v", got, candidates(t, c, "counter"))
	}

	a.Unregister("counter")
	settle(t, a)
	if got := leader(); got != "127.0.0.1:2" {
		t.Fatalf("a unregistered: leader %q", got)
	}
	b.Close() // b leaves: its session ends
	testutil.WaitFor(t, wait, func() bool { return leader() == "127.0.0.1:3" }, "c to lead")

	// c's session expires: it stands again in a new one.
	before := candidates(t, c, "counter")
	proxy.Block()
	testutil.WaitFor(t, wait, func() bool { return len(candidates(t, c, "counter")) == 0 }, "c's session to expire")
	proxy.Unblock()
	testutil.WaitFor(t, wait, func() bool { return leader() == "127.0.0.1:3" }, "c to stand again")
	for k := range candidates(t, c, "counter") {
		if _, ok := before[k]; ok {
			t.Fatalf("candidate %s is the old session's", k)
		}
	}

	// No longer stateful: out of the election, still registered.
	if err := cx.Register("counter", NamespaceData{}); err != nil {
		t.Fatal(err)
	}
	settle(t, cx)
	if got := candidates(t, c, "counter"); len(got) != 0 {
		t.Fatalf("candidates %v", got)
	}
	if !has(c, l.Namespace("counter"), "127.0.0.1:3", "_leader")() {
		t.Fatalf("counter's children: %v", children(c, l.Namespace("counter")))
	}
}

func TestLeader(t *testing.T) {
	cands := map[string]string{"n_0000000010": "b", "n_0000000002": "a", "n_0000000001": "gone", "x_0000000000": "junk", "n_x": "junk"}
	if got := Leader(cands, func(addr string) bool { return addr != "gone" }); got != "a" {
		t.Fatalf("Leader = %q, want a", got)
	}
	if got := Leader(nil, nil); got != "" {
		t.Fatalf("Leader of none = %q", got)
	}
}

// standTwo joins the members 127.0.0.1:1 and then 127.0.0.1:2, each of
// them serving the stateful namespace counter once the other has
// registered it: 127.0.0.1:1 leads.
func standTwo(t *testing.T, zkAddr string) (a, b *Member) {
	t.Helper()
	state := NamespaceData{Stateful: true}
	a = join(t, zkAddr, "127.0.0.1:1")
	if err := a.Register("counter", state); err != nil {
		t.Fatal(err)
	}
	settle(t, a)
	b = join(t, zkAddr, "127.0.0.1:2")
	if err := b.Register("counter", state); err != nil {
		t.Fatal(err)
	}
	settle(t, b)
	return a, b
}
