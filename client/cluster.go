package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
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
	// Interceptors wrap every call made with Call (or through With), the
	// first outermost, once for all the servers it is tried on. Those of
	// Client see each server's try (see [Interceptor]).
	Interceptors []Interceptor
}

// Cluster calls the functions of a slacker cluster: it finds the servers
// of a namespace in ZooKeeper, where servers register what they serve
// (see package cluster), and spreads the calls over them with its Picker.
// It implements [Caller], like [Client], so code calls one server or a
// cluster the same way.
//
// The first call into a namespace looks its servers up; ZooKeeper watches
// keep what the client knows current from then on, through lost
// connections (the last list stays) and new sessions. One connection per
// server is shared by every namespace, and closed once no namespace lists
// the server. A namespace no server serves is [ErrNotFound] at once.
//
// A stateful namespace's calls all go to its leader. When the leader
// can't be reached, a call waits, within its deadline, for the next one
// to be elected.
//
// A call goes only to servers whose published functions include its
// function; when none has it, it is ErrNotFound at once. A call that was
// not sent to the server picked ([ErrNotSent]: it can't be reached, or
// the client is reconnecting to it) is sent to another, and so is a call
// the server answered not-found, as a server that stopped serving the
// namespace does until its registration is gone. A call of an idempotent
// namespace is sent to another server after any failure of the
// connection or a full queue. A stateful namespace's call is sent so to
// its leader again, after a pause, or to the next leader once there is
// one. Any other call that may have run is never sent twice, and no call
// is sent past its deadline: ctx's, or ClusterConfig.Client.Timeout from
// the call's start. The error of a call that failed on a server wraps a
// [*ServerError] naming it.
type Cluster struct {
	cfg     ClusterConfig
	picker  Picker
	calls   CallFunc      // of Call: c.call with picker, through cfg.Interceptors
	timeout time.Duration // of a call without a deadline
	log     *slog.Logger
	zk      atomic.Pointer[zk.Conn] // replaced by renew
	ctx     context.Context         // of the dials; cancelled by Close
	cancel  context.CancelFunc
	done    chan struct{} // closed by Close
	wg      sync.WaitGroup
	once    sync.Once

	mu      sync.Mutex
	closed  bool
	lookups map[string]*lookup // by namespace
	peers   map[string]*peer   // by server address
}

// peer is a server the client knows of: its data, the calls in flight to
// it, and its connection, made at the first call.
type peer struct {
	addr     string
	data     atomic.Pointer[cluster.ServerData]
	inFlight atomic.Int64
	gone     chan struct{} // closed when the client forgets the server
	used     time.Time     // when it was last looked for, under Cluster.mu

	mu   sync.Mutex
	conn *serverConn // nil until the first call, and after a failed dial
}

// serverConn is one attempt to connect to a server.
type serverConn struct {
	ready chan struct{} // closed once c or err is set
	c     *Client
	err   error
}

// sweepEvery is how often a cluster client closes the connections of
// servers no namespace lists, and forgets the namespaces not asked for in
// forgetAfter: their watches stop, and the next call looks them up again.
const (
	sweepEvery  = 10 * time.Second
	forgetAfter = 5 * time.Minute
)

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
	if err := (Config{Interceptors: cfg.Interceptors}).validate(); err != nil {
		return nil, err
	}
	if cfg.SessionTimeout == 0 {
		cfg.SessionTimeout = cluster.DefaultSessionTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Interceptors = slices.Clone(cfg.Interceptors)
	c := &Cluster{
		cfg:     cfg,
		picker:  cfg.Picker,
		log:     cfg.Logger,
		done:    make(chan struct{}),
		lookups: make(map[string]*lookup),
		peers:   make(map[string]*peer),
	}
	if c.picker == nil {
		c.picker = Random{}
	}
	c.calls = c.callsWith(c.picker)
	c.timeout = cfg.Client.withDefaults().Timeout
	c.ctx, c.cancel = context.WithCancel(context.Background())
	conn, events, err := zk.Connect(cfg.ZooKeeper, cfg.SessionTimeout, zk.WithLogger(cluster.ZooKeeperLogger(c.log)))
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	c.zk.Store(conn)
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
	c.wg.Add(2)
	go c.sweep()
	go c.renew()
	return c, nil
}

