package namespaces

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/engine"
	"github.com/slacker-lua/slacker-lua/internal/testutil"
	"github.com/slacker-lua/slacker-lua/transport"
)

const behaviourLua = `local M = {}
function M.add(a, b) return a + b end
function M.fail() error("boom") end
function M.spin() while true do end end
function M._private() return 1 end
local function hidden() return 2 end
M["with/slash"] = function() return "slash" end
return M
`

func TestCall(t *testing.T) {
	r := openFiles(t, map[string]string{"b.lua": behaviourLua, "app/b.lua": behaviourLua}, Config{})

	if got := mustCall(t, r, "b/add", 1, 2); got != int64(3) {
		t.Errorf("b/add = %#v", got)
	}
	if got := mustCall(t, r, "app.b/with/slash"); got != "slash" {
		t.Errorf("app.b/with/slash = %#v", got)
	}

	for _, name := range []string{
		"b/nope", "b/_private", "b/hidden", "nope/add", "app/b/add",
		"b", "b/", "/add", "/", "", "app.b.add",
	} {
		_, err := call(r, name)
		if !errors.Is(err, transport.ErrNotFound) || transport.CodeOf(err) != transport.CodeNotFound {
			t.Errorf("%q: got %v, want not found", name, err)
		}
	}
	if _, err := call(r, "b/nope"); err == nil || err.Error() != "b/nope: not found" {
		t.Errorf("b/nope: error %q", err)
	}

	// A Lua error reaches the caller as the Lua message, with the file
	// under the folder and the line.
	for name, want := range map[string]string{"b/fail": "b.lua:3: boom", "app.b/fail": "app/b.lua:3: boom"} {
		_, err := call(r, name)
		var le *engine.LuaError
		if !errors.As(err, &le) || err.Error() != want || transport.CodeOf(err) != transport.CodeException {
			t.Errorf("%s: got %q (%T), want the Lua error %q", name, err, err, want)
		}
	}

	// A call stopped by its context says so.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := r.Call(ctx, "b/spin", nil)
	if !errors.Is(err, context.DeadlineExceeded) || transport.CodeOf(err) != transport.CodeCanceled {
		t.Errorf("b/spin: got %v, want the deadline", err)
	}
	if got := mustCall(t, r, "b/add", 2, 2); got != int64(4) {
		t.Errorf("b/add after spin = %#v", got)
	}
}

func TestPoolFull(t *testing.T) {
	r := openFiles(t, map[string]string{
		"busy.lua": "_options = { pool_size = 1, queue_size = 0 }\nfunction hold() return slacker.call('gate/wait') end",
	}, Config{})
	g := newGate(t, r)

	held := make(chan error, 1)
	go func() {
		res, err := call(r, "busy/hold")
		if err == nil && res != "opened" {
			err = fmt.Errorf("busy/hold = %#v", res)
		}
		held <- err
	}()
	<-g.entered

	_, err := call(r, "busy/hold")
	if !errors.Is(err, transport.ErrThreadPoolFull) || !errors.Is(err, engine.ErrPoolFull) ||
		transport.CodeOf(err) != transport.CodeThreadPoolFull {
		t.Errorf("second call: got %v, want thread pool full", err)
	}
	close(g.open)
	if err := <-held; err != nil {
		t.Errorf("first call: %v", err)
	}
}

