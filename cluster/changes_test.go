package cluster

import (
	"context"
	"encoding/json"
	"maps"
	"testing"

	"github.com/go-zookeeper/zk"

	"github.com/slacker-lua/slacker-lua/internal/testutil"
	"github.com/slacker-lua/slacker-lua/internal/zktest"
)

// TestClientFollowsChanges checks, with a real ZooKeeper, that a client
// follows the changes no watch of its own is on: a namespace's new
// version on one server, and on two in one transaction (the namespace
// node's version moves by two); a server's new weight; and a server's
// nodes deleted and made again in one transaction, with new data, as a
// take-over by a new session does, which no listing of the namespace's
// servers shows.
func TestClientFollowsChanges(t *testing.T) {
	zks := zktest.Start(t)
	a, b := "127.0.0.1:7", "127.0.0.1:9"
	ma, mb := join(t, zks.Addr, a), join(t, zks.Addr, b)
	for _, m := range []*Member{ma, mb} {
		if err := m.Register("ns", NamespaceData{Version: "1"}); err != nil {
			t.Fatal(err)
		}
		settle(t, m)
	}
	c := zkClient(t, zks.Addr)
	// see waits for the client to list the servers with these versions
	// and weights.
	see := func(what string, versions map[string]string, weights map[string]int) {
		t.Helper()
		testutil.WaitFor(t, wait, func() bool {
			servers, err := c.Servers(context.Background(), "ns")
			if err != nil {
				return false
			}
			gotV, gotW := map[string]string{}, map[string]int{}
			for _, s := range servers {
				gotV[s.Addr], gotW[s.Addr] = s.Namespace.Version, s.Weight()
			}
			return maps.Equal(gotV, versions) && maps.Equal(gotW, weights)
		}, what)
	}
	see("the servers", map[string]string{a: "1", b: "1"}, map[string]int{a: 1, b: 1})

	if err := ma.Register("ns", NamespaceData{Version: "2"}); err != nil {
		t.Fatal(err)
	}
	settle(t, ma)
	see("a's version 2", map[string]string{a: "2", b: "1"}, map[string]int{a: 1, b: 1})

	if err := ma.SetWeight(5); err != nil {
		t.Fatal(err)
	}
	settle(t, ma)
	see("a's weight 5", map[string]string{a: "2", b: "1"}, map[string]int{a: 5, b: 1})

	raw := look(t, zks)
	nsData := func(v string) []byte { d, _ := json.Marshal(NamespaceData{Version: v}); return d }
	ns, na, nb := l.Namespace("ns"), l.NamespaceServer("ns", a), l.NamespaceServer("ns", b)
	if _, err := raw.Multi(
		&zk.SetDataRequest{Path: na, Data: nsData("3"), Version: -1},
		&zk.SetDataRequest{Path: ns, Data: []byte(a), Version: -1},
		&zk.SetDataRequest{Path: nb, Data: nsData("3"), Version: -1},
		&zk.SetDataRequest{Path: ns, Data: []byte(b), Version: -1},
	); err != nil {
		t.Fatal(err)
	}
	see("version 3 on both", map[string]string{a: "3", b: "3"}, map[string]int{a: 5, b: 1})

	sb := l.Server(b)
	if _, err := raw.Multi(
		&zk.DeleteRequest{Path: nb, Version: -1},
		&zk.CreateRequest{Path: nb, Data: nsData("4"), Acl: zk.WorldACL(zk.PermAll), Flags: zk.FlagEphemeral},
		&zk.DeleteRequest{Path: sb, Version: -1},
		&zk.CreateRequest{Path: sb, Data: []byte(`{"version":"0.1.0","weight":7}`), Acl: zk.WorldACL(zk.PermAll), Flags: zk.FlagEphemeral},
	); err != nil {
		t.Fatal(err)
	}
	see("b's nodes made again", map[string]string{a: "3", b: "4"}, map[string]int{a: 5, b: 7})
}
