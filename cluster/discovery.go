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
	// namespaces lists the namespaces registered, as long as ctx allows.
	namespaces(ctx context.Context) ([]string, error)
	// clusters lists the clusters under the layout's root, as long as
	// ctx allows.
	clusters(ctx context.Context) ([]string, error)
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

	serversOnce sync.Once // starts serversLoop
	wakeMu      sync.Mutex
	wake        map[string][]chan struct{} // the serverLoops of each server's address
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
	return &zkDiscovery{zk: zs, layout: layout, timeout: timeout, log: log, done: make(chan struct{}), wake: make(map[string][]chan struct{})}, nil
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
		version: -1, cversion: -1, stale: make(map[string]bool),
	}
	d.start(w.run)
}

func (d *zkDiscovery) watchServer(addr string, stop <-chan struct{}, publish func(*ServerData)) {
	d.serversOnce.Do(func() { d.start(d.serversLoop) })
	d.start(func() { d.serverLoop(addr, stop, publish) })
}

// serverLoop keeps publishing the data of the server at addr until stop
// or close. It reads the data again when serverChanged says it may have
// changed: the server's node has no watch of its own.
func (d *zkDiscovery) serverLoop(addr string, stop <-chan struct{}, publish func(*ServerData)) {
	wake := make(chan struct{}, 1)
	d.wakeMu.Lock()
	d.wake[addr] = append(d.wake[addr], wake)
	d.wakeMu.Unlock()
	defer func() {
		d.wakeMu.Lock()
		defer d.wakeMu.Unlock()
		if d.wake[addr] = slices.DeleteFunc(d.wake[addr], func(c chan struct{}) bool { return c == wake }); len(d.wake[addr]) == 0 {
			delete(d.wake, addr)
		}
	}()
	node := d.layout.Server(addr)
	backoff := 50 * time.Millisecond
	for {
		b, _, err := d.conn().Get(node)
		switch {
		case errors.Is(err, zk.ErrNoNode):
			publish(nil)
			err = nil
		case err == nil:
			if sd, err := ParseServerData(b); err != nil {
				d.log.Warn("bad server data", "server", addr, "err", err)
			} else {
				publish(&sd)
			}
		}
		if err != nil {
			select {
			case <-time.After(backoff):
				backoff = min(2*backoff, time.Second)
				continue
			case <-stop:
				return
			case <-d.done:
				return
			}
		}
		backoff = 50 * time.Millisecond
		select {
		case <-wake:
		case <-stop:
			return
		case <-d.done:
			return
		}
	}
}

// serverChanged wakes the serverLoops of addr, or all of them if addr is
// "", to read their server's data again.
func (d *zkDiscovery) serverChanged(addr string) {
	d.wakeMu.Lock()
	defer d.wakeMu.Unlock()
	for a, chans := range d.wake {
		if addr != "" && a != addr {
			continue
		}
		for _, c := range chans {
			select {
			case c <- struct{}{}:
			default: // woken already
			}
		}
	}
}

// serversLoop watches the data of the servers node, which a member writes
// its address to as it changes the data of its server's node (see
// Member.setData), and wakes the serverLoops of the server it names, or
// all of them when it missed a change, until close. A server's node made
// in a new session is read again when a namespace lists the server anew
// (see nsWatch.read).
func (d *zkDiscovery) serversLoop() {
	dir := d.layout.Servers()
	version := int32(-1) // of the node's data; -1 while it is missing
	backoff := 50 * time.Millisecond
	for {
		b, st, ch, err := d.conn().GetW(dir)
		if errors.Is(err, zk.ErrNoNode) {
			var ok bool
			if ok, _, ch, err = d.conn().ExistsW(dir); err == nil && ok {
				continue // made meanwhile
			}
		}
		if err != nil {
			select {
			case <-time.After(backoff):
				backoff = min(2*backoff, time.Second)
				continue
			case <-d.done:
				return
			}
		}
		backoff = 50 * time.Millisecond
		switch {
		case st == nil:
			version = -1
		case version >= 0 && st.Version == version+1:
			d.serverChanged(string(b))
		case version >= 0 && st.Version != version:
			d.serverChanged("")
		}
		if st != nil {
			version = st.Version
		}
		select {
		case <-ch:
		case <-d.done:
			return
		}
	}
}

// getAll reads the data of the nodes paths, a few at a time: the requests
// share the session's connection, and ZooKeeper answers them in turn.
func (d *zkDiscovery) getAll(paths []string) ([][]byte, []error) {
	bs, errs := make([][]byte, len(paths)), make([]error, len(paths))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(len(paths), 16) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < len(paths); i = int(next.Add(1) - 1) {
				bs[i], _, errs[i] = d.conn().Get(paths[i])
			}
		}()
	}
	wg.Wait()
	return bs, errs
}

func (d *zkDiscovery) namespaces(ctx context.Context) ([]string, error) {
	var kids []string
	err := d.ask(ctx, func() (err error) {
		kids, _, err = d.conn().Children(d.layout.Namespaces())
		return err
	})
	switch {
	case errors.Is(err, zk.ErrNoNode):
		return []string{}, nil
	case err != nil:
		return nil, fmt.Errorf("cluster: listing the namespaces: %w", err)
	}
	slices.Sort(kids)
	return kids, nil
}

func (d *zkDiscovery) clusters(ctx context.Context) ([]string, error) {
	var kids []string
	err := d.ask(ctx, func() (err error) {
		kids, _, err = d.conn().Children(d.layout.root())
		return err
	})
	switch {
	case errors.Is(err, zk.ErrNoNode):
		return []string{}, nil
	case err != nil:
		return nil, fmt.Errorf("cluster: listing the clusters: %w", err)
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