func TestSlackerCall(t *testing.T) {
	r := openFiles(t, map[string]string{
		"m/a.lua": `
function twice(x) return slacker.call("m.b/double", x) * 2 end
function viaGo(x) return slacker.call("go/inc", x) end
function broken() return slacker.call("m.b/fail") end
function missing() return slacker.call("m.b/nope") end
`,
		"m/b.lua": `
function double(x) return x * 2 end
function fail() error("deep trouble") end
`,
	}, Config{})
	if err := r.SetGo("go", []GoFunction{{Name: "inc", Fn: func(ctx context.Context, args []any) (any, error) {
		return args[0].(int64) + 1, nil
	}}}); err != nil {
		t.Fatal(err)
	}
	if got := mustCall(t, r, "m.a/twice", 5); got != int64(20) {
		t.Errorf("m.a/twice(5) = %#v", got)
	}
	if got := mustCall(t, r, "m.a/viaGo", 5); got != int64(6) {
		t.Errorf("m.a/viaGo(5) = %#v", got)
	}
	_, err := call(r, "m.a/broken")
	if err == nil || !strings.Contains(err.Error(), "m/b.lua:3: deep trouble") {
		t.Errorf("m.a/broken: %v, want the callee's error", err)
	}
	_, err = call(r, "m.a/missing")
	if err == nil || !strings.Contains(err.Error(), "m.b/nope: not found") {
		t.Errorf("m.a/missing: %v", err)
	}
}

