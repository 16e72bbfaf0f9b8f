package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/slacker-lua/slacker-lua/client"
)

// AllPolicy says when [Client.CallAll] fails.
type AllPolicy int

const (
	FailIfAny AllPolicy = iota // fail if any server fails
	FailIfAll                  // fail only if every server fails
)

// Answer is one server's answer to [Client.CallAll]: its result or its
// error.
type Answer struct {
	Addr   string
	Result client.Result
	Err    error
}

// Answers are the answers of every server to [Client.CallAll], sorted by
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
// returned either way. A namespace no server serves is client.ErrNotFound. No
// call is made twice.
func (c *Client) CallAll(ctx context.Context, policy AllPolicy, name string, args ...any) (Answers, error) {
	ctx, cancel := c.bound(ctx)
	defer cancel()
	ns, l, err := c.lookupOf(ctx, name)
	if err != nil {
		return nil, err
	}
	servers := l.state.Load().servers
	if len(servers) == 0 {
		return nil, fmt.Errorf("cluster: %s: no server serves %s: %w", name, ns, client.ErrNotFound)
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
		return answers, fmt.Errorf("cluster: %s on %d of %d servers: %w", name, len(errs), len(answers), errors.Join(errs...))
	}
	return answers, nil
}
