package client

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
)

// TestInterceptors checks that a client's interceptors see its calls in
// order, the first outermost, that they may change a call's arguments and
// see its result, and that one may refuse a call, which is then never sent.
func TestInterceptors(t *testing.T) {
	s := startServer(t, testFuncs(), "")
	var mu sync.Mutex
	var seen []string
	note := func(what string) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, what)
	}
	errRefused := errors.New("refused by the interceptor")
	outer := func(next CallFunc) CallFunc {
		return func(ctx context.Context, name string, args []any) (Result, error) {
			note("outer " + name)
			if name == "m/fail" {
				return Result{}, errRefused
			}
			res, err := next(ctx, name, args)
			note("outer done")
			return res, err
		}
	}
	inner := func(next CallFunc) CallFunc {
		return func(ctx context.Context, name string, args []any) (Result, error) {
			note("inner " + name)
			// Doubles the arguments it is given.
			return next(ctx, name, append(slices.Clone(args), args...))
		}
	}
	c := dial(t, s.addr, Config{Interceptors: []Interceptor{outer, inner}})

	if got := must(CallAs[int](context.Background(), c, "m/add", 1, 2))(t); got != 6 {
		t.Errorf("m/add(1, 2) with its arguments doubled = %d, want 6", got)
	}
	if _, err := c.Call(context.Background(), "m/fail"); !errors.Is(err, errRefused) {
		t.Errorf("m/fail, refused by an interceptor: %v", err)
	}
	// Go passes by them.
	if got, err := c.Go(context.Background(), "m/nargs", 1).Result(); err != nil || string(got.body) != "1" {
		t.Errorf("m/nargs(1) started with Go = %s, %v; want 1, its arguments as given", got.body, err)
	}
	want := []string{"outer m/add", "inner m/add", "outer done", "outer m/fail"}
	if !slices.Equal(seen, want) {
		t.Errorf("the interceptors saw %q, want %q", seen, want)
	}

	if _, err := Dial(context.Background(), s.addr, Config{Interceptors: []Interceptor{nil}}); err == nil {
		t.Error("Dial with a nil interceptor: no error")
	}
}