// zkConn returns the connection to ZooKeeper.
func (c *Cluster) zkConn() *zk.Conn { return c.zk.Load() }

// renew replaces the connection to ZooKeeper, until Close, once it has
// had no session for longer than the session timeout, as
// cluster.RenewSession says.
func (c *Cluster) renew() {
	defer c.wg.Done()
	var lost time.Time
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
		case <-c.done:
			return
		}
		old := c.zkConn()
		if !cluster.RenewSession(old, &lost, c.cfg.SessionTimeout) {
			continue
		}
		conn, _, err := zk.Connect(c.cfg.ZooKeeper, c.cfg.SessionTimeout, zk.WithLogger(cluster.ZooKeeperLogger(c.log)))
		if err != nil {
			c.log.Warn("cannot connect to ZooKeeper again", "err", err)
			continue
		}
		c.log.Info("no ZooKeeper session for longer than its timeout; connecting again")
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			conn.Close()
			return
		}
		c.zk.Store(conn)
		c.mu.Unlock()
		old.Close() // fires its watches, which are set again on conn
	}
}

// Call calls the function name, "namespace/function", on a server of its
// namespace that the cluster's Picker chooses, as [Client.Call] does.
func (c *Cluster) Call(ctx context.Context, name string, args ...any) (Result, error) {
	ctx, cancel := c.bound(ctx)
	defer cancel()
	return c.calls(ctx, name, args)
}

// With returns a Caller that calls the cluster's servers as c does, but
// chooses them with p, such as [Address] to call one server.
func (c *Cluster) With(p Picker) Caller { return &picked{c, c.callsWith(p)} }

type picked struct {
	c     *Cluster
	calls CallFunc
}

func (p *picked) Call(ctx context.Context, name string, args ...any) (Result, error) {
	ctx, cancel := p.c.bound(ctx)
	defer cancel()
	return p.calls(ctx, name, args)
}

// callsWith returns the CallFunc of calls whose servers p picks, through
// the interceptors.
func (c *Cluster) callsWith(p Picker) CallFunc {
	call := func(ctx context.Context, name string, args []any) (Result, error) {
		return c.call(ctx, p, name, args)
	}
	if ic := chain(call, c.cfg.Interceptors); ic != nil {
		return ic
	}
	return call
}

// call makes a call of Call. Its ctx has a deadline, unless an
// interceptor dropped it.
func (c *Cluster) call(ctx context.Context, picker Picker, name string, args []any) (Result, error) {
	ctx, cancel := c.bound(ctx)
	defer cancel()
	ns, l, err := c.lookupOf(ctx, name)
	if err != nil {
		return Result{}, err
	}
	fn := name[len(ns)+1:]
	var tried []string
	var last error
	backoff := 10 * time.Millisecond
	for {
		changed := l.next()
		st := l.state.Load()
		var s Server
		if st.stateful {
			if st.leader == nil {
				// No server leads it yet: wait for one.
				if err := c.await(ctx, changed, nil); err != nil {
					return Result{}, gaveUp(name, last, fmt.Errorf("no server leads %s: %w", ns, err))
				}
				continue
			}
			if s = *st.leader; !s.serves(fn) {
				return Result{}, fmt.Errorf("client: %s: %s has no function %s: %w", name, ns, fn, ErrNotFound)
			}
		} else {
			servers := st.servers
			skip := func(s Server) bool { return slices.Contains(tried, s.Addr) || !s.serves(fn) }
			if slices.ContainsFunc(servers, skip) { // else all will do, as they are
				servers = slices.DeleteFunc(slices.Clone(servers), skip)
			}
			switch {
			case len(servers) > 0:
			case last != nil:
				return Result{}, last
			case len(st.servers) > 0:
				return Result{}, fmt.Errorf("client: %s: %s has no function %s: %w", name, ns, fn, ErrNotFound)
			default:
				return Result{}, fmt.Errorf("client: %s: no server serves %s: %w", name, ns, ErrNotFound)
			}
			if s, err = picker.Pick(servers); err != nil {
				if last != nil {
					return Result{}, last // what went wrong with the server picked before
				}
				return Result{}, fmt.Errorf("client: %s: %w", name, err)
			}
			tried = append(tried, s.Addr)
		}
		res, err := c.callAt(ctx, s.Addr, name, args)
		if err == nil {
			return res, nil
		}
		if !retryable(err, s) || ctx.Err() != nil {
			return Result{}, err
		}
		last = err
		if st.stateful {
			// The leader again, once it is back (after a pause), or
			// the next one (at once).
			t := time.NewTimer(backoff)
			backoff = min(2*backoff, 500*time.Millisecond)
			err := c.await(ctx, changed, t.C)
			t.Stop()
			if err != nil {
				return Result{}, gaveUp(name, last, err)
			}
		}
	}
}

