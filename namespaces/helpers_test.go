package namespaces

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/engine"
)

// writeFiles writes files (slash paths relative to a new folder) and
// returns the folder.
func writeFiles(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// openFiles writes files to a new folder and opens it; the registry is
// closed when the test ends.
func openFiles(t testing.TB, files map[string]string, cfg Config) *Registry {
	t.Helper()
	r, err := Open(writeFiles(t, files), cfg)
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
	ns, err := engine.Load(s, cfg)
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

// waitFor polls cond until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// logBuffer is a slog handler's output, safe for concurrent writes.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newLogger() (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// checkGoroutines fails the test if it leaves goroutines behind.
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				n := runtime.Stack(buf, true)
				t.Errorf("%d goroutines left behind (%d before):\n%s", runtime.NumGoroutine()-before, before,
					strings.TrimSpace(string(buf[:n])))
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
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
