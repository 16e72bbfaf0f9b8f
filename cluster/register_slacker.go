package cluster

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/go-zookeeper/zk"
)

// This file holds what a member does in FormatSlacker beside what it
// does in slacker-lua's layout: the namespace's _leader, its election,
// and the nodes of its functions.

// leaderNodes makes the persistent nodes of the election of ns, once a
// session: _leader, whose data must never be missing, as slacker
// cluster's clients read it as a string (empty until a leader writes its
// address), and _leader/mutex, where the candidates stand.
func (m *Member) leaderNodes(ns string) error {
	if m.made[ns] {
		return nil
	}
	lp := m.cfg.Layout.Leader(ns)
	created, err := m.persistent(lp, []byte{})
	if err != nil {
		return err
	}
	if !created {
		// One made by slacker-lua's layout has no data at all.
		data, st, err := m.conn.Get(lp)
		if err != nil {
			return fmt.Errorf("reading %s: %w", lp, err)
		}
		if data == nil {
			if _, err := m.conn.Set(lp, []byte{}, st.Version); err != nil && !errors.Is(err, zk.ErrBadVersion) {
				return fmt.Errorf("updating %s: %w", lp, err)
			}
		}
	}
	if _, err := m.persistent(m.cfg.Layout.Mutex(ns), []byte{}); err != nil {
		return err
	}
	m.made[ns] = true
	return nil
}

// lead finds out whether the server's candidate leads the election of
// ns, as Curator's LeaderSelector does: its lock node has the lowest
// sequence number among those of _leader/mutex. The leader writes its
// address as the data of _leader, as slacker cluster's leaders do, and
// writes it again if it changes while it leads. Watches on the
// candidates and on _leader's data say when to look again.
func (m *Member) lead(ns string, h *nsHave) error {
	if h.candidate == "" {
		return nil
	}
	mk, lk := "mutex:"+ns, "leader:"+ns
	if !m.armed[mk] {
		became, err := m.election(ns, h, mk, m.cfg.Layout.Mutex(ns), mutexLeader)
		if err != nil {
			return err
		}
		if became {
			h.claimed = false
		}
	}
	if !h.leading || h.claimed && m.armed[lk] {
		return nil
	}
	lp := m.cfg.Layout.Leader(ns)
	var data []byte
	var err error
	if m.armed[lk] {
		data, _, err = m.conn.Get(lp)
	} else {
		var ch <-chan zk.Event
		if data, _, ch, err = m.conn.GetW(lp); err == nil {
			m.watch(lk, ch)
		}
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", lp, err)
	}
	if string(data) != m.cfg.Addr {
		if _, err := m.conn.Set(lp, []byte(m.cfg.Addr), -1); err != nil {
			return fmt.Errorf("updating %s: %w", lp, err)
		}
	}
	h.claimed = true
	return nil
}

// putFunctions makes the nodes of the functions of ns, functions/<ns>/<fn>,
// persistent, with each function's EDN description, and updates the data
// of those that differ. A watch on functions/<ns> says when to look
// again, for nodes deleted by others. The first time in a session, and
// whenever the functions change, the nodes of functions no server of ns
// serves any more are deleted (see pruneFunctions).
func (m *Member) putFunctions(ns string, w nsWant, h *nsHave) error {
	want := make(map[string][]byte, len(w.functions))
	for _, f := range w.functions {
		if checkName(f.Name) != nil {
			continue // no node can have its name
		}
		b, err := encodeFunctionEDN(f)
		if err != nil {
			return err
		}
		want[f.Name] = b
	}
	key := "functions:" + ns
	same := h.fns != nil && len(h.fns) == len(want)
	for name, b := range want {
		same = same && bytes.Equal(h.fns[name], b)
	}
	if same && m.armed[key] {
		return nil
	}
	dir := m.cfg.Layout.NamespaceFunctions(ns)
	if _, err := m.persistent(dir, nil); err != nil {
		return err
	}
	kids, _, ch, err := m.conn.ChildrenW(dir)
	if err != nil {
		return fmt.Errorf("listing %s: %w", dir, err)
	}
	m.watch(key, ch)
	for _, name := range slices.Sorted(maps.Keys(want)) {
		p := m.cfg.Layout.Function(ns, name)
		if slices.Contains(kids, name) && bytes.Equal(h.fns[name], want[name]) {
			continue
		}
		if _, err := m.conn.Create(p, want[name], 0, m.acl); err == nil {
			continue
		} else if !errors.Is(err, zk.ErrNodeExists) {
			return fmt.Errorf("creating %s: %w", p, err)
		}
		got, st, err := m.conn.Get(p)
		if err != nil {
			return fmt.Errorf("reading %s: %w", p, err)
		}
		if !bytes.Equal(got, want[name]) {
			if _, err := m.conn.Set(p, want[name], st.Version); err != nil {
				return fmt.Errorf("updating %s: %w", p, err)
			}
		}
	}
	changed := h.fns == nil || !sameNames(h.fns, want)
	h.fns = want
	if changed {
		return m.pruneFunctions(ns, kids, want)
	}
	return nil
}

