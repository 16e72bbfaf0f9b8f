package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/slacker-lua/slacker-lua/client"
)

// discovery is where a [Client] learns of the servers of the namespaces:
// ZooKeeper (zkDiscovery), or a fake in tests. The discovery owns the
// goroutines of its watches, which call back from them, never from
// within the watch methods; a callback must not block.
type discovery interface {
	// watchNamespace calls publish with each new state of the namespace
	// ns, the first as soon as it is known, until stop is closed or the
	// discovery closes. publish may set the peers of the state's servers
	// before it stores the state; the discovery does not change a state
	// it published.
	watchNamespace(ns string, stop <-chan struct{}, publish func(*nsState))
	// watchServer calls publish with each new data of the server at addr,
	// nil while it has none, until stop is closed or the discovery closes.
	watchServer(addr string, stop <-chan struct{}, publish func(*ServerData))
	// list lists the children of the node what names (nodes), sorted, as
	// long as ctx allows; none when the node is not there.
	list(ctx context.Context, what nodes) ([]string, error)
	// serverData reads the data of the server at addr, as long as ctx
	// allows; nil when it has no node.
	serverData(ctx context.Context, addr string) (*ServerData, error)
	// close stops the watches and waits for them. It may be called more
	// than once.
	close()
}

// zkDiscovery is the discovery of the servers registered in ZooKeeper,
// in the layout of the package documentation.
type zkDiscovery struct {
	zk      *session
	layout  Layout
	timeout time.Duration // the session's
	log     *slog.Logger
	done    chan struct{} // closed by close
	once    sync.Once

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup // every goroutine of the watches, added to under mu

	serversOnce sync.Once     // starts serversLoop
	kick        chan struct{} // wakes serversLoop
	subMu       sync.Mutex
	subs        map[string][]serverSub // the watches of each server's data, by address
	dirty       map[string]bool        // the servers whose data is to be read
}

// dialDiscovery connects to ZooKeeper, waiting for a session as long as
// ctx allows.
func dialDiscovery(ctx context.Context, servers []string, layout Layout, timeout time.Duration, log *slog.Logger) (*zkDiscovery, error) {
	zs, err := openSession(servers, timeout, log, true)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	if err := zs.await(ctx); err != nil {
		zs.close()
		return nil, fmt.Errorf("cluster: %w", err)
	}
	return &zkDiscovery{zk: zs, layout: layout, timeout: timeout, log: log, done: make(chan struct{}),
		kick: make(chan struct{}, 1), subs: make(map[string][]serverSub), dirty: make(map[string]bool),
	}, nil
}

// conn returns the connection to ZooKeeper.
func (d *zkDiscovery) conn() *zk.Conn { return d.zk.conn() }

// start runs f in a goroutine of the discovery's, unless it is closed.
func (d *zkDiscovery) start(f func()) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return false
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		f()
	}()
	return true
}

func (d *zkDiscovery) watchNamespace(ns string, stop <-chan struct{}, publish func(*nsState)) {
	w := &nsWatch{
		d: d, ns: ns, stop: stop, out: publish, fired: make(chan string),
		watched: make(map[string]bool), data: make(map[string]NamespaceData), foreign: make(map[string]bool),
		version: bumps{-1}, cversion: -1, stale: make(map[string]bool),
	}
	d.start(w.run)
}

func (d *zkDiscovery) watchServer(addr string, stop <-chan struct{}, publish func(*ServerData)) {
	d.serversOnce.Do(func() { d.start(d.serversLoop) })
	d.subMu.Lock()
	d.subs[addr] = append(d.subs[addr], serverSub{stop, publish})
	d.dirty[addr] = true
	d.subMu.Unlock()
	d.kickServers()
}

// serverSub is a watch of a server's data: watchServer's arguments.
type serverSub struct {
	stop    <-chan struct{}
	publish func(*ServerData)
}

// serverChanged has the data of the server at addr, or of every server
// watched if addr is "", read again and published.
func (d *zkDiscovery) serverChanged(addr string) {
	d.subMu.Lock()
	if addr == "" {
		for a := range d.subs {
			d.dirty[a] = true
		}
	} else if d.subs[addr] != nil {
		d.dirty[addr] = true
	}
	d.subMu.Unlock()
	d.kickServers()
}

func (d *zkDiscovery) kickServers() {
	select {
	case d.kick <- struct{}{}:
	default: // kicked already
	}
}

// serversLoop reads, and publishes, the data of the servers watched, in
// one goroutine for all, until close: when a server is first watched,
// and when it may have changed. The servers' nodes have no watches of
// their own: the loop watches the data of the servers node, which a
// member writes its address to as it changes its server node's data (see
// Member.setData), and reads the server it names, or every server when
// it missed a change. A server's node made in a new session is read again
// when a namespace lists the server anew (see nsWatch.readServers).
func (d *zkDiscovery) serversLoop() {
	dir := d.layout.Servers()
	version := bumps{-1} // of the node's data
	var dirCh <-chan zk.Event
	var retry <-chan time.Time
	backoff := 50 * time.Millisecond
	for {
		err := d.readServersNode(dir, &version, &dirCh)
		if err == nil {
			err = d.readServers()
		}
		retry = nil
		if err != nil {
			retry = time.After(backoff)
			backoff = min(2*backoff, time.Second)
		} else {
			backoff = 50 * time.Millisecond
		}
		select {
		case <-dirCh:
			dirCh = nil
		case <-d.kick:
		case <-retry:
		case <-d.done:
			return
		}
	}
}

