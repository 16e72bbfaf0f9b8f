package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"path"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"
)

// Config configures a [Member]. ZooKeeper, Cluster and Addr are required;
// the other fields' zero values work.
type Config struct {
	// ZooKeeper lists the ensemble's servers, host:port.
	ZooKeeper []string
	// Layout says where the cluster's nodes are.
	Layout Layout
	// Addr is the address clients reach this server at, host:port. It
	// names the server's nodes, so it must not be a wildcard address.
	Addr string
	// Data is published with the server, in ServerData.Data.
	Data map[string]any
	// Weight is the server's share of calls for clients that weigh servers.
	// 0 means 1.
	Weight int
	// Version is the server's version, published in ServerData.
	Version string
	// SessionTimeout is how long ZooKeeper keeps the session, and so the
	// server's nodes, while the server can't be reached. 0 means 10s.
	SessionTimeout time.Duration
	// Auth is the identity the member gives ZooKeeper, with which it
	// makes the cluster's nodes readable by all and writable by it alone
	// (see the package documentation, "ACLs"). The zero Auth gives none:
	// the nodes are made open to all.
	Auth Auth
	// Logger receives what happens to the session. nil discards it.
	Logger *slog.Logger
}

// ServerData is the data of a server's node, as JSON.
type ServerData struct {
	Version   string         `json:"version"`
	StartedAt time.Time      `json:"started_at"`
	Weight    int            `json:"weight"`
	Data      map[string]any `json:"data,omitempty"`
}

// DefaultSessionTimeout is Config.SessionTimeout's default.
const DefaultSessionTimeout = 10 * time.Second

// recheck is how often a member checks its session even when ZooKeeper
// tells it nothing: the client drops events when its channel is full.
const recheck = time.Second

