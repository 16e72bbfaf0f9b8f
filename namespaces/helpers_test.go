package namespaces

import (
	"context"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/engine"
	"github.com/slacker-lua/slacker-lua/internal/testutil"
)

// openFiles writes files to a new folder and opens it; the registry is
// closed when the test ends.
func openFiles(t testing.TB, files map[string]string, cfg Config) *Registry {
	t.Helper()
	r, err := Open(context.Background(), testutil.WriteFiles(t, files), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// loadNS compiles and loads src as the namespace name, from the file
// name.lua.
func loadNS(t testing.TB, name, src string, cfg engine.Config) *engine.Namespace {
	t.Helper()
	s, err := engine.Compile(name, name+".lua", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	ns, err := engine.Load(context.Background(), s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Close)
	return ns
}

// call calls name with a generous deadline.
func call(r *Registry, name string, args ...any) (any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return r.Call(ctx, name, args)
}

func mustCall(t testing.TB, r *Registry, name string, args ...any) any {
	t.Helper()
	res, err := call(r, name, args...)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return res
}

// gate is a Go namespace whose function wait blocks until the gate opens,
// to hold Lua VMs busy: a Lua function that calls slacker.call("gate/wait")
// keeps its VM until then.
type gate struct {
	entered chan struct{}
	open    chan struct{}
}

func newGate(t testing.TB, r *Registry) *gate {
	t.Helper()
	g := &gate{entered: make(chan struct{}, 100), open: make(chan struct{})}
	err := r.SetGo("gate", []GoFunction{{
		Name: "wait",
		Fn: func(ctx context.Context, args []any) (any, error) {
			g.entered <- struct{}{}
			select {
			case <-g.open:
				return "opened", nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return g
}
