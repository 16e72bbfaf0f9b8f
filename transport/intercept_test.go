package transport_test

import (
	"context"
	"slices"
	"testing"

	"github.com/slacker-lua/slacker-lua/transport"
	"github.com/slacker-lua/slacker-lua/transport/transporttest"
)

// TestIntercept checks that interceptors wrap the calls in order, the
// first outermost, and leave Functions and Meta alone.
func TestIntercept(t *testing.T) {
	var seen []string
	mark := func(name string) transport.Interceptor {
		return func(next transport.CallFunc) transport.CallFunc {
			return func(ctx context.Context, fn string, args []any) (any, error) {
				seen = append(seen, name+" in")
				res, err := next(ctx, fn, args)
				seen = append(seen, name+" out")
				return res, err
			}
		}
	}
	h := transport.Intercept(&transporttest.Handler{}, mark("a"), mark("b"))
	res, err := h.Call(context.Background(), "t/add", []any{int64(1), int64(2)})
	if err != nil || res != int64(3) {
		t.Fatalf("add = %v, %v", res, err)
	}
	if want := []string{"a in", "b in", "b out", "a out"}; !slices.Equal(seen, want) {
		t.Fatalf("order %v, want %v", seen, want)
	}
	if !slices.Equal(h.Functions("t/"), (&transporttest.Handler{}).Functions("t/")) {
		t.Fatal("Functions changed")
	}
	if plain := (&transporttest.Handler{}); transport.Intercept(plain) != transport.Handler(plain) {
		t.Fatal("no interceptor: not the handler itself")
	}
}