func (c Config) withDefaults() (Config, error) {
	switch {
	case len(c.ZooKeeper) == 0:
		return c, errors.New("cluster: Config.ZooKeeper names no server")
	case c.Weight < 0:
		return c, fmt.Errorf("cluster: Config.Weight %d is negative", c.Weight)
	case c.SessionTimeout < 0:
		return c, fmt.Errorf("cluster: Config.SessionTimeout %v is negative", c.SessionTimeout)
	}
	if err := c.Layout.Check(); err != nil {
		return c, err
	}
	if err := c.Auth.check(); err != nil {
		return c, fmt.Errorf("cluster: Config.Auth: %w", err)
	}
	if err := checkAddr(c.Addr); err != nil {
		return c, err
	}
	if c.Weight == 0 {
		c.Weight = 1
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = DefaultSessionTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// checkAddr checks that addr is a host:port clients can reach.
func checkAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("cluster: Config.Addr %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() || port == "" || port == "0" {
		return fmt.Errorf("cluster: Config.Addr %q: want the address clients reach the server at, not a wildcard", addr)
	}
	return nil
}

// Member is a server's membership of a cluster: its session with
// ZooKeeper, and the nodes that say what it serves. Its methods are safe
// for concurrent use.
type Member struct {
	cfg      Config
	acl      []zk.ACL // of the nodes the member makes
	conn     *zk.Conn // replaced by the loop, under mu, when renewed
	events   <-chan zk.Event
	started  time.Time
	changed  chan struct{}
	done     chan struct{} // closed by Close
	stopped  chan struct{} // closed when the loop returns
	once     sync.Once
	sessions atomic.Int64 // the sessions the nodes were made in

	mu       sync.Mutex
	data     []byte            // the server node's
	dataGen  uint64            // counts the changes to data
	want     map[string]nsWant // the namespaces to register
	gen      uint64            // counts the changes to want; 1 for the server's node alone
	synced   uint64            // the gen the nodes were last brought in step with, in session syncedIn
	syncedIn int64
	settled  chan struct{} // closed, and replaced, each time the nodes are in step

	// Owned by the loop.
	session int64              // the session the nodes below were made in
	server  bool               // the server's node is there
	wrote   uint64             // the dataGen of the server node's data there
	have    map[string]*nsHave // the namespace nodes there
	lastErr string             // the last error logged
	lost    time.Time          // when the connection lost its session; zero while it has one
	authed  bool               // the connection has the member's identity
	guards  map[string]bool    // the persistent nodes protected (or found so) in this session
	listed  bool               // the namespaces found in this session were protected
}

// nsWant is a namespace to register: its node's data, and whether the
// server stands in its leader election.
type nsWant struct {
	data     []byte
	stateful bool
}

// nsHave is a namespace's nodes in ZooKeeper.
type nsHave struct {
	data      []byte // the namespace node's
	candidate string // the path of the server's candidate node; "" if none
}

// Join connects to ZooKeeper and registers the server. It does not wait
// for ZooKeeper: a server starts and serves whether or not ZooKeeper can be
// reached, and registers once it can (see [Member.Sync]).
func Join(cfg Config) (*Member, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	started := time.Now().UTC()
	data, err := json.Marshal(ServerData{Version: cfg.Version, StartedAt: started, Weight: cfg.Weight, Data: cfg.Data})
	if err != nil {
		return nil, fmt.Errorf("cluster: Config.Data: %w", err)
	}
	conn, events, err := zk.Connect(cfg.ZooKeeper, cfg.SessionTimeout, zk.WithLogger(zkLogger{cfg.Logger}))
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	m := &Member{
		cfg:     cfg,
		acl:     cfg.Auth.ACL(),
		conn:    conn,
		events:  events,
		started: started,
		data:    data,
		changed: make(chan struct{}, 1),
		done:    make(chan struct{}),
		stopped: make(chan struct{}),
		want:    make(map[string]nsWant),
		gen:     1,
		settled: make(chan struct{}),
		have:    make(map[string]*nsHave),
	}
	go m.loop()
	return m, nil
}

// SetWeight changes the weight the server's node announces (see
// Config.Weight; 0 is 1), now or once ZooKeeper can be reached.
func (m *Member) SetWeight(w int) error {
	if w < 0 {
		return fmt.Errorf("cluster: weight %d is negative", w)
	}
	if w == 0 {
		w = 1
	}
	m.mu.Lock()
	data, err := json.Marshal(ServerData{Version: m.cfg.Version, StartedAt: m.started, Weight: w, Data: m.cfg.Data})
	if err != nil {
		m.mu.Unlock()
		return fmt.Errorf("cluster: %w", err)
	}
	m.cfg.Weight, m.data = w, data
	m.dataGen++
	m.gen++
	m.mu.Unlock()
	select {
	case m.changed <- struct{}{}:
	default:
	}
	return nil
}

// Weight returns the weight the server's node announces.
func (m *Member) Weight() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cfg.Weight
}

// Register registers the server as one serving the namespace ns, as d
// describes it, now or once ZooKeeper can be reached. Registering ns
// again updates the data of its node, which stays. The server stands in
// the leader election of a stateful namespace (see [Layout.Leader]) for
// as long as it is registered as serving it.
func (m *Member) Register(ns string, d NamespaceData) error {
	if err := CheckNamespace(ns); err != nil {
		return err
	}
	data, err := d.encode()
	if err != nil {
		return fmt.Errorf("cluster: namespace %s: %w", ns, err)
	}
	m.set(ns, &nsWant{data: data, stateful: d.Stateful})
	return nil
}

// Unregister takes back the server's registration for ns, if any: its
// candidate in the leader election first, then its namespace node.
func (m *Member) Unregister(ns string) {
	if CheckNamespace(ns) == nil {
		m.set(ns, nil)
	}
}

// set records what to register for ns; nil for nothing.
func (m *Member) set(ns string, w *nsWant) {
	m.mu.Lock()
	old, ok := m.want[ns]
	switch {
	case w == nil && ok:
		delete(m.want, ns)
		m.gen++
	case w != nil && (!ok || old.stateful != w.stateful || !bytes.Equal(old.data, w.data)):
		m.want[ns] = *w
		m.gen++
	}
	m.mu.Unlock()
	select {
	case m.changed <- struct{}{}:
	default:
	}
}

