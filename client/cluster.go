package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/slacker-lua/slacker-lua/cluster"
)

// ClusterConfig configures a [Cluster]. ZooKeeper and Cluster are
// required; the other fields' zero values work.
type ClusterConfig struct {
	// ZooKeeper lists the ensemble's servers, host:port.
	ZooKeeper []string
	// Layout says where the cluster's nodes are: its Cluster is required,
	// and Root "" means /slacker.
	Layout cluster.Layout
	// Client configures the connection to each server.
	Client Config
	// Picker chooses the server of each call. nil means Random.
	Picker Picker
	// SessionTimeout is the ZooKeeper session's. 0 means 10s.
	SessionTimeout time.Duration
	// Logger receives what happens to the session and the servers. nil
	// discards it.
	Logger *slog.Logger
}

// Picker chooses the server of a call among those that serve its
// namespace, sorted. It is called from many goroutines at once.
type Picker interface {
	Pick(servers []string) (string, error)
}

// Random picks a server at random: the default.
type Random struct{}

func (Random) Pick(servers []string) (string, error) {
	if len(servers) == 0 {
		return "", ErrNotFound
	}
	return servers[rand.IntN(len(servers))], nil
}

// RoundRobin picks the servers in turn. Its zero value is ready to use;
// share one between calls.
type RoundRobin struct{ n atomic.Uint64 }

func (r *RoundRobin) Pick(servers []string) (string, error) {
	if len(servers) == 0 {
		return "", ErrNotFound
	}
	return servers[(r.n.Add(1)-1)%uint64(len(servers))], nil
}

// Cluster calls the functions of a slacker cluster: it finds the servers
// of a namespace in ZooKeeper, where servers register what they serve
// (see package cluster), and spreads the calls over them with its Picker.
// It implements [Caller], like [Client], so code calls one server or a
// cluster the same way.
//
// The first call into a namespace looks its servers up; a ZooKeeper watch
// keeps the list current from then on, through lost connections (the
// last list stays) and new sessions. One connection per server is shared
// by every namespace. A namespace no server serves is [ErrNotFound] at
// once. A call that could not be sent to the server picked (it can't be
// reached, or the client is reconnecting to it) is sent to another, and
// so is a call the server answered not-found, as a server that stopped
// serving the namespace does until its registration is gone; a call that
// may have run is never sent twice.
type Cluster struct {
	cfg     ClusterConfig
	picker  Picker
	timeout time.Duration // of a first look-up without a deadline
	log     *slog.Logger
	zk      *zk.Conn
	ctx     context.Context // of the dials; cancelled by Close
	cancel  context.CancelFunc
	done    chan struct{} // closed by Close
	wg      sync.WaitGroup
	once    sync.Once

	mu      sync.Mutex
	closed  bool
	lookups map[string]*lookup     // by namespace
	clients map[string]*serverConn // by server address
}

// lookup is the servers of one namespace, kept current by a watch.
type lookup struct {
	ready   chan struct{} // closed once the first list is in
	servers atomic.Pointer[[]string]
}

// serverConn is the connection to one server, made once.
type serverConn struct {
	ready chan struct{} // closed once c or err is set
	c     *Client
	err   error
}

