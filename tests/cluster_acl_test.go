package tests

import (
	"context"
	"errors"
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

// aclIdent is the cluster's identity in the ACL tests.
var aclIdent = cluster.Auth{User: "slacker", Password: "pw:of the cluster"}

// aclFiles are a plain and a stateful namespace.
var aclFiles = map[string]string{
	"math.lua":    "function add(a, b) return a + b end\n",
	"counter.lua": "_options = {stateful = true}\nlocal n = 0\nfunction inc() n = n + 1 return n end\n",
}

// authFile writes credentials into a file of mode perm, and returns its path.
func authFile(t *testing.T, body string, perm os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "zk-auth")
	if err := os.WriteFile(p, []byte(body), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, perm); err != nil { // whatever the umask
		t.Fatal(err)
	}
	return p
}

// zkSession is a plain ZooKeeper client with a session, authenticated
// with creds unless "", closed when the test ends.
func zkSession(t *testing.T, addr, creds string) *zk.Conn {
	t.Helper()
	c, _, err := zk.Connect([]string{addr}, 2*time.Second, zk.WithLogger(quietZK{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	testutil.WaitFor(t, 10*time.Second, func() bool { return c.State() == zk.StateHasSession }, "a ZooKeeper session")
	if creds != "" {
		if err := c.AddAuth("digest", []byte(creds)); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// registered reports whether the server at addr is registered in the
// cluster "test", serving math and standing for counter's leader.
func registered(c *zk.Conn, addr string) func() bool {
	return func() bool {
		for _, p := range []string{testLayout.Server(addr), testLayout.NamespaceServer("math", addr), testLayout.NamespaceServer("counter", addr)} {
			if ok, _, err := c.Exists(p); err != nil || !ok {
				return false
			}
		}
		kids, _, _ := c.Children(testLayout.Leader("counter"))
		for _, k := range kids {
			if data, _, err := c.Get(testLayout.Leader("counter") + "/" + k); err == nil && string(data) == addr {
				return true
			}
		}
		return false
	}
}

// checkProtected checks, from outside, the nodes of the server at addr:
// their ACL is the identity's with reading for all, c (a session without
// the identity) reads them and can't create, change or delete the
// cluster's nodes.
func checkProtected(t *testing.T, zkAddr, addr string) {
	t.Helper()
	c, op := zkSession(t, zkAddr, ""), zkSession(t, zkAddr, aclIdent.User+":"+aclIdent.Password)
	l := testLayout
	cands, _, err := c.Children(l.Leader("counter"))
	if err != nil || len(cands) != 1 {
		t.Fatalf("counter's candidates: %v, %v", cands, err)
	}
	nodes := []string{"/slacker", "/slacker/test", l.Servers(), l.Server(addr), l.Namespaces(),
		l.Namespace("math"), l.NamespaceServer("math", addr), l.Namespace("counter"),
		l.NamespaceServer("counter", addr), l.Leader("counter"), l.Leader("counter") + "/" + cands[0]}
	want := aclIdent.ACL()
	for _, p := range nodes {
		if got, _, err := op.GetACL(p); err != nil || !slices.Equal(got, want) {
			t.Errorf("ACL of %s: %v, %v; want %v", p, got, err, want)
		}
		if _, _, err := c.Get(p); err != nil {
			t.Errorf("reading %s without credentials: %v", p, err)
		}
		if _, err := c.Set(p, []byte(`{"weight":1000}`), -1); !errors.Is(err, zk.ErrNoAuth) {
			t.Errorf("changing %s without credentials: %v, want ErrNoAuth", p, err)
		}
		if _, err := c.SetACL(p, zk.WorldACL(zk.PermAll), -1); !errors.Is(err, zk.ErrNoAuth) {
			t.Errorf("opening %s without credentials: %v, want ErrNoAuth", p, err)
		}
	}
	rogue := "127.0.0.1:1"
	for _, p := range []string{l.Server(rogue), l.NamespaceServer("math", rogue), l.Namespace("rogue"), l.Leader("counter") + "/n_"} {
		if _, err := c.Create(p, []byte(rogue), zk.FlagEphemeral, zk.WorldACL(zk.PermAll)); !errors.Is(err, zk.ErrNoAuth) {
			t.Errorf("creating %s without credentials: %v, want ErrNoAuth", p, err)
		}
	}
	for _, p := range []string{l.NamespaceServer("math", addr), l.Leader("counter") + "/" + cands[0], l.Server(addr),
		l.Namespace("math"), l.Namespaces()} {
		if err := c.Delete(p, -1); !errors.Is(err, zk.ErrNoAuth) {
			t.Errorf("deleting %s without credentials: %v, want ErrNoAuth", p, err)
		}
	}
}

// TestClusterACL runs `slacker-lua serve --zk-auth` and checks from
// outside that its nodes can be read but not changed without its
// identity, also after its session expired, while cluster clients, which
// have no credentials, call through.
func TestClusterACL(t *testing.T) {
	zks := zktest.Start(t)
	proxy := zktest.NewProxy(t, zks.Addr)
	creds := authFile(t, "# the cluster test's\n"+aclIdent.User+":"+aclIdent.Password+"\n", 0o600)
	a := startTarget(t, aclFiles, "--zk", proxy.Addr, "--cluster", testLayout.Cluster, "--zk-session-timeout", "2s", "--zk-auth", creds)
	c := zkSession(t, zks.Addr, "")
	testutil.WaitFor(t, 10*time.Second, registered(c, a.addr), "the server's registration")
	if !strings.Contains(a.log(), "identity=digest:slacker") || strings.Contains(a.log(), "pw:of") {
		t.Fatalf("the log names no identity, or the password:\n%s", a.log())
	}
	a.probeDuring(t, func() { checkProtected(t, zks.Addr, a.addr) })

	cl := newCluster(t, zks.Addr, cluster.Random{})
	testutil.WaitFor(t, 10*time.Second, func() bool {
		s, err := cl.Servers(context.Background(), "math")
		return err == nil && len(s) == 1
	}, "the cluster client to find math's server")
	if got := callAs[int](t, cl, "math/add", 2, 3); got != 5 {
		t.Fatalf("math/add through the cluster = %d", got)
	}
	if got := callAs[int](t, cl, "counter/inc"); got != 1 {
		t.Fatalf("counter/inc through the cluster = %d", got)
	}
	if stdout, stderr, code := cli(t, "call", "--zk", zks.Addr, "--cluster", testLayout.Cluster, "math/add", "20", "22"); code != 0 || stdout != "42\n" {
		t.Fatalf("slacker-lua call --zk: exit %d, %q %q", code, stdout, stderr)
	}

	// The session expires: the nodes go, and come back protected.
	proxy.Block()
	testutil.WaitFor(t, 10*time.Second, func() bool {
		kids, _, err := c.Children(testLayout.Servers())
		return err == nil && len(kids) == 0
	}, "the server's session to expire")
	proxy.Unblock()
	testutil.WaitFor(t, 10*time.Second, registered(c, a.addr), "the server to register again")
	checkProtected(t, zks.Addr, a.addr)
	if got := callAs[int](t, cl, "math/add", 1, 1); got != 2 {
		t.Fatalf("math/add after the expiry = %d", got)
	}
	a.alive(t)
	a.maxRSS(t, 256<<20)
}

// TestClusterACLMigration checks a cluster made open by a server without
// --zk-auth: a server with it protects the cluster's nodes, and the old
// server keeps its registrations but can't make new ones, and says why.
func TestClusterACLMigration(t *testing.T) {
	zks := zktest.Start(t)
	old := startNode(t, zks.Addr, aclFiles)
	c := zkSession(t, zks.Addr, "")
	testutil.WaitFor(t, 10*time.Second, registered(c, old.addr), "the old server's registration")
	if got, _, err := c.GetACL(testLayout.Namespaces()); err != nil || !slices.Equal(got, zk.WorldACL(zk.PermAll)) {
		t.Fatalf("without --zk-auth, namespaces' ACL: %v, %v", got, err)
	}

	creds := authFile(t, aclIdent.User+":"+aclIdent.Password, 0o640)
	s := startNode(t, zks.Addr, aclFiles, "--zk-auth", creds)
	testutil.WaitFor(t, 10*time.Second, registered(c, s.addr), "the new server's registration")
	testutil.WaitFor(t, 10*time.Second, func() bool {
		return strings.Count(s.log(), "protected a node of the cluster") == 6
	}, "six nodes protected: the cluster's, its servers and namespaces, math's, counter's and its _leader")
	op := zkSession(t, zks.Addr, aclIdent.User+":"+aclIdent.Password)
	for _, p := range []string{"/slacker/test", testLayout.Servers(), testLayout.Namespaces(), testLayout.Namespace("math"),
		testLayout.Namespace("counter"), testLayout.Leader("counter")} {
		if got, _, err := op.GetACL(p); err != nil || !slices.Equal(got, aclIdent.ACL()) {
			t.Errorf("ACL of %s: %v, %v", p, got, err)
		}
	}
	if got, _, err := c.GetACL("/slacker"); err != nil || !slices.Equal(got, zk.WorldACL(zk.PermAll)) {
		t.Errorf("the root's ACL: %v, %v; want it left as it was", got, err)
	}
	if err := c.Delete(testLayout.NamespaceServer("math", s.addr), -1); !errors.Is(err, zk.ErrNoAuth) {
		t.Errorf("deleting the new server's math node without credentials: %v", err)
	}

	// The old server keeps what it had, and is refused what it makes now.
	if !registered(c, old.addr)() {
		t.Fatal("the old server's registrations went")
	}
	if err := os.WriteFile(filepath.Join(old.dir, "extra.lua"), []byte("function f() return 1 end\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, func() bool {
		return strings.Contains(old.log(), "not authenticated") && strings.Contains(old.log(), "give the server the cluster's credentials")
	}, "the old server to log why it can't register extra")
	if ok, _, _ := c.Exists(testLayout.Namespace("extra")); ok {
		t.Fatal("the old server registered extra")
	}
	if got := callAs[int](t, dial(t, old.addr, client.Config{}), "math/add", 1, 2); got != 3 {
		t.Fatalf("the old server's math/add = %d", got)
	}
}

// TestClusterACLBadFile checks that serve refuses a credentials file it
// can't use at once, before it loads or binds anything.
func TestClusterACLBadFile(t *testing.T) {
	dir := testutil.WriteFiles(t, aclFiles)
	good := authFile(t, "slacker:pw\n", 0o600)
	for _, tt := range []struct {
		name, file string
		want       string
	}{
		{"readable by all", authFile(t, "slacker:pw\n", 0o644), "has mode 0644: others may read it or its group change it; chmod 600"},
		{"writable by its group", authFile(t, "slacker:pw\n", 0o660), "has mode 0660"},
		{"no password", authFile(t, "slacker\n", 0o600), "bad ZooKeeper credentials: want user:password"},
		{"two lines", authFile(t, "a:b\nc:d\n", 0o600), "want one user:password line, found 2"},
		{"empty", authFile(t, "", 0o600), "found 0"},
		{"missing", filepath.Join(t.TempDir(), "none"), "no such file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := cli(t, "serve", "--listen", "127.0.0.1:0", "--zk", "127.0.0.1:1", "--cluster", "test", "--zk-auth", tt.file, dir)
			if code != 2 || !strings.Contains(stderr, "slacker-lua serve: --zk-auth: ") || !strings.Contains(stderr, tt.want) {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit 2 and %q", code, stderr, tt.want)
			}
			if strings.Contains(stderr, "namespaces loaded") || strings.Contains(stderr, "serving") || strings.Contains(stderr, "pw") {
				t.Fatalf("loaded, served or printed the password:\n%s", stderr)
			}
		})
	}
	if _, stderr, code := cli(t, "serve", "--zk-auth", good, dir); code != 2 || !strings.Contains(stderr, "--zk-auth goes with --zk") {
		t.Fatalf("--zk-auth without --zk: exit %d, %s", code, stderr)
	}
}
