package cluster

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/go-zookeeper/zk"

	"github.com/slacker-lua/slacker-lua/internal/zkrun"
	"github.com/slacker-lua/slacker-lua/internal/zktest"
)

// TestMemberTakesOverInBatch checks that a member whose namespace nodes
// are held by another session, as after a restart of its server, takes
// them all over, in a batch: each ends up in the member's session, with
// its data.
func TestMemberTakesOverInBatch(t *testing.T) {
	zks := zktest.Start(t)
	raw := look(t, zks)
	addr := "127.0.0.1:7"
	const n = 20
	for j := range n {
		p := l.NamespaceServer(fmt.Sprint("ns", j), addr)
		if err := createAll(raw, p); err != nil {
			t.Fatal(err)
		}
	}
	before := packets(t, zks)
	m := join(t, zks.Addr, addr)
	for j := range n {
		if err := m.Register(fmt.Sprint("ns", j), NamespaceData{Version: "2"}); err != nil {
			t.Fatal(err)
		}
	}
	settle(t, m)
	// One by one, a take-over costs four requests a node (create, read,
	// delete, create again: 88 in all here); in a batch, a read a node and
	// two multi-operations, beside the member's own few.
	if got := packets(t, zks) - before; got >= 2*n {
		t.Errorf("the member sent %d requests to take over %d nodes; want fewer than %d", got, n, 2*n)
	}
	_, server, err := raw.Get(l.Server(addr))
	if err != nil {
		t.Fatal(err)
	}
	for j := range n {
		p := l.NamespaceServer(fmt.Sprint("ns", j), addr)
		b, st, err := raw.Get(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.EphemeralOwner != server.EphemeralOwner || st.EphemeralOwner == raw.SessionID() {
			t.Errorf("%s: held by %#x; the member's session is %#x", p, st.EphemeralOwner, server.EphemeralOwner)
		}
		if d, err := ParseNamespaceData(b); err != nil || d.Version != "2" {
			t.Errorf("%s: data %q", p, b)
		}
	}
}

// createAll makes the ephemeral node p, in c's session, with its
// parents.
func createAll(c *zk.Conn, p string) error {
	var dirs []string
	for d := path.Dir(p); d != "/"; d = path.Dir(d) {
		dirs = append(dirs, d)
	}
	for _, d := range slices.Backward(dirs) {
		if _, err := c.Create(d, nil, 0, zk.WorldACL(zk.PermAll)); err != nil && !errors.Is(err, zk.ErrNodeExists) {
			return err
		}
	}
	_, err := c.Create(p, []byte(`{"version":"1"}`), zk.FlagEphemeral, zk.WorldACL(zk.PermAll))
	return err
}

// packets returns the packets the ZooKeeper server has received, from mntr.
func packets(t *testing.T, zks *zktest.Server) int {
	out, err := zkrun.FourLetter(zks.Addr, "mntr")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(out) {
		if v, ok := strings.CutPrefix(line, "zk_packets_received\t"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	t.Fatalf("no zk_packets_received in %q", out)
	return 0
}