// await waits for changed or wake, and fails when ctx is done or the
// client closed first.
func (c *Cluster) await(ctx context.Context, changed <-chan struct{}, wake <-chan time.Time) error {
	select {
	case <-changed:
	case <-wake:
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return ErrClosed
	}
	return nil
}

// gaveUp is the error of a call that ran out of time, or of a client
// closed, while it waited to be made again: it matches both why it
// waited, the error last, if any, and why it stopped, err.
func gaveUp(name string, last, err error) error {
	if last == nil {
		return fmt.Errorf("client: %s: %w", name, err)
	}
	return fmt.Errorf("client: %s: %w, after %w", name, err, last)
}

// retryable reports whether a call to s that failed with err may be made
// again: it did not run, or its namespace is idempotent and the failure
// was the connection's or the server's queue.
func retryable(err error, s Server) bool {
	switch {
	case errors.Is(err, ErrNotSent), errors.Is(err, ErrNotFound):
		return true
	case s.Namespace.Idempotent:
		return errors.Is(err, ErrConnLost) || errors.Is(err, ErrThreadPoolFull)
	}
	return false
}

// callAt calls name on the server at addr. Its errors are *ServerError,
// but for ErrClosed: the cluster client's own.
func (c *Cluster) callAt(ctx context.Context, addr, name string, args []any) (Result, error) {
	p, err := c.acquire(addr)
	if err != nil {
		return Result{}, onServer(addr, err)
	}
	defer p.inFlight.Add(-1)
	cl, err := c.connect(ctx, p)
	if err == nil {
		var res Result
		if res, err = cl.Call(ctx, name, args...); err == nil {
			return res, nil
		}
	}
	return Result{}, onServer(addr, err)
}

// onServer returns err, of a call on the server at addr, as a
// *ServerError, unless it is ErrClosed.
func onServer(addr string, err error) error {
	if errors.Is(err, ErrClosed) {
		return err
	}
	return &ServerError{Addr: addr, Err: err}
}

// AllPolicy says when [Cluster.CallAll] fails.
type AllPolicy int

const (
	FailIfAny AllPolicy = iota // fail if any server fails
	FailIfAll                  // fail only if every server fails
)

// Answer is one server's answer to [Cluster.CallAll]: its result or its
// error.
type Answer struct {
	Addr   string
	Result Result
	Err    error
}

// Answers are the answers of every server to [Cluster.CallAll], sorted by
// address.
type Answers []Answer

// Map returns the answers by address.
func (a Answers) Map() map[string]Answer {
	m := make(map[string]Answer, len(a))
	for _, x := range a {
		m[x.Addr] = x
	}
	return m
}

// CallAll calls name on every server of its namespace at once (a
// broadcast), stateful or not, and returns every answer. The error, under
// policy, joins the failures, each naming its server; the answers are
// returned either way. A namespace no server serves is ErrNotFound. No
// call is made twice.
func (c *Cluster) CallAll(ctx context.Context, policy AllPolicy, name string, args ...any) (Answers, error) {
	ctx, cancel := c.bound(ctx)
	defer cancel()
	ns, l, err := c.lookupOf(ctx, name)
	if err != nil {
		return nil, err
	}
	servers := l.state.Load().servers
	if len(servers) == 0 {
		return nil, fmt.Errorf("client: %s: no server serves %s: %w", name, ns, ErrNotFound)
	}
	answers := make(Answers, len(servers))
	var wg sync.WaitGroup
	for i, s := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := c.callAt(ctx, s.Addr, name, args)
			answers[i] = Answer{Addr: s.Addr, Result: res, Err: err}
		}()
	}
	wg.Wait()
	var errs []error
	for _, a := range answers {
		if a.Err != nil {
			errs = append(errs, a.Err) // naming its server
		}
	}
	if len(errs) > 0 && (policy == FailIfAny || len(errs) == len(answers)) {
		return answers, fmt.Errorf("client: %s on %d of %d servers: %w", name, len(errs), len(answers), errors.Join(errs...))
	}
	return answers, nil
}

