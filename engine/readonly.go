package engine

import (
	lua "github.com/yuin/gopher-lua"
)

// readOnlyLibs are the library tables no Lua code can change: each global
// of these names is a view of the library, an empty table whose metatable
// reads the library and refuses writes. slacker's json and log tables are
// views too. Without them, a call that replaced string.upper or
// slacker.call would change every later call on its VM, from any caller.
// The unsafe libraries (io, os's rest, debug, package) are left as they
// are: they are for trusted code, which may mean to change them.
var readOnlyLibs = []string{
	lua.StringLibName, lua.TabLibName, lua.MathLibName, lua.CoroutineLibName, lua.OsLibName, "slacker",
}

// protect makes v's libraries read-only (see readOnlyLibs), the string
// metatable hidden from getmetatable and so unchangeable, and rawset
// refuse the views; pairs and next over a view go over its library.
func (v *vm) protect() {
	L := v.L
	g := L.G.Global
	views := make(map[*lua.LTable]*lua.LTable) // view -> library
	newindex := func(name string) *lua.LFunction {
		return L.NewFunction(func(L *lua.LState) int {
			L.RaiseError("attempt to change the standard library: %s.%s", name, L.ToStringMeta(L.Get(2)).String())
			return 0
		})
	}
	view := func(name string, lib *lua.LTable) *lua.LTable {
		mt := L.CreateTable(0, 3)
		mt.RawSetString("__index", lib)
		mt.RawSetString("__newindex", newindex(name))
		mt.RawSetString("__metatable", lua.LFalse)
		t := L.CreateTable(0, 0)
		t.Metatable = mt
		views[t] = lib
		return t
	}
	if slacker, ok := g.RawGetString("slacker").(*lua.LTable); ok {
		for _, sub := range []string{"json", "log"} {
			if lib, ok := slacker.RawGetString(sub).(*lua.LTable); ok {
				slacker.RawSetString(sub, view("slacker."+sub, lib))
			}
		}
	}
	for _, name := range readOnlyLibs {
		if lib, ok := g.RawGetString(name).(*lua.LTable); ok {
			g.RawSetString(name, view(name, lib))
		}
	}
	if mt, ok := L.GetMetatable(lua.LString("")).(*lua.LTable); ok {
		mt.RawSetString("__metatable", lua.LFalse)
	}
	rawset := g.RawGetString("rawset").(*lua.LFunction).GFunction
	g.RawSetString("rawset", L.NewFunction(func(L *lua.LState) int {
		if views[L.CheckTable(1)] != nil {
			L.RaiseError("attempt to change the standard library with rawset")
		}
		return rawset(L)
	}))
	for _, name := range []string{"pairs", "next"} {
		fn := g.RawGetString(name).(*lua.LFunction)
		f := fn.GFunction
		// pairs returns next as its upvalue: keep the closure's upvalues.
		g.RawSetString(name, L.NewClosure(func(L *lua.LState) int {
			if lib := views[L.CheckTable(1)]; lib != nil {
				L.Replace(1, lib)
			}
			return f(L)
		}, upvalues(fn)...))
	}
}

func upvalues(fn *lua.LFunction) []lua.LValue {
	out := make([]lua.LValue, len(fn.Upvalues))
	for i, u := range fn.Upvalues {
		out[i] = u.Value()
	}
	return out
}

// protectGlobals gives _G a protected metatable once the file has run, if
// the file gave it none, so that no call can give it one: a metatable on
// _G would run its code for every later call's missing globals.
func (v *vm) protectGlobals() {
	g := v.L.G.Global
	if g.Metatable == lua.LNil || g.Metatable == nil {
		mt := v.L.CreateTable(0, 1)
		mt.RawSetString("__metatable", lua.LFalse)
		g.Metatable = mt
	}
}
