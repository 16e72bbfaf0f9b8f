package tests

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/client"
	"github.com/slacker-lua/slacker-lua/engine"
	"github.com/slacker-lua/slacker-lua/internal/testutil"
	"github.com/slacker-lua/slacker-lua/namespaces"
	"github.com/slacker-lua/slacker-lua/transport"
)

const valuesLua = `
local M = {}
function M.echo(...) return ... end
function M.nothing() end
function M.pair() return 1, "two" end
function M.cycle() local t = {} t.self = t return t end
function M.fn() return print end
function M.sparse() return {1, nil, 3} end
function M.mixed() local t = {10, 20} t.name = "x" return t end
function M.empty_array() return {} end
function M.empty_map() return slacker.map() end
function M.deep(n) local t = {} local cur = t for i = 1, n do cur.next = {} cur = cur.next end return t end
function M.bytes() return "\255\000\254" end
function M.numkeys() return {[1.5] = "a", [7] = "b", x = "c"} end
function M.typeof(v) return type(v) end
return M
`

var contentTypes = []transport.ContentType{transport.ContentJSON, transport.ContentEDN, transport.ContentNippy, transport.ContentMsgpack}

// TestValueMapping sends every kind of value through a Lua echo function
// and back, in each content type.
func TestValueMapping(t *testing.T) {
	s := serveDir(t, testutil.WriteFiles(t, map[string]string{"v.lua": valuesLua}), engine.Config{}, transport.ServerConfig{})
	echo := []struct {
		name string
		in   any
		want any
	}{
		{"nil", nil, nil},
		{"true", true, true},
		{"false", false, false},
		{"zero", int64(0), int64(0)},
		{"negative", int64(-42), int64(-42)},
		{"largest exact integer", int64(1 << 53), int64(1 << 53)},
		{"float", 2.5, 2.5},
		{"huge float", 1e300, 1e300},
		{"string", "hello", "hello"},
		{"unicode", "héllo, 世界", "héllo, 世界"},
		{"empty string", "", ""},
		{"array", []any{int64(1), "a", true}, []any{int64(1), "a", true}},
		{"empty array", []any{}, []any{}},
		{"array with nulls", []any{int64(1), nil, "x"}, []any{int64(1), nil, "x"}},
		{"array ending in null", []any{int64(1), nil}, []any{int64(1)}}, // Lua tables can't hold it
		{"map", map[string]any{"a": int64(1), "b": "x"}, map[string]any{"a": int64(1), "b": "x"}},
		{"empty map", map[string]any{}, map[string]any{}},
		{"map of nils", map[string]any{"a": nil, "b": nil}, map[string]any{}}, // a map, though empty in Lua
		{"nested map of nils", map[string]any{"k": map[string]any{"l": []any{int64(1), map[string]any{"m": nil}}}},
			map[string]any{"k": map[string]any{"l": []any{int64(1), map[string]any{}}}}},
		{"nested", map[string]any{"list": []any{map[string]any{"k": []any{int64(1)}}}},
			map[string]any{"list": []any{map[string]any{"k": []any{int64(1)}}}}},
	}
	for _, ct := range contentTypes {
		c := dial(t, s.addr, client.Config{ContentType: ct})
		ctx := context.Background()
		for _, tt := range echo {
			t.Run(ct.String()+"/echo "+tt.name, func(t *testing.T) {
				got := callValue(t, c, "v/echo", tt.in)
				if !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("echo(%#v) = %#v, want %#v", tt.in, got, tt.want)
				}
			})
		}
		results := []struct {
			fn   string
			args []any
			want any
		}{
			{"nothing", nil, nil},
			{"pair", nil, []any{int64(1), "two"}},                         // several results: an array
			{"sparse", nil, map[string]any{"1": int64(1), "3": int64(3)}}, // holes: a map
			{"mixed", nil, map[string]any{"1": int64(10), "2": int64(20), "name": "x"}},
			{"empty_array", nil, []any{}},
			{"empty_map", nil, map[string]any{}},
			{"numkeys", nil, map[string]any{"1.5": "a", "7": "b", "x": "c"}},
			{"typeof", []any{int64(3)}, "number"},
			{"typeof", []any{2.5}, "number"},
			{"typeof", []any{[]any{}}, "table"},
		}
		for _, tt := range results {
			t.Run(fmt.Sprintf("%s/%s%v", ct, tt.fn, tt.args), func(t *testing.T) {
				got := callValue(t, c, "v/"+tt.fn, tt.args...)
				if !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("%s = %#v, want %#v", tt.fn, got, tt.want)
				}
			})
		}
		failures := []struct {
			fn   string
			args []any
			msg  string
		}{
			{"cycle", nil, "cycle"},
			{"fn", nil, "function"},
			{"deep", []any{int64(100)}, "deep"},
			{"echo", []any{int64(1<<53 + 1)}, "out of range"},
			{"echo", []any{nested(100)}, "deep"},
		}
		for _, tt := range failures {
			t.Run(fmt.Sprintf("%s/%s fails", ct, tt.fn), func(t *testing.T) {
				_, err := c.Call(ctx, "v/"+tt.fn, tt.args...)
				if !errors.Is(err, client.ErrException) || !strings.Contains(err.Error(), tt.msg) {
					t.Fatalf("got %v, want an exception mentioning %q", err, tt.msg)
				}
			})
		}
	}

	// Byte strings: msgpack carries them as bin both ways.
	c := dial(t, s.addr, client.Config{ContentType: transport.ContentMsgpack})
	got := callValue(t, c, "v/bytes")
	if !reflect.DeepEqual(got, []byte{0xff, 0, 0xfe}) {
		t.Fatalf("bytes = %#v", got)
	}
	got = callValue(t, c, "v/echo", []byte{0xff, 1})
	if !reflect.DeepEqual(got, []byte{0xff, 1}) {
		t.Fatalf("echo(bytes) = %#v", got)
	}
	// JSON has no integers: 1.0 and 1 differ in the text only, and both come
	// back as they went in, as long as the value is a whole number within 2^53.
	cj := dial(t, s.addr, client.Config{})
	f := callAs[float64](t, cj, "v/echo", math.Pi)
	if f != math.Pi {
		t.Fatalf("echo(pi) = %v", f)
	}
}

