package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/slacker-lua/slacker-lua/client"
)

// ClientConfig configures a [Client]. ZooKeeper and Layout.Cluster are
// required; the other fields' zero values work.
type ClientConfig struct {
	// ZooKeeper lists the ensemble's servers, host:port. Required.
	ZooKeeper []string
	// Layout says where the cluster's nodes are: its Cluster is required,
	// and Root "" means DefaultRoot.
	Layout Layout
	// Client configures the connection to each server; its zero value
	// works (see client.Config).
	Client client.Config
	// Picker chooses the server of each call. nil means Random.
	Picker Picker
	// SessionTimeout is the ZooKeeper session's. 0 means
	// DefaultSessionTimeout.
	SessionTimeout time.Duration
	// Logger receives what happens to the session and the servers; the
	// loss and return of the connection to ZooKeeper at debug level, as the
	// calls go on meanwhile with the servers known. nil discards it.
	Logger *slog.Logger
	// Interceptors wrap every call made with Call (or through With), the
	// first outermost, once for all the servers it is tried on. Those of
	// Client see each server's try (see [client.Interceptor]). nil means
	// none.
	Interceptors []client.Interceptor
}

// Validate reports every invalid field of c; NewClient calls it.
func (c ClientConfig) Validate() error {
	var errs []error
	if len(c.ZooKeeper) == 0 {
		errs = append(errs, errors.New("cluster: ClientConfig.ZooKeeper names no server"))
	}
	if c.SessionTimeout < 0 {
		errs = append(errs, fmt.Errorf("cluster: ClientConfig.SessionTimeout %v is negative", c.SessionTimeout))
	}
	if err := c.Layout.Check(); err != nil {
		errs = append(errs, fmt.Errorf("cluster: ClientConfig: %w", err))
	}
	if err := c.Client.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("cluster: ClientConfig.Client: %w", err))
	}
	if slices.ContainsFunc(c.Interceptors, func(ic client.Interceptor) bool { return ic == nil }) {
		errs = append(errs, errors.New("cluster: nil interceptor in ClientConfig.Interceptors"))
	}
	return errors.Join(errs...)
}

// withDefaults returns c with its zero fields set to their defaults.
func (c ClientConfig) withDefaults() ClientConfig {
	if c.Picker == nil {
		c.Picker = Random{}
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = DefaultSessionTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Interceptors = slices.Clone(c.Interceptors)
	return c
}

// Client calls the functions of a slacker cluster: it finds the servers
// of a namespace in ZooKeeper, where servers register what they serve
// (see [Member]), and spreads the calls over them with its Picker. It
// implements [client.Caller], like [client.Client], so code calls one
// server or a cluster the same way.
//
// The first call into a namespace looks its servers up; ZooKeeper watches
// keep what the client knows current from then on, through lost
// connections (the last list stays) and new sessions. One connection per
// server is shared by every namespace, and closed once no namespace lists
// the server. A namespace no server serves is [client.ErrNotFound] at
// once.
//
// A stateful namespace's calls all go to its leader. When the leader
// can't be reached, a call waits, within its deadline, for the next one
// to be elected.
//
// A call goes only to servers whose published functions include its
// function; when none has it, it is client.ErrNotFound at once. A call
// that was not sent to the server picked ([client.ErrNotSent]: it can't
// be reached, or the client is reconnecting to it) is sent to another,
// and so is a call the server answered not-found, as a server that
// stopped serving the namespace does until its registration is gone. A
// call of an idempotent namespace is sent to another server after any
// failure of the connection or a full queue. A stateful namespace's call
// is sent so to its leader again, after a pause, or to the next leader
// once there is one. Any other call that may have run is never sent
// twice, and no call is sent past its deadline: ctx's, or
// ClientConfig.Client.Timeout from the call's start. The error of a call
// that failed on a server wraps a [*client.ServerError] naming it.
type Client struct {
	cfg     ClientConfig
	calls   client.CallFunc // of Call: c.call with cfg.Picker, through cfg.Interceptors
	timeout time.Duration   // of a call without a deadline
	log     *slog.Logger
	disc    discovery
	ctx     context.Context // of the dials; cancelled by Close
	cancel  context.CancelFunc
	done    chan struct{}  // closed by Close
	wg      sync.WaitGroup // the sweep and the dials
	once    sync.Once

	mu      sync.Mutex
	closed  bool
	lookups map[string]*lookup // by namespace
	peers   map[string]*peer   // by server address
}

// NewClient connects to ZooKeeper, waiting for a session as long as ctx
// allows.
func NewClient(ctx context.Context, cfg ClientConfig) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	d, err := dialDiscovery(ctx, cfg.ZooKeeper, cfg.Layout, cfg.SessionTimeout, cfg.Logger)
	if err != nil {
		return nil, err
	}
	return newClient(cfg, d), nil
}

