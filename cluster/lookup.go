package cluster

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slacker-lua/slacker-lua/client"
)

// lookup is what the client knows of one namespace, kept current by its
// discovery's watch.
type lookup struct {
	ready chan struct{} // closed once the first state is in
	state atomic.Pointer[nsState]
	used  atomic.Int64  // when it was last asked for, Unix nanoseconds
	stop  chan struct{} // closed when the client forgets the namespace

	mu      sync.Mutex
	changed chan struct{} // closed, and replaced, by each new state
}

// nsState is a namespace's servers at one moment. It is never modified
// once stored.
type nsState struct {
	servers  []Server // sorted by address
	stateful bool     // a server runs it stateful
	leader   *Server  // of a stateful namespace; nil while none leads
}

func newLookup() *lookup {
	l := &lookup{ready: make(chan struct{}), changed: make(chan struct{}), stop: make(chan struct{})}
	l.used.Store(time.Now().UnixNano())
	return l
}

// store makes st the current state.
func (l *lookup) store(st *nsState) {
	l.mu.Lock()
	first := l.state.Load() == nil
	l.state.Store(st)
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
	if first {
		close(l.ready)
	}
}

// next returns a channel closed by the next new state.
func (l *lookup) next() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changed
}

// lookupOf returns the namespace of the function name and its lookup.
func (c *Client) lookupOf(ctx context.Context, name string) (string, *lookup, error) {
	ns, _, ok := strings.Cut(name, "/")
	if !ok || ns == "" {
		return "", nil, fmt.Errorf("cluster: %q: want namespace/function: %w", name, client.ErrNotFound)
	}
	l, err := c.lookup(ctx, ns)
	return ns, l, err
}

// lookup returns the lookup of ns, starting it if need be, once it has a
// first state.
func (c *Client) lookup(ctx context.Context, ns string) (*lookup, error) {
	if err := CheckNamespace(ns); err != nil {
		return nil, fmt.Errorf("cluster: %w: %w", client.ErrNotFound, err)
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, client.ErrClosed
	}
	l := c.lookups[ns]
	if l == nil {
		l = newLookup()
		c.lookups[ns] = l
		c.disc.watchNamespace(ns, l.stop, func(st *nsState) {
			c.attach(st)
			l.store(st)
		})
	} else {
		l.used.Store(time.Now().UnixNano())
	}
	c.mu.Unlock()
	select {
	case <-l.ready:
		return l, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("cluster: looking %s up in ZooKeeper: %w", ns, ctx.Err())
	case <-c.done:
		return nil, client.ErrClosed
	}
}

// attach sets the peers of st's servers, before st is stored: nil once
// the client is closed.
func (c *Client) attach(st *nsState) {
	for i := range st.servers {
		st.servers[i].peer, _ = c.peer(st.servers[i].Addr)
	}
}