func TestSetGo(t *testing.T) {
	r := openFiles(t, map[string]string{"lua.lua": "--- Adds.\nfunction add(a, b) return a + b end"}, Config{})
	sum := func(ctx context.Context, args []any) (any, error) {
		var n int64
		for _, a := range args {
			n += a.(int64)
		}
		return n, nil
	}
	err := r.SetGo("go.math", []GoFunction{
		{Name: "sum", Doc: "Adds its arguments.", Params: []string{"..."}, Fn: sum},
		{Name: "fail", Fn: func(context.Context, []any) (any, error) { return nil, errors.New("go failed") }},
		{Name: "panic", Fn: func(context.Context, []any) (any, error) { panic("oh no") }},
		{Name: "busy", Fn: func(context.Context, []any) (any, error) {
			return nil, fmt.Errorf("go.math: %w", engine.ErrPoolFull)
		}},
		{Name: "ctx", Fn: func(ctx context.Context, _ []any) (any, error) { <-ctx.Done(); return nil, ctx.Err() }},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := mustCall(t, r, "go.math/sum", int64(1), int64(2), int64(3)); got != int64(6) {
		t.Errorf("go.math/sum = %#v", got)
	}
	if got := mustCall(t, r, "lua/add", 1, 2); got != int64(3) {
		t.Errorf("lua/add = %#v", got)
	}
	if got, want := r.Namespaces(), []string{"go.math", "lua"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Namespaces() = %q, want %q", got, want)
	}

	errs := []struct {
		name string
		code transport.Code
		msg  string
	}{
		{"go.math/nope", transport.CodeNotFound, "go.math/nope: not found"},
		{"go.math/fail", transport.CodeException, "go failed"},
		{"go.math/panic", transport.CodeException, "go.math/panic: panic: oh no"},
		{"go.math/busy", transport.CodeThreadPoolFull, "go.math: engine: pool full"},
	}
	for _, tt := range errs {
		_, err := call(r, tt.name)
		if transport.CodeOf(err) != tt.code || err.Error() != tt.msg {
			t.Errorf("%s: got %v (%v), want %v %q", tt.name, err, transport.CodeOf(err), tt.code, tt.msg)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Call(ctx, "go.math/ctx", nil); !errors.Is(err, context.Canceled) {
		t.Errorf("go.math/ctx: %v", err)
	}

	// Replacing a Lua namespace with Go functions and back.
	if err := r.SetGo("lua", []GoFunction{{Name: "add", Fn: sum}}); err != nil {
		t.Fatal(err)
	}
	if got := mustCall(t, r, "lua/add", int64(1), int64(2), int64(3)); got != int64(6) {
		t.Errorf("lua/add in Go = %#v", got)
	}

	for _, tt := range []struct {
		name string
		fns  []GoFunction
	}{
		{"", []GoFunction{{Name: "f", Fn: sum}}},
		{"a/b", []GoFunction{{Name: "f", Fn: sum}}},
		{"a..b", []GoFunction{{Name: "f", Fn: sum}}},
		{"_a", []GoFunction{{Name: "f", Fn: sum}}},
		{"a b", []GoFunction{{Name: "f", Fn: sum}}},
		{"ok", []GoFunction{{Name: "", Fn: sum}}},
		{"ok", []GoFunction{{Name: "f"}}},
		{"ok", []GoFunction{{Name: "f", Fn: sum}, {Name: "f", Fn: sum}}},
	} {
		if err := r.SetGo(tt.name, tt.fns); err == nil {
			t.Errorf("SetGo(%q, %v) succeeded", tt.name, tt.fns)
		}
	}
	if _, ok := r.Meta("ok/f"); ok {
		t.Error("a failed SetGo serves functions")
	}
}

func TestFunctionsAndMeta(t *testing.T) {
	r := openFiles(t, map[string]string{
		"a.lua": `local M = {}
--- Adds a and b.
--- Integers only.
function M.add(a, b) return a + b end
function M.log(fmt, ...) end
function M.none() end
return M
`,
		"ab.lua": `function x() end`,
	}, Config{})
	if err := r.SetGo("a.go", []GoFunction{{Name: "f", Doc: "F.", Params: []string{"x"}, Fn: func(context.Context, []any) (any, error) { return nil, nil }}}); err != nil {
		t.Fatal(err)
	}
	all := []string{"a.go/f", "a/add", "a/log", "a/none", "ab/x"}
	for prefix, want := range map[string][]string{
		"":      all,
		"a":     all,
		"a/":    {"a/add", "a/log", "a/none"},
		"a.":    {"a.go/f"},
		"a/lo":  {"a/log"},
		"a/log": {"a/log"},
		"b":     {},
		"zzz":   {},
	} {
		if got := r.Functions(prefix); len(got) != len(want) || (len(want) > 0 && !reflect.DeepEqual(got, want)) {
			t.Errorf("Functions(%q) = %q, want %q", prefix, got, want)
		}
	}

	metas := []transport.FuncMeta{
		{Name: "a/add", Doc: "Adds a and b.\nIntegers only.", Params: []string{"a", "b"}},
		{Name: "a/log", Params: []string{"fmt", "..."}},
		{Name: "a/none", Params: []string{}},
		{Name: "a.go/f", Doc: "F.", Params: []string{"x"}},
	}
	for _, want := range metas {
		got, ok := r.Meta(want.Name)
		if !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("Meta(%q) = %#v, %v, want %#v", want.Name, got, ok, want)
		}
	}
	// The result is the caller's to change.
	m, _ := r.Meta("a/add")
	m.Params[0] = "changed"
	if m, _ := r.Meta("a/add"); m.Params[0] != "a" {
		t.Errorf("Meta shares its Params: %q", m.Params)
	}
	for _, name := range []string{"a/nope", "nope/add", "a", "a/", "/add", ""} {
		if _, ok := r.Meta(name); ok {
			t.Errorf("Meta(%q) found", name)
		}
	}
}

// versionLua returns a namespace whose function version returns v.
func versionLua(v int) string {
	return fmt.Sprintf("_options = { pool_size = 2 }\nfunction version() return %d end\nfunction hold() slacker.call('gate/wait') return %d end", v, v)
}

// TestSetWhileCalling replaces a namespace again and again while 32
// goroutines call it: every call succeeds, on the old version or a newer
// one, and each replaced version is closed.
func TestSetWhileCalling(t *testing.T) {
	testutil.CheckGoroutines(t)
	r := New(Config{})
	defer r.Close()
	first := loadNS(t, "v", versionLua(0), engine.Config{})
	r.Set(first)

	const callers, versions = 32, 20
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, callers)
	calls := make([]int, callers)
	var newest atomic.Int64 // the newest version a call returned
	for i := range callers {
		wg.Go(func() {
			last := int64(-1)
			for {
				select {
				case <-stop:
					return
				default:
				}
				res, err := call(r, "v/version")
				if err != nil {
					errs <- err
					return
				}
				v := res.(int64)
				if v < last {
					errs <- fmt.Errorf("version %d after %d", v, last)
					return
				}
				last = v
				calls[i]++
				for cur := newest.Load(); v > cur && !newest.CompareAndSwap(cur, v); cur = newest.Load() {
				}
			}
		})
	}
	replaced := []*engine.Namespace{first}
	for v := 1; v <= versions; v++ {
		ns := loadNS(t, "v", versionLua(v), engine.Config{})
		r.Set(ns)
		replaced = append(replaced, ns)
		testutil.WaitFor(t, 10*time.Second, func() bool { return newest.Load() >= int64(v) }, fmt.Sprintf("a call of version %d", v))
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i, n := range calls {
		if n == 0 {
			t.Errorf("caller %d made no call", i)
		}
	}
	if got := mustCall(t, r, "v/version"); got != int64(versions) {
		t.Errorf("after the last Set: version %v", got)
	}
	for _, ns := range replaced[:versions] {
		if _, err := ns.Call(context.Background(), "version", nil); !errors.Is(err, engine.ErrClosed) {
			t.Errorf("a replaced namespace serves: %v", err)
		}
	}
}

// TestSetDrains checks what happens to calls of a namespace being replaced:
// the one running finishes on it, the one waiting for its VM runs on the
// new version.
func TestSetDrains(t *testing.T) {
	r := New(Config{})
	defer r.Close()
	g := newGate(t, r)
	cfg := engine.Config{PoolSize: 1, QueueSize: 1, Caller: r}
	r.Set(loadNS(t, "v", strings.Replace(versionLua(1), "pool_size = 2", "pool_size = 1", 1), cfg))

	running, waiting := make(chan any, 1), make(chan any, 1)
	go func() {
		res, err := call(r, "v/hold")
		running <- orError(res, err)
	}()
	<-g.entered
	go func() {
		// The probes below may fill the queue for a moment: try until the
		// call gets in.
		res, err := call(r, "v/version")
		for errors.Is(err, transport.ErrThreadPoolFull) {
			res, err = call(r, "v/version")
		}
		waiting <- orError(res, err)
	}()
	// The namespace's one VM is busy, and its queue of one is full once
	// the second call waits: a third call is refused.
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	testutil.WaitFor(t, 5*time.Second, func() bool {
		_, err := r.Call(cancelled, "v/version", nil)
		return errors.Is(err, transport.ErrThreadPoolFull)
	}, "the second call to wait")

	r.Set(loadNS(t, "v", versionLua(2), cfg))
	if got := <-waiting; got != int64(2) {
		t.Errorf("the waiting call: %v, want version 2", got)
	}
	close(g.open)
	if got := <-running; got != int64(1) {
		t.Errorf("the running call: %v, want version 1", got)
	}
}

func orError(res any, err error) any {
	if err != nil {
		return err
	}
	return res
}

func TestRemove(t *testing.T) {
	r := openFiles(t, map[string]string{"a.lua": "function f() return 1 end", "b.lua": "function f() return 2 end"}, Config{})
	if err := r.SetGo("g", []GoFunction{{Name: "f", Fn: func(context.Context, []any) (any, error) { return 3, nil }}}); err != nil {
		t.Fatal(err)
	}
	if !r.Remove("a") || !r.Remove("g") {
		t.Fatal("Remove found nothing")
	}
	if r.Remove("a") || r.Remove("nope") {
		t.Error("Remove removed a missing namespace")
	}
	for _, name := range []string{"a/f", "g/f"} {
		if _, err := call(r, name); !errors.Is(err, transport.ErrNotFound) {
			t.Errorf("%s after Remove: %v", name, err)
		}
	}
	if got := r.Functions(""); !reflect.DeepEqual(got, []string{"b/f"}) {
		t.Errorf("Functions after Remove: %q", got)
	}
	if got := mustCall(t, r, "b/f"); got != int64(2) {
		t.Errorf("b/f = %v", got)
	}
}

func TestClose(t *testing.T) {
	r := New(Config{})
	ns := loadNS(t, "a", "function f() return 1 end", engine.Config{})
	r.Set(ns)
	r.Set(ns) // setting the same namespace again keeps it open
	if got := mustCall(t, r, "a/f"); got != int64(1) {
		t.Fatalf("a/f = %v", got)
	}
	r.Close()
	r.Close()
	if _, err := call(r, "a/f"); !errors.Is(err, transport.ErrNotFound) {
		t.Errorf("a/f after Close: %v", err)
	}
	if _, err := ns.Call(context.Background(), "f", nil); !errors.Is(err, engine.ErrClosed) {
		t.Errorf("the namespace is open after Close: %v", err)
	}
	if len(r.Namespaces()) != 0 || len(r.Functions("")) != 0 {
		t.Errorf("a closed registry lists %q", r.Namespaces())
	}

	late := loadNS(t, "b", "function f() return 1 end", engine.Config{})
	r.Set(late)
	if _, err := late.Call(context.Background(), "f", nil); !errors.Is(err, engine.ErrClosed) {
		t.Errorf("Set after Close left the namespace open: %v", err)
	}
	if err := r.SetGo("g", []GoFunction{{Name: "f", Fn: func(context.Context, []any) (any, error) { return nil, nil }}}); !errors.Is(err, ErrClosed) {
		t.Errorf("SetGo after Close: %v", err)
	}
	if r.Remove("a") {
		t.Error("Remove after Close found a namespace")
	}
}

// TestCallAllocs checks that dispatch adds no allocations to those of the
// function it calls.
func TestCallAllocs(t *testing.T) {
	r := New(Config{})
	defer r.Close()
	if err := r.SetGo("g", []GoFunction{{Name: "f", Fn: func(context.Context, []any) (any, error) { return nil, nil }}}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if n := testing.AllocsPerRun(100, func() { r.Call(ctx, "g/f", nil) }); n != 0 {
		t.Errorf("%v allocations per call", n)
	}
}

// BenchmarkCall measures a call through the registry, of a Lua function and
// of a Go one.
func BenchmarkCall(b *testing.B) {
	r := New(Config{})
	defer r.Close()
	r.Set(loadNS(b, "lua", "function add(a, b) return a + b end", engine.Config{}))
	err := r.SetGo("go", []GoFunction{{Name: "add", Fn: func(ctx context.Context, args []any) (any, error) {
		return args[0].(int64) + args[1].(int64), nil
	}}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	args := []any{int64(1), int64(2)}
	for _, name := range []string{"lua/add", "go/add"} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := r.Call(ctx, name, args); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

func TestDescribe(t *testing.T) {
	src := "_options = {stateful = true}\n--- Adds.\nfunction add(a, b) return a + b end\nfunction all(...) end"
	r := openFiles(t, map[string]string{"st.lua": src}, Config{})
	if err := r.SetGo("go.math", []GoFunction{{Name: "sum", Params: []string{"..."}, Fn: func(context.Context, []any) (any, error) { return nil, nil }}}); err != nil {
		t.Fatal(err)
	}
	d, ok := r.Describe("st")
	if !ok || d.Name != "st" || d.Hash != engine.Hash([]byte(src)) || !d.Options.Stateful || d.Options.Idempotent {
		t.Fatalf("Describe(st) = %+v, %v", d, ok)
	}
	want := []transport.FuncMeta{{Name: "st/add", Doc: "Adds.", Params: []string{"a", "b"}}, {Name: "st/all", Params: []string{"..."}}}
	if !reflect.DeepEqual(d.Functions, want) {
		t.Fatalf("functions %+v, want %+v", d.Functions, want)
	}
	if d, ok := r.Describe("go.math"); !ok || d.Hash != "" || d.Options != (engine.Options{}) || len(d.Functions) != 1 {
		t.Fatalf("Describe(go.math) = %+v, %v", d, ok)
	}
	if _, ok := r.Describe("nope"); ok {
		t.Fatal("Describe(nope) found it")
	}
}
