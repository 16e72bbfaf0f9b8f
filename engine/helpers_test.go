package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/internal/testutil"
)

// compileFile writes src as a namespace file named name.lua in a new
// folder and compiles it.
func compileFile(t testing.TB, name, src string) (*Script, error) {
	t.Helper()
	dir := testutil.WriteFiles(t, map[string]string{name + ".lua": src})
	path := filepath.Join(dir, name+".lua")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return Compile(name, path, b)
}

// load compiles and loads a namespace file written to a new folder; it is
// closed when the test ends.
func load(t testing.TB, src string, cfg Config) *Namespace {
	t.Helper()
	ns, err := tryLoad(t, src, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

func tryLoad(t testing.TB, src string, cfg Config) (*Namespace, error) {
	t.Helper()
	s, err := compileFile(t, "ns", src)
	if err != nil {
		return nil, err
	}
	ns, err := Load(context.Background(), s, cfg)
	if err != nil {
		return nil, err
	}
	t.Cleanup(ns.Close)
	return ns, nil
}

// call calls fn with a generous deadline.
func call(t testing.TB, ns *Namespace, fn string, args ...any) (any, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return ns.Call(ctx, fn, args)
}

func mustCall(t testing.TB, ns *Namespace, fn string, args ...any) any {
	t.Helper()
	res, err := call(t, ns, fn, args...)
	if err != nil {
		t.Fatalf("%s: %v", fn, err)
	}
	return res
}

// luaError returns err as a *LuaError, failing the test if it is not one.
func luaError(t testing.TB, err error) *LuaError {
	t.Helper()
	var le *LuaError
	if !errors.As(err, &le) {
		t.Fatalf("got %v (%T), want a *LuaError", err, err)
	}
	return le
}

// loadError returns err as a *LoadError, failing the test if it is not one.
func loadError(t testing.TB, err error) *LoadError {
	t.Helper()
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("got %v (%T), want a *LoadError", err, err)
	}
	return le
}

// blockingCaller is a Caller whose calls block until released, to hold
// VMs busy.
type blockingCaller struct {
	started chan string
	release chan struct{}
}

func newBlockingCaller() *blockingCaller {
	return &blockingCaller{started: make(chan string, 100), release: make(chan struct{})}
}

func (c *blockingCaller) Call(ctx context.Context, name string, args []any) (any, error) {
	c.started <- name
	select {
	case <-c.release:
		return "released", nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