func nested(n int) any {
	var v any = "leaf"
	for range n {
		v = []any{v}
	}
	return v
}

const behaviourLua = `
local M = {}
function M.add(a, b) return a + b end
function M.fail() error("kaboom") end
function M.failtable() error({code = 7}) end
function M.spin() while true do end end
function M._private() return 1 end
local function hidden() return 2 end
M.hidden_ref = nil
return M
`

const busyLua = `
_options = { pool_size = 1, queue_size = 1, timeout = 60 }
function spin() while true do end end
function ok() return "ok" end
`

func TestCallErrors(t *testing.T) {
	testutil.CheckGoroutines(t)
	dir := testutil.WriteFiles(t, map[string]string{"b.lua": behaviourLua, "busy.lua": busyLua})
	s := serveDir(t, dir, engine.Config{Timeout: 200 * time.Millisecond}, transport.ServerConfig{})
	c := dial(t, s.addr, client.Config{})
	ctx := context.Background()

	for _, name := range []string{"b/_private", "b/hidden", "b/nope", "nope/add", "b", "/add", "b/"} {
		if _, err := c.Call(ctx, name); !errors.Is(err, client.ErrNotFound) {
			t.Errorf("%s: got %v, want not found", name, err)
		}
	}

	_, err := c.Call(ctx, "b/fail")
	var re *client.RemoteError
	if !errors.As(err, &re) || re.Code != transport.CodeException || !strings.Contains(re.Message, "kaboom") || !strings.Contains(re.Message, "b.lua:4") {
		t.Errorf("fail: got %v, want an exception with the Lua message and line", err)
	}

	// A runaway loop is stopped at the namespace's deadline, and the
	// namespace keeps serving.
	start := time.Now()
	_, err = c.Call(ctx, "b/spin")
	if !errors.Is(err, client.ErrCanceled) {
		t.Errorf("spin: got %v, want canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("spin stopped after %v", d)
	}
	if n := callAs[int](t, c, "b/add", 1, 2); n != 3 {
		t.Errorf("add after spin = %d", n)
	}

	// A caller's own deadline interrupts the call on the server.
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	_, err = c.Call(cctx, "busy/spin")
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("spin with caller deadline: got %v", err)
	}
	// busy has one VM: it answers again once the interrupt freed it.
	testutil.WaitFor(t, 5*time.Second, func() bool {
		_, err := c.Call(ctx, "busy/ok")
		return err == nil
	}, "busy/ok after interrupt")

	// thread-pool-full: one call runs, one waits, the third is refused at once.
	spinCtx, stopSpins := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Call(spinCtx, "busy/spin")
		}()
		testutil.WaitFor(t, 10*time.Second, func() bool { return s.srv.InFlight() == i+1 }, fmt.Sprintf("spin call %d in flight", i+1))
	}
	if _, err := c.Call(ctx, "busy/ok"); !errors.Is(err, client.ErrThreadPoolFull) {
		t.Errorf("third call on a full namespace: got %v, want thread-pool-full", err)
	}
	stopSpins()
	wg.Wait()
}

