package cluster

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slacker-lua/slacker-lua/client"
)

// peer is a server the client knows of: its data, the calls in flight to
// it, and its connection, made at the first call.
type peer struct {
	addr     string
	data     atomic.Pointer[ServerData]
	inFlight atomic.Int64
	gone     chan struct{} // closed when the client forgets the server
	used     time.Time     // when it was last looked for, under Client.mu

	mu   sync.Mutex
	conn *serverConn // nil until the first call, and after a failed dial
}

// serverConn is one attempt to connect to a server.
type serverConn struct {
	ready chan struct{} // closed once c or err is set
	c     *client.Client
	err   error
}

// sweepEvery is how often a Client closes the connections of
// servers no namespace lists, and forgets the namespaces not asked for in
// forgetAfter: their watches stop, and the next call looks them up again.
const (
	sweepEvery  = 10 * time.Second
	forgetAfter = 5 * time.Minute
)

// peer returns the server at addr, as the client knows it, starting to
// watch its data if it is new.
func (c *Client) peer(addr string) (*peer, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.peerLocked(addr)
}

// acquire is peer for a call, counted in flight until the caller is done
// with it: sweep forgets no server with a call in flight.
func (c *Client) acquire(addr string) (*peer, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, err := c.peerLocked(addr)
	if err == nil {
		p.inFlight.Add(1)
	}
	return p, err
}

func (c *Client) peerLocked(addr string) (*peer, error) {
	if c.closed {
		return nil, client.ErrClosed
	}
	p := c.peers[addr]
	if p == nil {
		p = &peer{addr: addr, gone: make(chan struct{})}
		c.peers[addr] = p
		c.disc.watchServer(addr, p.gone, func(d *ServerData) { p.data.Store(d) })
	}
	p.used = time.Now()
	return p, nil
}

// errDial marks the errors of connecting to a server: the call was not
// sent.
var errDial error = notSent("cluster: cannot connect")

// notSent is a sentinel error that matches client.ErrNotSent too.
type notSent string

func (e notSent) Error() string        { return string(e) }
func (e notSent) Is(target error) bool { return target == client.ErrNotSent }

// connect returns the connection to p, making it if need be, as long as
// ctx allows. The connection is made once, for every call that waits for
// it; one that failed is made again at the next call.
func (c *Client) connect(ctx context.Context, p *peer) (*client.Client, error) {
	c.mu.Lock() // Close waits for the dials, which must not start after it
	if c.closed {
		c.mu.Unlock()
		return nil, client.ErrClosed
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
		return nil, fmt.Errorf("cluster: connecting: %w", ctx.Err()) // callAt names the server
	case <-c.done:
		return nil, client.ErrClosed
	}
}

// dial connects d to p, until the client forgets p or closes.
func (c *Client) dial(p *peer, d *serverConn) {
	defer c.wg.Done()
	ctx, cancel := context.WithCancel(c.ctx)
	go func() { // ends with the dial
		select {
		case <-p.gone:
			cancel()
		case <-ctx.Done():
		}
	}()
	d.c, d.err = client.Dial(ctx, p.addr, c.cfg.Client)
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
func (c *Client) sweep() {
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
func (c *Client) forget(p *peer) {
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
