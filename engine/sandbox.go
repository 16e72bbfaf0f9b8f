package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// Limits of every VM. The call stack bounds recursion with a Lua error
// ("stack overflow"); the registry (the value stack) starts small, grows on
// demand and bounds what one call may push (unpack of a huge table fails
// with "registry overflow"). A coroutine is a state of its own with the same
// limits.
const (
	callStackSize    = 1024
	registrySize     = 1024
	registryMaxSize  = 256 * 1024
	registryGrowStep = 16 * 1024
)

func newState() *lua.LState {
	return lua.NewState(lua.Options{
		SkipOpenLibs:     true,
		CallStackSize:    callStackSize,
		RegistrySize:     registrySize,
		RegistryMaxSize:  registryMaxSize,
		RegistryGrowStep: registryGrowStep,
	})
}

// openLibs opens the libraries of the sandbox in v's state (see the package
// documentation), or all of them with Config.UnsafeLibs.
func (v *vm) openLibs() {
	L := v.L
	unsafeLibs := v.ns.cfg.UnsafeLibs
	openStdLibs(L, unsafeLibs)

	g := L.G.Global
	g.RawSetString("_printregs", lua.LNil) // prints to stdout
	g.RawSetString("print", L.NewFunction(v.print))
	g.RawSetString("require", L.NewFunction(v.require))
	g.RawSetString("load", L.NewFunction(v.load))
	g.RawSetString("loadstring", L.NewFunction(v.load))
	if !unsafeLibs {
		g.RawSetString("dofile", lua.LNil)
		g.RawSetString("loadfile", lua.LNil)
		g.RawSetString("module", lua.LNil) // needs package
		g.RawSetString("collectgarbage", L.NewFunction(collectGarbage))

		full := g.RawGetString(lua.OsLibName).(*lua.LTable)
		osLib := L.CreateTable(0, 4)
		for _, name := range []string{"time", "clock", "date", "difftime"} {
			osLib.RawSetString(name, full.RawGetString(name))
		}
		g.RawSetString(lua.OsLibName, osLib)
	}

	v.openBuiltins(g)
	guardRandom(L, g.RawGetString(lua.MathLibName).(*lua.LTable))
	v.wrapCoroutines(g.RawGetString(lua.CoroutineLibName).(*lua.LTable))
	v.chargeLibs(g)
}

// openStdLibs opens gopher-lua's libraries of the sandbox in L, or all of
// them with unsafeLibs.
func openStdLibs(L *lua.LState, unsafeLibs bool) {
	type lib struct {
		name string
		open lua.LGFunction
	}
	libs := []lib{
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.StringLibName, lua.OpenString},
		{lua.MathLibName, lua.OpenMath},
		{lua.CoroutineLibName, lua.OpenCoroutine},
		{lua.OsLibName, lua.OpenOs},
	}
	if unsafeLibs {
		libs = append([]lib{{lua.LoadLibName, lua.OpenPackage}}, libs...) // package first, as OpenLibs does
		libs = append(libs, lib{lua.IoLibName, lua.OpenIo}, lib{lua.DebugLibName, lua.OpenDebug})
	}
	for _, lib := range libs {
		L.Push(L.NewFunction(lib.open))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
}

// guardRandom replaces math.random of mathLib with one that raises an
// error on an empty interval, where the library's panics.
func guardRandom(L *lua.LState, mathLib *lua.LTable) {
	random := mathLib.RawGetString("random").(*lua.LFunction).GFunction
	mathLib.RawSetString("random", L.NewFunction(func(L *lua.LState) int {
		switch L.GetTop() {
		case 0:
		case 1:
			if L.CheckInt(1) < 1 {
				L.ArgError(1, "interval is empty")
			}
		default:
			if L.CheckInt(2) < L.CheckInt(1) {
				L.ArgError(2, "interval is empty")
			}
		}
		return random(L)
	}))
}

// wrapCoroutines replaces coroutine.create, resume and wrap of co with
// v's, which charge new threads and bound how deep resumes nest.
func (v *vm) wrapCoroutines(co *lua.LTable) {
	L := v.L
	create := co.RawGetString("create").(*lua.LFunction).GFunction
	resume := co.RawGetString("resume").(*lua.LFunction).GFunction
	wrap := co.RawGetString("wrap").(*lua.LFunction).GFunction
	co.RawSetString("create", L.NewFunction(func(L *lua.LState) int { return v.newThread(L, create) }))
	co.RawSetString("resume", L.NewFunction(func(L *lua.LState) int {
		return v.resume(L, L.CheckThread(1), resume)
	}))
	wrapped := func(L *lua.LState) int {
		th := L.Get(lua.UpvalueIndex(1)).(*lua.LState)
		L.Insert(th, 1)
		return v.resume(L, th, resume)
	}
	co.RawSetString("wrap", L.NewFunction(func(L *lua.LState) int {
		// The library's wrap makes the thread and marks it wrapped; keep
		// the thread, replace the function resuming it.
		v.newThread(L, wrap)
		th := L.Get(-1).(*lua.LFunction).Upvalues[0].Value()
		L.Pop(1)
		L.Push(L.NewClosure(wrapped, th))
		return 1
	}))
}