// pruneFunctions deletes, among kids, the nodes of the functions of ns
// that neither mine (the functions the server serves; nil if none) nor
// any other server of ns has, as their namespace data lists them. When
// some server of ns lists no functions (a server of slacker cluster, or
// one whose data was truncated), none is deleted: it may serve them.
// slacker cluster's servers never delete these nodes; slacker-lua's keep
// them in step with the functions served, so that the functions
// slacker cluster's clients list (functions-remote, use-remote) are
// there to be called.
func (m *Member) pruneFunctions(ns string, kids []string, mine map[string][]byte) error {
	if len(kids) == 0 {
		return nil
	}
	dir := m.cfg.Layout.Namespace(ns)
	servers, _, err := m.conn.Children(dir)
	if err != nil && !errors.Is(err, zk.ErrNoNode) {
		return fmt.Errorf("listing %s: %w", dir, err)
	}
	keep := make(map[string]bool)
	for name := range mine {
		keep[name] = true
	}
	for _, s := range servers {
		if strings.HasPrefix(s, "_") || s == m.cfg.Addr {
			continue
		}
		b, _, err := m.conn.Get(path.Join(dir, s))
		if errors.Is(err, zk.ErrNoNode) {
			continue
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", path.Join(dir, s), err)
		}
		d, err := ParseNamespaceData(b)
		if err != nil || len(b) == 0 || d.Functions == nil || d.Truncated {
			return nil
		}
		for _, f := range d.Functions {
			keep[f.Name] = true
		}
	}
	for _, k := range kids {
		if keep[k] {
			continue
		}
		p := m.cfg.Layout.Function(ns, k)
		if err := m.conn.Delete(p, -1); err != nil && !errors.Is(err, zk.ErrNoNode) && !errors.Is(err, zk.ErrNotEmpty) {
			return fmt.Errorf("deleting %s: %w", p, err)
		}
		m.cfg.Logger.Info("deleted the node of a function no server serves", "node", p)
	}
	return nil
}

// watch sets the watch key, whose event comes on ch: when it fires, the
// loop is woken, and finds key no longer armed. The goroutine that waits
// for it ends with the event, which comes at the latest when the
// connection closes, or with Close.
func (m *Member) watch(key string, ch <-chan zk.Event) {
	m.armed[key] = true
	m.watches.Add(1)
	go func() {
		defer m.watches.Done()
		select {
		case <-ch:
		case <-m.done:
			return
		}
		m.firedMu.Lock()
		m.fired[key] = true
		m.firedMu.Unlock()
		select {
		case m.changed <- struct{}{}:
		default:
		}
	}()
}

// persistent makes the persistent node p with data, and its parents,
// unless it is there. It reports whether it made it.
func (m *Member) persistent(p string, data []byte) (bool, error) {
	for range 2 {
		_, err := m.conn.Create(p, data, 0, m.acl)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, zk.ErrNodeExists):
			return false, nil
		case errors.Is(err, zk.ErrNoNode):
			if err := m.parents(p); err != nil {
				return false, err
			}
		default:
			return false, fmt.Errorf("creating %s: %w", p, err)
		}
	}
	return false, fmt.Errorf("creating %s: it keeps changing", p)
}

// newUUID returns a random UUID, as Curator's protected nodes have.
func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func sameNames(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			return false
		}
	}
	return true
}