// TestInterrupt cancels a running Lua call from the client and checks the
// server stops it long before its own deadline.
func TestInterrupt(t *testing.T) {
	dir := testutil.WriteFiles(t, map[string]string{"busy.lua": busyLua})
	s := serveDir(t, dir, engine.Config{Timeout: time.Minute}, transport.ServerConfig{})
	c := dial(t, s.addr, client.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.Call(ctx, "busy/spin")
		done <- err
	}()
	testutil.WaitFor(t, 5*time.Second, func() bool { return s.srv.InFlight() == 1 }, "the call to start")
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	testutil.WaitFor(t, 5*time.Second, func() bool { return s.srv.InFlight() == 0 }, "the server to stop the call")
	if got := callAs[string](t, c, "busy/ok"); got != "ok" {
		t.Fatalf("ok = %q", got)
	}
}

// TestConcurrentCallers runs 64 callers on one connection, each checking it
// gets its own answers.
func TestConcurrentCallers(t *testing.T) {
	testutil.CheckGoroutines(t)
	dir := testutil.WriteFiles(t, map[string]string{"v.lua": valuesLua})
	s := serveDir(t, dir, engine.Config{}, transport.ServerConfig{})
	for _, ct := range contentTypes {
		c := dial(t, s.addr, client.Config{ContentType: ct})
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for g := range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 50 {
					want := fmt.Sprintf("caller %d call %d", g, i)
					got, err := client.CallAs[string](context.Background(), c, "v/echo", want)
					if err != nil || got != want {
						errs <- fmt.Errorf("%s: got %q, %v", want, got, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	}
}

// TestGracefulShutdown checks that no call the server received is lost when
// it shuts down.
func TestGracefulShutdown(t *testing.T) {
	dir := testutil.WriteFiles(t, map[string]string{"v.lua": valuesLua})
	s := serveDir(t, dir, engine.Config{}, transport.ServerConfig{})
	release := make(chan struct{})
	if err := s.reg.SetGo("slow", []namespaces.GoFunction{{
		Name: "wait",
		Fn: func(ctx context.Context, args []any) (any, error) {
			select {
			case <-release:
				return "done", nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		},
	}}); err != nil {
		t.Fatal(err)
	}
	c := dial(t, s.addr, client.Config{})
	const n = 64
	results := make(chan error, n)
	for range n {
		go func() {
			v, err := client.CallAs[string](context.Background(), c, "slow/wait")
			if err == nil && v != "done" {
				err = fmt.Errorf("got %q", v)
			}
			results <- err
		}()
	}
	testutil.WaitFor(t, 5*time.Second, func() bool { return s.srv.InFlight() == n }, "calls in flight")
	shut := make(chan error, 1)
	go func() { shut <- s.srv.Shutdown(context.Background()) }()
	// Shutdown has begun once the listener refuses connections; the calls
	// cannot end before release, so it is waiting for them.
	testutil.WaitFor(t, 5*time.Second, refuses(s.addr), "Shutdown to close the listener")
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with %d calls in flight", err, s.srv.InFlight())
	default:
	}
	close(release)
	for range n {
		if err := <-results; err != nil {
			t.Errorf("call lost in shutdown: %v", err)
		}
	}
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
}

// refuses reports whether a new connection to addr is refused: nothing
// listens there any more.
func refuses(addr string) func() bool {
	return func() bool {
		nc, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			nc.Close()
			return false
		}
		return errors.Is(err, syscall.ECONNREFUSED)
	}
}

// TestInspect lists functions and reads their docs through the client.
func TestInspect(t *testing.T) {
	s := serveDir(t, "../examples/lua", engine.Config{}, transport.ServerConfig{})
	c := dial(t, s.addr, client.Config{})
	ctx := context.Background()
	names, err := c.Functions(ctx, "slacker.example.api/")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"slacker.example.api/echo", "slacker.example.api/rand-ints", "slacker.example.api/timestamp"} {
		if !contains(names, want) {
			t.Errorf("functions: %v lacks %s", names, want)
		}
	}
	if contains(names, "slacker.example.api/_unreachable") {
		t.Errorf("functions lists a private function: %v", names)
	}
	m, err := c.Meta(ctx, "slacker.example.api/echo")
	if err != nil {
		t.Fatal(err)
	}
	if m.Doc != "Returns its argument, or both arguments as a list." || !reflect.DeepEqual(m.Params, []string{"x", "y"}) {
		t.Errorf("meta = %+v", m)
	}
	if _, err := c.Meta(ctx, "slacker.example.api/nope"); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("meta of a missing function: %v", err)
	}
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}
