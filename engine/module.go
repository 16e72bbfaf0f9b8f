package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/slacker-lua/slacker-lua/tracectx"
)

// openSlacker sets the global table slacker, the namespace's link to the
// server: see the package documentation.
func (v *vm) openSlacker() {
	L := v.L
	mod := L.CreateTable(0, 10)
	mod.RawSetString("namespace", lua.LString(v.ns.name))
	mod.RawSetString("call", L.NewFunction(v.charging(v.call)))
	mod.RawSetString("deadline", L.NewFunction(deadline))
	mod.RawSetString("remaining", L.NewFunction(remaining))
	mod.RawSetString("now", L.NewFunction(now))
	mod.RawSetString("trace_id", L.NewFunction(traceID))
	mod.RawSetString("array", L.NewFunction(v.charging(v.array)))
	mod.RawSetString("map", L.NewFunction(v.newMap))

	js := L.CreateTable(0, 2)
	js.RawSetString("encode", L.NewFunction(v.charging(v.jsonEncode)))
	js.RawSetString("decode", L.NewFunction(v.charging(v.jsonDecode)))
	mod.RawSetString("json", js)

	log := L.CreateTable(0, 4)
	for name, level := range map[string]slog.Level{
		"debug": slog.LevelDebug,
		"info":  slog.LevelInfo,
		"warn":  slog.LevelWarn,
		"error": slog.LevelError,
	} {
		log.RawSetString(name, L.NewFunction(func(L *lua.LState) int { return v.log(L, level) }))
	}
	mod.RawSetString("log", log)

	L.SetGlobal("slacker", mod)
}

// call is slacker.call("ns/fn", ...): it calls Config.Caller with the
// context of the running call and returns the result.
func (v *vm) call(L *lua.LState) int {
	name := L.CheckString(1)
	caller := v.ns.cfg.Caller
	if caller == nil {
		L.RaiseError("slacker.call: no caller configured")
	}
	var args []any
	if n := L.GetTop() - 1; n > 0 {
		args = make([]any, n)
		for i := range n {
			a, err := v.conv.fromLuaValue(L.Get(i + 2))
			if err != nil {
				L.RaiseError("slacker.call: %s", within(err, "argument "+itoa(i+1)).Error())
			}
			args[i] = a
		}
	}
	res, err := caller.Call(contextOf(L), name, args)
	if err != nil {
		L.RaiseError("%s", err.Error())
	}
	lv, err := v.conv.toLua(L, res, 0)
	if err != nil {
		L.RaiseError("slacker.call: %s", within(err, "result").Error())
	}
	L.Push(lv)
	return 1
}

// deadline is slacker.deadline(): the running call's deadline in Unix
// milliseconds, or nil.
func deadline(L *lua.LState) int {
	d, ok := contextOf(L).Deadline()
	if !ok {
		L.Push(lua.LNil)
		return 1
	}
	L.Push(lua.LNumber(d.UnixMilli()))
	return 1
}

// remaining is slacker.remaining(): the seconds left before the running
// call's deadline (0 once it passed), or nil.
func remaining(L *lua.LState) int {
	d, ok := contextOf(L).Deadline()
	if !ok {
		L.Push(lua.LNil)
		return 1
	}
	L.Push(lua.LNumber(max(time.Until(d).Seconds(), 0)))
	return 1
}

// traceID is slacker.trace_id(): the W3C trace id of the running call,
// 32 hex digits, or nil when the call carries no trace context.
func traceID(L *lua.LState) int {
	id := tracectx.From(contextOf(L)).TraceID()
	if id == "" {
		L.Push(lua.LNil)
		return 1
	}
	L.Push(lua.LString(id))
	return 1
}

// now is slacker.now(): the time in Unix milliseconds.
func now(L *lua.LState) int {
	L.Push(lua.LNumber(time.Now().UnixMilli()))
	return 1
}

// array is slacker.array(...): a table of its arguments that converts to an
// array even when empty.
func (v *vm) array(L *lua.LState) int {
	n := L.GetTop()
	t := L.CreateTable(n, 0)
	for i := 1; i <= n; i++ {
		t.RawSetInt(i, L.Get(i))
	}
	t.Metatable = v.conv.arrayMT
	L.Push(t)
	return 1
}

// newMap is slacker.map(): an empty table that converts to a map even when
// empty.
func (v *vm) newMap(L *lua.LState) int {
	t := L.NewTable()
	t.Metatable = v.conv.mapMT
	L.Push(t)
	return 1
}

// jsonEncode is slacker.json.encode(v): v converted by the rules of the
// package documentation, then encoded by encoding/json (map keys sorted,
// no HTML escaping, a byte string as base64).
func (v *vm) jsonEncode(L *lua.LState) int {
	g, err := v.conv.fromLuaValue(L.CheckAny(1))
	if err != nil {
		L.RaiseError("slacker.json.encode: %s", err.Error())
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(g); err != nil {
		L.RaiseError("slacker.json.encode: %s", err.Error())
	}
	L.Push(lua.LString(bytes.TrimSuffix(b.Bytes(), []byte{'\n'})))
	return 1
}

// jsonDecode is slacker.json.decode(s): numbers become numbers (integers
// beyond ±2^53 are an error), objects tables, arrays tables with the array
// metatable, null nil.
func (v *vm) jsonDecode(L *lua.LState) int {
	s := L.CheckString(1)
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	var g any
	if err := dec.Decode(&g); err != nil {
		L.RaiseError("slacker.json.decode: %s", err.Error())
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		L.RaiseError("slacker.json.decode: data after the JSON value")
	}
	lv, err := v.conv.toLua(L, g, 0)
	if err != nil {
		L.RaiseError("slacker.json.decode: %s", err.Error())
	}
	L.Push(lv)
	return 1
}

// log is slacker.log.<level>(msg, key1, value1, ...): a record at level
// with the attribute namespace=<name> and the pairs. Values convert by the
// rules of the package documentation; one that can't is logged as
// tostring gives it.
func (v *vm) log(L *lua.LState, level slog.Level) int {
	ctx := contextOf(L)
	if !v.ns.log.Enabled(ctx, level) {
		return 0
	}
	msg := L.ToStringMeta(L.Get(1)).String()
	top := L.GetTop()
	attrs := make([]slog.Attr, 0, top/2)
	for i := 2; i <= top; i += 2 {
		key := L.ToStringMeta(L.Get(i)).String()
		var val any
		if i+1 <= top {
			lv := L.Get(i + 1)
			g, err := v.conv.fromLuaValue(lv)
			if err != nil {
				g = L.ToStringMeta(lv).String()
			}
			val = g
		}
		attrs = append(attrs, slog.Any(key, val))
	}
	if id := tracectx.From(ctx).TraceID(); id != "" {
		attrs = append(attrs, slog.String("trace_id", id))
	}
	v.ns.log.LogAttrs(ctx, level, msg, attrs...)
	return 0
}
