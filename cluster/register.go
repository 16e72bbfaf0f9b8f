package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-zookeeper/zk"
)

// reconcile brings the nodes in step with m.want, if the member has a
// session. A failure is logged, and tried again at the next change or
// check.
func (m *Member) reconcile() {
	if m.conn.State() != zk.StateHasSession {
		return
	}
	if sid := m.conn.SessionID(); sid != m.session {
		if m.session != 0 {
			m.cfg.Logger.Debug("zookeeper session renewed; registering again", "session", fmt.Sprintf("%#x", sid))
			led := false
			for ns, h := range m.have {
				if h.candidate != "" {
					m.former[ns] = former{path: h.candidate, led: h.leading}
					led = led || h.leading
				}
			}
			// A leader of before registers at once, to lead again (see
			// stand); the others at random within the jitter.
			if !led && m.cfg.RejoinJitter > 0 {
				wait := rand.N(m.cfg.RejoinJitter)
				m.rejoin, m.hold = time.Now().Add(wait), time.After(wait)
			}
		}
		m.own[sid], m.began = true, time.Now()
		m.session, m.server, m.have = sid, false, make(map[string]*nsHave)
		m.guards, m.listed = make(map[string]bool), false
		m.made, m.armed = make(map[string]bool), make(map[string]bool)
		m.sessions.Add(1)
	}
	if time.Now().Before(m.rejoin) {
		return // m.hold fires at rejoin
	}
	m.firedMu.Lock()
	for key := range m.fired {
		delete(m.armed, key)
	}
	clear(m.fired)
	m.firedMu.Unlock()
	if err := m.authenticate(); err != nil {
		m.logErr(err)
		return
	}
	m.mu.Lock()
	want, gen, data, dataGen := maps.Clone(m.want), m.gen, m.data, m.dataGen
	m.mu.Unlock()

	l, addr := m.cfg.Layout, m.cfg.Addr
	var errs []error
	if !m.cfg.Auth.IsZero() {
		if err := m.protect(want); err != nil {
			errs = append(errs, err)
		}
	}
	if !m.server || m.wrote != dataGen {
		if err := m.ephemeral(l.Server(addr), data); err != nil {
			errs = append(errs, err)
		} else {
			if !m.server {
				level := slog.LevelInfo
				if m.sessions.Load() > 1 {
					level = slog.LevelDebug // the session's return was logged
				}
				m.cfg.Logger.Log(context.Background(), level, "registered in zookeeper", "node", l.Server(addr))
			}
			m.server, m.wrote = true, dataGen
		}
	}
	if !m.cfg.Layout.Slacker() {
		m.createMany(want)
	}
	// Each namespace on its own: one that fails holds none of the others up.
	later := false // a candidate waits for its grace
	for _, ns := range slices.Sorted(maps.Keys(want)) {
		if m.stopping() {
			break
		}
		switch err := m.put(ns, want[ns]); {
		case errors.Is(err, errStandLater):
			later = true
		case err != nil:
			errs = append(errs, err)
		}
	}
	for _, ns := range slices.Sorted(maps.Keys(m.have)) {
		if _, ok := want[ns]; ok || m.stopping() {
			continue
		}
		if err := m.remove(ns); err != nil {
			errs = append(errs, err)
		}
	}
	if m.stopping() {
		return // cut short: not in step
	}
	if err := errors.Join(errs...); err != nil {
		m.logErr(err)
		return
	}
	m.lastErr = ""
	if later {
		return // not in step until it stands
	}
	m.mu.Lock()
	if gen > m.synced || m.syncedIn != m.session {
		m.synced, m.syncedIn = gen, m.session
	}
	close(m.settled)
	m.settled = make(chan struct{})
	m.mu.Unlock()
}

// multiBytes bounds the size of the multi-operations createMany sends:
// half of ZooKeeper's default limit on a request (jute.maxbuffer, 1 MiB).
const multiBytes = 512 << 10

