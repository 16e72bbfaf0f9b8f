package engine

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
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

// compileFile writes src as a namespace file named name.lua in a new
// folder and compiles it.
func compileFile(t testing.TB, name, src string) (*Script, error) {
	t.Helper()
	dir := writeFiles(t, map[string]string{name + ".lua": src})
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
	ns, err := Load(s, cfg)
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
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// checkGoroutines fails the test if it leaves goroutines behind.
func checkGoroutines(t *testing.T) {
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
