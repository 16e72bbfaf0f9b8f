package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"
)

// MemberConfig configures a [Member]. ZooKeeper, Layout.Cluster and Addr
// are required; the other fields' zero values work.
type MemberConfig struct {
	// ZooKeeper lists the ensemble's servers, host:port. Required.
	ZooKeeper []string
	// Layout says where the cluster's nodes are: its Cluster is required,
	// and Root "" means DefaultRoot.
	Layout Layout
	// Addr is the address clients reach this server at, host:port. It
	// names the server's nodes, so it must not be a wildcard address.
	// Required.
	Addr string
	// Data is published with the server, in ServerData.Data. nil publishes
	// none.
	Data map[string]any
	// Weight is the server's share of calls for clients that weigh servers.
	// 0 means 1.
	Weight int
	// Version is the server's version, published in ServerData. "" publishes
	// none.
	Version string
	// HTTP is the URL of the server's HTTP listener (its gateway, /metrics
	// and admin endpoints), http://host:port or https://host:port,
	// published in ServerData for consoles and operators. "" publishes
	// none.
	HTTP string
	// SessionTimeout is how long ZooKeeper keeps the session, and so the
	// server's nodes, while the server can't be reached. 0 means
	// DefaultSessionTimeout.
	SessionTimeout time.Duration
	// RejoinJitter bounds how long a member waits, at random, before it
	// registers again in a new session, its earlier one expired: when an
	// ensemble loses every session at once (its data lost, or a partition
	// longer than the session timeout), the servers' registrations come
	// back spread over RejoinJitter rather than all together. 0 means
	// DefaultRejoinJitter; negative, no wait. A member's first session
	// registers at once.
	RejoinJitter time.Duration
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
	Version   string    `json:"version"`
	StartedAt time.Time `json:"started_at"`
	Weight    int       `json:"weight"`
	HTTP      string    `json:"http,omitempty"` // MemberConfig.HTTP
	// Offline is true while an operator has taken the whole server out of
	// the cluster, and OfflineNamespaces names the namespaces taken out
	// one by one (see [Member.SetOffline]).
	Offline           bool           `json:"offline,omitempty"`
	OfflineNamespaces []string       `json:"offline_namespaces,omitempty"`
	Data              map[string]any `json:"data,omitempty"`
}

// DefaultSessionTimeout is the default of MemberConfig.SessionTimeout and
// ClientConfig.SessionTimeout.
const DefaultSessionTimeout = 10 * time.Second

// DefaultRejoinJitter is the default of MemberConfig.RejoinJitter.
const DefaultRejoinJitter = 2 * time.Second

// recheck is how often a member brings its nodes in step even when
// nothing changed.
const recheck = time.Second

