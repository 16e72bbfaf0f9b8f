package transporttest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/slacker-lua/slacker-lua/transport"
)

// Handler is a transport.Handler serving the functions of namespace "t"
// listed in the package comment. Its zero value works; t/wait and
// t/stubborn then wait for ever, or for their context.
type Handler struct {
	// Started, if set, receives the name of every call as it starts:
	// the call waits for it to be received.
	Started chan string
	// Release, once closed, ends the calls of t/wait and t/stubborn.
	Release chan struct{}

	calls atomic.Int64
}

// Calls returns how many calls have started.
func (h *Handler) Calls() int64 { return h.calls.Load() }

// Call runs the function name on args.
func (h *Handler) Call(ctx context.Context, name string, args []any) (any, error) {
	h.calls.Add(1)
	if h.Started != nil {
		h.Started <- name
	}
	switch name {
	case "t/add":
		return Add(ctx, args)
	case "t/echo":
		if len(args) == 0 {
			return nil, nil
		}
		return args[0], nil
	case "t/block":
		<-ctx.Done()
		return nil, ctx.Err()
	case "t/wait":
		select {
		case <-h.Release:
			return "released", nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	case "t/stubborn":
		<-h.Release
		return "released", nil
	case "t/big":
		return strings.Repeat("x", 512<<10), nil
	case "t/fail":
		return nil, errors.New("kaboom")
	case "t/panic":
		panic("handler bug")
	case "t/busy":
		return nil, fmt.Errorf("t: %w", transport.ErrThreadPoolFull)
	case "t/unencodable":
		return []any{1, struct{ C chan int }{}}, nil
	}
	return nil, fmt.Errorf("%w: %s", transport.ErrNotFound, name)
}

// Add is a function that adds its arguments, integers: t/add, and a
// function for Funcs.
func Add(_ context.Context, args []any) (any, error) {
	var sum int64
	for _, a := range args {
		n, ok := a.(int64)
		if !ok {
			return nil, fmt.Errorf("add: %T is not an integer", a)
		}
		sum += n
	}
	return sum, nil
}

// Functions lists the functions served whose names begin with prefix.
func (h *Handler) Functions(prefix string) []string {
	var out []string
	for _, n := range []string{"t/add", "t/echo", "t/fail"} {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	return out
}

// Meta describes t/add, with a doc and parameters, and t/echo, with
// neither; the other functions have none.
func (h *Handler) Meta(name string) (transport.FuncMeta, bool) {
	switch name {
	case "t/add":
		return transport.FuncMeta{Name: "t/add", Doc: "Adds numbers.", Params: []string{"a", "b"}}, true
	case "t/echo":
		return transport.FuncMeta{Name: "t/echo"}, true
	}
	return transport.FuncMeta{}, false
}

// Funcs is a [transport.Handler] of the Go functions it maps, by
// "namespace/function": for tests that need functions of their own. A
// name it has no function for is not found.
type Funcs map[string]func(ctx context.Context, args []any) (any, error)

// Call calls the function name.
func (f Funcs) Call(ctx context.Context, name string, args []any) (any, error) {
	fn, ok := f[name]
	if !ok {
		return nil, fmt.Errorf("%w: %s", transport.ErrNotFound, name)
	}
	return fn(ctx, args)
}

// Functions lists the names that start with prefix, sorted.
func (f Funcs) Functions(prefix string) []string {
	var names []string
	for n := range f {
		if strings.HasPrefix(n, prefix) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// Meta describes the function name: its doc is "The doc of NAME.", its
// parameters a and ....
func (f Funcs) Meta(name string) (transport.FuncMeta, bool) {
	if _, ok := f[name]; !ok {
		return transport.FuncMeta{}, false
	}
	return transport.FuncMeta{Name: name, Doc: "The doc of " + name + ".", Params: []string{"a", "..."}}, true
}
