package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"
)

// testVM is a VM outside any pool, for converting values directly.
func testVM(t testing.TB, cfg Config) *vm {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	cfg = cfg.withDefaults()
	n := &Namespace{name: "test", cfg: cfg, log: cfg.Logger, modules: make(map[string]*module)}
	v := n.newVM()
	t.Cleanup(v.close)
	return v
}

// eval runs Lua source in v and converts what it returns, as a call's
// result.
func (v *vm) eval(src string) (any, error) {
	v.L.SetTop(0)
	defer v.L.SetTop(0)
	if err := v.L.DoString(src); err != nil {
		return nil, err
	}
	return v.conv.results(v.L, v.L.GetTop())
}

// nested returns n arrays nested around a string.
func nested(n int) any {
	var v any = "leaf"
	for range n {
		v = []any{v}
	}
	return v
}

// luaNested is Lua source returning n tables nested around a string.
func luaNested(n int) string {
	return `local t = "leaf" for i = 1, ` + itoa(n) + ` do t = {t} end return t`
}

// TestGoToLuaToGo converts Go values to Lua and back, as a call's argument
// and result.
func TestGoToLuaToGo(t *testing.T) {
	selfRef := map[string]any{}
	selfRef["self"] = selfRef
	tests := []struct {
		name string
		in   any
		want any   // what comes back
		err  error // or the reason it fails
	}{
		{name: "nil", in: nil, want: nil},
		{name: "true", in: true, want: true},
		{name: "false", in: false, want: false},
		{name: "json int64", in: int64(3), want: int64(3)},
		{name: "json float64", in: 2.5, want: 2.5},
		{name: "integral float64 comes back an integer", in: 2.0, want: int64(2)},
		{name: "negative", in: int64(-42), want: int64(-42)},
		{name: "int", in: 7, want: int64(7)},
		{name: "int8", in: int8(-8), want: int64(-8)},
		{name: "int16", in: int16(-16), want: int64(-16)},
		{name: "int32", in: int32(-32), want: int64(-32)},
		{name: "uint", in: uint(9), want: int64(9)},
		{name: "uint8", in: uint8(8), want: int64(8)},
		{name: "uint16", in: uint16(16), want: int64(16)},
		{name: "uint32", in: uint32(32), want: int64(32)},
		{name: "uint64", in: uint64(64), want: int64(64)},
		{name: "float32", in: float32(1.5), want: 1.5},
		{name: "2^53", in: int64(1 << 53), want: int64(1 << 53)},
		{name: "-2^53", in: int64(-1 << 53), want: int64(-1 << 53)},
		{name: "2^53+1", in: int64(1<<53 + 1), err: errRange},
		{name: "-2^53-1", in: int64(-1<<53 - 1), err: errRange},
		{name: "big int", in: math.MaxInt, err: errRange},
		{name: "big uint64", in: uint64(1 << 63), err: errRange},
		{name: "huge float", in: 1e300, want: 1e300},
		{name: "fraction", in: math.Pi, want: math.Pi},
		{name: "+Inf", in: math.Inf(1), want: math.Inf(1)},
		{name: "json.Number integer", in: json.Number("3"), want: int64(3)},
		{name: "json.Number float", in: json.Number("2.5"), want: 2.5},
		{name: "json.Number beyond 2^53", in: json.Number("9007199254740993"), err: errRange},
		{name: "json.Number beyond int64", in: json.Number("123456789012345678901234567890"), err: errRange},
		{name: "string", in: "héllo, 世界", want: "héllo, 世界"},
		{name: "empty string", in: "", want: ""},
		{name: "UTF-8 bytes", in: []byte("abc"), want: "abc"},
		{name: "non-UTF-8 bytes", in: []byte{0xff, 0, 0xfe}, want: []byte{0xff, 0, 0xfe}},
		{name: "array", in: []any{int64(1), "a", true}, want: []any{int64(1), "a", true}},
		{name: "empty array", in: []any{}, want: []any{}},
		{name: "array with a hole", in: []any{int64(1), nil, int64(3)}, want: []any{int64(1), nil, int64(3)}},
		{name: "array ending in nil", in: []any{int64(1), nil}, want: []any{int64(1)}},
		{name: "sparse array", in: sparseArray(), want: map[string]any{"1": int64(1), "200": int64(2)}},
		{name: "[]string", in: []string{"a", "b"}, want: []any{"a", "b"}},
		{name: "empty []string", in: []string{}, want: []any{}},
		{name: "[]int", in: []int{1, 2}, want: []any{int64(1), int64(2)}},
		{name: "[]int out of range", in: []int{1, math.MaxInt}, err: errRange},
		{name: "[]int64", in: []int64{3}, want: []any{int64(3)}},
		{name: "[]float64", in: []float64{1.5, 2}, want: []any{1.5, int64(2)}},
		{name: "[]bool", in: []bool{true, false}, want: []any{true, false}},
		{name: "map", in: map[string]any{"a": int64(1), "b": "x"}, want: map[string]any{"a": int64(1), "b": "x"}},
		{name: "empty map", in: map[string]any{}, want: map[string]any{}},
		{name: "map[string]string", in: map[string]string{"k": "v"}, want: map[string]any{"k": "v"}},
		{name: "empty map[string]string", in: map[string]string{}, want: map[string]any{}},
		{name: "map[any]any", in: map[any]any{"a": int64(1), int64(2): "b", 1.5: "c"},
			want: map[string]any{"a": int64(1), "2": "b", "1.5": "c"}},
		{name: "empty map[any]any", in: map[any]any{}, want: map[string]any{}},
		{name: "map[any]any nil key", in: map[any]any{nil: 1}, err: errKey},
		{name: "map[any]any NaN key", in: map[any]any{math.NaN(): 1}, err: errKey},
		{name: "map[any]any boolean key", in: map[any]any{true: 1}, err: errKey}, // fine in Lua, not back
		{name: "nested", in: map[string]any{"list": []any{map[string]any{"k": []any{int64(1)}}}},
			want: map[string]any{"list": []any{map[string]any{"k": []any{int64(1)}}}}},
		{name: "depth 64", in: nested(64), want: nested(64)},
		{name: "depth 65", in: nested(65), err: errDepth},
		{name: "Go map containing itself", in: selfRef, err: errDepth},
		{name: "struct", in: struct{}{}, err: errType},
		{name: "chan", in: make(chan int), err: errType},
		{name: "map[int]int", in: map[int]int{1: 1}, err: errType},
		{name: "pointer", in: new(int), err: errType},
	}
	v := testVM(t, Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lv, err := v.conv.toLua(v.L, tt.in, 0)
			if err == nil {
				var got any
				if got, err = v.conv.fromLuaValue(lv); err == nil {
					if tt.err != nil {
						t.Fatalf("got %#v, want an error: %v", got, tt.err)
					}
					if !reflect.DeepEqual(got, tt.want) {
						t.Fatalf("got %#v (%T), want %#v (%T)", got, got, tt.want, tt.want)
					}
					return
				}
			}
			if tt.err == nil {
				t.Fatalf("unexpected error %v", err)
			}
			if !errors.Is(err, tt.err) || !errors.Is(err, ErrValue) {
				t.Fatalf("got error %v, want %v wrapping ErrValue", err, tt.err)
			}
		})
	}
}

