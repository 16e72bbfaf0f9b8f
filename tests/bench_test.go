package tests

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/slacker-lua/slacker-lua/client"
	"github.com/slacker-lua/slacker-lua/engine"
	"github.com/slacker-lua/slacker-lua/internal/testutil"
	"github.com/slacker-lua/slacker-lua/namespaces"
	"github.com/slacker-lua/slacker-lua/transport"
)

// BenchmarkAdd measures calls per second of a trivial add, written in Lua
// and in Go, served by one server and called over one connection by 1 and
// by 64 concurrent callers. Client and server share the machine's cores.
//
//	go test -run '^$' -bench Add -benchtime 2s ./tests/
func BenchmarkAdd(b *testing.B) {
	dir := testutil.WriteFiles(b, map[string]string{"bench.lua": "function add(a, b) return a + b end"})
	s := serveDir(b, dir, engine.Config{}, transport.ServerConfig{})
	err := s.reg.SetGo("gobench", []namespaces.GoFunction{{
		Name:   "add",
		Params: []string{"a", "b"},
		Fn: func(ctx context.Context, args []any) (any, error) {
			if len(args) != 2 {
				return nil, fmt.Errorf("add: want 2 arguments, got %d", len(args))
			}
			a, ok1 := args[0].(int64)
			b, ok2 := args[1].(int64)
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("add: want integers, got %T and %T", args[0], args[1])
			}
			return a + b, nil
		},
	}})
	if err != nil {
		b.Fatal(err)
	}
	for _, ct := range []transport.ContentType{transport.ContentMsgpack, transport.ContentJSON} {
		for _, impl := range []struct{ name, fn string }{{"lua", "bench/add"}, {"go", "gobench/add"}} {
			for _, callers := range []int{1, 64} {
				name := fmt.Sprintf("%s/%s/callers=%d", ct, impl.name, callers)
				b.Run(name, func(b *testing.B) {
					c := dial(b, s.addr, client.Config{ContentType: ct})
					benchCalls(b, c, impl.fn, callers)
				})
			}
		}
	}
}

// benchCalls makes b.N calls of fn(1, 2) from callers goroutines and
// reports calls/s.
func benchCalls(b *testing.B, c *client.Client, fn string, callers int) {
	ctx := context.Background()
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				n, err := client.CallAs[int64](ctx, c, fn, 1, 2)
				if err == nil && n != 3 {
					err = fmt.Errorf("add(1, 2) = %d", n)
				}
				if err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}
