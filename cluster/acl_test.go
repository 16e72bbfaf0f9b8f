package cluster

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

	"github.com/slacker-lua/slacker-lua/internal/testutil"
	"github.com/slacker-lua/slacker-lua/internal/zktest"
)

var ident = Auth{User: "slacker", Password: "s3cret:with:colons"}

func TestParseAuth(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Auth
		err  string // "" for none
	}{
		{"slacker:pw", Auth{"slacker", "pw"}, ""},
		{"slacker:pw\n", Auth{"slacker", "pw"}, ""},
		{"  slacker:pw \r\n", Auth{"slacker", "pw"}, ""},
		{"# the cluster's\n\nslacker:a:b c\n\n", Auth{"slacker", "a:b c"}, ""},
		{"slacker:pä$$", Auth{"slacker", "pä$$"}, ""},
		{"", Auth{}, "found 0"},
		{"# nothing\n", Auth{}, "found 0"},
		{"a:b\nc:d\n", Auth{}, "found 2"},
		{"slacker", Auth{}, "no ':'"},
		{":pw", Auth{}, "no user"},
		{":", Auth{}, "no user"},
		{"slacker:", Auth{}, "no password"},
		{"sl acker:pw", Auth{}, "a space"},
		{"sl\x01acker:pw", Auth{}, "control character"},
		{"slacker:p\x00w", Auth{}, "control character"},
		{"slacker:p\xffw", Auth{}, "not UTF-8"},
		{"slacker:" + strings.Repeat("p", MaxAuthFile), Auth{}, "longer than"},
	} {
		got, err := ParseAuth([]byte(tt.in))
		switch {
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("ParseAuth(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		case tt.err != "" && (!errors.Is(err, ErrBadAuth) || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("ParseAuth(%q): %v, want ErrBadAuth saying %q", tt.in, err, tt.err)
		case tt.err != "" && strings.Contains(err.Error(), "pw"):
			t.Errorf("ParseAuth(%q): %v quotes the password", tt.in, err)
		}
	}
}

func TestReadAuthFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, mode os.FileMode, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // whatever the umask
			t.Fatal(err)
		}
		return p
	}
	for _, mode := range []os.FileMode{0o600, 0o400, 0o640, 0o440} {
		p := write("ok", mode, "slacker:pw\n")
		if a, err := ReadAuthFile(p); err != nil || a != (Auth{"slacker", "pw"}) {
			t.Errorf("mode %04o: %+v, %v", mode, a, err)
		}
		os.Remove(p)
	}
	for _, mode := range []os.FileMode{0o644, 0o604, 0o660, 0o606, 0o601} {
		p := write("open", mode, "slacker:pw\n")
		if _, err := ReadAuthFile(p); !errors.Is(err, ErrAuthFileOpen) || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("mode %04o: %v, want ErrAuthFileOpen", mode, err)
		}
		os.Remove(p)
	}
	// A link is followed: its target's mode counts.
	target := write("target", 0o600, "slacker:pw")
	link := filepath.Join(dir, "link")
	testutil.Symlink(t, target, link)
	if a, err := ReadAuthFile(link); err != nil || a.User != "slacker" {
		t.Errorf("through a link: %+v, %v", a, err)
	}
	if err := os.Chmod(target, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadAuthFile(link); !errors.Is(err, ErrAuthFileOpen) {
		t.Errorf("through a link to an open file: %v", err)
	}
	if _, err := ReadAuthFile(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v", err)
	}
	if _, err := ReadAuthFile(dir); !errors.Is(err, ErrBadAuth) {
		t.Errorf("a folder: %v", err)
	}
	bad := write("bad", 0o600, "no colon\n")
	if _, err := ReadAuthFile(bad); !errors.Is(err, ErrBadAuth) || !strings.Contains(err.Error(), bad) {
		t.Errorf("a malformed file: %v, want ErrBadAuth naming the file", err)
	}
}

// FuzzParseAuth checks that credentials parse without panicking, that
// what parses can be given to ZooKeeper, and that it parses back the same
// written as one line.
func FuzzParseAuth(f *testing.F) {
	for _, s := range []string{"slacker:pw\n", "# c\n\na:b:c\r\n", "a", ":", "a:\x00", " a : b ", "a:b\nc:d"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ParseAuth(b)
		if err != nil {
			if !errors.Is(err, ErrBadAuth) {
				t.Fatalf("%q: %v is not ErrBadAuth", b, err)
			}
			return
		}
		if err := a.check(); err != nil || a.IsZero() {
			t.Fatalf("%q parsed as %+v: %v", b, a, err)
		}
		again, err := ParseAuth([]byte(a.User + ":" + a.Password + "\n"))
		if err != nil || again != a {
			t.Fatalf("%+v parsed back as %+v, %v", a, again, err)
		}
	})
}