// Servers returns the servers of the namespace ns, sorted by address,
// looking them up if this is the first call about ns. The first look-up
// waits as long as ctx allows, and no longer than
// ClusterConfig.Client.Timeout when ctx has no deadline.
func (c *Cluster) Servers(ctx context.Context, ns string) ([]Server, error) {
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
// ClusterConfig.Client.Timeout when ctx has no deadline.
func (c *Cluster) Namespaces(ctx context.Context) ([]string, error) {
	ctx, cancel := c.bound(ctx)
	defer cancel()
	type answer struct {
		kids []string
		err  error
	}
	ch := make(chan answer, 1)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	c.wg.Add(1)
	c.mu.Unlock()
	go func() { // the ZooKeeper client takes no ctx; Close ends its requests
		defer c.wg.Done()
		kids, _, err := c.zkConn().Children(c.cfg.Layout.Namespaces())
		ch <- answer{kids, err}
	}()
	select {
	case a := <-ch:
		switch {
		case errors.Is(a.err, zk.ErrNoNode):
			return []string{}, nil
		case a.err != nil:
			return nil, fmt.Errorf("client: listing the namespaces: %w", a.err)
		}
		slices.Sort(a.kids)
		return a.kids, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("client: listing the namespaces: %w", ctx.Err())
	case <-c.done:
		return nil, ErrClosed
	}
}

// bound gives ctx a deadline, ClusterConfig.Client.Timeout from now, if
// it has none.
func (c *Cluster) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, c.timeout)
}

// lookupOf returns the namespace of the function name and its lookup.
func (c *Cluster) lookupOf(ctx context.Context, name string) (string, *lookup, error) {
	ns, _, ok := strings.Cut(name, "/")
	if !ok || ns == "" {
		return "", nil, fmt.Errorf("client: %q: want namespace/function: %w", name, ErrNotFound)
	}
	l, err := c.lookup(ctx, ns)
	return ns, l, err
}