// Sync waits until ZooKeeper holds the server's node and the
// registrations made before Sync was called, in the member's session now,
// or ctx is done.
func (m *Member) Sync(ctx context.Context) error {
	select {
	case <-m.stopped:
		return ErrClosed
	default:
	}
	m.mu.Lock()
	gen := m.gen
	m.mu.Unlock()
	for {
		m.mu.Lock()
		ok := m.synced >= gen && m.syncedIn == m.conn.SessionID() && m.conn.State() == zk.StateHasSession
		settled := m.settled
		m.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-settled:
		case <-time.After(recheck / 10): // the session may have changed meanwhile
		case <-m.stopped:
			return ErrClosed
		case <-ctx.Done():
			return fmt.Errorf("cluster: registering in ZooKeeper: %w", ctx.Err())
		}
	}
}

// Connected reports whether the member has a ZooKeeper session now.
func (m *Member) Connected() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.conn.State() == zk.StateHasSession
}

// Sessions counts the ZooKeeper sessions the member has registered in:
// each one past the first began after ZooKeeper expired the one before,
// or after the member gave it up, cut off for longer than its timeout.
func (m *Member) Sessions() int64 { return m.sessions.Load() }

// Close ends the member's session. ZooKeeper deletes the server's nodes at
// once if it can be reached, else when the session times out. Close may be
// called more than once.
func (m *Member) Close() {
	m.once.Do(func() {
		close(m.done)
		<-m.stopped
		m.conn.Close()
	})
}

// loop keeps the nodes in step with what the member is told, in whatever
// session it has.
func (m *Member) loop() {
	defer close(m.stopped)
	tick := time.NewTicker(recheck)
	defer tick.Stop()
	for {
		select {
		case <-m.done:
			return
		case ev := <-m.events:
			if ev.Type == zk.EventSession {
				m.cfg.Logger.Debug("zookeeper session", "state", ev.State.String(), "server", ev.Server)
			}
		case <-m.changed:
		case <-tick.C:
		}
		if RenewSession(m.conn, &m.lost, m.cfg.SessionTimeout) {
			m.renew()
		}
		m.reconcile()
	}
}

// renew replaces the member's connection to ZooKeeper by a new one.
func (m *Member) renew() {
	conn, events, err := zk.Connect(m.cfg.ZooKeeper, m.cfg.SessionTimeout, zk.WithLogger(zkLogger{m.cfg.Logger}))
	if err != nil {
		m.cfg.Logger.Warn("cannot connect to ZooKeeper again", "err", err)
		return
	}
	m.cfg.Logger.Info("no ZooKeeper session for longer than its timeout; connecting again")
	m.mu.Lock()
	old := m.conn
	m.conn, m.events = conn, events
	m.mu.Unlock()
	m.authed = false
	old.Close()
}