// NewCluster connects to ZooKeeper, waiting for a session as long as ctx
// allows.
func NewCluster(ctx context.Context, cfg ClusterConfig) (*Cluster, error) {
	switch {
	case len(cfg.ZooKeeper) == 0:
		return nil, errors.New("client: ClusterConfig.ZooKeeper names no server")
	case cfg.SessionTimeout < 0:
		return nil, fmt.Errorf("client: ClusterConfig.SessionTimeout %v is negative", cfg.SessionTimeout)
	}
	if err := cfg.Layout.Check(); err != nil {
		return nil, fmt.Errorf("client: ClusterConfig: %w", err)
	}
	if err := cfg.Client.validate(); err != nil {
		return nil, err
	}
	if cfg.SessionTimeout == 0 {
		cfg.SessionTimeout = cluster.DefaultSessionTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Cluster{
		cfg:     cfg,
		picker:  cfg.Picker,
		log:     cfg.Logger,
		done:    make(chan struct{}),
		lookups: make(map[string]*lookup),
		clients: make(map[string]*serverConn),
	}
	if c.picker == nil {
		c.picker = Random{}
	}
	c.timeout = cfg.Client.withDefaults().Timeout
	c.ctx, c.cancel = context.WithCancel(context.Background())
	conn, events, err := zk.Connect(cfg.ZooKeeper, cfg.SessionTimeout, zk.WithLogger(cluster.ZooKeeperLogger(c.log)))
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	c.zk = conn
	for conn.State() != zk.StateHasSession {
		select {
		case <-events:
		case <-ctx.Done():
			conn.Close()
			return nil, fmt.Errorf("client: connecting to ZooKeeper %s: %w", strings.Join(cfg.ZooKeeper, ","), ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	// The session's events are not needed past this point; the client
	// drops them when nobody reads.
	return c, nil
}

// Call calls the function name, "namespace/function", on a server of its
// namespace, as [Client.Call] does.
func (c *Cluster) Call(ctx context.Context, name string, args ...any) (Result, error) {
	ns, _, ok := strings.Cut(name, "/")
	if !ok || ns == "" {
		return Result{}, fmt.Errorf("client: %q: want namespace/function", name)
	}
	servers, err := c.Servers(ctx, ns)
	if err != nil {
		return Result{}, err
	}
	var last error
	for len(servers) > 0 {
		addr, err := c.picker.Pick(servers)
		if err != nil {
			return Result{}, fmt.Errorf("client: %s: %w", name, err)
		}
		servers = slices.DeleteFunc(slices.Clone(servers), func(s string) bool { return s == addr })
		cl, err := c.client(ctx, addr)
		if err == nil {
			var res Result
			if res, err = cl.Call(ctx, name, args...); err == nil {
				return res, nil
			}
		}
		// Not sent, or not served there: another server may do.
		if !errors.Is(err, ErrNotSent) && !errors.Is(err, ErrNotFound) {
			return Result{}, err
		}
		if ctx.Err() != nil {
			return Result{}, err
		}
		last = err
	}
	if last != nil {
		return Result{}, last
	}
	return Result{}, fmt.Errorf("client: %s: no server serves %s: %w", name, ns, ErrNotFound)
}

// Servers returns the addresses of the servers of the namespace ns,
// sorted, looking them up if this is the first call about ns. The first
// look-up waits as long as ctx allows, and no longer than
// ClusterConfig.Client.Timeout when ctx has no deadline.
func (c *Cluster) Servers(ctx context.Context, ns string) ([]string, error) {
	if err := cluster.CheckNamespace(ns); err != nil {
		return nil, fmt.Errorf("client: %w: %w", ErrNotFound, err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	l := c.lookups[ns]
	if l == nil {
		l = &lookup{ready: make(chan struct{})}
		c.lookups[ns] = l
		c.wg.Add(1)
		go c.watch(ns, l)
	}
	c.mu.Unlock()
	select {
	case <-l.ready:
	case <-ctx.Done():
		return nil, fmt.Errorf("client: looking %s up in ZooKeeper: %w", ns, ctx.Err())
	case <-c.done:
		return nil, ErrClosed
	}
	return slices.Clone(*l.servers.Load()), nil
}

// watch keeps l current with the servers of ns until Close.
func (c *Cluster) watch(ns string, l *lookup) {
	defer c.wg.Done()
	p := c.cfg.Layout.Namespace(ns)
	backoff := 50 * time.Millisecond
	var first sync.Once
	for {
		kids, ch, err := c.children(p)
		if errors.Is(err, zk.ErrInvalidPath) || errors.Is(err, zk.ErrBadArguments) {
			// No node can have that path: no server serves ns.
			none := []string{}
			l.servers.Store(&none)
			first.Do(func() { close(l.ready) })
			return
		}
		if err != nil {
			// ZooKeeper can't be asked: the last list stays.
			c.log.Debug("looking up a namespace", "namespace", ns, "err", err)
			select {
			case <-c.done:
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		servers := slices.DeleteFunc(kids, func(s string) bool { return strings.HasPrefix(s, "_") })
		slices.Sort(servers)
		if old := l.servers.Load(); old == nil || !slices.Equal(*old, servers) {
			c.log.Debug("servers of a namespace", "namespace", ns, "servers", servers)
		}
		l.servers.Store(&servers)
		first.Do(func() { close(l.ready) })
		select {
		case <-ch: // a change, or the watch lost with the session: look again
		case <-c.done:
			return
		}
	}
}

// children lists the children of p and watches them; when p is missing,
// none, watching for p to be made.
func (c *Cluster) children(p string) ([]string, <-chan zk.Event, error) {
	kids, _, ch, err := c.zk.ChildrenW(p)
	if errors.Is(err, zk.ErrNoNode) {
		var ok bool
		ok, _, ch, err = c.zk.ExistsW(p)
		if err == nil && ok {
			return c.children(p) // made meanwhile
		}
		return nil, ch, err
	}
	return kids, ch, err
}

// errDial marks the errors of connecting to a server: the call was not
// sent.
var errDial error = notSent("client: cannot connect")

// client returns the connection to the server at addr, making it if need
// be, as long as ctx allows. The connection is made once, for every call
// that waits for it; one that failed is made again at the next call.
func (c *Cluster) client(ctx context.Context, addr string) (*Client, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	d := c.clients[addr]
	if d == nil {
		d = &serverConn{ready: make(chan struct{})}
		c.clients[addr] = d
		c.wg.Add(1)
		go c.dial(addr, d)
	}
	c.mu.Unlock()
	select {
	case <-d.ready:
		return d.c, d.err
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.done:
		return nil, ErrClosed
	}
}

// dial connects d to the server at addr, until Close.
func (c *Cluster) dial(addr string, d *serverConn) {
	defer c.wg.Done()
	d.c, d.err = Dial(c.ctx, addr, c.cfg.Client)
	if d.err != nil {
		d.err = fmt.Errorf("%w to %s: %w", errDial, addr, d.err)
		c.mu.Lock()
		if c.clients[addr] == d {
			delete(c.clients, addr)
		}
		c.mu.Unlock()
	}
	close(d.ready)
}

// Close closes the connections to the servers and the ZooKeeper session,
// and stops the watches. Calls waiting fail with ErrClosed. Close may be
// called more than once.
func (c *Cluster) Close() error {
	c.once.Do(func() {
		c.mu.Lock()
		c.closed = true
		clients := maps.Clone(c.clients)
		c.mu.Unlock()
		close(c.done)
		c.cancel()   // ends the dials
		c.zk.Close() // ends the requests the watches wait for
		c.wg.Wait()
		for _, d := range clients {
			<-d.ready
			if d.c != nil {
				d.c.Close()
			}
		}
	})
	return nil
}
