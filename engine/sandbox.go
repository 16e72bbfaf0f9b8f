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
	"unsafe"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/pm"
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

// gsubBatch is how many matches string.gsub asks the pattern matcher for at
// once; between batches it checks the call's context.
const gsubBatch = 256

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

	str := g.RawGetString(lua.StringLibName).(*lua.LTable) // also strings' __index
	str.RawSetString("rep", L.NewFunction(v.strRep))
	format := str.RawGetString("format").(*lua.LFunction).GFunction
	str.RawSetString("format", L.NewFunction(func(L *lua.LState) int { return v.strFormat(L, format) }))
	str.RawSetString("gsub", L.NewFunction(v.strGsub))

	mathLib := g.RawGetString(lua.MathLibName).(*lua.LTable)
	random := mathLib.RawGetString("random").(*lua.LFunction).GFunction
	mathLib.RawSetString("random", L.NewFunction(func(L *lua.LState) int {
		// The library's version panics on an empty interval.
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

	tab := g.RawGetString(lua.TabLibName).(*lua.LTable)
	tab.RawSetString("concat", L.NewFunction(v.tableConcat))

	co := g.RawGetString(lua.CoroutineLibName).(*lua.LTable)
	resume := co.RawGetString("resume").(*lua.LFunction).GFunction
	wrap := co.RawGetString("wrap").(*lua.LFunction).GFunction
	co.RawSetString("resume", L.NewFunction(func(L *lua.LState) int {
		followContext(L, L.CheckThread(1))
		return resume(L)
	}))
	wrapped := func(L *lua.LState) int {
		th := L.Get(lua.UpvalueIndex(1)).(*lua.LState)
		followContext(L, th)
		L.Insert(th, 1)
		return resume(L)
	}
	co.RawSetString("wrap", L.NewFunction(func(L *lua.LState) int {
		// The library's wrap makes the thread and marks it wrapped; keep
		// the thread, replace the function resuming it.
		wrap(L)
		th := L.Get(-1).(*lua.LFunction).Upvalues[0].Value()
		L.Pop(1)
		L.Push(L.NewClosure(wrapped, th))
		return 1
	}))
}

// followContext gives a coroutine the context of the call resuming it. A
// coroutine is created with the context of the call that created it, which
// is done by the time a later call (of a stateful namespace, say) resumes
// it; one created while loading would otherwise keep the load's context.
func followContext(L, th *lua.LState) {
	if ctx := L.Context(); ctx != nil && th.Context() != ctx {
		th.SetContext(ctx)
	}
}

// contextOf returns the context of the call running in L.
func contextOf(L *lua.LState) context.Context {
	if ctx := L.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
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

// chunk is the name of the module file at path in messages: its path from
// the lib folder's parent.
func (n *Namespace) chunk(path string) string {
	if rel, err := filepath.Rel(filepath.Dir(n.cfg.LibPath), path); err == nil {
		return filepath.ToSlash(rel)
	}
	return path
}

// ---- size-capped library functions ----

// strRep is string.rep(s, n [, sep]), refusing results longer than
// MaxStringSize before building them.
func (v *vm) strRep(L *lua.LState) int {
	s := L.CheckString(1)
	n := float64(L.CheckNumber(2))
	sep := L.OptString(3, "")
	if !(n >= 1) { // NaN too
		L.Push(lua.LString(""))
		return 1
	}
	size := float64(len(s))*n + float64(len(sep))*(n-1)
	if size > float64(v.ns.cfg.MaxStringSize) {
		L.RaiseError("string too large")
	}
	if size == 0 {
		L.Push(lua.LString(""))
		return 1
	}
	count := int(n)
	if sep == "" {
		L.Push(lua.LString(strings.Repeat(s, count)))
		return 1
	}
	var b strings.Builder
	b.Grow(int(size))
	for i := range count {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(s)
	}
	L.Push(lua.LString(b.String()))
	return 1
}

// strFormat is string.format with Lua 5.1's rules for directives (flags,
// at most two digits of width and of precision, the conversions
// cdiouxXeEfgGqs), refusing a result that could exceed MaxStringSize
// before building it.
func (v *vm) strFormat(L *lua.LState, format lua.LGFunction) int {
	f := L.CheckString(1)
	size := 0
	arg := 1
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			size++
			continue
		}
		i++
		if i < len(f) && f[i] == '%' {
			size++
			continue
		}
		j := i
		for j < len(f) && strings.IndexByte("-+ #0", f[j]) >= 0 {
			j++
		}
		if j-i > 5 {
			L.RaiseError("invalid format (repeated flags)")
		}
		width, w := digits(f, j)
		j += w
		prec, p := 0, 0
		if j < len(f) && f[j] == '.' {
			prec, p = digits(f, j+1)
			j += 1 + p
		}
		if w > 2 || p > 2 {
			L.RaiseError("invalid format (width or precision too long)")
		}
		if j >= len(f) {
			L.RaiseError("%s", "invalid option '%' to 'format'")
		}
		arg++
		verb := f[j]
		switch verb {
		case 'c':
			size += max(width, 4)
		case 'd', 'i', 'o', 'u', 'x', 'X', 'e', 'E', 'f', 'g', 'G':
			// A float64 in %f has at most 309 digits before the point.
			size += max(width, prec+320)
		case 's', 'q':
			n := 64
			if s, ok := L.Get(arg).(lua.LString); ok {
				n = len(s)
			}
			if verb == 'q' {
				n = 4*n + 2 // escapes
			}
			size += max(width, n)
		default:
			L.RaiseError("invalid option '%%%c' to 'format'", verb)
		}
		i = j
		if size > v.ns.cfg.MaxStringSize {
			L.RaiseError("string too large")
		}
	}
	if size > v.ns.cfg.MaxStringSize {
		L.RaiseError("string too large")
	}
	n := format(L)
	if s, ok := L.Get(-1).(lua.LString); ok && len(s) > v.ns.cfg.MaxStringSize {
		L.RaiseError("string too large")
	}
	return n
}

// digits reads the decimal digits of f starting at i: their value (capped)
// and how many there are.
func digits(f string, i int) (value, n int) {
	for i+n < len(f) && f[i+n] >= '0' && f[i+n] <= '9' {
		if value < 1<<20 {
			value = value*10 + int(f[i+n]-'0')
		}
		n++
	}
	return value, n
}

// strGsub is string.gsub(s, pattern, repl [, n]) with Lua 5.1's semantics,
// built in one pass: the result is checked against MaxStringSize as it
// grows, and the call's context between batches of matches.
func (v *vm) strGsub(L *lua.LState) int {
	src := L.CheckString(1)
	pat := L.CheckString(2)
	repl := L.Get(3)
	switch repl.(type) {
	case lua.LString, lua.LNumber, *lua.LTable, *lua.LFunction:
	default:
		L.ArgError(3, "string/function/table expected, got "+repl.Type().String())
	}
	maxN := L.OptInt(4, len(src)+1)
	limit := v.ns.cfg.MaxStringSize
	anchored := strings.HasPrefix(pat, "^")
	// The matcher only reads its input.
	srcb := unsafe.Slice(unsafe.StringData(src), len(src))

	var b strings.Builder
	count, pos, copied := 0, 0, 0
	for count < maxN && pos <= len(src) {
		mds, err := pm.Find(pat, srcb, pos, min(maxN-count, gsubBatch))
		if err != nil {
			L.RaiseError("%s", err.Error())
		}
		if len(mds) == 0 {
			break
		}
		for _, md := range mds {
			start, end := md.Capture(0), md.Capture(1)
			count++
			b.WriteString(src[copied:start])
			v.gsubReplace(L, &b, src, md, repl)
			copied = end
			if b.Len() > limit {
				L.RaiseError("string too large")
			}
		}
		last := mds[len(mds)-1]
		pos = max(last.Capture(0)+1, last.Capture(1))
		if anchored {
			break
		}
		checkContext(L)
	}
	if b.Len()+len(src)-copied > limit {
		L.RaiseError("string too large")
	}
	b.WriteString(src[copied:])
	L.Push(lua.LString(b.String()))
	L.Push(lua.LNumber(count))
	return 2
}

// gsubReplace writes the replacement of one match.
func (v *vm) gsubReplace(L *lua.LState, b *strings.Builder, src string, md *pm.MatchData, repl lua.LValue) {
	whole := src[md.Capture(0):md.Capture(1)]
	var value lua.LValue
	switch r := repl.(type) {
	case lua.LString, lua.LNumber:
		s := r.String()
		for i := 0; i < len(s); i++ {
			c := s[i]
			if c != '%' {
				b.WriteByte(c)
				continue
			}
			i++
			if i == len(s) {
				L.RaiseError("%s", "invalid use of '%' in replacement string")
			}
			c = s[i]
			switch {
			case c == '0':
				b.WriteString(whole)
			case c >= '1' && c <= '9':
				b.WriteString(lua.LVAsString(capture(L, src, md, int(c-'0'))))
			default:
				b.WriteByte(c)
			}
		}
		return
	case *lua.LTable:
		value = L.GetTable(r, capture(L, src, md, 1))
	case *lua.LFunction:
		L.Push(r)
		n := md.CaptureLength()/2 - 1
		if n == 0 {
			L.Push(lua.LString(whole))
			n = 1
		} else {
			for i := 1; i <= n; i++ {
				L.Push(capture(L, src, md, i))
			}
		}
		L.Call(n, 1)
		value = L.Get(-1)
		L.Pop(1)
	}
	switch x := value.(type) {
	case *lua.LNilType, lua.LBool:
		if x == lua.LNil || x == lua.LFalse {
			b.WriteString(whole) // keep the match
			return
		}
	case lua.LString, lua.LNumber:
		b.WriteString(x.String())
		return
	}
	L.RaiseError("invalid replacement value (a %s)", value.Type().String())
}

// capture returns capture i (1-based) of a match: a string, or a number for
// a position capture; capture 1 of a pattern without captures is the whole
// match.
func capture(L *lua.LState, src string, md *pm.MatchData, i int) lua.LValue {
	idx := 2 * i
	if idx >= md.CaptureLength() {
		if i == 1 {
			return lua.LString(src[md.Capture(0):md.Capture(1)])
		}
		L.RaiseError("invalid capture index")
	}
	if md.IsPosCapture(idx) {
		return lua.LNumber(md.Capture(idx))
	}
	return lua.LString(src[md.Capture(idx):md.Capture(idx+1)])
}

// tableConcat is table.concat(t [, sep [, i [, j]]]), refusing a result
// longer than MaxStringSize before building it.
func (v *vm) tableConcat(L *lua.LState) int {
	t := L.CheckTable(1)
	sep := L.OptString(2, "")
	i := L.OptInt(3, 1)
	j := L.OptInt(4, t.Len())
	if i > j {
		L.Push(lua.LString(""))
		return 1
	}
	size := 0
	for k := i; k <= j; k++ {
		switch e := t.RawGet(lua.LNumber(k)).(type) {
		case lua.LString:
			size += len(e)
		case lua.LNumber:
			size += len(e.String())
		default:
			L.RaiseError("invalid value (at index %d) in table for 'concat'", k)
		}
		if k < j {
			size += len(sep)
		}
		if size > v.ns.cfg.MaxStringSize {
			L.RaiseError("string too large")
		}
	}
	var b strings.Builder
	b.Grow(size)
	for k := i; k <= j; k++ {
		if k > i {
			b.WriteString(sep)
		}
		b.WriteString(lua.LVAsString(t.RawGet(lua.LNumber(k))))
	}
	L.Push(lua.LString(b.String()))
	return 1
}