func TestNaNRoundTrip(t *testing.T) {
	v := testVM(t, Config{})
	lv, err := v.conv.toLua(v.L, math.NaN(), 0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.conv.fromLuaValue(lv)
	if f, ok := got.(float64); err != nil || !ok || !math.IsNaN(f) {
		t.Fatalf("got %#v, %v; want NaN", got, err)
	}
}

// TestLuaToGo converts what Lua code returns.
func TestLuaToGo(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want any
		err  error
		msg  string // the error message, when checked
	}{
		{name: "no result", src: `return`, want: nil},
		{name: "nil", src: `return nil`, want: nil},
		{name: "several results", src: `return 1, "two"`, want: []any{int64(1), "two"}},
		{name: "several results with nil", src: `return 1, nil`, want: []any{int64(1), nil}},
		{name: "booleans", src: `return true, false`, want: []any{true, false}},
		{name: "integer", src: `return 3`, want: int64(3)},
		{name: "integral float", src: `return 2.0`, want: int64(2)},
		{name: "fraction", src: `return 2.5`, want: 2.5},
		{name: "2^53", src: `return 2^53`, want: int64(1 << 53)},
		{name: "-2^53", src: `return -2^53`, want: int64(-1 << 53)},
		{name: "beyond 2^53", src: `return 2^53 + 2`, want: float64(1<<53 + 2)},
		{name: "Inf", src: `return 1/0`, want: math.Inf(1)},
		{name: "-Inf", src: `return -1/0`, want: math.Inf(-1)},
		{name: "string", src: `return "ok"`, want: "ok"},
		{name: "non-UTF-8 string", src: `return "\255\000\254"`, want: []byte{0xff, 0, 0xfe}},
		{name: "empty table", src: `return {}`, want: []any{}},
		{name: "slacker.array()", src: `return slacker.array()`, want: []any{}},
		{name: "slacker.map()", src: `return slacker.map()`, want: map[string]any{}},
		{name: "slacker.array(...)", src: `return slacker.array(1, "a")`, want: []any{int64(1), "a"}},
		{name: "filled slacker.map()", src: `local m = slacker.map() m.a = 1 return m`, want: map[string]any{"a": int64(1)}},
		{name: "sequence", src: `return {1, 2, 3}`, want: []any{int64(1), int64(2), int64(3)}},
		{name: "sparse", src: `return {1, nil, 3}`, want: map[string]any{"1": int64(1), "3": int64(3)}},
		{name: "not from 1", src: `return {[2] = "b"}`, want: map[string]any{"2": "b"}},
		{name: "mixed keys", src: `local t = {10, 20} t.name = "x" return t`,
			want: map[string]any{"1": int64(10), "2": int64(20), "name": "x"}},
		{name: "number keys", src: `return {[1.5] = "a", [7] = "b", x = "c", [-1] = "d", [1e100] = "e"}`,
			want: map[string]any{"1.5": "a", "7": "b", "x": "c", "-1": "d", "1e+100": "e"}},
		{name: "trailing element removed", src: `local t = {1, 2, 3} t[3] = nil return t`, want: []any{int64(1), int64(2)}},
		{name: "other key removed", src: `local t = {1, 2} t.x = 1 t.x = nil return t`, want: []any{int64(1), int64(2)}},
		{name: "emptied map", src: `local t = {a = 1} t.a = nil return t`, want: []any{}},
		{name: "shared table", src: `local s = {1} return {s, s}`, want: []any{[]any{int64(1)}, []any{int64(1)}}},
		{name: "nested", src: `return {a = {b = {1, {c = true}}}}`,
			want: map[string]any{"a": map[string]any{"b": []any{int64(1), map[string]any{"c": true}}}}},
		{name: "depth 64", src: luaNested(64), want: nested(64)},
		{name: "depth 65", src: luaNested(65), err: errDepth},
		{name: "boolean key", src: `return {[true] = 1}`, err: errKey},
		{name: "table key", src: `return {[{}] = 1}`, err: errKey},
		{name: "number and string key alike", src: `return {[1] = "n", ["1"] = "s"}`, err: errKey},
		{name: "function", src: `return print`, err: errType, msg: "result: cannot convert Lua function to a value"},
		{name: "thread", src: `return coroutine.create(function() end)`, err: errType},
		{name: "userdata", src: `return newproxy()`, err: errType},
		{name: "cycle", src: `local t = {} t.self = t return t`, err: errCycle, msg: `result["self"]: cycle in table`},
		{name: "cycle through an array", src: `local t = {} t[1] = {t} return t`, err: errCycle, msg: "result[1][1]: cycle in table"},
		{name: "error path", src: `return {a = {1, print}}`, err: errType, msg: `result["a"][2]: cannot convert Lua function to a value`},
		{name: "error in second result", src: `return 1, print`, err: errType, msg: "result 2: cannot convert Lua function to a value"},
		{name: "many copies of one string", src: `local s = string.rep("x", 600) return {s, s}`, err: errTooLarge},
		{name: "many copies of one table", src: `local t = {1} for i = 1, 60 do t = {t, t} end return t`, err: errTooLarge},
	}
	v := testVM(t, Config{MaxStringSize: 1000})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v.eval(tt.src)
			if tt.err == nil {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("got %#v, want %#v", got, tt.want)
				}
				return
			}
			if !errors.Is(err, tt.err) || !errors.Is(err, ErrValue) {
				t.Fatalf("got %#v, %v; want an error %v wrapping ErrValue", got, err, tt.err)
			}
			if tt.msg != "" && err.Error() != tt.msg {
				t.Fatalf("message %q, want %q", err.Error(), tt.msg)
			}
		})
	}
}

