package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/slacker-lua/slacker-lua/client"
)

// call makes a call of Call. Its ctx has a deadline, unless an
// interceptor dropped it.
func (c *Client) call(ctx context.Context, picker Picker, name string, args []any) (client.Result, error) {
	ctx, cancel := c.bound(ctx)
	defer cancel()
	ns, l, err := c.lookupOf(ctx, name)
	if err != nil {
		return client.Result{}, err
	}
	a := &attempts{name: name, ns: ns, fn: name[len(ns)+1:], picker: picker}
	backoff := 10 * time.Millisecond
	for {
		changed := l.next()
		st := l.state.Load()
		if st.stateful && st.leader == nil {
			// No server leads it yet: wait for one.
			if err := c.await(ctx, changed, nil); err != nil {
				return client.Result{}, gaveUp(name, a.last, fmt.Errorf("no server leads %s: %w", ns, err))
			}
			continue
		}
		s, err := a.pick(st)
		if err != nil {
			return client.Result{}, err
		}
		res, err := c.callAt(ctx, s.Addr, name, args)
		if err == nil {
			return res, nil
		}
		if !retryable(err, s) || ctx.Err() != nil {
			return client.Result{}, err
		}
		a.last = err
		if st.stateful {
			// The leader again, once it is back (after a pause), or
			// the next one (at once).
			t := time.NewTimer(backoff)
			backoff = min(2*backoff, 500*time.Millisecond)
			err := c.await(ctx, changed, t.C)
			t.Stop()
			if err != nil {
				return client.Result{}, gaveUp(name, a.last, err)
			}
		}
	}
}

// attempts are the tries of one call.
type attempts struct {
	name, ns, fn string // the call's function, its namespace, and its name there
	picker       Picker
	tried        []string // the servers tried, of a namespace not stateful
	last         error    // why the last try failed; nil before any
}

// pick returns the server of the next try: a stateful namespace's
// leader, which st has, or the server a.picker picks among those not
// tried yet that may have the function. When there is none, the error
// is the last try's, or else ErrNotFound.
func (a *attempts) pick(st *nsState) (Server, error) {
	if st.stateful {
		if s := *st.leader; s.serves(a.fn) {
			return s, nil
		}
		return Server{}, fmt.Errorf("cluster: %s: %s has no function %s: %w", a.name, a.ns, a.fn, client.ErrNotFound)
	}
	servers := st.servers
	skip := func(s Server) bool { return slices.Contains(a.tried, s.Addr) || !s.serves(a.fn) }
	if slices.ContainsFunc(servers, skip) { // else all will do, as they are
		servers = slices.DeleteFunc(slices.Clone(servers), skip)
	}
	switch {
	case len(servers) > 0:
	case a.last != nil:
		return Server{}, a.last
	case len(st.servers) > 0:
		return Server{}, fmt.Errorf("cluster: %s: %s has no function %s: %w", a.name, a.ns, a.fn, client.ErrNotFound)
	default:
		return Server{}, fmt.Errorf("cluster: %s: no server serves %s: %w", a.name, a.ns, client.ErrNotFound)
	}
	s, err := a.picker.Pick(servers)
	if err != nil {
		if a.last != nil {
			return Server{}, a.last // what went wrong with the server picked before
		}
		return Server{}, fmt.Errorf("cluster: %s: %w", a.name, err)
	}
	a.tried = append(a.tried, s.Addr)
	return s, nil
}

// await waits for changed or wake, and fails when ctx is done or the
// client closed first.
func (c *Client) await(ctx context.Context, changed <-chan struct{}, wake <-chan time.Time) error {
	select {
	case <-changed:
	case <-wake:
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return client.ErrClosed
	}
	return nil
}

// gaveUp is the error of a call that ran out of time, or of a client
// closed, while it waited to be made again: it matches both why it
// waited, the error last, if any, and why it stopped, err.
func gaveUp(name string, last, err error) error {
	if last == nil {
		return fmt.Errorf("cluster: %s: %w", name, err)
	}
	return fmt.Errorf("cluster: %s: %w, after %w", name, err, last)
}

// retryable reports whether a call to s that failed with err may be made
// again: it did not run, or its namespace is idempotent and the failure
// was the connection's or the server's queue.
func retryable(err error, s Server) bool {
	switch {
	case errors.Is(err, client.ErrNotSent), errors.Is(err, client.ErrNotFound):
		return true
	case s.Namespace.Idempotent:
		return errors.Is(err, client.ErrConnLost) || errors.Is(err, client.ErrThreadPoolFull)
	}
	return false
}

// callAt calls name on the server at addr. Its errors are *client.ServerError,
// but for client.ErrClosed: the cluster client's own.
func (c *Client) callAt(ctx context.Context, addr, name string, args []any) (client.Result, error) {
	p, err := c.acquire(addr)
	if err != nil {
		return client.Result{}, onServer(addr, err)
	}
	defer p.inFlight.Add(-1)
	cl, err := c.connect(ctx, p)
	if err == nil {
		var res client.Result
		if res, err = cl.Call(ctx, name, args...); err == nil {
			return res, nil
		}
	}
	return client.Result{}, onServer(addr, err)
}

// onServer returns err, of a call on the server at addr, as a
// *client.ServerError, unless it is client.ErrClosed.
func onServer(addr string, err error) error {
	if errors.Is(err, client.ErrClosed) {
		return err
	}
	return &client.ServerError{Addr: addr, Err: err}
}
