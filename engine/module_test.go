package engine

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/tracectx"
)

// fakeCaller records the calls of slacker.call and answers from a table.
type fakeCaller struct {
	mu      sync.Mutex
	calls   []fakeCall
	answers map[string]any
}

type fakeCall struct {
	name        string
	args        []any
	hasDeadline bool
}

func (c *fakeCaller) Call(ctx context.Context, name string, args []any) (any, error) {
	_, ok := ctx.Deadline()
	c.mu.Lock()
	c.calls = append(c.calls, fakeCall{name, args, ok})
	c.mu.Unlock()
	switch name {
	case "fail/now":
		return nil, errors.New("remote said no")
	case "bad/result":
		return make(chan int), nil
	}
	return c.answers[name], nil
}

func TestSlackerCall(t *testing.T) {
	caller := &fakeCaller{answers: map[string]any{
		"math/add": int64(3),
		"data/get": map[string]any{"list": []any{int64(1), "two"}, "empty": map[string]any{}},
	}}
	ns := load(t, `
local M = {}
function M.add() return slacker.call("math/add", 1, 2) end
function M.get()
  local d = slacker.call("data/get")
  return d.list[2], #d.list, getmetatable(d.empty) == getmetatable(slacker.map())
end
function M.args() return slacker.call("x/y", {a = {1, 2}}, "s", true, nil, 2.5) end
function M.noargs() return slacker.call("x/z") end
function M.fail() return slacker.call("fail/now") end
function M.catch() local ok, err = pcall(slacker.call, "fail/now") return ok, err end
function M.badarg() return slacker.call("x/y", print) end
function M.badresult() return slacker.call("bad/result") end
return M
`, Config{Caller: caller})
	if got := mustCall(t, ns, "add"); got != int64(3) {
		t.Errorf("add = %#v", got)
	}
	if got := mustCall(t, ns, "get"); !reflect.DeepEqual(got, []any{"two", int64(2), true}) {
		t.Errorf("get = %#v", got)
	}
	mustCall(t, ns, "args")
	mustCall(t, ns, "noargs")
	caller.mu.Lock()
	calls := caller.calls
	caller.mu.Unlock()
	want := []fakeCall{
		{"math/add", []any{int64(1), int64(2)}, true},
		{"data/get", nil, true},
		{"x/y", []any{map[string]any{"a": []any{int64(1), int64(2)}}, "s", true, nil, 2.5}, true},
		{"x/z", nil, true},
	}
	if !reflect.DeepEqual(calls, want) {
		t.Errorf("calls:\n got %#v\nwant %#v", calls, want)
	}
	_, err := call(t, ns, "fail")
	if le := luaError(t, err); !strings.HasSuffix(le.Message, "ns.lua:10: remote said no") {
		t.Errorf("fail: %q", le.Message)
	}
	if got := mustCall(t, ns, "catch"); !reflect.DeepEqual(got, []any{false, got.([]any)[1]}) ||
		!strings.HasSuffix(got.([]any)[1].(string), "remote said no") {
		t.Errorf("catch = %#v", got)
	}
	_, err = call(t, ns, "badarg")
	if le := luaError(t, err); !strings.HasSuffix(le.Message, "slacker.call: argument 1: cannot convert Lua function to a value") {
		t.Errorf("badarg: %q", le.Message)
	}
	_, err = call(t, ns, "badresult")
	if le := luaError(t, err); !strings.HasSuffix(le.Message, "slacker.call: result: cannot convert Go type chan int to Lua") {
		t.Errorf("badresult: %q", le.Message)
	}

	// Without a Caller.
	ns = load(t, `function f() return slacker.call("a/b") end`, Config{})
	_, err = call(t, ns, "f")
	if le := luaError(t, err); !strings.HasSuffix(le.Message, "slacker.call: no caller configured") {
		t.Errorf("no caller: %q", le.Message)
	}
}

func TestSlackerCallGetsTheCallContext(t *testing.T) {
	var got time.Time
	ns := load(t, `function f() return slacker.call("x/y") end`, Config{Caller: callerFunc(func(ctx context.Context) {
		got, _ = ctx.Deadline()
	})})
	// The caller's deadline is earlier than the 10s timeout: it is the call's.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := ns.Call(ctx, "f", nil); err != nil {
		t.Fatal(err)
	}
	if want, _ := ctx.Deadline(); !got.Equal(want) {
		t.Fatalf("caller saw deadline %v, want %v", got, want)
	}
}

type callerFunc func(ctx context.Context)

func (f callerFunc) Call(ctx context.Context, name string, args []any) (any, error) {
	f(ctx)
	return nil, nil
}