// readServersNode reads, and watches, the data of the servers node dir,
// unless watched (ch not nil), and marks the servers that changed.
func (d *zkDiscovery) readServersNode(dir string, version *bumps, ch *<-chan zk.Event) error {
	if *ch != nil {
		return nil
	}
	b, st, c, err := d.data(dir)
	if err != nil {
		return err
	}
	*ch = c
	switch addr, all := version.next(st, b); {
	case all:
		d.serverChanged("")
	case addr != "":
		d.serverChanged(addr)
	}
	return nil
}

// readServers reads the data of the servers marked, and publishes it to
// their watches not stopped, forgetting those stopped. Those it could not
// read stay marked.
func (d *zkDiscovery) readServers() error {
	d.subMu.Lock()
	var addrs []string
	for a, subs := range d.subs {
		subs = slices.DeleteFunc(subs, func(s serverSub) bool { return closed(s.stop) })
		if len(subs) == 0 {
			delete(d.subs, a)
			delete(d.dirty, a)
			continue
		}
		d.subs[a] = subs
		if d.dirty[a] {
			addrs = append(addrs, a)
			delete(d.dirty, a)
		}
	}
	d.subMu.Unlock()
	paths := make([]string, len(addrs))
	for i, a := range addrs {
		paths[i] = d.layout.Server(a)
	}
	bs, _, errs := getAll(d.conn(), paths)
	var failed []error
	for i, a := range addrs {
		var sd *ServerData
		switch err := errs[i]; {
		case errors.Is(err, zk.ErrNoNode):
		case err != nil:
			failed = append(failed, err)
			d.subMu.Lock()
			d.dirty[a] = true
			d.subMu.Unlock()
			continue
		default:
			data, err := ParseServerData(bs[i])
			if err != nil {
				d.log.Warn("bad server data", "server", a, "err", err)
				continue
			}
			sd = &data
		}
		d.subMu.Lock()
		subs := d.subs[a]
		d.subMu.Unlock()
		for _, s := range subs {
			if !closed(s.stop) {
				s.publish(sd)
			}
		}
	}
	return errors.Join(failed...)
}

// closed reports whether ch is closed.
func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// getAll reads the data of the nodes paths, a few at a time: the requests
// share the session's connection, and ZooKeeper answers them in turn.
func getAll(conn *zk.Conn, paths []string) ([][]byte, []*zk.Stat, []error) {
	bs, stats, errs := make([][]byte, len(paths)), make([]*zk.Stat, len(paths)), make([]error, len(paths))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(len(paths), 16) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < len(paths); i = int(next.Add(1) - 1) {
				bs[i], stats[i], errs[i] = conn.Get(paths[i])
			}
		}()
	}
	wg.Wait()
	return bs, stats, errs
}

// nodes names a node that lists things: the namespaces, the servers, or
// the clusters under the layout's root.
type nodes string

const (
	namespacesNode nodes = "namespaces"
	serversNode    nodes = "servers"
	clustersNode   nodes = "clusters"
)

func (d *zkDiscovery) list(ctx context.Context, what nodes) ([]string, error) {
	p := map[nodes]string{namespacesNode: d.layout.Namespaces(), serversNode: d.layout.Servers(), clustersNode: d.layout.root()}[what]
	var kids []string
	err := d.ask(ctx, func() (err error) {
		kids, _, err = d.conn().Children(p)
		return err
	})
	switch {
	case errors.Is(err, zk.ErrNoNode):
		return []string{}, nil
	case err != nil:
		return nil, fmt.Errorf("cluster: listing the %s: %w", what, err)
	}
	slices.Sort(kids)
	return kids, nil
}

func (d *zkDiscovery) serverData(ctx context.Context, addr string) (*ServerData, error) {
	var b []byte
	err := d.ask(ctx, func() (err error) {
		b, _, err = d.conn().Get(d.layout.Server(addr))
		return err
	})
	switch {
	case errors.Is(err, zk.ErrNoNode):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("cluster: reading the data of %s: %w", addr, err)
	}
	sd, err := ParseServerData(b)
	if err != nil {
		return nil, fmt.Errorf("cluster: %s: %w", addr, err)
	}
	return &sd, nil
}

// ask runs f, a request to ZooKeeper, in a goroutine of the discovery's,
// and waits for it as long as ctx allows: the ZooKeeper client takes no
// ctx, and close ends its requests.
func (d *zkDiscovery) ask(ctx context.Context, f func() error) error {
	ch := make(chan error, 1)
	if !d.start(func() { ch <- f() }) {
		return client.ErrClosed
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-d.done:
		return client.ErrClosed
	}
}

// close stops the watches, closing the session, which ends the requests
// they wait for, and waits for them.
func (d *zkDiscovery) close() {
	d.once.Do(func() {
		d.mu.Lock()
		d.closed = true
		d.mu.Unlock()
		close(d.done)
		d.zk.close()
		d.wg.Wait()
	})
}