// maxResumeDepth bounds coroutines resuming coroutines, each of which runs
// on the Go stack of the one resuming it: Lua 5.1's bound, with its error.
const maxResumeDepth = 200

// newThread runs create, coroutine.create or wrap, charging the new
// thread's stacks to the call's account. The thread's context derives from
// the call's own, not from L's guard, which only L's goroutine may watch.
func (v *vm) newThread(L *lua.LState, create lua.LGFunction) int {
	v.acct.charge(costThread)
	if g, ok := L.Context().(*guard); ok {
		L.SetContext(g.parent)
		defer L.SetContext(g)
	}
	return create(L)
}

// resume runs resume, coroutine.resume or a wrapped coroutine's function,
// on thread th, under the call's guard: a coroutine is created with the
// context of the call that created it, which is done by the time a later
// call (of a stateful namespace, say) resumes it, and one created while
// loading would otherwise keep the load's context.
func (v *vm) resume(L, th *lua.LState, resume lua.LGFunction) int {
	if v.acct.depth >= maxResumeDepth {
		L.RaiseError("C stack overflow")
	}
	if g, ok := L.Context().(*guard); ok {
		if tg, ok := th.Context().(*guard); !ok || tg.parent != g.parent || tg.acct != g.acct {
			th.SetContext(&guard{parent: g.parent, L: th, acct: g.acct})
		}
	}
	v.acct.depth++
	defer func() { v.acct.depth-- }()
	return resume(L)
}

// contextOf returns the context of the call running in L: its own, never
// the guard L runs under.
func contextOf(L *lua.LState) context.Context {
	switch ctx := L.Context().(type) {
	case nil:
		return context.Background()
	case *guard:
		return ctx.parent
	default:
		return ctx
	}
}

// checkContext raises the context's error if the call running in L is done,
// as the VM does between instructions; long library functions call it.
func checkContext(L *lua.LState) {
	if ctx := L.Context(); ctx != nil && ctx.Err() != nil {
		L.RaiseError("%s", ctx.Err().Error())
	}
}

func collectGarbage(L *lua.LState) int {
	// The library's version runs a full collection of the whole process.
	L.Push(lua.LNumber(0))
	return 1
}

// print writes its arguments, separated by tabs, to the logger at info.
func (v *vm) print(L *lua.LState) int {
	ctx := contextOf(L)
	if !v.ns.log.Enabled(ctx, slog.LevelInfo) {
		return 0
	}
	var b strings.Builder
	for i := 1; i <= L.GetTop(); i++ {
		if i > 1 {
			b.WriteByte('\t')
		}
		b.WriteString(L.ToStringMeta(L.Get(i)).String())
	}
	v.ns.log.Log(ctx, slog.LevelInfo, b.String())
	return 0
}

// load is Lua's load, and loadstring: it compiles a chunk given as a string
// or read from a reader function, and returns it as a function, or nil and
// the error. Source longer than MaxLoadSize (or MaxStringSize), or that scanSource refuses, is
// such an error: the compiler runs on the call's goroutine, and these bounds
// keep it within a small part of a call's time (see MaxLoadSize).
func (v *vm) load(L *lua.LState) int {
	var src string
	limit := min(MaxLoadSize, v.ns.cfg.MaxStringSize)
	tooLarge := func() int {
		L.Push(lua.LNil)
		L.Push(lua.LString(fmt.Sprintf("source too large: more than %d bytes", limit)))
		return 2
	}
	switch x := L.Get(1).(type) {
	case lua.LString:
		src = string(x)
	case *lua.LFunction:
		var b strings.Builder
		for {
			L.Push(x)
			L.Call(0, 1)
			piece := L.Get(-1)
			L.Pop(1)
			if piece == lua.LNil {
				break
			}
			s, ok := piece.(lua.LString)
			if !ok {
				L.Push(lua.LNil)
				L.Push(lua.LString("reader function must return a string"))
				return 2
			}
			if s == "" {
				break
			}
			if b.Len()+len(s) > limit {
				return tooLarge()
			}
			b.WriteString(string(s))
		}
		src = b.String()
	default:
		L.TypeError(1, lua.LTFunction)
	}
	if len(src) > limit {
		return tooLarge()
	}
	chunkname := L.OptString(2, "?")
	checkContext(L)
	proto, err := compile(chunkname, []byte(src), scanLimits{lookups: maxLoadLookups})
	checkContext(L)
	if err != nil {
		L.Push(lua.LNil)
		L.Push(lua.LString(err.Error()))
		return 2
	}
	L.Push(L.NewFunctionFromProto(proto))
	return 1
}