// TestLuaSideShapes checks what Go values look like to Lua code, and that
// they round-trip through a Lua function.
func TestLuaSideShapes(t *testing.T) {
	ns := load(t, `
local M = {}
local array, map = getmetatable(slacker.array()), getmetatable(slacker.map())
function M.kind(v)
  if type(v) == "table" then
    local mt = getmetatable(v)
    if mt == array then return "array" elseif mt == map then return "map" end
  end
  return type(v)
end
function M.echo(...) return ... end
function M.len(v) return #v end
return M
`, Config{})
	kinds := []struct {
		in   any
		want string
	}{
		{nil, "nil"}, {true, "boolean"}, {int64(3), "number"}, {2.5, "number"},
		{"s", "string"}, {[]byte{1}, "string"},
		{[]any{}, "array"}, {[]any{int64(1)}, "array"}, {[]string{}, "array"},
		{map[string]any{}, "map"}, {map[string]any{"a": int64(1)}, "map"}, {map[any]any{}, "map"},
		{map[string]string{"a": "b"}, "map"}, {map[any]any{int64(1): "b"}, "map"},
	}
	for _, k := range kinds {
		if got := mustCall(t, ns, "kind", k.in); got != k.want {
			t.Errorf("kind(%#v) = %v, want %s", k.in, got, k.want)
		}
	}
	if got := mustCall(t, ns, "len", []any{"a", "b", "c"}); got != int64(3) {
		t.Errorf("#array = %v", got)
	}
	if got := mustCall(t, ns, "len", "héllo"); got != int64(6) {
		t.Errorf("#string = %v", got)
	}
	// Several arguments echoed are several results: an array.
	got := mustCall(t, ns, "echo", int64(1), []any{}, map[string]any{})
	if want := []any{int64(1), []any{}, map[string]any{}}; !reflect.DeepEqual(got, want) {
		t.Errorf("echo = %#v, want %#v", got, want)
	}
	if got := mustCall(t, ns, "echo"); got != nil {
		t.Errorf("echo() = %#v", got)
	}
	// A map whose values are all nil is empty in Lua, and still a map.
	got = mustCall(t, ns, "echo", map[string]any{"a": nil, "b": nil})
	if want := map[string]any{}; !reflect.DeepEqual(got, want) {
		t.Errorf("echo(map of nils) = %#v, want %#v", got, want)
	}
	got = mustCall(t, ns, "echo", []any{map[string]any{"a": nil}, map[any]any{int64(1): nil}})
	if want := []any{map[string]any{}, map[string]any{}}; !reflect.DeepEqual(got, want) {
		t.Errorf("echo(maps of nils) = %#v, want %#v", got, want)
	}
	// An argument that can't be converted names itself.
	_, err := call(t, ns, "echo", int64(1), []any{make(chan int)})
	if !errors.Is(err, ErrValue) || !errors.Is(err, errType) {
		t.Fatalf("bad argument: %v", err)
	}
	if want := "engine: ns/echo: argument 2[1]: cannot convert Go type chan int to Lua"; err.Error() != want {
		t.Fatalf("bad argument: %q, want %q", err, want)
	}
	// So does a result.
	_, err = call(t, ns, "echo", nested(64), int64(2))
	if err != nil {
		t.Fatalf("echo of depth 64: %v", err)
	}
	_, err = call(t, ns, "echo", nested(65))
	if !errors.Is(err, errDepth) {
		t.Fatalf("echo of depth 65: %v", err)
	}
}