// newClient returns a client of the servers d finds; cfg has its
// defaults.
func newClient(cfg ClientConfig, d discovery) *Client {
	c := &Client{
		cfg:     cfg,
		timeout: cfg.Client.Timeout,
		log:     cfg.Logger,
		disc:    d,
		done:    make(chan struct{}),
		lookups: make(map[string]*lookup),
		peers:   make(map[string]*peer),
	}
	if c.timeout == 0 {
		c.timeout = client.DefaultTimeout
	}
	c.calls = c.callsWith(cfg.Picker)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.wg.Add(1)
	go c.sweep()
	return c
}

// Call calls the function name, "namespace/function", on a server of its
// namespace that the client's Picker chooses, as [client.Client.Call]
// does.
func (c *Client) Call(ctx context.Context, name string, args ...any) (client.Result, error) {
	ctx, cancel := c.bound(ctx)
	defer cancel()
	return c.calls(ctx, name, args)
}

// With returns a Caller that calls the cluster's servers as c does, but
// chooses them with p, such as [Address] to call one server.
func (c *Client) With(p Picker) client.Caller { return &picked{c, c.callsWith(p)} }

type picked struct {
	c     *Client
	calls client.CallFunc
}

func (p *picked) Call(ctx context.Context, name string, args ...any) (client.Result, error) {
	ctx, cancel := p.c.bound(ctx)
	defer cancel()
	return p.calls(ctx, name, args)
}

// callsWith returns the CallFunc of calls whose servers p picks, through
// the interceptors.
func (c *Client) callsWith(p Picker) client.CallFunc {
	return client.Chain(func(ctx context.Context, name string, args []any) (client.Result, error) {
		return c.call(ctx, p, name, args)
	}, c.cfg.Interceptors)
}

// bound gives ctx a deadline, ClientConfig.Client.Timeout from now, if
// it has none.
func (c *Client) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, c.timeout)
}

// Servers returns the servers of the namespace ns, sorted by address,
// looking them up if this is the first call about ns. The first look-up
// waits as long as ctx allows, and no longer than
// ClientConfig.Client.Timeout when ctx has no deadline.
func (c *Client) Servers(ctx context.Context, ns string) ([]Server, error) {
	ctx, cancel := c.bound(ctx)
	defer cancel()
	l, err := c.lookup(ctx, ns)
	if err != nil {
		return nil, err
	}
	return slices.Clone(l.state.Load().servers), nil
}

// Namespaces returns the namespaces registered in the cluster, sorted:
// every one ever served, whether or not a server serves it now. It waits
// for ZooKeeper as long as ctx allows, and no longer than
// ClientConfig.Client.Timeout when ctx has no deadline.
func (c *Client) Namespaces(ctx context.Context) ([]string, error) {
	ctx, cancel := c.bound(ctx)
	defer cancel()
	if c.isClosed() {
		return nil, client.ErrClosed
	}
	return c.disc.list(ctx, namespacesNode)
}

// ServerAddrs returns the addresses of the servers registered in the
// cluster, sorted: those with a server node, whether or not they serve a
// namespace now. It waits as Namespaces does.
func (c *Client) ServerAddrs(ctx context.Context) ([]string, error) {
	ctx, cancel := c.bound(ctx)
	defer cancel()
	if c.isClosed() {
		return nil, client.ErrClosed
	}
	return c.disc.list(ctx, serversNode)
}

// Clusters lists the clusters registered under the client's root, its
// own among them if it has servers, sorted; it waits as Namespaces does.
func (c *Client) Clusters(ctx context.Context) ([]string, error) {
	ctx, cancel := c.bound(ctx)
	defer cancel()
	if c.isClosed() {
		return nil, client.ErrClosed
	}
	return c.disc.list(ctx, clustersNode)
}

func (c *Client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// ServerData reads the data the server at addr publishes in ZooKeeper
// (slacker-lua's JSON or slacker cluster's EDN, see [ParseServerData]),
// now, as long as ctx allows, and no longer than
// ClientConfig.Client.Timeout when ctx has no deadline. ok is false when
// the server has no node.
func (c *Client) ServerData(ctx context.Context, addr string) (d ServerData, ok bool, err error) {
	ctx, cancel := c.bound(ctx)
	defer cancel()
	if c.isClosed() {
		return ServerData{}, false, client.ErrClosed
	}
	sd, err := c.disc.serverData(ctx, addr)
	if err != nil || sd == nil {
		return ServerData{}, false, err
	}
	return *sd, true, nil
}

// Close closes the connections to the servers and the ZooKeeper session,
// and stops the watches. Calls waiting fail with client.ErrClosed. Close
// may be called more than once.
func (c *Client) Close() error {
	c.once.Do(func() {
		c.mu.Lock()
		c.closed = true
		peers := maps.Clone(c.peers)
		c.mu.Unlock()
		close(c.done)
		c.cancel()     // ends the dials
		c.disc.close() // ends the watches
		c.wg.Wait()
		for _, p := range peers {
			p.mu.Lock()
			d := p.conn
			p.mu.Unlock()
			if d != nil && d.c != nil {
				d.c.Close()
			}
		}
	})
	return nil
}
