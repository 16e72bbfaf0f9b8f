package cluster

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/client"
	"github.com/slacker-lua/slacker-lua/internal/testutil"
	"github.com/slacker-lua/slacker-lua/internal/zktest"
)

// zkClient makes a client of the cluster "test" with the ZooKeeper at
// zkAddr, closed when the test ends.
func zkClient(t *testing.T, zkAddr string) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := NewClient(ctx, ClientConfig{ZooKeeper: []string{zkAddr}, Layout: l, SessionTimeout: 2 * time.Second, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// addrs returns the addresses of the servers of ns that c knows of, and
// whether c could say.
func addrs(c *Client, ns string) ([]string, bool) {
	servers, err := c.Servers(context.Background(), ns)
	if err != nil {
		return nil, false
	}
	var out []string
	for _, s := range servers {
		out = append(out, s.Addr)
	}
	return out, true
}

// TestClientFindsMembers checks, with a real ZooKeeper, that a client
// finds the servers members register, their data, and the leader of a
// stateful namespace, and follows them as they come and go.
func TestClientFindsMembers(t *testing.T) {
	testutil.CheckGoroutines(t)
	zks := zktest.Start(t)
	a, b := serveWho(t), serveWho(t)
	ma, mb := join(t, zks.Addr, a), join(t, zks.Addr, b)
	for _, m := range []*Member{ma, mb} {
		if err := m.Register("who", NamespaceData{Functions: []Function{{Name: "am_i"}}}); err != nil {
			t.Fatal(err)
		}
		if err := m.Register("st", NamespaceData{Stateful: true, Functions: []Function{{Name: "f"}}}); err != nil {
			t.Fatal(err)
		}
		settle(t, m)
	}
	c := zkClient(t, zks.Addr)
	want := []string{a, b}
	slices.Sort(want)
	testutil.WaitFor(t, wait, func() bool { got, ok := addrs(c, "who"); return ok && slices.Equal(got, want) }, "both servers of who")
	if got, err := c.Namespaces(context.Background()); err != nil || !slices.Equal(got, []string{"st", "who"}) {
		t.Fatalf("namespaces: %v, %v", got, err)
	}
	if got := who(t, c.With(Address(b)), "who/am_i"); got != b {
		t.Fatalf("who/am_i at %s: answered by %s", b, got)
	}
	testutil.WaitFor(t, wait, func() bool {
		servers, err := c.Servers(context.Background(), "who")
		return err == nil && len(servers) == 2 && servers[0].Data().Version == "0.1.0"
	}, "the servers' data")

	members := map[string]*Member{a: ma, b: mb}
	leader := who(t, c, "st/f")
	other := a
	if leader == a {
		other = b
	}
	if members[leader] == nil {
		t.Fatalf("st/f answered by %s", leader)
	}
	members[leader].Close()
	testutil.WaitFor(t, wait, func() bool {
		servers, err := c.Servers(context.Background(), "st")
		return err == nil && len(servers) == 1 && servers[0].Addr == other && servers[0].Leader
	}, "the next leader")
	if got := who(t, c, "st/f"); got != other {
		t.Fatalf("st/f once %s left: answered by %s", leader, got)
	}
	mo := members[other]
	mo.Unregister("who")
	settle(t, mo)
	testutil.WaitFor(t, wait, func() bool {
		_, err := c.Call(context.Background(), "who/am_i")
		return errors.Is(err, client.ErrNotFound)
	}, "who to be not-found once no server serves it")
}