// Validate reports every invalid field of c.
func (c MemberConfig) Validate() error {
	var errs []error
	if len(c.ZooKeeper) == 0 {
		errs = append(errs, errors.New("cluster: MemberConfig.ZooKeeper names no server"))
	}
	if c.Weight < 0 {
		errs = append(errs, fmt.Errorf("cluster: MemberConfig.Weight %d is negative", c.Weight))
	}
	if u, err := url.Parse(c.HTTP); c.HTTP != "" && (err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.Path != "") {
		errs = append(errs, fmt.Errorf("cluster: MemberConfig.HTTP %q: want http://host:port or https://host:port", c.HTTP))
	}
	if c.SessionTimeout < 0 {
		errs = append(errs, fmt.Errorf("cluster: MemberConfig.SessionTimeout %v is negative", c.SessionTimeout))
	}
	if err := c.Layout.Check(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Auth.check(); err != nil {
		errs = append(errs, fmt.Errorf("cluster: MemberConfig.Auth: %w", err))
	}
	if err := checkAddr(c.Addr); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// withDefaults returns c with its zero fields set to their defaults.
func (c MemberConfig) withDefaults() MemberConfig {
	if c.Weight == 0 {
		c.Weight = 1
	}
	if c.RejoinJitter == 0 {
		c.RejoinJitter = DefaultRejoinJitter
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = DefaultSessionTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// checkAddr checks that addr is a host:port clients can reach.
func checkAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("cluster: MemberConfig.Addr %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() || port == "" || port == "0" {
		return fmt.Errorf("cluster: MemberConfig.Addr %q: want the address clients reach the server at, not a wildcard", addr)
	}
	return nil
}

// Member is a server's membership of a cluster: its session with
// ZooKeeper, and the nodes that say what it serves. Its methods are safe
// for concurrent use.
type Member struct {
	cfg      MemberConfig
	acl      []zk.ACL // of the nodes the member makes
	zk       *session
	started  time.Time
	changed  chan struct{}
	done     chan struct{} // closed by Close
	stopped  chan struct{} // closed when the loop returns
	once     sync.Once
	sessions atomic.Int64 // the sessions the nodes were made in

	mu        sync.Mutex
	data      []byte // the server node's
	offline   bool   // announced in data: see SetOffline
	offlineNS []string
	dataGen   uint64            // counts the changes to data
	want      map[string]nsWant // the namespaces to register
	gen       uint64            // counts the changes to want; 1 for the server's node alone
	synced    uint64            // the gen the nodes were last brought in step with, in session syncedIn
	syncedIn  int64
	settled   chan struct{} // closed, and replaced, each time the nodes are in step

	// Owned by the loop.
	conn    *zk.Conn           // the session's connection, loaded at each turn of the loop
	session int64              // the session the nodes below were made in
	server  bool               // the server's node is there
	wrote   uint64             // the dataGen of the server node's data there
	have    map[string]*nsHave // the namespace nodes there
	lastErr string             // the last error logged
	authed  bool               // the connection has the member's identity
	guards  map[string]bool    // the persistent nodes protected (or found so) in this session
	listed  bool               // the namespaces found in this session were protected
	made    map[string]bool    // the namespaces whose _leader is ready in this session (FormatSlacker)
	armed   map[string]bool    // the keys of the watches set and not fired (see watch)
	own     map[int64]bool     // every session of the member's
	former  map[string]former  // the member's candidates of earlier sessions not stood again, by namespace
	began   time.Time          // when the session began, for the grace of standing (see stand)
	rejoin  time.Time          // in a new session, when to register again (see RejoinJitter)
	hold    <-chan time.Time   // fires at rejoin
	logged  map[int64]bool     // the other sessions whose nodes' take-over was logged

	firedMu sync.Mutex
	fired   map[string]bool // the keys of the watches fired since the loop last looked
	watches sync.WaitGroup  // the goroutines of the watches
}

// nsWant is a namespace to register: its node's data, and whether the
// server stands in its leader election.
type nsWant struct {
	data      []byte
	stateful  bool
	functions []Function // in FormatSlacker, for the functions' nodes
}

// former is the member's candidate in the election of a namespace in an
// earlier session, and whether it led.
type former struct {
	path string
	led  bool
}

// standGrace is how long a member in a new session waits before it stands
// in the election of a stateful namespace it stood in without leading,
// unless its candidate of then is still there: so that the leader of
// then, if it serves still and is back in the same while, leads again.
const standGrace = 2 * time.Second

// nsHave is a namespace's nodes in ZooKeeper.
type nsHave struct {
	node      bool   // the namespace node is there
	data      []byte // the namespace node's
	candidate string // the path of the server's candidate node; "" if none

	// In FormatSlacker:
	leading bool              // the candidate leads
	claimed bool              // _leader names the server, since it leads
	fns     map[string][]byte // the functions' nodes written, by name; nil before any
}

// Join connects to ZooKeeper and registers the server. It does not wait
// for ZooKeeper: a server starts and serves whether or not ZooKeeper can be
// reached, and registers once it can (see [Member.Sync]).
func Join(cfg MemberConfig) (*Member, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	started := time.Now().UTC()
	data, err := encodeServerData(cfg.Layout, serverData(cfg, started, false, nil))
	if err != nil {
		return nil, fmt.Errorf("cluster: MemberConfig.Data: %w", err)
	}
	zs, err := openSession(cfg.ZooKeeper, cfg.SessionTimeout, cfg.Logger, false)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	m := &Member{
		cfg:     cfg,
		acl:     cfg.Auth.ACL(),
		zk:      zs,
		started: started,
		data:    data,
		changed: make(chan struct{}, 1),
		done:    make(chan struct{}),
		stopped: make(chan struct{}),
		want:    make(map[string]nsWant),
		gen:     1,
		settled: make(chan struct{}),
		have:    make(map[string]*nsHave),
		armed:   make(map[string]bool),
		own:     make(map[int64]bool),
		former:  make(map[string]former),
		logged:  make(map[int64]bool),
		fired:   make(map[string]bool),
	}
	go m.loop()
	return m, nil
}

// SetWeight changes the weight the server's node announces (see
// MemberConfig.Weight; 0 is 1), now or once ZooKeeper can be reached.
func (m *Member) SetWeight(w int) error {
	if w < 0 {
		return fmt.Errorf("cluster: weight %d is negative", w)
	}
	if w == 0 {
		w = 1
	}
	return m.announce(func() { m.cfg.Weight = w })
}

// SetOffline changes what the server's node announces an operator took
// out of the cluster: the whole server (all), or the namespaces nss. It
// only announces it: unregistering the namespaces is the caller's.
func (m *Member) SetOffline(all bool, nss []string) error {
	nss = slices.Sorted(slices.Values(nss))
	return m.announce(func() { m.offline, m.offlineNS = all, nss })
}

// announce applies change to what the server's node announces, and
// writes the node's data again, now or once ZooKeeper can be reached.
func (m *Member) announce(change func()) error {
	m.mu.Lock()
	change()
	data, err := encodeServerData(m.cfg.Layout, serverData(m.cfg, m.started, m.offline, m.offlineNS))
	if err != nil {
		m.mu.Unlock()
		return fmt.Errorf("cluster: %w", err)
	}
	m.data = data
	m.dataGen++
	m.gen++
	m.mu.Unlock()
	select {
	case m.changed <- struct{}{}:
	default:
	}
	return nil
}

// serverData is what the node of the server cfg configures announces.
func serverData(cfg MemberConfig, started time.Time, offline bool, offlineNS []string) ServerData {
	return ServerData{Version: cfg.Version, StartedAt: started, Weight: cfg.Weight, HTTP: cfg.HTTP,
		Offline: offline, OfflineNamespaces: offlineNS, Data: cfg.Data}
}

// encodeServerData returns d in the format of the layout l: JSON, or EDN
// in FormatSlacker.
func encodeServerData(l Layout, d ServerData) ([]byte, error) {
	if l.Slacker() {
		return encodeServerDataEDN(d)
	}
	return json.Marshal(d)
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
	w := &nsWant{data: data, stateful: d.Stateful}
	if m.cfg.Layout.Slacker() {
		w.functions = slices.Clone(d.Functions)
	}
	m.set(ns, w)
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
		conn := m.zk.conn()
		ok := m.synced >= gen && m.syncedIn == conn.SessionID() && conn.State() == zk.StateHasSession
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
	return m.zk.connected()
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
		m.zk.close()
		m.watches.Wait()
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
		case <-m.zk.changed():
		case <-m.changed:
		case <-m.hold:
		case <-tick.C:
		}
		if conn := m.zk.conn(); conn != m.conn {
			m.conn, m.authed = conn, false // a new connection, to authenticate
		}
		m.reconcile()
	}
}