// joinAs makes a member of the cluster "test" with the identity a.
func joinAs(t *testing.T, zkAddr, addr string, a Auth) *Member {
	t.Helper()
	m, err := Join(MemberConfig{ZooKeeper: []string{zkAddr}, Layout: l, Addr: addr, SessionTimeout: 2 * time.Second, Auth: a})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

// aclOf reads the ACL of p.
func aclOf(t *testing.T, c *zk.Conn, p string) []zk.ACL {
	t.Helper()
	acl, _, err := c.GetACL(p)
	if err != nil {
		t.Fatalf("GetACL %s: %v", p, err)
	}
	return acl
}

// protectedNodes lists the nodes of a member at addr serving the stateful
// namespace "a" and the namespace "b", as c sees them; the root too if
// the member made it.
func protectedNodes(t *testing.T, c *zk.Conn, addr string, root bool) []string {
	t.Helper()
	nodes := []string{"/slacker/test", l.Servers(), l.Server(addr), l.Namespaces(),
		l.Namespace("a"), l.NamespaceServer("a", addr), l.Leader("a"),
		l.Namespace("b"), l.NamespaceServer("b", addr)}
	cands := children(c, l.Leader("a"))
	if len(cands) != 1 {
		t.Fatalf("candidates of a: %v", cands)
	}
	nodes = append(nodes, l.Leader("a")+"/"+cands[0])
	if root {
		nodes = append(nodes, "/slacker")
	}
	return nodes
}

// checkLocked checks that the nodes of a member at addr, serving a and b,
// (and the root, with root) have the ACL of ident, and can be read by a
// session without the identity, but not changed by it.
func checkLocked(t *testing.T, zks *zktest.Server, addr string, root bool) {
	t.Helper()
	c, op := sessionAs(t, zks, ""), sessionAs(t, zks, ident.User+":"+ident.Password)
	want := ident.ACL()
	for _, p := range protectedNodes(t, c, addr, root) {
		// The identity, which may administer the node, reads its ACL
		// whole; others read it with the password's hash left out.
		if got := aclOf(t, op, p); !slices.Equal(got, want) {
			t.Errorf("ACL of %s: %v, want %v", p, got, want)
		}
		if got, want := formatACL(aclOf(t, c, p)), "digest:slacker:x:rwcda,world:anyone:r"; got != want {
			t.Errorf("ACL of %s read without credentials: %s, want %s", p, got, want)
		}
		if _, _, err := c.Get(p); err != nil {
			t.Errorf("reading %s without credentials: %v", p, err)
		}
		if _, err := c.Set(p, []byte("x"), -1); !errors.Is(err, zk.ErrNoAuth) {
			t.Errorf("changing the data of %s without credentials: %v, want ErrNoAuth", p, err)
		}
		if _, err := c.SetACL(p, zk.WorldACL(zk.PermAll), -1); !errors.Is(err, zk.ErrNoAuth) {
			t.Errorf("opening %s without credentials: %v, want ErrNoAuth", p, err)
		}
	}
	for _, p := range []string{l.Server("10.0.0.66:2104"), l.Namespace("evil"), l.NamespaceServer("a", "10.0.0.66:2104"),
		l.NamespaceServer("b", "10.0.0.66:2104"), l.Leader("a") + "/" + candidatePrefix} {
		if _, err := c.Create(p, []byte("10.0.0.66:2104"), zk.FlagEphemeral, zk.WorldACL(zk.PermAll)); !errors.Is(err, zk.ErrNoAuth) {
			t.Errorf("creating %s without credentials: %v, want ErrNoAuth", p, err)
		}
	}
	for _, p := range []string{l.Server(addr), l.NamespaceServer("a", addr), l.NamespaceServer("b", addr),
		l.Namespace("b"), l.Leader("a"), l.Namespaces(), l.Servers()} {
		if err := c.Delete(p, -1); !errors.Is(err, zk.ErrNoAuth) {
			t.Errorf("deleting %s without credentials: %v, want ErrNoAuth", p, err)
		}
	}
}

// sessionAs connects a plain client, with creds ("" for none), and waits
// for its session.
func sessionAs(t *testing.T, zks *zktest.Server, creds string) *zk.Conn {
	t.Helper()
	c := look(t, zks)
	testutil.WaitFor(t, wait, func() bool { return c.State() == zk.StateHasSession }, "a session")
	if creds != "" {
		if err := c.AddAuth("digest", []byte(creds)); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// TestMemberACL checks that a member with an identity makes the
// cluster's nodes readable by all and changeable by it alone.
func TestMemberACL(t *testing.T) {
	testutil.CheckGoroutines(t)
	zks := zktest.Start(t)
	m := joinAs(t, zks.Addr, "127.0.0.1:7", ident)
	if err := m.Register("a", NamespaceData{Stateful: true}); err != nil {
		t.Fatal(err)
	}
	if err := m.Register("b", NamespaceData{}); err != nil {
		t.Fatal(err)
	}
	settle(t, m)
	checkLocked(t, zks, "127.0.0.1:7", true)
	// Nor by another identity, or the same user with another password.
	for _, creds := range []string{"mallory:pw", "slacker:guess"} {
		c := sessionAs(t, zks, creds)
		if _, err := c.Create(l.Server("10.0.0.66:2104"), nil, zk.FlagEphemeral, zk.WorldACL(zk.PermAll)); !errors.Is(err, zk.ErrNoAuth) {
			t.Errorf("as %s: creating a server: %v, want ErrNoAuth", creds, err)
		}
		if err := c.Delete(l.NamespaceServer("b", "127.0.0.1:7"), -1); !errors.Is(err, zk.ErrNoAuth) {
			t.Errorf("as %s: deleting b's server: %v, want ErrNoAuth", creds, err)
		}
	}
	// The identity itself may: an operator with the cluster's credentials.
	op := sessionAs(t, zks, ident.User+":"+ident.Password)
	if _, err := op.Create(l.Namespace("ops"), nil, 0, ident.ACL()); err != nil {
		t.Fatalf("the identity creating a node: %v", err)
	}
	// The member still changes its own nodes: unregistering b deletes its node.
	m.Unregister("b")
	settle(t, m)
	if ok, _, _ := op.Exists(l.NamespaceServer("b", "127.0.0.1:7")); ok {
		t.Fatal("b's node is still there")
	}
}

// TestMemberACLReconnect checks that a member whose connection is cut
// off, within its session, still has its identity on the new connection:
// the ZooKeeper client gives it again.
func TestMemberACLReconnect(t *testing.T) {
	testutil.CheckGoroutines(t)
	zks := zktest.Start(t)
	proxy := zktest.NewProxy(t, zks.Addr)
	m := joinAs(t, proxy.Addr, "127.0.0.1:7", ident)
	if err := m.Register("a", NamespaceData{Stateful: true}); err != nil {
		t.Fatal(err)
	}
	settle(t, m)
	proxy.Block()
	testutil.WaitFor(t, wait, func() bool { return !m.Connected() }, "the connection to go")
	proxy.Unblock()
	testutil.WaitFor(t, wait, m.Connected, "the session to come back")
	// A write that needs the identity, in the same session.
	if err := m.Register("b", NamespaceData{}); err != nil {
		t.Fatal(err)
	}
	settle(t, m)
	if n := m.Sessions(); n != 1 {
		t.Fatalf("Sessions = %d: the session was not kept", n)
	}
	checkLocked(t, zks, "127.0.0.1:7", true)
}

// TestMemberACLSessionExpired checks that a member whose session expired
// makes its nodes again with its ACL.
func TestMemberACLSessionExpired(t *testing.T) {
	testutil.CheckGoroutines(t)
	zks := zktest.Start(t)
	proxy := zktest.NewProxy(t, zks.Addr)
	m := joinAs(t, proxy.Addr, "127.0.0.1:7", ident)
	for ns, d := range map[string]NamespaceData{"a": {Stateful: true}, "b": {}} {
		if err := m.Register(ns, d); err != nil {
			t.Fatal(err)
		}
	}
	settle(t, m)
	c := sessionAs(t, zks, "")
	proxy.Block()
	testutil.WaitFor(t, wait, has(c, l.Servers()), "the session to expire, and its nodes to go")
	proxy.Unblock()
	testutil.WaitFor(t, wait, func() bool {
		return has(c, l.Namespace("b"), "127.0.0.1:7")() && has(c, l.Servers(), "127.0.0.1:7")() &&
			len(children(c, l.Leader("a"))) == 1
	}, "the nodes to be made again")
	settle(t, m)
	if n := m.Sessions(); n != 2 {
		t.Errorf("Sessions after the expiry = %d, want 2", n)
	}
	checkLocked(t, zks, "127.0.0.1:7", true)
}

// TestMemberProtectsOpenNodes checks a cluster made by servers without an
// identity: a member with one protects the cluster's nodes, those of
// namespaces it does not serve too, leaves the root as it is, and warns of
// an open node it can't change.
func TestMemberProtectsOpenNodes(t *testing.T) {
	testutil.CheckGoroutines(t)
	zks := zktest.Start(t)
	c := sessionAs(t, zks, "")
	open := zk.WorldACL(zk.PermAll)
	noAdmin := zk.WorldACL(zk.PermAll &^ zk.PermAdmin)
	for _, n := range []struct {
		p   string
		acl []zk.ACL
	}{
		{"/slacker", open}, {"/slacker/test", open}, {l.Servers(), open}, {l.Namespaces(), open},
		{l.Namespace("a"), open}, {l.Leader("a"), open}, {l.Namespace("b"), open},
		{l.Namespace("other"), open}, {l.Namespace("stuck"), noAdmin},
	} {
		if _, err := c.Create(n.p, nil, 0, n.acl); err != nil {
			t.Fatal(err)
		}
	}
	log, buf := testutil.NewLogger()
	m, err := Join(MemberConfig{ZooKeeper: []string{zks.Addr}, Layout: l, Addr: "127.0.0.1:7", SessionTimeout: 2 * time.Second, Auth: ident, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	for ns, d := range map[string]NamespaceData{"a": {Stateful: true}, "b": {}, "stuck": {}} {
		if err := m.Register(ns, d); err != nil {
			t.Fatal(err)
		}
	}
	settle(t, m)
	checkLocked(t, zks, "127.0.0.1:7", false) // /slacker left open: below
	for p, want := range map[string][]zk.ACL{"/slacker": open, l.Namespace("stuck"): noAdmin} {
		if got := aclOf(t, c, p); !slices.Equal(got, want) {
			t.Errorf("ACL of %s: %s, want it left as %s", p, formatACL(got), formatACL(want))
		}
	}
	if got := formatACL(aclOf(t, c, l.NamespaceServer("stuck", "127.0.0.1:7"))); got != "digest:slacker:x:rwcda,world:anyone:r" {
		t.Errorf("the server's node in stuck: %s", got)
	}
	out := buf.String()
	if n := strings.Count(out, "protected a node of the cluster"); n != 7 {
		t.Errorf("%d nodes logged as protected, want 7:\n%s", n, out)
	}
	if got := formatACL(aclOf(t, c, l.Namespace("other"))); got != "digest:slacker:x:rwcda,world:anyone:r" {
		t.Errorf("the namespace other, which the member does not serve: %s", got)
	}
	if !strings.Contains(out, `"node":"`+l.Namespace("stuck")+`"`) || !strings.Contains(out, "can't change its ACL") {
		t.Errorf("no warning of the node it can't change:\n%s", out)
	}
}

// TestMemberRefused checks that a member without the cluster's identity,
// or with its user and another password, registers nothing and says why.
func TestMemberRefused(t *testing.T) {
	testutil.CheckGoroutines(t)
	zks := zktest.Start(t)
	owner := joinAs(t, zks.Addr, "127.0.0.1:7", ident)
	if err := owner.Register("a", NamespaceData{}); err != nil {
		t.Fatal(err)
	}
	settle(t, owner)
	for _, tt := range []struct {
		auth Auth
		hint string
	}{
		{Auth{}, "give the server the cluster's credentials"},
		{Auth{User: ident.User, Password: "guess"}, "does not let digest:slacker write"},
	} {
		log, buf := testutil.NewLogger()
		m, err := Join(MemberConfig{ZooKeeper: []string{zks.Addr}, Layout: l, Addr: "127.0.0.2:2104", SessionTimeout: 2 * time.Second, Auth: tt.auth, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Register("a", NamespaceData{}); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		err = m.Sync(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: Sync: %v, want it never in step", tt.auth, err)
		}
		testutil.WaitFor(t, wait, func() bool { return strings.Contains(buf.String(), tt.hint) }, "the refusal logged with "+tt.hint)
		m.Close()
	}
	c := sessionAs(t, zks, "")
	if !has(c, l.Namespace("a"), "127.0.0.1:7")() || !has(c, l.Servers(), "127.0.0.1:7")() {
		t.Fatalf("a's servers %v, servers %v", children(c, l.Namespace("a")), children(c, l.Servers()))
	}
}
