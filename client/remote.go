package client

import (
	"context"
	"fmt"
	"strings"
)

// This file binds remote functions to Go functions, as slacker's
// defn-remote and use-remote do: business code holds a remote function in
// a variable or a field and calls it like a local one.
//
// A bound function calls through any Caller, so the same code works over
// one server (*Client), a cluster (package cluster), a Namespace of either, or a
// fake in tests.

// Func binds the function name ("namespace/function") of c to a Go
// function, as slacker's defn-remote does. Calling the returned function
// calls name with args through c and decodes the result into an R, by
// CallAs's rules:
//
//	add := client.Func[int](c, "slacker.example.math/add")
//	sum, err := add(ctx, 1, 2)
//
// c is a *Client, a cluster client, any other Caller, or a [Namespace], whose
// functions are named without their namespace: Func[int](math, "add").
//
// Func checks name as it binds it. A name that is not
// "namespace/function", with neither part empty, makes every call of the
// returned function fail at once, without calling c, with an error
// matching ErrNotFound: no server serves a function of that name. Other
// errors are c's, unchanged, and a result that can't be decoded into an R
// is an error naming the function. The returned function is safe for
// concurrent use if c is.
func Func[R any](c Caller, name string) func(ctx context.Context, args ...any) (R, error) {
	c, name, err := bind(c, name)
	if err != nil {
		return func(context.Context, ...any) (R, error) {
			var zero R
			return zero, err
		}
	}
	return func(ctx context.Context, args ...any) (R, error) {
		return CallAs[R](ctx, c, name, args...)
	}
}

// Func1 is Func for a function of one argument, of type A, which is sent
// as that one argument even when it is a slice:
//
//	get := client.Func1[int64, User](c, "example.users/get")
//	u, err := get(ctx, 42)
func Func1[A, R any](c Caller, name string) func(ctx context.Context, a A) (R, error) {
	f := Func[R](c, name)
	return func(ctx context.Context, a A) (R, error) { return f(ctx, a) }
}

// Func2 is Func for a function of two arguments, of types A and B. For
// more arguments, use Func.
func Func2[A, B, R any](c Caller, name string) func(ctx context.Context, a A, b B) (R, error) {
	f := Func[R](c, name)
	return func(ctx context.Context, a A, b B) (R, error) { return f(ctx, a, b) }
}

// Namespace is one namespace of a Caller, as slacker's use-remote binds
// all the functions of a namespace at once: its Call takes a function's
// name without the namespace. It is a Caller too, for CallAs, Func and the
// others:
//
//	math := client.NS(c, "slacker.example.math")
//	add := client.Func2[int, int, int](math, "add")
//	sum, err := add(ctx, 1, 2)
//	sum, err = client.CallAs[int](ctx, math, "add", 1, 2)
//
// A function bound to a Namespace calls the namespace's Caller directly,
// by the function's full name. Make a Namespace with NS; the zero
// Namespace has no name and fails every call.
type Namespace struct {
	c    Caller
	name string
}

// NS returns the namespace ns of c. A namespace name that is empty or
// holds a "/" makes every call through the Namespace fail at once, without
// calling c, with an error matching ErrNotFound.
func NS(c Caller, ns string) Namespace { return Namespace{c: c, name: ns} }

// Name returns the namespace's name.
func (n Namespace) Name() string { return n.name }

// Call calls the function fn of the namespace, "namespace/fn", through the
// namespace's Caller, and returns what that Call returns. An empty fn, or
// a namespace named as NS says it can't be, is an error matching
// ErrNotFound, and the call is not made.
func (n Namespace) Call(ctx context.Context, fn string, args ...any) (Result, error) {
	c, name, err := n.bind(fn)
	if err != nil {
		return Result{}, err
	}
	return c.Call(ctx, name, args...)
}

// bind returns the Caller and the full name that a call of the
// namespace's function fn goes to.
func (n Namespace) bind(fn string) (Caller, string, error) {
	if n.name == "" || strings.Contains(n.name, "/") {
		return nil, "", fmt.Errorf("client: namespace %q: want a name without \"/\": %w", n.name, ErrNotFound)
	}
	if fn == "" {
		return nil, "", fmt.Errorf("client: %s/: want a function name: %w", n.name, ErrNotFound)
	}
	return n.c, n.name + "/" + fn, nil
}

// binder is a Caller whose functions are not named "namespace/function"
// but its own way, as a Namespace's are: it says which Caller, and which
// name, a call of its function name goes to.
type binder interface {
	bind(name string) (Caller, string, error)
}

// bind returns the Caller and the name that a function bound to the
// function name of c calls, or why it can't be called.
func bind(c Caller, name string) (Caller, string, error) {
	if b, ok := c.(binder); ok {
		return b.bind(name)
	}
	// Split as the server does, at the first "/": namespace names have
	// none, function names may.
	ns, fn, ok := strings.Cut(name, "/")
	if !ok || ns == "" || fn == "" {
		return nil, "", fmt.Errorf("client: %q: want namespace/function: %w", name, ErrNotFound)
	}
	return c, name, nil
}

// Decoding calls through Caller and decodes each result into a plain Go
// value (see [Result.Decode] into an any): the shape of a call that Lua's
// slacker.call makes (engine.Caller), for it to reach other servers.
type Decoding struct{ Caller Caller }

// Call calls name with args and returns its result, decoded.
func (d Decoding) Call(ctx context.Context, name string, args []any) (any, error) {
	res, err := d.Caller.Call(ctx, name, args...)
	if err != nil {
		return nil, err
	}
	var v any
	if err := res.Decode(&v); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return v, nil
}