// reconcile brings the nodes in step with m.want, if the member has a
// session. A failure is logged, and tried again at the next change or
// check.
func (m *Member) reconcile() {
	if m.conn.State() != zk.StateHasSession {
		return
	}
	if sid := m.conn.SessionID(); sid != m.session {
		if m.session != 0 {
			m.cfg.Logger.Info("zookeeper session renewed; registering again", "session", fmt.Sprintf("%#x", sid))
		}
		m.session, m.server, m.have = sid, false, make(map[string]*nsHave)
		m.guards, m.listed = make(map[string]bool), false
		m.sessions.Add(1)
	}
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
				m.cfg.Logger.Info("registered in zookeeper", "node", l.Server(addr))
			}
			m.server, m.wrote = true, dataGen
		}
	}
	// Each namespace on its own: one that fails holds none of the others up.
	for _, ns := range slices.Sorted(maps.Keys(want)) {
		if m.stopping() {
			break
		}
		if err := m.put(ns, want[ns]); err != nil {
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
	m.mu.Lock()
	if gen > m.synced || m.syncedIn != m.session {
		m.synced, m.syncedIn = gen, m.session
	}
	close(m.settled)
	m.settled = make(chan struct{})
	m.mu.Unlock()
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
// stateful.
func (m *Member) put(ns string, w nsWant) error {
	node := m.cfg.Layout.NamespaceServer(ns, m.cfg.Addr)
	h := m.have[ns]
	switch {
	case h == nil:
		if err := m.ephemeral(node, w.data); err != nil {
			return err
		}
		h = &nsHave{data: w.data}
		m.have[ns] = h
	case !bytes.Equal(h.data, w.data):
		if _, err := m.conn.Set(node, w.data, -1); err != nil {
			if errors.Is(err, zk.ErrNoNode) {
				delete(m.have, ns) // deleted by someone: made again next time
			}
			return fmt.Errorf("updating %s: %w", node, err)
		}
		h.data = w.data
	}
	switch {
	case w.stateful && h.candidate == "":
		c, err := m.candidate(ns)
		if err != nil {
			return err
		}
		h.candidate = c
	case !w.stateful && h.candidate != "":
		if err := m.conn.Delete(h.candidate, -1); err != nil && !errors.Is(err, zk.ErrNoNode) {
			return fmt.Errorf("deleting %s: %w", h.candidate, err)
		}
		h.candidate = ""
	}
	return nil
}

// remove deletes the nodes of the namespace ns: its candidate in the
// leader election first, so that a leader hands over before it is gone.
func (m *Member) remove(ns string) error {
	h := m.have[ns]
	if h.candidate != "" {
		if err := m.conn.Delete(h.candidate, -1); err != nil && !errors.Is(err, zk.ErrNoNode) {
			return fmt.Errorf("deleting %s: %w", h.candidate, err)
		}
		h.candidate = ""
	}
	node := m.cfg.Layout.NamespaceServer(ns, m.cfg.Addr)
	if err := m.conn.Delete(node, -1); err != nil && !errors.Is(err, zk.ErrNoNode) {
		return fmt.Errorf("deleting %s: %w", node, err)
	}
	delete(m.have, ns)
	return nil
}

// candidate makes the server a candidate in the leader election of ns: an
// ephemeral sequential node whose data is the server's address. A
// candidate of this session found there (its creation was answered by a
// lost connection) is kept; one of the server's address left by another
// session is deleted, as [Member.ephemeral] does.
func (m *Member) candidate(ns string) (string, error) {
	dir := m.cfg.Layout.Leader(ns)
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
		}
		if err := m.takeOver(p, st); err != nil {
			return "", err
		}
	}
	prefix := path.Join(dir, candidatePrefix)
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
					if _, err := m.conn.Set(p, data, st.Version); err != nil {
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

// takeOver deletes the node p, of another session, for the member to make
// its own.
func (m *Member) takeOver(p string, st *zk.Stat) error {
	m.cfg.Logger.Warn("taking over a node of another session: an earlier one of this server's, or another server advertising the same address", "node", p)
	if err := m.conn.Delete(p, st.Version); err != nil && !errors.Is(err, zk.ErrNoNode) {
		return fmt.Errorf("deleting %s, left by another session: %w", p, err)
	}
	return nil
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

// RenewSession reports whether a long-lived connection to ZooKeeper should
// be replaced by a new one: it has had no session for longer than the
// session timeout, so its session is gone. A connection that has seen
// transactions is refused by an ensemble that lost its data, until the
// ensemble has made as many again; a new one has seen none. lost is the
// caller's record of when the connection lost its session.
func RenewSession(conn *zk.Conn, lost *time.Time, timeout time.Duration) bool {
	switch {
	case conn.State() == zk.StateHasSession:
		*lost = time.Time{}
	case lost.IsZero():
		*lost = time.Now()
	case time.Since(*lost) > timeout:
		*lost = time.Time{}
		return true
	}
	return false
}

// ZooKeeperLogger returns a logger for the ZooKeeper client (zk.WithLogger)
// that writes to log at debug level: what matters is logged by those who
// use the client.
func ZooKeeperLogger(log *slog.Logger) zk.Logger { return zkLogger{log} }

type zkLogger struct{ log *slog.Logger }

func (l zkLogger) Printf(format string, args ...any) {
	l.log.Debug("zookeeper: " + fmt.Sprintf(format, args...))
}