// createMany makes the namespace nodes of want that are not there in this
// session in multi-operations of up to multiBytes each: a server's many
// namespaces cost ZooKeeper a few transactions, not one each. The nodes
// of a multi-operation that fails because some are left by other
// sessions (a restart of the server, of every server) are taken over in
// one more; those of one that fails otherwise (their parent is missing)
// are left to put, which makes them one by one.
func (m *Member) createMany(want map[string]nsWant) {
	var (
		ops   []any
		names []string
		size  int
	)
	flush := func() {
		if len(ops) > 1 {
			_, err := m.conn.Multi(ops...)
			if errors.Is(err, zk.ErrNodeExists) {
				err = m.takeOverMany(ops)
			}
			if err == nil {
				for _, ns := range names {
					h := m.have[ns]
					if h == nil {
						h = &nsHave{}
						m.have[ns] = h
					}
					h.node, h.data = true, want[ns].data
				}
			}
		}
		ops, names, size = ops[:0], names[:0], 0
	}
	for _, ns := range slices.Sorted(maps.Keys(want)) {
		if h := m.have[ns]; h != nil && h.node || m.stopping() {
			continue
		}
		w := want[ns]
		p := m.cfg.Layout.NamespaceServer(ns, m.cfg.Addr)
		n := len(p) + len(w.data) + 128 // the op's header and ACL
		if size+n > multiBytes {
			flush()
		}
		ops = append(ops, &zk.CreateRequest{Path: p, Data: w.data, Acl: m.acl, Flags: zk.FlagEphemeral})
		names, size = append(names, ns), size+n
	}
	flush()
}

// takeOverMany makes the nodes of creates, in one multi-operation, with
// the nodes of other sessions at their paths deleted in it (see
// takeOver). A node there already in this session fails it.
func (m *Member) takeOverMany(creates []any) error {
	paths := make([]string, len(creates))
	for i, c := range creates {
		paths[i] = c.(*zk.CreateRequest).Path
	}
	_, stats, errs := getAll(m.conn, paths)
	ops := make([]any, 0, 2*len(creates))
	for i, c := range creates {
		switch err := errs[i]; {
		case errors.Is(err, zk.ErrNoNode):
		case err != nil:
			return err
		case stats[i].EphemeralOwner == m.conn.SessionID():
			return fmt.Errorf("%s: %w", paths[i], zk.ErrNodeExists)
		default:
			m.logTakeOver(paths[i], stats[i].EphemeralOwner)
			ops = append(ops, &zk.DeleteRequest{Path: paths[i], Version: stats[i].Version})
		}
		ops = append(ops, c)
	}
	_, err := m.conn.Multi(ops...)
	return err
}

// logErr logs a failure to register, unless it is the one logged last.
func (m *Member) logErr(err error) {
	msg := err.Error()
	if msg == m.lastErr {
		return
	}
	m.lastErr = msg
	attrs := []any{"err", err}
	if errors.Is(err, zk.ErrNoAuth) {
		attrs = append(attrs, "hint", m.refusedHint())
	}
	m.cfg.Logger.Warn("cannot register in zookeeper; trying again", attrs...)
}

// put brings the nodes of the namespace ns in step with w: its node,
// with w's data, and its candidate in the leader election if it is
// stateful. In FormatSlacker, every namespace has a candidate, in slacker
// cluster's election, made before the node, as slacker cluster's clients
// read _leader once a namespace has a server; and the functions have
// their nodes.
func (m *Member) put(ns string, w nsWant) error {
	slacker := m.cfg.Layout.Slacker()
	h := m.have[ns]
	if h == nil {
		h = &nsHave{}
		m.have[ns] = h
	}
	if slacker {
		if err := m.leaderNodes(ns); err != nil {
			return err
		}
		if err := m.stand(ns, h, true); err != nil {
			return err
		}
		if err := m.lead(ns, h); err != nil {
			return err
		}
	}
	node := m.cfg.Layout.NamespaceServer(ns, m.cfg.Addr)
	switch {
	case !h.node:
		if err := m.ephemeral(node, w.data); err != nil {
			return err
		}
		h.node, h.data = true, w.data
	case !bytes.Equal(h.data, w.data):
		if err := m.setData(node, w.data, -1); err != nil {
			if errors.Is(err, zk.ErrNoNode) {
				h.node = false // deleted by someone: made again next time
			}
			return fmt.Errorf("updating %s: %w", node, err)
		}
		h.data = w.data
	}
	if slacker {
		return m.putFunctions(ns, w, h)
	}
	if err := m.stand(ns, h, w.stateful); err != nil {
		return err
	}
	return m.leads(ns, h)
}