func TestSlackerJSON(t *testing.T) {
	ns := load(t, evalLua, Config{})
	runEval(t, ns, []evalTest{
		{src: `return slacker.json.encode({a = 1, b = {1, 2.5, "x"}, c = slacker.map(), d = {}, e = true})`,
			want: `{"a":1,"b":[1,2.5,"x"],"c":{},"d":[],"e":true}`},
		{src: `return slacker.json.encode("<a & b>")`, want: `"<a & b>"`},
		{src: `return slacker.json.encode(nil)`, want: `null`},
		{src: `return slacker.json.encode(2^53)`, want: `9007199254740992`},
		{src: `return slacker.json.encode(0/0)`, msg: "slacker.json.encode: json: unsupported value: NaN"},
		{src: `local t = {} t.t = t return slacker.json.encode(t)`, msg: `slacker.json.encode: ["t"]: cycle in table`},
		{src: `return slacker.json.encode(print)`, msg: "slacker.json.encode: cannot convert Lua function to a value"},
		{src: `local v = slacker.json.decode('{"a":[1,2.5,"x",null,true],"b":{},"c":[],"d":{"e":-3}}')
			return v.a[1], v.a[2], v.a[3], v.a[4], v.a[5], v.d.e,
				getmetatable(v.a) == getmetatable(slacker.array()),
				getmetatable(v.b) == getmetatable(slacker.map()),
				getmetatable(v.c) == getmetatable(slacker.array())`,
			want: []any{int64(1), 2.5, "x", nil, true, int64(-3), true, true, true}},
		{src: `local s = '{"a":[1,2.5],"b":{},"c":[]}' return slacker.json.encode(slacker.json.decode(s)) == s`, want: true},
		{src: `return slacker.json.decode('"\\u00e9"')`, want: "é"},
		{src: `return slacker.json.decode('9007199254740993')`, msg: "out of range"},
		{src: `return slacker.json.decode('{"a":')`, msg: "slacker.json.decode: unexpected EOF"},
		{src: `return slacker.json.decode('1 2')`, msg: "slacker.json.decode: data after the JSON value"},
		{src: `return slacker.json.decode('1 ')`, want: int64(1)},
	})
	// Decoded values cross back to Go by the usual rules.
	got := mustCall(t, ns, "eval", `return slacker.json.decode('{"a":[],"b":{},"c":1.0}')`)
	if want := map[string]any{"a": []any{}, "b": map[string]any{}, "c": int64(1)}; !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded = %#v, want %#v", got, want)
	}
}

func TestSlackerDeadlineAndNow(t *testing.T) {
	ns := load(t, `
loaded_with_deadline = slacker.deadline() ~= nil
return {
  deadline = function() return slacker.deadline(), slacker.remaining() end,
  now = function() return slacker.now() end,
  loaded = function() return loaded_with_deadline end,
  name = function() return slacker.namespace end,
}
`, Config{Timeout: 5 * time.Second})
	before := time.Now()
	got := mustCall(t, ns, "deadline").([]any)
	// call's deadline is 10s, later than the 5s timeout.
	ms, rem := got[0].(int64), toFloat(got[1])
	if d := time.UnixMilli(ms); d.Before(before.Add(5*time.Second-time.Millisecond)) || d.After(time.Now().Add(5*time.Second)) {
		t.Errorf("deadline %v, want about now+5s", d)
	}
	if rem <= 4 || rem > 5 {
		t.Errorf("remaining %v, want about 5", rem)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	res, err := ns.Call(ctx, "deadline", nil)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := ctx.Deadline(); res.([]any)[0] != want.UnixMilli() {
		t.Errorf("deadline %v, want the caller's %v", res.([]any)[0], want.UnixMilli())
	}
	now := mustCall(t, ns, "now").(int64)
	if d := time.Since(time.UnixMilli(now)); d < -time.Second || d > time.Second {
		t.Errorf("now is %v off", d)
	}
	if got := mustCall(t, ns, "loaded"); got != true {
		t.Errorf("no deadline while loading")
	}
	if got := mustCall(t, ns, "name"); got != "ns" {
		t.Errorf("slacker.namespace = %#v", got)
	}
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case float64:
		return x
	}
	return -1
}

// TestSlackerTraceID checks slacker.trace_id() with and without a trace
// context, and that slacker.log lines carry it.
func TestSlackerTraceID(t *testing.T) {
	var logs bytes.Buffer
	ns := load(t, `
return {
  id = function() slacker.log.info("traced", "k", 1) return slacker.trace_id() end,
}
`, Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if got := mustCall(t, ns, "id"); got != nil {
		t.Errorf("without a trace context: %#v, want nil", got)
	}
	ctx := tracectx.With(context.Background(), tracectx.Context{Parent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"})
	got, err := ns.Call(ctx, "id", nil)
	if err != nil || got != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("with one: %#v, %v", got, err)
	}
	if n := strings.Count(logs.String(), "trace_id=4bf92f3577b34da6a3ce929d0e0e4736"); n != 1 {
		t.Errorf("%d log lines with the trace id:\n%s", n, logs.String())
	}
}