func TestErrorMessageOfValues(t *testing.T) {
	v := testVM(t, Config{})
	tests := []struct{ src, want string }{
		{`error("boom", 0)`, "boom"},
		{`error(42)`, "42"},
		{`error({code = 7})`, `{"code":7}`},
		{`error({print})`, "(error object is a table value)"},
		{`error(nil)`, "nil"},
	}
	for _, tt := range tests {
		aerr, ok := v.L.DoString(tt.src).(*lua.ApiError)
		if !ok {
			t.Fatalf("%s: no Lua error", tt.src)
		}
		if got := v.conv.errorMessage(aerr.Object); got != tt.want {
			t.Errorf("%s: message %q, want %q", tt.src, got, tt.want)
		}
	}
}

// sparseArray is an array so sparse that it travels back as a map.
func sparseArray() []any {
	a := make([]any, 200)
	a[0], a[199] = int64(1), int64(2)
	return a
}

// TestToLuaBudget checks that a value whose Lua size passes luaSizeFactor
// times MaxStringSize is refused, counted as the rules say, and that each
// argument has a budget of its own.
func TestToLuaBudget(t *testing.T) {
	const maxSize = 1 << 12
	ns := load(t, `return { id = function(v) return #v end }`, Config{MaxStringSize: maxSize})
	budget := luaSizeFactor * maxSize
	// An array of n empty maps takes 96 + 16n for the array and
	// 96 + 768 for each map.
	fits := (budget - luaSizeTable) / (luaSizeElem + luaSizeTable + luaSizeMap)
	maps := func(n int) []any {
		a := make([]any, n)
		for i := range a {
			a[i] = map[string]any{}
		}
		return a
	}
	if got, err := ns.Call(context.Background(), "id", []any{maps(fits)}); err != nil || got != int64(fits) {
		t.Fatalf("%d maps: %v, %v", fits, got, err)
	}
	_, err := ns.Call(context.Background(), "id", []any{maps(fits + 1)})
	if !errors.Is(err, errTooLarge) || !errors.Is(err, ErrValue) {
		t.Fatalf("%d maps: %v, want value too large", fits+1, err)
	}
	want := fmt.Sprintf("argument 1[%d]: value too large for Lua (more than %d bytes)", fits+1, budget)
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q, want it to say %q", err, want)
	}
	// Two arguments that fit each fit together.
	if _, err := ns.Call(context.Background(), "id", []any{maps(fits), maps(fits)}); err != nil {
		t.Errorf("two arguments that fit: %v", err)
	}
}