// leads finds out whether the server's candidate in the election of ns
// leads it (its sequence number is the lowest), in slacker-lua's layout,
// for the member to stand at once in a new session if it did (see
// stand). A watch on the candidates says when to look again.
func (m *Member) leads(ns string, h *nsHave) error {
	key := "candidates:" + ns
	if h.candidate == "" || m.armed[key] {
		return nil
	}
	_, err := m.election(ns, h, key, m.cfg.Layout.Leader(ns), lowestCandidate)
	return err
}

// election lists the candidates in dir, with a watch under key, and sets
// h.leading to whether h's candidate is the one lead picks among them. It
// reports whether h has just come to lead. A candidate deleted by someone
// else is forgotten, to stand again next time, and is an error.
func (m *Member) election(ns string, h *nsHave, key, dir string, lead func(kids []string) string) (bool, error) {
	kids, _, ch, err := m.conn.ChildrenW(dir)
	if err != nil {
		return false, fmt.Errorf("listing %s: %w", dir, err)
	}
	m.watch(key, ch)
	leading := lead(kids) == path.Base(h.candidate)
	became := leading && !h.leading
	if became {
		m.cfg.Logger.Info("leading the namespace", "namespace", ns)
	}
	h.leading = leading
	if !slices.Contains(kids, path.Base(h.candidate)) {
		gone := h.candidate
		h.candidate, h.leading = "", false
		return false, fmt.Errorf("the candidate %s is gone", gone)
	}
	return became, nil
}

// lowestCandidate returns the name of the candidate, n_<seq>, with the
// lowest sequence number among kids; "" if none.
func lowestCandidate(kids []string) string {
	best, bestSeq := "", int64(-1)
	for _, k := range kids {
		seq, err := strconv.ParseInt(strings.TrimPrefix(k, candidatePrefix), 10, 64)
		if err != nil || !strings.HasPrefix(k, candidatePrefix) {
			continue
		}
		if bestSeq < 0 || seq < bestSeq {
			best, bestSeq = k, seq
		}
	}
	return best
}

// stand makes the server a candidate in the leader election of ns, or
// withdraws it.
func (m *Member) stand(ns string, h *nsHave, stand bool) error {
	switch {
	case stand && h.candidate == "":
		c, err := m.candidate(ns)
		if err != nil {
			return err
		}
		h.candidate, h.leading, h.claimed = c, false, false
		delete(m.armed, "mutex:"+ns) // to see whether it leads
		delete(m.armed, "candidates:"+ns)
		delete(m.former, ns)
	case !stand && h.candidate != "":
		if err := m.conn.Delete(h.candidate, -1); err != nil && !errors.Is(err, zk.ErrNoNode) {
			return fmt.Errorf("deleting %s: %w", h.candidate, err)
		}
		h.candidate, h.leading, h.claimed = "", false, false
		delete(m.former, ns)
	}
	return nil
}

// remove deletes the nodes of the namespace ns: its candidate in the
// leader election first, so that a leader hands over before it is gone.
// In FormatSlacker, the nodes of the functions no server serves any more
// go too (see pruneFunctions).
func (m *Member) remove(ns string) error {
	h := m.have[ns]
	if err := m.stand(ns, h, false); err != nil {
		return err
	}
	if h.node {
		node := m.cfg.Layout.NamespaceServer(ns, m.cfg.Addr)
		if err := m.conn.Delete(node, -1); err != nil && !errors.Is(err, zk.ErrNoNode) {
			return fmt.Errorf("deleting %s: %w", node, err)
		}
		h.node = false
	}
	if m.cfg.Layout.Slacker() {
		kids, _, err := m.conn.Children(m.cfg.Layout.NamespaceFunctions(ns))
		if err != nil && !errors.Is(err, zk.ErrNoNode) {
			return fmt.Errorf("listing %s: %w", m.cfg.Layout.NamespaceFunctions(ns), err)
		}
		if err := m.pruneFunctions(ns, kids, nil); err != nil {
			return err
		}
	}
	delete(m.have, ns)
	return nil
}

