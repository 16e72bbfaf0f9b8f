package namespaces

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/slacker-lua/slacker-lua/engine"
	"github.com/slacker-lua/slacker-lua/internal/testutil"
)

// spinLua is a namespace file whose top level calls x/started, then spins
// until its load is stopped.
const spinLua = `slacker.call("x/started") while true do end`

// startCaller is the engine.Caller of a folder holding spinLua: its first
// call closes started; later calls fail, so that a spinning file fails at
// once when it is loaded again.
type startCaller struct {
	started chan struct{}
	once    sync.Once
	mu      sync.Mutex
	calls   int
}

func (c *startCaller) Call(ctx context.Context, name string, args []any) (any, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if c.calls > 1 {
		return nil, errors.New("not again")
	}
	close(c.started)
	return nil, nil
}

// vmRecorder records the VMs the engine makes.
type vmRecorder struct {
	mu     sync.Mutex
	states []*lua.LState
}

func (v *vmRecorder) setup(L *lua.LState) {
	v.mu.Lock()
	v.states = append(v.states, L)
	v.mu.Unlock()
}

// closed reports how many VMs were made, and fails t if one is left open.
func (v *vmRecorder) closed(t *testing.T) int {
	t.Helper()
	v.mu.Lock()
	defer v.mu.Unlock()
	for i, L := range v.states {
		if !L.IsClosed() {
			t.Errorf("VM %d of %d is left open", i+1, len(v.states))
		}
	}
	return len(v.states)
}

// TestOpenStopsWithContext checks that Open stops when its ctx is
// cancelled while a file's top level spins, returns context.Canceled, and
// closes the namespaces it loaded before; and that a ctx done before Open
// loads nothing.
func TestOpenStopsWithContext(t *testing.T) {
	testutil.CheckGoroutines(t)
	dir := testutil.WriteFiles(t, map[string]string{
		"a.lua":    `function v() return 1 end`,
		"b.lua":    `function v() return 2 end`,
		"spin.lua": spinLua,
	})
	caller := &startCaller{started: make(chan struct{})}
	vms := &vmRecorder{}
	// The engine's Timeout would end the spin, as a failure of spin.lua:
	// only ctx can stop Open before it.
	cfg := Config{Engine: engine.Config{Timeout: time.Hour, Caller: caller, Setup: vms.setup}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-caller.started; cancel() }()
	r, err := Open(ctx, dir, cfg)
	if r != nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("Open: %v, %v; want context.Canceled", r, err)
	}
	if n := vms.closed(t); n != 3 {
		t.Errorf("%d VMs made, want 3", n)
	}

	vms = &vmRecorder{}
	cfg.Engine.Setup = vms.setup
	if r, err := Open(ctx, dir, cfg); r != nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("Open with a done ctx: %v, %v; want context.Canceled", r, err)
	}
	if n := vms.closed(t); n != 0 {
		t.Errorf("%d VMs made with a done ctx", n)
	}
}

// TestWatchStopsWithContext checks that Watch stops its first look when
// its ctx is cancelled while a new file's top level spins: it returns
// context.Canceled and leaves no watcher, no goroutine and no VM of that
// file; what was served stays served.
func TestWatchStopsWithContext(t *testing.T) {
	testutil.CheckGoroutines(t)
	caller := &startCaller{started: make(chan struct{})}
	vms := &vmRecorder{}
	dir := testutil.WriteFiles(t, map[string]string{"a.lua": `function v() return 1 end`})
	r, err := Open(context.Background(), dir, Config{Engine: engine.Config{Timeout: time.Hour, Caller: caller, Setup: vms.setup}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	vms.states = nil // a's VM, served
	write(t, dir, "spin.lua", spinLua)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-caller.started; cancel() }()
	if w, err := r.Watch(ctx, WatchConfig{Mode: WatchManual}); w != nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("Watch: %v, %v; want context.Canceled", w, err)
	}
	if got := mustCall(t, r, "a/v"); got != int64(1) {
		t.Fatalf("a/v after the first look stopped = %v", got)
	}
	if len(r.Failures()) != 0 {
		t.Errorf("a look stopped by ctx recorded failures: %v", r.Failures())
	}
	if n := vms.closed(t); n != 1 {
		t.Errorf("%d VMs made for spin.lua, want 1", n)
	}
	// No watcher was left: another may watch.
	w, err := r.Watch(context.Background(), WatchConfig{Mode: WatchManual})
	if err != nil {
		t.Fatalf("Watch after a first look stopped: %v", err)
	}
	w.Close()
}