// ---- require ----

// require loads a module from Config.LibPath, once per VM: require("a.b")
// runs LibPath/a/b.lua in the sandbox and returns what it returns (true
// for nothing).
func (v *vm) require(L *lua.LState) int {
	name := L.CheckString(1)
	if mod, ok := v.loaded[name]; ok {
		if mod == nil {
			L.RaiseError("loop or previous error loading module '%s'", name)
		}
		L.Push(mod)
		return 1
	}
	path, err := modulePath(v.ns.cfg.LibPath, name)
	if err != nil {
		L.RaiseError("%s", err.Error())
	}
	proto, err := v.ns.module(path)
	if errors.Is(err, fs.ErrNotExist) {
		L.RaiseError("module '%s' not found in lib path (tried %s)", name, v.ns.chunk(path))
	}
	if err != nil {
		L.RaiseError("error loading module '%s': %s", name, err.Error())
	}
	v.loaded[name] = nil // loading: a require loop fails
	L.Push(L.NewFunctionFromProto(proto))
	L.Push(lua.LString(name))
	if err := L.PCall(1, 1, nil); err != nil {
		delete(v.loaded, name) // a later require tries again
		var aerr *lua.ApiError
		if errors.As(err, &aerr) && aerr.Type != lua.ApiErrorPanic {
			L.Error(aerr.Object, 0)
		}
		panic(err) // a Go panic stays one: the VM gets replaced
	}
	mod := L.Get(-1)
	if mod == lua.LNil {
		mod = lua.LTrue
	}
	v.loaded[name] = mod
	L.Push(mod)
	return 1
}

// modulePath maps a module name to its file under libPath: "a.b" is
// libPath/a/b.lua. Names are dot-separated, non-empty components without
// slashes, backslashes or colons, so the file is always under libPath.
func modulePath(libPath, name string) (string, error) {
	parts := strings.Split(name, ".")
	for _, p := range parts {
		if p == "" || strings.ContainsAny(p, "/\\:\x00") {
			return "", fmt.Errorf("invalid module name '%s': want names separated by dots, without slashes", name)
		}
	}
	if libPath == "" {
		return "", fmt.Errorf("module '%s' not found: no lib path configured", name)
	}
	return filepath.Join(libPath, filepath.Join(parts...)+".lua"), nil
}

// module returns the compiled module at path, compiling it on first use by
// any VM of the namespace, and records path for Requires. Its chunk, the
// name Lua's error messages show, is the path from the lib folder's parent
// ("_lib/a/b.lua"), so messages reaching callers don't reveal where the
// server keeps its files.
func (n *Namespace) module(path string) (*lua.FunctionProto, error) {
	chunk := n.chunk(path)
	n.mu.Lock()
	mod, ok := n.modules[chunk]
	n.mu.Unlock()
	if ok {
		return mod.proto, nil
	}
	if err := n.underServedFolder(path); err != nil {
		return nil, err
	}
	src, err := os.ReadFile(path)
	var pe *fs.PathError
	if errors.As(err, &pe) {
		pe.Path = chunk // where the server keeps its files is its own business
	}
	if err != nil {
		return nil, err
	}
	proto, err := compile(chunk, src, scanLimits{})
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if mod, ok := n.modules[chunk]; ok { // another VM was quicker
		return mod.proto, nil
	}
	n.modules[chunk] = &module{proto: proto, lines: splitLines(src)}
	n.requires = append(n.requires, Module{Path: path, Hash: Hash(src)})
	return proto, nil
}

// underServedFolder refuses a module whose file, links followed, is not
// under the served folder (LibPath's parent): a link in the lib folder to
// a file elsewhere is not served.
func (n *Namespace) underServedFolder(path string) error {
	real, err := filepath.EvalSymlinks(path)
	if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
		// fs.ErrNotExist for a missing file or a dangling link.
		return &fs.PathError{Op: "open", Path: n.chunk(path), Err: pe.Err}
	}
	if err != nil {
		return err
	}
	root, err := filepath.EvalSymlinks(filepath.Dir(n.cfg.LibPath))
	if err != nil {
		return err
	}
	if rel, err := filepath.Rel(root, real); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Errorf("%s links to a file outside the served folder", n.chunk(path))
	}
	return nil
}

// chunk is the name of the module file at path in messages: its path from
// the lib folder's parent.
func (n *Namespace) chunk(path string) string {
	if rel, err := filepath.Rel(filepath.Dir(n.cfg.LibPath), path); err == nil {
		return filepath.ToSlash(rel)
	}
	return path
}

// module is a compiled file loaded with require.
type module struct {
	proto *lua.FunctionProto
	lines []string
}