// candidate makes the server a candidate in the leader election of ns: an
// ephemeral sequential node whose data is the server's address, n_<seq>
// under _leader, or in FormatSlacker one of Curator's lock nodes,
// _c_<uuid>-lock-<seq> under _leader/mutex, which slacker cluster's
// servers order with theirs. A candidate of this session found there (its
// creation was answered by a lost connection) is kept. One of the
// server's address left by an earlier session of this member's keeps its
// place: it is deleted and made again, under the same name, in this
// session, in one transaction, so that no other candidate leads
// meanwhile. One left by another session is deleted, as
// [Member.ephemeral] does.
//
// In a new session, a member that stood in the election of ns in the
// session before without leading, and whose candidate of then is gone,
// waits standGrace from the session's start before it stands: the
// leader of then, back in the same while, stands first and leads again.
// Until then candidate returns errStandLater.
func (m *Member) candidate(ns string) (string, error) {
	dir, name := m.cfg.Layout.Leader(ns), candidatePrefix
	if m.cfg.Layout.Slacker() {
		dir, name = m.cfg.Layout.Mutex(ns), "_c_"+newUUID()+"-"+candidateInfix
	}
	kids, _, err := m.conn.Children(dir)
	if err != nil && !errors.Is(err, zk.ErrNoNode) {
		return "", fmt.Errorf("listing %s: %w", dir, err)
	}
	for _, k := range kids {
		p := path.Join(dir, k)
		data, st, err := m.conn.Get(p)
		switch {
		case errors.Is(err, zk.ErrNoNode):
			continue
		case err != nil:
			return "", fmt.Errorf("reading %s: %w", p, err)
		case string(data) != m.cfg.Addr:
			continue
		case st.EphemeralOwner == m.conn.SessionID():
			return p, nil
		case m.own[st.EphemeralOwner]:
			_, err := m.conn.Multi(
				&zk.DeleteRequest{Path: p, Version: st.Version},
				&zk.CreateRequest{Path: p, Data: []byte(m.cfg.Addr), Acl: m.acl, Flags: zk.FlagEphemeral})
			if err == nil {
				m.cfg.Logger.Info("kept the place in the leader election of an earlier session of this server", "namespace", ns, "node", p)
				return p, nil
			}
			if !errors.Is(err, zk.ErrNoNode) && !errors.Is(err, zk.ErrBadVersion) {
				return "", fmt.Errorf("taking over %s, of an earlier session: %w", p, err)
			}
			continue // gone meanwhile
		}
		if err := m.takeOver(p, st); err != nil {
			return "", err
		}
	}
	if f, ok := m.former[ns]; ok && !f.led && time.Since(m.began) < standGrace {
		return "", errStandLater
	}
	prefix := path.Join(dir, name)
	for range 2 {
		p, err := m.conn.Create(prefix, []byte(m.cfg.Addr), zk.FlagEphemeral|zk.FlagSequence, m.acl)
		if errors.Is(err, zk.ErrNoNode) {
			if err := m.parents(prefix); err != nil {
				return "", err
			}
			continue
		}
		if err != nil {
			return "", fmt.Errorf("creating a candidate in %s: %w", dir, err)
		}
		return p, nil
	}
	return "", fmt.Errorf("creating a candidate in %s: it keeps changing", dir)
}

// errStandLater: the member waits for its grace before it stands (see
// Member.candidate). It is not logged.
var errStandLater = errors.New("standing in the election once the leader of the session before had its chance")

// stopping reports whether Close was called.
func (m *Member) stopping() bool {
	select {
	case <-m.done:
		return true
	default:
		return false
	}
}

