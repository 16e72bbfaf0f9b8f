package namespaces

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/slacker-lua/slacker-lua/engine"
	"github.com/slacker-lua/slacker-lua/transport"
)

// Call runs the function name, "namespace/function", with args. The name is
// split at its first "/": namespace names have none, function names may.
//
// Errors: a missing namespace or function, or a private one, wraps
// transport.ErrNotFound; a namespace whose VMs are all busy and whose queue
// is full gives an error wrapping both engine.ErrPoolFull and
// transport.ErrThreadPoolFull; a call stopped by ctx wraps ctx.Err(); a Lua
// error is the engine's *engine.LuaError, whose text is the Lua message
// ("api.lua:12: boom"). A call that finds its namespace closed because it
// was replaced runs on the namespace's current version instead.
func (r *Registry) Call(ctx context.Context, name string, args []any) (any, error) {
	ns, fn, ok := split(name)
	if !ok {
		return nil, notFound(name)
	}
	e := r.snap.Load().ns[ns]
	if e == nil {
		return nil, notFound(name)
	}
	res, err := e.call(ctx, ns, fn, args)
	if err != nil {
		return r.failed(ctx, name, ns, fn, args, e, err)
	}
	return res, nil
}

// failed handles the error err of a call of e. A call that found a Lua
// namespace closed runs again on the current version of the namespace, as
// long as there is a newer one: each retry follows a replacement, made
// while the call waited for a VM. The engine reports ErrClosed before it
// runs any Lua code, so no call runs twice. The engine's errors are then
// mapped to the transport's.
func (r *Registry) failed(ctx context.Context, name, ns, fn string, args []any, e *entry, err error) (any, error) {
	for e.lua != nil && errors.Is(err, engine.ErrClosed) {
		cur := r.snap.Load().ns[ns]
		if cur == nil || cur == e {
			break
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: %w", name, ctx.Err())
		}
		e = cur
		var res any
		if res, err = e.call(ctx, ns, fn, args); err == nil {
			return res, nil
		}
	}
	switch {
	case errors.Is(err, engine.ErrNotFound), errors.Is(err, engine.ErrClosed):
		return nil, notFound(name)
	case errors.Is(err, engine.ErrPoolFull):
		return nil, &codeError{code: transport.ErrThreadPoolFull, err: err}
	}
	return nil, err
}

// split splits "namespace/function" at its first "/".
func split(name string) (ns, fn string, ok bool) {
	i := strings.IndexByte(name, '/')
	if i <= 0 || i == len(name)-1 {
		return "", "", false
	}
	return name[:i], name[i+1:], true
}

func (e *entry) call(ctx context.Context, ns, fn string, args []any) (any, error) {
	if e.lua != nil {
		return e.lua.Call(ctx, fn, args)
	}
	f := e.fns[fn]
	if f == nil {
		return nil, engine.ErrNotFound
	}
	return f.call(ctx, ns, args)
}

func (f *GoFunction) call(ctx context.Context, ns string, args []any) (res any, err error) {
	defer func() {
		if p := recover(); p != nil {
			res, err = nil, fmt.Errorf("%s/%s: panic: %v", ns, f.Name, p)
		}
	}()
	return f.Fn(ctx, args)
}

// Functions returns the served functions, "namespace/function", whose names
// start with prefix, sorted.
func (r *Registry) Functions(prefix string) []string {
	names := r.snap.Load().names
	i, _ := slices.BinarySearch(names, prefix)
	j := i
	for j < len(names) && strings.HasPrefix(names[j], prefix) {
		j++
	}
	return slices.Clone(names[i:j])
}

// Has reports whether the registry serves the function name,
// "namespace/function", as Call would find it: it makes the registry a
// [transport.Finder].
func (r *Registry) Has(name string) bool {
	ns, fn, ok := split(name)
	if !ok {
		return false
	}
	e := r.snap.Load().ns[ns]
	if e == nil {
		return false
	}
	_, ok = e.meta[fn]
	return ok
}

// Meta describes the served function name, "namespace/function". The
// parameters of a variadic Lua function end with "...".
func (r *Registry) Meta(name string) (transport.FuncMeta, bool) {
	ns, fn, ok := split(name)
	if !ok {
		return transport.FuncMeta{}, false
	}
	e := r.snap.Load().ns[ns]
	if e == nil {
		return transport.FuncMeta{}, false
	}
	m, ok := e.meta[fn]
	m.Params = slices.Clone(m.Params)
	return m, ok
}