// lookup returns the lookup of ns, starting it if need be, once it has a
// first state.
func (c *Cluster) lookup(ctx context.Context, ns string) (*lookup, error) {
	if err := cluster.CheckNamespace(ns); err != nil {
		return nil, fmt.Errorf("client: %w: %w", ErrNotFound, err)
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	l := c.lookups[ns]
	if l == nil {
		l = newLookup()
		c.lookups[ns] = l
		c.wg.Add(1)
		go c.watch(ns, l)
	} else {
		l.used.Store(time.Now().UnixNano())
	}
	c.mu.Unlock()
	select {
	case <-l.ready:
		return l, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("client: looking %s up in ZooKeeper: %w", ns, ctx.Err())
	case <-c.done:
		return nil, ErrClosed
	}
}

// peer returns the server at addr, as the client knows it, starting to
// watch its data if it is new.
func (c *Cluster) peer(addr string) (*peer, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.peerLocked(addr)
}

// acquire is peer for a call, counted in flight until the caller is done
// with it: sweep forgets no server with a call in flight.
func (c *Cluster) acquire(addr string) (*peer, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, err := c.peerLocked(addr)
	if err == nil {
		p.inFlight.Add(1)
	}
	return p, err
}

func (c *Cluster) peerLocked(addr string) (*peer, error) {
	if c.closed {
		return nil, ErrClosed
	}
	p := c.peers[addr]
	if p == nil {
		p = &peer{addr: addr, gone: make(chan struct{})}
		c.peers[addr] = p
		c.wg.Add(1)
		go c.watchPeer(p)
	}
	p.used = time.Now()
	return p, nil
}

// watchPeer keeps p's data current until the client forgets p or closes.
func (c *Cluster) watchPeer(p *peer) {
	defer c.wg.Done()
	node := c.cfg.Layout.Server(p.addr)
	backoff := 50 * time.Millisecond
	for {
		b, _, ch, err := c.zkConn().GetW(node)
		switch {
		case errors.Is(err, zk.ErrNoNode):
			p.data.Store(nil)
			var ok bool
			if ok, _, ch, err = c.zkConn().ExistsW(node); err == nil && ok {
				continue // made meanwhile
			}
		case err == nil:
			if d, err := cluster.ParseServerData(b); err != nil {
				c.log.Warn("bad server data", "server", p.addr, "err", err)
			} else {
				p.data.Store(&d)
			}
		}
		if err != nil {
			select {
			case <-time.After(backoff):
				backoff = min(2*backoff, time.Second)
				continue
			case <-p.gone:
				return
			case <-c.done:
				return
			}
		}
		backoff = 50 * time.Millisecond
		select {
		case <-ch:
		case <-p.gone:
			return
		case <-c.done:
			return
		}
	}
}

// errDial marks the errors of connecting to a server: the call was not
// sent.
var errDial error = notSent("client: cannot connect")

// connect returns the connection to p, making it if need be, as long as
// ctx allows. The connection is made once, for every call that waits for
// it; one that failed is made again at the next call.
func (c *Cluster) connect(ctx context.Context, p *peer) (*Client, error) {
	c.mu.Lock() // Close waits for the dials, which must not start after it
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	p.mu.Lock()
	d := p.conn
	if d == nil {
		d = &serverConn{ready: make(chan struct{})}
		p.conn = d
		c.wg.Add(1)
		go c.dial(p, d)
	}
	p.mu.Unlock()
	c.mu.Unlock()
	select {
	case <-d.ready:
		return d.c, d.err
	case <-ctx.Done():
		return nil, fmt.Errorf("client: connecting: %w", ctx.Err()) // callAt names the server
	case <-c.done:
		return nil, ErrClosed
	}
}

// dial connects d to p, until the client forgets p or closes.
func (c *Cluster) dial(p *peer, d *serverConn) {
	defer c.wg.Done()
	ctx, cancel := context.WithCancel(c.ctx)
	go func() { // ends with the dial
		select {
		case <-p.gone:
			cancel()
		case <-ctx.Done():
		}
	}()
	d.c, d.err = Dial(ctx, p.addr, c.cfg.Client)
	cancel()
	if d.err != nil {
		d.err = fmt.Errorf("%w: %w", errDial, d.err) // callAt names the server
		p.mu.Lock()
		if p.conn == d {
			p.conn = nil
		}
		p.mu.Unlock()
	}
	close(d.ready)
}

// sweep forgets, every sweepEvery until Close, the namespaces not asked
// for in forgetAfter, and the servers that no namespace lists and that
// have no call in flight, closing their connections.
func (c *Cluster) sweep() {
	defer c.wg.Done()
	tick := time.NewTicker(sweepEvery)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
		case <-c.done:
			return
		}
		c.mu.Lock()
		listed := make(map[string]bool)
		for ns, l := range c.lookups {
			if time.Since(time.Unix(0, l.used.Load())) > forgetAfter {
				delete(c.lookups, ns)
				close(l.stop)
				continue
			}
			if st := l.state.Load(); st != nil {
				for _, s := range st.servers {
					listed[s.Addr] = true
				}
			}
		}
		var gone []*peer
		for addr, p := range c.peers {
			// One looked for lately may be in a state about to be
			// published, or have a call about to be counted.
			if !listed[addr] && p.inFlight.Load() == 0 && time.Since(p.used) > sweepEvery {
				delete(c.peers, addr)
				gone = append(gone, p)
			}
		}
		c.mu.Unlock()
		for _, p := range gone {
			c.forget(p)
		}
	}
}

// forget stops p's watch and dial, and closes its connection.
func (c *Cluster) forget(p *peer) {
	close(p.gone)
	p.mu.Lock()
	d := p.conn
	p.mu.Unlock()
	if d == nil {
		return
	}
	<-d.ready
	if d.c != nil {
		c.log.Debug("closing the connection to a server no namespace lists", "server", p.addr)
		d.c.Close()
	}
}

// Close closes the connections to the servers and the ZooKeeper session,
// and stops the watches. Calls waiting fail with ErrClosed. Close may be
// called more than once.
func (c *Cluster) Close() error {
	c.once.Do(func() {
		c.mu.Lock()
		c.closed = true
		peers := maps.Clone(c.peers)
		c.mu.Unlock()
		close(c.done)
		c.cancel()         // ends the dials
		c.zkConn().Close() // ends the requests the watches wait for
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