// ephemeral makes the ephemeral node p with data in the member's session,
// making its parents as persistent nodes. A node p left by another
// session (an earlier one of this server) is taken over.
func (m *Member) ephemeral(p string, data []byte) error {
	for range 3 {
		_, err := m.conn.Create(p, data, zk.FlagEphemeral, m.acl)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, zk.ErrNoNode):
			if err := m.parents(p); err != nil {
				return err
			}
		case errors.Is(err, zk.ErrNodeExists):
			got, st, err := m.conn.Get(p)
			switch {
			case errors.Is(err, zk.ErrNoNode):
				continue
			case err != nil:
				return fmt.Errorf("reading %s: %w", p, err)
			case st.EphemeralOwner == m.conn.SessionID():
				if !bytes.Equal(got, data) {
					if err := m.setData(p, data, st.Version); err != nil {
						return fmt.Errorf("updating %s: %w", p, err)
					}
				}
				return nil
			}
			if err := m.takeOver(p, st); err != nil {
				return err
			}
		default:
			return fmt.Errorf("creating %s: %w", p, err)
		}
	}
	return fmt.Errorf("creating %s: it keeps changing", p)
}

// setData sets the data of p, a node of the member's (its server's node
// or one of a namespace's), if its version is version (any, if -1), and,
// in the same transaction, writes the member's address as the data of
// p's parent: the parent's version counts the changes of its children's
// data, and clients watch it rather than each child (see the package
// documentation). Where the member may not write the parent (its ACL), p
// is set alone.
func (m *Member) setData(p string, data []byte, version int32) error {
	_, err := m.conn.Multi(
		&zk.SetDataRequest{Path: p, Data: data, Version: version},
		&zk.SetDataRequest{Path: path.Dir(p), Data: []byte(m.cfg.Addr), Version: -1})
	if errors.Is(err, zk.ErrNoAuth) {
		_, err = m.conn.Set(p, data, version)
	}
	return err
}

// takeOver deletes the node p, of another session, for the member to make
// its own. The take-over of nodes of an earlier session of the member's
// (made before its session expired, or before its connection was made
// anew) is logged at info level, once for that session; that of another
// session's, at warn level, once for that session: it was an earlier run
// of this server, or another server advertising the same address.
func (m *Member) takeOver(p string, st *zk.Stat) error {
	m.logTakeOver(p, st.EphemeralOwner)
	if err := m.conn.Delete(p, st.Version); err != nil && !errors.Is(err, zk.ErrNoNode) {
		return fmt.Errorf("deleting %s, left by another session: %w", p, err)
	}
	return nil
}

// logTakeOver logs the take-over of the node p of the session owner (see
// takeOver).
func (m *Member) logTakeOver(p string, owner int64) {
	switch {
	case m.logged[owner]:
		m.cfg.Logger.Debug("taking over a node of another session", "node", p, "session", fmt.Sprintf("%#x", owner))
	case m.own[owner]:
		m.logged[owner] = true
		m.cfg.Logger.Info("taking over the nodes of an earlier session of this server", "node", p, "session", fmt.Sprintf("%#x", owner))
	default:
		m.logged[owner] = true
		m.cfg.Logger.Warn("taking over the nodes of another session: an earlier run of this server's, or another server advertising the same address", "node", p, "session", fmt.Sprintf("%#x", owner))
	}
}

// parents makes the parents of the node p that are missing.
func (m *Member) parents(p string) error {
	dir := path.Dir(p)
	var missing []string
	for ; dir != "/"; dir = path.Dir(dir) {
		ok, _, err := m.conn.Exists(dir)
		if err != nil {
			return fmt.Errorf("looking for %s: %w", dir, err)
		}
		if ok {
			break
		}
		missing = append(missing, dir)
	}
	for _, d := range slices.Backward(missing) {
		if _, err := m.conn.Create(d, nil, 0, m.acl); err != nil && !errors.Is(err, zk.ErrNodeExists) {
			return fmt.Errorf("creating %s: %w", d, err)
		}
	}
	return nil
}
